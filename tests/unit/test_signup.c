/* test_signup - the double opt-in's decisions on a real SQLite database:
 * what each address state gets, the limits, the claim that sends the
 * confirmation to pending readers only, confirmation and expiry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "db.h"
#include "issues.h"
#include "queue.h"
#include "signup.h"
#include "subscribers.h"
#include "token.h"

static struct db *db;
static struct config cfg;
static struct secret sec = { .nkeys = 1 };
static int64_t now_ms = 1800000000000LL;

static int64_t
num(const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db_handle(db), sql, -1, &st, NULL) != SQLITE_OK)
		return -2;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void
exec(const char *sql)
{
	diag d = DIAG_INIT;
	if (db_exec(db, sql, &d) < 0)
		printf("# %s: %s\n", sql, d.msg);
}

/* Submits the form for addr from ip, loaded `age_ms` before; returns the
 * result and sets *what. */
static enum signup_result
submit(const char *addr, const char *ip, int64_t age_ms, const char **what)
{
	char tok[TOKEN_MAX];
	struct signup_form f = { addr, "N", "", tok, ip };
	enum signup_result res = SIGNUP_BUSY;
	diag d = DIAG_INIT;

	token_form_make(&sec, cfg.list.id, now_ms - age_ms, tok);
	if (signup_submit(db, &cfg, &sec, &f, now_ms, &res, what, &d) < 0)
		printf("# signup_submit: %s\n", d.msg);
	return res;
}

static const char *
status_of(const char *key)
{
	static char buf[32];
	sqlite3_stmt *st;

	snprintf(buf, sizeof buf, "(none)");
	if (sqlite3_prepare_v2(db_handle(db), "SELECT status FROM subscribers WHERE email_key = ?",
	    -1, &st, NULL) != SQLITE_OK)
		return buf;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(buf, sizeof buf, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return buf;
}

int
main(void)
{
	char dir[] = "/tmp/broadside-signup.XXXXXX", path[256], tok[TOKEN_MAX];
	diag d = DIAG_INIT;
	const char *what = "";
	struct queue_batch b = { 0 };
	struct queue_lease l = { "p1:w1", "p1:", 7, 600 };
	enum confirm_state st;
	char *email = NULL;
	int64_t id, dropped = 0, now = now_ms / 1000;
	int yes;

	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof path, "%s/s.db", dir);
	CHECK(db_open(path, DB_OPEN_CREATE, &db, &d) == 0, "database created (%s)", d.msg);
	config_defaults(&cfg);
	memset(sec.keys[0].key, 0x42, SECRET_KEY_LEN);
	sec.keys[0].created = now - 100;

	exec("INSERT INTO subscribers (email, email_key, status, created_at, updated_at) VALUES "
	    "('act@x.org', 'act@x.org', 'active', 0, 0), ('bnc@x.org', 'bnc@x.org', 'bounced', 0, 0),"
	    "('cmp@x.org', 'cmp@x.org', 'complained', 0, 0), ('uns@x.org', 'uns@x.org', 'unsubscribed', 0, 0),"
	    "('gone@x.org', 'gone@x.org', 'active', 0, 0)");
	CHECK(subscriber_remove(db, 5, "gone@x.org", &d) == 0, "a removed address (%s)", d.msg);
	CHECK(subscriber_suppressed(db, "gone@x.org", NULL, &yes, &d) == 0 && yes, "it is suppressed");

	/* Every state answers SIGNUP_DONE; only new and unsubscribed are mailed. */
	CHECK(submit("New@X.org", "10.0.0.1", 5000, &what) == SIGNUP_DONE && strcmp(what, "mailed") == 0,
	    "new address: done, mailed (%s)", what);
	CHECK_STR(status_of("new@x.org"), "pending", "new address is pending");
	CHECK(submit("act@x.org", "10.0.0.2", 5000, &what) == SIGNUP_DONE && strcmp(what, "known") == 0,
	    "active: done, nothing (%s)", what);
	CHECK(submit("bnc@x.org", "10.0.0.2", 5000, &what) == SIGNUP_DONE && strcmp(what, "known") == 0,
	    "bounced: done, nothing (%s)", what);
	CHECK(submit("CMP@x.org", "10.0.0.2", 5000, &what) == SIGNUP_DONE && strcmp(what, "known") == 0,
	    "complained (any case): done, nothing (%s)", what);
	CHECK(submit("gone@x.org", "10.0.0.3", 5000, &what) == SIGNUP_DONE &&
	    strcmp(what, "suppressed") == 0, "removed: done, nothing (%s)", what);
	CHECK(num("SELECT count(*) FROM subscribers WHERE email_key = 'gone@x.org'") == 0,
	    "a removed address is not added back");
	CHECK(submit("uns@x.org", "10.0.0.3", 5000, &what) == SIGNUP_DONE && strcmp(what, "mailed") == 0,
	    "unsubscribed: done, mailed (%s)", what);
	CHECK_STR(status_of("uns@x.org"), "pending", "unsubscribed becomes pending");
	CHECK(num("SELECT count(*) FROM deliveries d JOIN issues i ON i.id = d.issue_id "
	    "WHERE i.kind = 'confirmation'") == 2, "two confirmations queued");
	CHECK(num("SELECT count(*) FROM issues WHERE kind = 'confirmation' AND status = 'sending' "
	    "AND fanout_done = 1") == 1, "one confirmation issue, sending, never fanned out");

	/* Refusals. */
	CHECK(submit("x@x.org", "10.0.0.4", 100, &what) == SIGNUP_TOO_FAST, "100 ms after loading: too fast");
	CHECK(submit("x@x.org", "10.0.0.4", 2 * 86400000LL, &what) == SIGNUP_STALE, "2 days old: stale");
	CHECK(submit("x@x.org", "10.0.0.4", -3600000LL, &what) == SIGNUP_STALE, "from the future: stale");
	CHECK(submit("x@x.org\r\nBcc: y@x.org", "10.0.0.4", 5000, &what) == SIGNUP_INVALID, "CR/LF: invalid");
	CHECK(submit(NULL, "10.0.0.4", 5000, &what) == SIGNUP_INVALID, "no address: invalid");
	CHECK(num("SELECT count(*) FROM subscribers WHERE email_key LIKE 'x@%'") == 0, "refusals add nobody");
	{
		struct signup_form f = { "hp@x.org", "", "filled", "bogus", "10.0.0.5" };
		enum signup_result res;
		CHECK(signup_submit(db, &cfg, &sec, &f, now_ms, &res, &what, &d) == 0 &&
		    res == SIGNUP_DONE && strcmp(what, "honeypot") == 0 &&
		    num("SELECT count(*) FROM subscribers WHERE email_key = 'hp@x.org'") == 0,
		    "honeypot: done, nobody added");
	}
	/* signup.ip_limit (10 per hour): 10.0.0.4 has made 5 attempts. */
	for (int i = 0; i < 5; i++)
		submit("ip@x.org", "10.0.0.4", 5000, &what);
	CHECK(submit("ip2@x.org", "10.0.0.4", 5000, &what) == SIGNUP_BUSY, "11th attempt from one client: busy");
	CHECK(submit("ip2@x.org", "10.0.0.9", 5000, &what) == SIGNUP_DONE, "another client is fine");
	/* ip@x.org: 5 attempts -> 3 per hour pass, 2 are the address limit;
	 * of the 3, one mailed, then one re-queue refused (still queued). */
	CHECK(num("SELECT count(*) FROM signups WHERE email_key = 'ip@x.org' AND outcome = 'address limit'") == 2,
	    "per-address limit: 2 of 5 attempts");
	CHECK(num("SELECT count(*) FROM signups WHERE email_key = 'ip@x.org' AND outcome = 'mailed'") == 1,
	    "a confirmation still queued is not queued twice");

	/* The claim: pending readers get the confirmation; nobody else does. */
	exec("INSERT INTO issues (subject, source, status, fanout_done, created_at, updated_at) "
	    "VALUES ('Weekly', 'x', 'scheduled', 0, 0, 0)");
	id = num("SELECT id FROM issues WHERE subject = 'Weekly'");
	CHECK(queue_fanout(db, id, now, NULL, &d) == 0, "an issue fanned out (%s)", d.msg);
	CHECK(num("SELECT count(*) FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id "
	    "WHERE d.issue_id = (SELECT id FROM issues WHERE subject = 'Weekly') AND s.status = 'pending'") == 0,
	    "a pending reader is in no fan-out");
	CHECK(queue_claim(db, &l, 100, now, &b, &dropped, &d) == 0, "claim (%s)", d.msg);
	{
		int conf = 0, other = 0;
		for (size_t i = 0; i < b.n; i++) {
			if (b.items[i].issue_id == id)
				other++;
			else
				conf++;
		}
		CHECK(conf == 4 && other == 1, "claimed: 4 confirmations, 1 issue copy (%d, %d)", conf, other);
	}
	queue_batch_free(&b);

	/* Confirm. */
	id = num("SELECT id FROM subscribers WHERE email_key = 'new@x.org'");
	token_confirm_make(&sec, cfg.list.id, id, tok);
	CHECK(signup_confirm_state(db, &cfg, &sec, tok, now, &st, &email, &d) == 0 &&
	    st == CONFIRM_PENDING && email && strcmp(email, "New@X.org") == 0, "GET state: pending");
	free(email);
	CHECK_STR(status_of("new@x.org"), "pending", "reading changes nothing");
	CHECK(signup_confirm(db, &cfg, &sec, tok, now, &st, &email, &d) == 0 && st == CONFIRM_DONE,
	    "POST: confirmed");
	free(email);
	CHECK_STR(status_of("new@x.org"), "active", "the reader is active");
	CHECK(signup_confirm(db, &cfg, &sec, tok, now, &st, NULL, &d) == 0 && st == CONFIRM_DONE &&
	    num("SELECT count(*) FROM events WHERE event = 'confirmed'") == 1, "POST again: nothing more");
	token_unsub_make(&sec, cfg.list.id, id, tok);
	CHECK(signup_confirm(db, &cfg, &sec, tok, now, &st, NULL, &d) == 0 && st == CONFIRM_GONE,
	    "an unsubscribe token does not confirm");

	/* Expiry: a new address is forgotten, an unsubscribed one goes back. */
	exec("UPDATE subscribers SET pending_since = pending_since - 8 * 86400 WHERE status = 'pending'");
	id = num("SELECT id FROM subscribers WHERE email_key = 'uns@x.org'");
	token_confirm_make(&sec, cfg.list.id, id, tok);
	CHECK(signup_confirm(db, &cfg, &sec, tok, now, &st, NULL, &d) == 0 && st == CONFIRM_GONE,
	    "an expired signup cannot be confirmed");
	CHECK(submit("late@x.org", "10.0.0.20", 5000, &what) == SIGNUP_DONE, "the next signup");
	CHECK_STR(status_of("uns@x.org"), "unsubscribed", "expired: the unsubscribed reader is unsubscribed again");
	CHECK_STR(status_of("ip@x.org"), "(none)", "expired: a new address is forgotten");
	CHECK(num("SELECT count(*) FROM deliveries WHERE state IN ('queued', 'deferred') AND subscriber_id IS NULL") == 0,
	    "no copy waits for a forgotten signup");
	CHECK(num("PRAGMA foreign_key_check") == -1, "foreign keys hold");

	db_close(db);
	config_free(&cfg);
	snprintf(path, sizeof path, "rm -rf %s", dir);
	if (system(path) != 0)
		return 1;
	return check_exit();
}
