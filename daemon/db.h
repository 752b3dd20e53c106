/* db - the SQLite database: open, migrate, transactions, cached statements.
 *
 * One `struct db` per thread (SQLite connections are not shared). Opening
 * applies the numbered migrations of db/ (embedded at build time) in order,
 * each in its own transaction, and records the version in PRAGMA
 * user_version; a database newer than this binary is refused. WAL mode,
 * busy_timeout and foreign keys are always on.
 */
#ifndef BROADSIDE_DB_H
#define BROADSIDE_DB_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"

struct migration {
	int		 version;
	const char	*name;
	const char	*sql;
};
extern const struct migration db_migrations[];
extern const int db_nmigrations;

struct db;

enum db_open_mode {
	DB_OPEN_EXISTING,	/* missing file: "run 'broadside init'" */
	DB_OPEN_CREATE,		/* create the file and its directory's entry */
};

int	 db_open(const char *path, enum db_open_mode mode, struct db **out, diag *d);
void	 db_close(struct db *db);
sqlite3	*db_handle(struct db *db);
const char *db_path(struct db *db);
int	 db_schema_version(struct db *db);

/* A statement prepared once per connection and kept; `sql` must be a string
 * literal (the cache is keyed by its address). Returned reset and unbound. */
sqlite3_stmt *db_stmt(struct db *db, const char *sql);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. Busy beyond busy_timeout gives
 * EX_TEMPFAIL ("database is locked"). */
int	 db_begin(struct db *db, diag *d);
int	 db_commit(struct db *db, diag *d);
void	 db_rollback(struct db *db);
/* Rollbacks by db_rollback() in this process so far, every connection: a
 * result read inside a transaction that may yet be rolled back is good
 * only while this has not moved (deliverability's per-issue counts). */
unsigned long db_rollback_count(void);
int	 db_exec(struct db *db, const char *sql, diag *d);

/* Turns the connection's last error into a diag: busy/locked ->
 * EX_TEMPFAIL, constraint -> EX_DATAERR, I/O and the rest -> EX_IOERR /
 * EX_SOFTWARE. `what` names the operation. Returns -1. */
int	 db_fail(struct db *db, diag *d, const char *what);

/* Steps a statement expected to finish (INSERT/UPDATE/DELETE). */
int	 db_step_done(struct db *db, sqlite3_stmt *st, diag *d, const char *what);

/* Appends to the events log. kind: "subscriber", "issue", "system". */
int	 db_event(struct db *db, const char *kind, int64_t ref_id,
	    const char *event, const char *detail, diag *d);
/* Reads the events log of (kind, ref_id), oldest first: `each` is called
 * per event (strings valid during the call); non-zero from it stops. */
int	 db_events(struct db *db, const char *kind, int64_t ref_id,
	    int (*each)(int64_t at, const char *event, const char *detail, void *arg),
	    void *arg, diag *d);

/* What the database holds, table by table (SQLite's dbstat): rows, bytes
 * of the table's own pages and of its indexes'. */
struct db_table_size {
	char		 name[64];
	int64_t		 rows, bytes, index_bytes;
};
/* *tables owned (free()); *file_bytes: the whole file (pages in use and
 * free), *free_bytes: its free pages. */
int	 db_sizes(struct db *db, struct db_table_size **tables, size_t *n,
	    int64_t *file_bytes, int64_t *free_bytes, diag *d);

#endif
