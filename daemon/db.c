/* db - the SQLite database: open, migrate, transactions, cached statements. */
#include "db.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "smtp_policy.h"
#include "xalloc.h"

#define BUSY_TIMEOUT_MS	5000

struct cached {
	const char	*sql;
	sqlite3_stmt	*st;
};

struct db {
	sqlite3		*h;
	char		*path;
	int64_t		 busy_since;	/* ms: when the current wait for a lock began */
	struct cached	*stmts;
	size_t		 nstmts, capstmts;
};

sqlite3 *
db_handle(struct db *db)
{
	return db->h;
}

const char *
db_path(struct db *db)
{
	return db->path;
}

/* SQLite's own busy timeout sleeps 1, 2, 5, 10 ms... between tries: a
 * sender thread that meets another's commit (which takes well under a
 * millisecond) would idle its connection for milliseconds. This tries again
 * after 50 µs, doubling to 5 ms, and gives up after BUSY_TIMEOUT_MS. */
static int
busy_wait(void *arg, int count)
{
	struct db *db = arg;
	int64_t now = clock_mono_ms();
	long us = count < 7 ? 50L << count : 5000L;
	struct timespec ts = { 0, us * 1000L };

	if (count == 0)
		db->busy_since = now;
	if (now - db->busy_since >= BUSY_TIMEOUT_MS)
		return 0;
	nanosleep(&ts, NULL);
	return 1;
}

int
db_fail(struct db *db, diag *d, const char *what)
{
	int rc = sqlite3_errcode(db->h);
	int code;

	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return diag_set(d, EX_TEMPFAIL, "%s: database %s is busy (locked "
		    "by another process); try again", what, db->path);
	case SQLITE_CONSTRAINT:
		code = EX_DATAERR;
		break;
	case SQLITE_IOERR:
	case SQLITE_FULL:
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
	case SQLITE_PERM:
		code = EX_IOERR;
		break;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		code = EX_DATAERR;
		break;
	default:
		code = EX_SOFTWARE;
	}
	return diag_set(d, code, "%s: %s: %s", what, db->path, sqlite3_errmsg(db->h));
}

int
db_exec(struct db *db, const char *sql, diag *d)
{
	if (sqlite3_exec(db->h, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(db, d, "database");
	return 0;
}

int
db_begin(struct db *db, diag *d)
{
	return db_exec(db, "BEGIN IMMEDIATE", d);
}

int
db_commit(struct db *db, diag *d)
{
	if (sqlite3_exec(db->h, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		db_fail(db, d, "commit");
		db_rollback(db);
		return -1;
	}
	return 0;
}

static atomic_ulong rollbacks;

void
db_rollback(struct db *db)
{
	if (!sqlite3_get_autocommit(db->h)) {
		atomic_fetch_add(&rollbacks, 1);
		sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
	}
}

unsigned long
db_rollback_count(void)
{
	return atomic_load(&rollbacks);
}

sqlite3_stmt *
db_stmt(struct db *db, const char *sql)
{
	sqlite3_stmt *st;

	for (size_t i = 0; i < db->nstmts; i++) {
		if (db->stmts[i].sql == sql) {
			st = db->stmts[i].st;
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			return st;
		}
	}
	if (sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &st,
	    NULL) != SQLITE_OK)
		/* A statement of ours that does not compile is a bug. */
		log_fatal(EX_SOFTWARE, "internal error: cannot prepare \"%s\": %s", sql, sqlite3_errmsg(db->h));
	db->stmts = xgrow(db->stmts, &db->capstmts, db->nstmts + 1, sizeof *db->stmts);
	db->stmts[db->nstmts].sql = sql;
	db->stmts[db->nstmts].st = st;
	db->nstmts++;
	return st;
}

int
db_step_done(struct db *db, sqlite3_stmt *st, diag *d, const char *what)
{
	int rc = sqlite3_step(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		db_fail(db, d, what);
		sqlite3_reset(st);
		return -1;
	}
	sqlite3_reset(st);
	return 0;
}

int
db_event(struct db *db, const char *kind, int64_t ref_id, const char *event,
    const char *detail, diag *d)
{
	sqlite3_stmt *st = db_stmt(db,
	    "INSERT INTO events (at, kind, ref_id, event, detail) VALUES (?,?,?,?,?)");
	sqlite3_bind_int64(st, 1, clock_now());
	sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
	if (ref_id > 0)
		sqlite3_bind_int64(st, 3, ref_id);
	sqlite3_bind_text(st, 4, event, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, detail ? detail : "", -1, SQLITE_STATIC);
	return db_step_done(db, st, d, "recording event");
}

/* The value of a PRAGMA that reads one number; -1 on error. */
static int
pragma_int(struct db *db, const char *sql)
{
	sqlite3_stmt *st;
	int v = -1;

	if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

int
db_schema_version(struct db *db)
{
	return pragma_int(db, "PRAGMA user_version");
}

/* Rows that break a foreign key, in *n (a migration must not add any;
 * some may be older than it, written with foreign keys off). */
static int
fk_violations(struct db *db, const char *name, int64_t *n, diag *d)
{
	sqlite3_stmt *st;
	int rc;

	*n = 0;
	if (sqlite3_prepare_v2(db->h, "PRAGMA foreign_key_check", -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, d, name);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		(*n)++;
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_fail(db, d, name);
	return 0;
}

/* A migration that edits sqlite_schema's text (writable_schema) is followed
 * by schema_version + 1, as SQLite's procedure for such edits asks: every
 * connection, this one too, then reads the tables' new text. */
static int
bump_schema_version(struct db *db)
{
	char pragma[64];
	int v = pragma_int(db, "PRAGMA schema_version");

	if (v < 0)
		return -1;
	snprintf(pragma, sizeof pragma, "PRAGMA schema_version = %d", v + 1);
	return sqlite3_exec(db->h, pragma, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static int
migrate(struct db *db, diag *d)
{
	int have = db_schema_version(db);
	int latest = db_nmigrations ? db_migrations[db_nmigrations - 1].version : 0;

	if (have < 0)
		return db_fail(db, d, "reading schema version");
	if (have > latest)
		return diag_set(d, EX_CONFIG, "%s: database schema version %d is "
		    "newer than this broadside (knows up to %d); upgrade broadside",
		    db->path, have, latest);
	for (int i = 0; i < db_nmigrations; i++) {
		const struct migration *m = &db_migrations[i];
		char pragma[64];
		int64_t fk_before, fk_after;

		if (m->version <= have)
			continue;
		if (db_begin(db, d) < 0)
			return -1;
		if (fk_violations(db, m->name, &fk_before, d) < 0) {
			db_rollback(db);
			return -1;
		}
		if (sqlite3_exec(db->h, m->sql, NULL, NULL, NULL) != SQLITE_OK ||
		    (strstr(m->sql, "writable_schema") && bump_schema_version(db) < 0)) {
			db_fail(db, d, m->name);
			db_rollback(db);
			return -1;
		}
		if (fk_violations(db, m->name, &fk_after, d) < 0) {
			db_rollback(db);
			return -1;
		}
		if (fk_after > fk_before) {
			db_rollback(db);
			return diag_set(d, EX_SOFTWARE, "migration %s: would leave %lld rows "
			    "breaking a foreign key", m->name, (long long)(fk_after - fk_before));
		}
		snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", m->version);
		if (db_exec(db, pragma, d) < 0 || db_commit(db, d) < 0) {
			db_rollback(db);
			return diag_prefix(d, "migration %s: ", m->name);
		}
	}
	return 0;
}

/* The database's folder, when the database is to be made: made (0750) when
 * it is missing; otherwise what is wrong with it, and how to put it right,
 * rather than SQLite's "unable to open database file". */
static int
db_folder(const char *path, diag *d)
{
	char *dir = xstrdup(path), *slash = strrchr(dir, '/');
	struct stat sb;
	int rc = 0;

	if (slash == NULL || access(path, F_OK) == 0) {
		free(dir);
		return 0;	/* the current folder, or the database is there */
	}
	if (slash == dir)
		slash[1] = '\0';	/* "/x.db": the root */
	else
		*slash = '\0';
	if (stat(dir, &sb) < 0 && errno == ENOENT) {
		if (mkdir(dir, 0750) == 0)
			(void)chmod(dir, 0750);	/* whatever the umask */
		else
			rc = diag_set(d, EX_CANTCREAT, "%s: the database's folder %s is missing "
			    "and cannot be made (%s); make it, owned by the user the daemon runs "
			    "as: install -d -o broadside -g broadside -m 0750 %s", path, dir,
			    strerror(errno), dir);
	} else if (stat(dir, &sb) < 0)
		rc = diag_set(d, EX_NOPERM, "%s: the database's folder %s cannot be reached: %s",
		    path, dir, strerror(errno));
	else if (!S_ISDIR(sb.st_mode))
		rc = diag_set(d, EX_CANTCREAT, "%s: %s is not a folder", path, dir);
	else if (access(dir, W_OK | X_OK) < 0)
		rc = diag_set(d, EX_NOPERM, "%s: cannot create the database: the folder %s "
		    "is not writable by this user (uid %u); run as its owner (e.g. runuser "
		    "-u broadside -- broadside init) or give it to that user", path, dir,
		    (unsigned)geteuid());
	free(dir);
	return rc;
}

static void
sql_dead_address(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
	(void)argc;
	sqlite3_result_int(cx, smtp_policy_dead_address(
	    (const char *)sqlite3_value_text(argv[0])));
}

int
db_open(const char *path, enum db_open_mode mode, struct db **out, diag *d)
{
	struct db *db;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
	struct stat sb;

	if (mode == DB_OPEN_EXISTING && stat(path, &sb) < 0)
		return diag_set(d, errno == ENOENT ? EX_NOINPUT : EX_IOERR,
		    "%s: %s%s", path, strerror(errno),
		    errno == ENOENT ? " (run 'broadside init' first)" : "");
	if (mode == DB_OPEN_CREATE) {
		if (db_folder(path, d) < 0)
			return -1;
		flags |= SQLITE_OPEN_CREATE;
	}

	db = xcalloc(1, sizeof *db);
	db->path = xstrdup(path);
	if (sqlite3_open_v2(path, &db->h, flags, NULL) != SQLITE_OK) {
		diag_set(d, EX_CANTCREAT, "%s: cannot open database: %s", path,
		    db->h ? sqlite3_errmsg(db->h) : "out of memory");
		db_close(db);
		return -1;
	}
	sqlite3_extended_result_codes(db->h, 1);
	/* smtp_policy's one rule of a dead address, for SQL that counts them. */
	sqlite3_create_function(db->h, "dead_address", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
	    NULL, sql_dead_address, NULL, NULL);
	sqlite3_busy_handler(db->h, busy_wait, db);
	/* Migrations run with foreign keys off (a table rebuild must not set
	 * the references to it NULL) and check them before they commit. */
	if (db_exec(db, "PRAGMA journal_mode = WAL", d) < 0 ||
	    db_exec(db, "PRAGMA synchronous = NORMAL", d) < 0 ||
	    migrate(db, d) < 0 ||
	    db_exec(db, "PRAGMA foreign_keys = ON", d) < 0) {
		db_close(db);
		return -1;
	}
	*out = db;
	return 0;
}

void
db_close(struct db *db)
{
	if (db == NULL)
		return;
	for (size_t i = 0; i < db->nstmts; i++)
		sqlite3_finalize(db->stmts[i].st);
	free(db->stmts);
	sqlite3_close(db->h);
	free(db->path);
	free(db);
}

int
db_events(struct db *db, const char *kind, int64_t ref_id,
    int (*each)(int64_t at, const char *event, const char *detail, void *arg),
    void *arg, diag *d)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT at, event, detail FROM events "
	    "WHERE kind = ?1 AND ref_id = ?2 ORDER BY id");
	int rc;

	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, ref_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *ev = (const char *)sqlite3_column_text(st, 1);
		const char *de = (const char *)sqlite3_column_text(st, 2);
		if (each(sqlite3_column_int64(st, 0), ev ? ev : "", de ? de : "", arg) != 0)
			break;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(db, d, "reading the events log");
	return 0;
}

/* One integer from a query of SQLite's own (a PRAGMA, dbstat). */
static int
query_int(struct db *db, const char *sql, int64_t *v)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(st);
	*v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

int
db_sizes(struct db *db, struct db_table_size **tables, size_t *n, int64_t *file_bytes,
    int64_t *free_bytes, diag *d)
{
	sqlite3_stmt *st;
	size_t cap = 0;
	int64_t pages, freep, pgsize;
	int rc;

	*tables = NULL;
	*n = 0;
	if (query_int(db, "PRAGMA page_count", &pages) < 0 ||
	    query_int(db, "PRAGMA freelist_count", &freep) < 0 ||
	    query_int(db, "PRAGMA page_size", &pgsize) < 0)
		return db_fail(db, d, "reading the database's size");
	*file_bytes = pages * pgsize;
	*free_bytes = freep * pgsize;
	/* Each table with the pages of its own b-tree and of its indexes. */
	if (sqlite3_prepare_v2(db->h,
	    "SELECT m.tbl_name, sum(CASE WHEN s.name = m.tbl_name THEN s.pgsize ELSE 0 END) AS t, "
	    "sum(CASE WHEN s.name <> m.tbl_name THEN s.pgsize ELSE 0 END) AS i "
	    "FROM sqlite_schema m JOIN dbstat s ON s.name = m.name "
	    "WHERE m.type IN ('table', 'index') AND m.tbl_name NOT LIKE 'sqlite_%' "
	    "GROUP BY m.tbl_name ORDER BY t + i DESC, 1", -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, d, "reading table sizes (SQLite's dbstat)");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct db_table_size *t;
		char sql[128];

		*tables = xgrow(*tables, &cap, *n + 1, sizeof **tables);
		t = &(*tables)[(*n)++];
		snprintf(t->name, sizeof t->name, "%s", (const char *)sqlite3_column_text(st, 0));
		t->bytes = sqlite3_column_int64(st, 1);
		t->index_bytes = sqlite3_column_int64(st, 2);
		snprintf(sql, sizeof sql, "SELECT count(*) FROM \"%s\"", t->name);
		if (query_int(db, sql, &t->rows) < 0)
			t->rows = -1;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		free(*tables);
		*tables = NULL;
		*n = 0;
		return db_fail(db, d, "reading table sizes");
	}
	return 0;
}
