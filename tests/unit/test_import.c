/* test_import.c - subscribers.c's bulk import on a real SQLite file: the
 * rows and their events land, a batch that meets a duplicate names both
 * lines. And migration 0011: the CHECKs of subscribers.status and
 * deliveries.state in their cheap form (`x = 'a' OR ...`, not `x IN (...)`,
 * which SQLite checks by building an index per row), in force on the
 * connection that migrated, and an older database is brought to it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "db.h"
#include "subscribers.h"

static struct db *db;

static int64_t
num(const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db_handle(db), sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Imports n rows reader<first+i>@example.com, every third paid; the
 * duplicate's line in *dupline (0: none). 0 or the import's error. */
static int
import(int first, int n, int dup_at, int *dupline, diag *d)
{
	struct sub_import *im;
	struct sub_import_dup dup = { 0, 0, BUF_INIT, BUF_INIT };
	int rc = 0;

	*dupline = 0;
	if (db_begin(db, d) < 0)
		return -1;
	if ((im = subscriber_import_start(db, "imported from test.csv", d)) == NULL) {
		db_rollback(db);
		return -1;
	}
	for (int i = 0; i < n && rc == 0; i++) {
		char email[64];
		struct subscriber s = { 0 };
		int k = i == dup_at ? first : first + i;
		snprintf(email, sizeof email, "reader%d@example.com", k);
		s.email = email;
		s.name = "Reader";
		s.tier = k % 3 == 0 ? TIER_PAID : TIER_FREE;
		s.status = SUB_ACTIVE;
		rc = subscriber_import_row(im, &s, email, i + 2, &dup, d);
	}
	if (rc == 0)
		rc = subscriber_import_flush(im, &dup, d);
	if (rc == 0)
		rc = subscriber_import_finish(im, d);
	if (rc == 0)
		rc = db_commit(db, d);
	else
		db_rollback(db);
	if (rc > 0)
		*dupline = dup.line * 1000 + dup.first_line;
	subscriber_import_end(im);
	buf_free(&dup.email);
	buf_free(&dup.first_email);
	return rc;
}

int
main(void)
{
	char dir[] = "/tmp/broadside-import.XXXXXX", path[256];
	diag d = DIAG_INIT;
	int dupline;

	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof path, "%s/i.db", dir);
	CHECK(db_open(path, DB_OPEN_CREATE, &db, &d) == 0, "database created (%s)", d.msg);

	/* 1,000 rows: 15 full batches of 64 and a tail of 40. */
	CHECK(import(0, 1000, -1, &dupline, &d) == 0, "1,000 rows imported (%s)", d.msg);
	CHECK(num("SELECT count(*) FROM subscribers") == 1000, "1,000 subscribers");
	CHECK(num("SELECT count(*) FROM subscribers WHERE tier = 'paid'") == 334, "every third paid");
	CHECK(num("SELECT count(*) FROM subscribers WHERE status = 'active'") == 1000, "all active");
	CHECK(num("SELECT count(*) FROM events WHERE kind = 'subscriber' AND event = 'created'") == 1000,
	    "one 'created' event each");
	CHECK(num("SELECT count(*) FROM subscribers s JOIN events e ON e.ref_id = s.id "
	    "WHERE e.detail = s.tier || '; imported from test.csv'") == 1000,
	    "each event names the tier and the file");

	/* A duplicate inside a full batch: nothing of that import lands. */
	CHECK(import(2000, 100, 70, &dupline, &d) == 1 && dupline == 72002,
	    "a duplicate names its line and the first one's (got %d)", dupline);
	CHECK(num("SELECT count(*) FROM subscribers") == 1000, "... and nothing of that import is kept");

	/* The CHECKs hold, in their cheap form, on the connection that made
	 * the database (SQLite's message quotes the constraint it read). */
	CHECK(db_exec(db, "INSERT INTO subscribers (email, email_key, tier, status, created_at, "
	    "updated_at) VALUES ('x@example.com', 'x@example.com', 'free', 'nonsense', 0, 0)", &d) < 0 &&
	    strstr(d.msg, "status = 'active' OR status = 'unsubscribed'") != NULL,
	    "a status outside the CHECK is refused, by the OR form (%s)", d.msg);
	memset(&d, 0, sizeof d);
	CHECK(db_exec(db, "INSERT INTO subscribers (email, email_key, tier, status, created_at, "
	    "updated_at) VALUES ('y@example.com', 'y@example.com', 'gold', 'active', 0, 0)", &d) < 0,
	    "a tier outside the CHECK is refused");
	CHECK(num("SELECT count(*) FROM subscribers") == 1000, "neither row was added");
	memset(&d, 0, sizeof d);
	CHECK(db_exec(db, "INSERT INTO issues (id, subject, source, status, created_at, updated_at) "
	    "VALUES (1, 's', 'x', 'sending', 0, 0)", &d) == 0 &&
	    db_exec(db, "INSERT INTO deliveries (issue_id, subscriber_id, state, created_at, "
	    "updated_at) VALUES (1, 1, 'queued', 0, 0)", &d) == 0, "a queued copy (%s)", d.msg);
	CHECK(db_exec(db, "UPDATE deliveries SET state = 'lost'", &d) < 0 &&
	    strstr(d.msg, "state = 'queued' OR state = 'sending'") != NULL,
	    "a delivery state outside the CHECK is refused, by the OR form (%s)", d.msg);
	memset(&d, 0, sizeof d);
	CHECK(db_exec(db, "UPDATE deliveries SET state = 'sent'", &d) == 0 &&
	    num("SELECT count(*) FROM deliveries WHERE state = 'sent'") == 1,
	    "every state it names is let through (%s)", d.msg);

	/* An older database (the IN form, schema before 0011) is migrated
	 * on open, its rows kept: one made by migrations 1 to 10 alone, as
	 * a broadside of then left it (later migrations stay out of it, so
	 * this holds however many come after 0011). */
	db_close(db);
	snprintf(path, sizeof path, "%s/old.db", dir);
	{
		sqlite3 *old = NULL;
		int made = sqlite3_open(path, &old) == SQLITE_OK;
		for (int i = 0; made && i < db_nmigrations && db_migrations[i].version <= 10; i++)
			made = sqlite3_exec(old, db_migrations[i].sql, NULL, NULL, NULL) == SQLITE_OK;
		made = made && sqlite3_exec(old, "PRAGMA user_version = 10; INSERT INTO subscribers "
		    "(email, email_key, tier, status, created_at, updated_at) VALUES "
		    "('a@example.com', 'a@example.com', 'free', 'active', 0, 0), "
		    "('b@example.com', 'b@example.com', 'paid', 'pending', 0, 0)",
		    NULL, NULL, NULL) == SQLITE_OK;
		CHECK(made, "made a database at schema 10 (%s)", old ? sqlite3_errmsg(old) : "no handle");
		sqlite3_close(old);
	}
	if (db_open(path, DB_OPEN_EXISTING, &db, &d) < 0) {
		CHECK(0, "reopened: migrated (%s)", d.msg);
		return check_exit();
	}
	CHECK(1, "reopened: migrated");
	CHECK(num("SELECT count(*) FROM sqlite_schema WHERE name = 'subscribers' AND "
	    "sql LIKE '%status = ''pending''%' AND sql NOT LIKE '%status IN%'") == 1,
	    "subscribers' CHECK is in the OR form again");
	CHECK(num("SELECT count(*) FROM subscribers") == 2 && num("PRAGMA user_version") >= 11,
	    "rows kept, schema at 0011 or later");
	CHECK(db_exec(db, "INSERT INTO subscribers (email, email_key, tier, status, created_at, "
	    "updated_at) VALUES ('z@example.com', 'z@example.com', 'free', 'gone', 0, 0)", &d) < 0 &&
	    strstr(d.msg, "status = 'active' OR") != NULL,
	    "and in force at once on the connection that migrated (%s)", d.msg);
	{
		sqlite3_stmt *st = NULL;
		const unsigned char *t = NULL;
		int good = 0;
		if (sqlite3_prepare_v2(db_handle(db), "PRAGMA integrity_check", -1, &st, NULL) ==
		    SQLITE_OK && sqlite3_step(st) == SQLITE_ROW && (t = sqlite3_column_text(st, 0)))
			good = strcmp((const char *)t, "ok") == 0;
		sqlite3_finalize(st);
		CHECK(good, "integrity_check: ok");
	}

	db_close(db);
	snprintf(path, sizeof path, "rm -rf %s", dir);
	if (system(path) != 0)
		return 1;
	return check_exit();
}
