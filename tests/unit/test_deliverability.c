/* test_deliverability - complaint and bounce rates per issue and over the
 * window, warnings once, the automatic pause (once, in the caller's
 * transaction when there is one), the metrics gauges. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"
#include "config.h"
#include "deliverability.h"
#include "issues.h"

static struct db *db;
static int64_t now;

static int64_t
count(const char *sql)
{
	sqlite3_stmt *st;
	int64_t n = -1;

	if (sqlite3_prepare_v2(db_handle(db), sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void
exec(const char *fmt, ...)
{
	char sql[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof sql, fmt, ap);
	va_end(ap);
	if (sqlite3_exec(db_handle(db), sql, NULL, NULL, NULL) != SQLITE_OK) {
		printf("not ok - SQL failed: %s: %s\n", sql, sqlite3_errmsg(db_handle(db)));
		exit(1);
	}
}

static const char *
status(int64_t id)
{
	static char s[32];
	sqlite3_stmt *st;

	sqlite3_prepare_v2(db_handle(db), "SELECT status FROM issues WHERE id = ?", -1, &st, NULL);
	sqlite3_bind_int64(st, 1, id);
	snprintf(s, sizeof s, "%s", sqlite3_step(st) == SQLITE_ROW ?
	    (const char *)sqlite3_column_text(st, 0) : "?");
	sqlite3_finalize(st);
	return s;
}

/* An issue in `st` with n deliveries in state `state`, to subscribers
 * first..first+n-1 (made when missing). Returns its id. */
static int64_t
make_issue(const char *st, int n, const char *state, int64_t started)
{
	int64_t id;

	exec("INSERT INTO issues (subject, source, status, started_at, created_at, updated_at) "
	    "VALUES ('t', 'x', '%s', %lld, %lld, %lld)", st, (long long)started,
	    (long long)now, (long long)now);
	id = sqlite3_last_insert_rowid(db_handle(db));
	exec("WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < %d) "
	    "INSERT OR IGNORE INTO subscribers (id, email, email_key, created_at, updated_at) "
	    "SELECT i, 'r' || i || '@example.com', 'r' || i || '@example.com', 0, 0 FROM k", n);
	exec("WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < %d) "
	    "INSERT INTO deliveries (issue_id, subscriber_id, state, created_at, updated_at, sent_at) "
	    "SELECT %lld, i, '%s', 0, 0, %lld FROM k", n, (long long)id, state, (long long)started);
	return id;
}

/* Records a bounce of `kind` on the k-th delivery of the issue. */
static void
bounce(int64_t issue, int k, const char *kind)
{
	exec("INSERT INTO bounces (delivery_id, subscriber_id, kind, created_at) "
	    "SELECT id, subscriber_id, '%s', %lld FROM deliveries WHERE issue_id = %lld "
	    "ORDER BY id LIMIT 1 OFFSET %d", kind, (long long)now, (long long)issue, k);
}

int
main(void)
{
	char dir[] = "/tmp/test_deliv.XXXXXX", path[256];
	struct config cfg;
	struct deliv_rates r;
	diag d = DIAG_INIT;
	buf out = BUF_INIT;
	char w[2][DELIV_WARNING_MAX], pct[32];
	int64_t a, b, c, old;

	now = clock_now();
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof path, "%s/b.db", dir);
	if (db_open(path, DB_OPEN_CREATE, &db, &d) < 0) {
		printf("not ok - open: %s\n", d.msg);
		return 1;
	}
	config_defaults(&cfg);
	CHECK(cfg.deliverability.warn_complaint == 1000 && cfg.deliverability.warn_bounce == 20000,
	    "defaults: warn at 0.1%% complaints, 2%% hard bounces");
	CHECK(cfg.deliverability.pause_complaint == 0, "default: no automatic pause");
	deliverability_format_ppm(1000, pct, sizeof pct);
	CHECK_STR(pct, "0.1%", "0.1%% written as the settings are");
	deliverability_format_ppm(2500, pct, sizeof pct);
	CHECK_STR(pct, "0.25%", "0.25%%");
	deliverability_format_ppm(20000, pct, sizeof pct);
	CHECK_STR(pct, "2%", "2%%");

	/* Complaints: 1000 sent; 1 is not past 0.1 %, 2 is. */
	a = make_issue("sending", 1000, "sent", now);
	CHECK(deliverability_check_issue(db, &cfg, a, &r, &d) == 0 && r.deliveries == 1000 &&
	    r.complaints == 0 && !r.complaint_warn && r.judged, "clean issue: no warning");
	bounce(a, 0, "complaint");
	deliverability_check_issue(db, &cfg, a, &r, &d);
	CHECK(r.complaint_ppm == 1000 && !r.complaint_warn, "0.1%% exactly: no warning yet");
	bounce(a, 1, "complaint");
	bounce(a, 1, "complaint");	/* the same delivery twice counts once */
	CHECK(deliverability_check_issue(db, &cfg, a, &r, &d) == 0 && r.complaints == 2 &&
	    r.complaint_warn, "2 of 1000: warned (%lld complaints)", (long long)r.complaints);
	CHECK(deliverability_warnings(&r, &cfg, w) == 1 && strstr(w[0], "complaint rate 0.2% is "
	    "over 0.1%"), "the warning says rate and limit: %s", w[0]);
	CHECK(count("SELECT count(*) FROM events WHERE event = 'complaint-rate-warning'") == 1,
	    "warning recorded as an event");
	deliverability_check_issue(db, &cfg, a, &r, &d);
	CHECK(count("SELECT count(*) FROM events WHERE event = 'complaint-rate-warning'") == 1,
	    "warned once only");
	CHECK_STR(status(a), "sending", "no pause without pause_complaint_rate");

	/* The pause: past 0.3 %. */
	cfg.deliverability.pause_complaint = 3000;
	bounce(a, 2, "complaint");
	deliverability_check_issue(db, &cfg, a, &r, &d);
	CHECK(r.complaints == 3 && !r.paused && strcmp(status(a), "sending") == 0,
	    "0.3%% exactly: still sending");
	bounce(a, 3, "complaint");
	CHECK(deliverability_check_issue(db, &cfg, a, &r, &d) == 0 && r.paused,
	    "4 of 1000 past 0.3%%: paused %s", d.msg);
	CHECK_STR(status(a), "paused", "the issue is paused");
	CHECK(count("SELECT count(*) FROM events WHERE event = 'auto-paused' AND "
	    "detail LIKE 'complaint rate 0.4% passed 0.3%%'") == 1, "the pause says why");
	deliverability_check_issue(db, &cfg, a, &r, &d);
	CHECK(!r.paused, "a paused issue is not paused again");
	/* The operator resumes: we do not fight them. */
	CHECK(issue_transition(db, a, ISSUE_SENDING, &d) == 0, "resume by hand");
	bounce(a, 4, "complaint");
	deliverability_check_issue(db, &cfg, a, &r, &d);
	CHECK(!r.paused && strcmp(status(a), "sending") == 0, "after a resume: warned, not paused");

	/* Too few deliveries to judge. */
	b = make_issue("sending", 50, "sent", now);
	for (int i = 0; i < 10; i++)
		bounce(b, i, "complaint");
	deliverability_check_issue(db, &cfg, b, &r, &d);
	CHECK(!r.judged && !r.complaint_warn && !r.paused && strcmp(status(b), "sending") == 0,
	    "50 deliveries (< min_deliveries): 20%% complaints neither warns nor pauses");
	cfg.deliverability.min_deliveries = 10;
	deliverability_check_issue(db, &cfg, b, &r, &d);
	CHECK(r.paused, "with min_deliveries 10 it pauses");
	cfg.deliverability.min_deliveries = 100;

	/* Hard bounces: bounced state, failed 5.1.x, 'hard' rows; not 5.7.x. */
	c = make_issue("sending", 200, "sent", now);
	exec("UPDATE deliveries SET state = 'bounced' WHERE issue_id = %lld AND subscriber_id <= 2",
	    (long long)c);
	exec("UPDATE deliveries SET state = 'failed', last_code = 550, last_status = '5.1.1' "
	    "WHERE issue_id = %lld AND subscriber_id BETWEEN 3 AND 4", (long long)c);
	exec("UPDATE deliveries SET state = 'failed', last_code = 550, last_status = '5.7.1' "
	    "WHERE issue_id = %lld AND subscriber_id = 5", (long long)c);
	exec("UPDATE deliveries SET state = 'queued' WHERE issue_id = %lld AND subscriber_id > 190",
	    (long long)c);
	bounce(c, 0, "hard");	/* already counted by its state */
	bounce(c, 10, "hard");	/* a sent delivery that bounced later */
	bounce(c, 11, "soft");
	deliverability_check_issue(db, &cfg, c, &r, &d);
	CHECK(r.deliveries == 190, "queued deliveries are not counted (%lld)", (long long)r.deliveries);
	CHECK(r.hard_bounces == 5, "hard bounces: 2 bounced + 2 failed 5.1.1 + 1 hard row (%lld)",
	    (long long)r.hard_bounces);
	CHECK(r.bounce_warn && !r.paused, "2.6%% hard bounces: warned, not paused");
	cfg.deliverability.pause_bounce = 50000;
	deliverability_check_issue(db, &cfg, c, &r, &d);
	CHECK(!r.paused, "under pause_bounce_rate 5%%: not paused");
	cfg.deliverability.pause_bounce = 20000;
	/* In the caller's transaction: a rollback undoes the pause. */
	CHECK(db_begin(db, &d) == 0, "caller's transaction");
	deliverability_check_issue(db, &cfg, c, &r, &d);
	CHECK(r.paused && strcmp(status(c), "paused") == 0, "paused inside it");
	db_rollback(db);
	CHECK_STR(status(c), "sending", "rolled back with the caller's transaction");
	CHECK(deliverability_check_delivery(db, &cfg,
	    count("SELECT min(id) FROM deliveries WHERE issue_id = 3"), &d) == 0 &&
	    strcmp(status(c), "paused") == 0, "check by delivery id pauses its issue");
	CHECK(deliverability_check_delivery(db, &cfg, 999999, &d) == 0, "unknown delivery: no error");

	/* The window: an issue finished 40 days ago is outside it. */
	old = make_issue("sent", 100, "sent", now - 40 * 86400);
	exec("UPDATE issues SET finished_at = %lld WHERE id = %lld", (long long)(now - 39 * 86400),
	    (long long)old);
	for (int i = 0; i < 50; i++)
		bounce(old, i, "complaint");
	CHECK(deliverability_window_rates(db, &cfg, now - DELIV_WINDOW, &r, &d) == 0 &&
	    r.deliveries == 1000 + 50 + 190 && r.complaints == 5 + 10,
	    "30 days: the three recent issues only (%lld deliveries, %lld complaints)",
	    (long long)r.deliveries, (long long)r.complaints);

	CHECK(deliverability_metrics(db, &cfg, now, &out, &d) == 0, "metrics");
	CHECK(strstr(out.data, "# TYPE broadside_complaint_ratio_30d gauge\n"
	    "broadside_complaint_ratio_30d 0.012097\n") != NULL, "30-day complaint ratio gauge");
	CHECK(strstr(out.data, "broadside_issue_complaint_ratio{issue=\"1\"} 0.005000\n") != NULL,
	    "per-issue complaint ratio");
	CHECK(strstr(out.data, "broadside_issue_hard_bounce_ratio{issue=\"3\"} 0.026316\n") != NULL,
	    "per-issue hard bounce ratio");
	CHECK(strstr(out.data, "{issue=\"4\"}") == NULL, "an old issue has no gauge");

	/* The scheduler's pass: every issue sending. */
	exec("UPDATE issues SET status = 'sending' WHERE id = %lld", (long long)b);
	exec("DELETE FROM events WHERE ref_id = %lld AND event = 'auto-paused'", (long long)b);
	cfg.deliverability.min_deliveries = 10;
	CHECK(deliverability_check_sending(db, &cfg, &d) == 0 && strcmp(status(b), "paused") == 0,
	    "check_sending pauses a sending issue past the limit");

	/* The hook after each hard bounce: no time throttle, every crossing is
	 * seen by the call that causes it. 2000 finished; one dead address
	 * after another: warned at the 41st (2.05 %), paused at the 101st
	 * (5.05 %), not one sooner. */
	cfg.deliverability.min_deliveries = 100;
	cfg.deliverability.pause_bounce = 50000;
	{
		int64_t e = make_issue("sending", 2000, "sent", now), first;
		int warned_at = 0, paused_at = 0;

		first = count("SELECT max(id) - 1999 FROM deliveries");
		for (int k = 1; k <= 120; k++) {
			exec("UPDATE deliveries SET state = 'failed', last_code = 550, "
			    "last_status = '5.1.1' WHERE id = %lld", (long long)(first + k - 1));
			if (deliverability_check_delivery(db, &cfg, first + k - 1, &d) < 0)
				break;
			if (!warned_at && count("SELECT count(*) FROM events WHERE event = "
			    "'bounce-rate-warning' AND ref_id = (SELECT max(id) FROM issues)") == 1)
				warned_at = k;
			if (!paused_at && strcmp(status(e), "paused") == 0)
				paused_at = k;
		}
		CHECK(warned_at == 41, "hook: warned at the 41st hard bounce of 2000 (%d)", warned_at);
		CHECK(paused_at == 101, "hook: paused at the 101st, 5.05%% (%d)", paused_at);
	}
	/* Hard bounces recorded without this process's hook (`broadside bounce`
	 * in another process) count in the next hook's bound. */
	{
		int64_t f = make_issue("sending", 2000, "sent", now), first;

		first = count("SELECT max(id) - 1999 FROM deliveries");
		for (int k = 0; k < 60; k++) {
			exec("UPDATE deliveries SET state = 'failed', last_code = 550, "
			    "last_status = '5.1.1' WHERE id = %lld", (long long)(first + k));
			deliverability_check_delivery(db, &cfg, first + k, &d);
		}
		CHECK_STR(status(f), "sending", "60 of 2000 (3%%): still sending");
		for (int k = 1000; k < 1045; k++)
			bounce(f, k, "hard");	/* elsewhere: no hook here */
		exec("UPDATE deliveries SET state = 'failed', last_code = 550, "
		    "last_status = '5.1.1' WHERE id = %lld", (long long)(first + 60));
		CHECK(deliverability_check_delivery(db, &cfg, first + 60, &d) == 0 &&
		    strcmp(status(f), "paused") == 0,
		    "the next hook sees 45 hard bounces recorded elsewhere: 106 of 2000, paused");
	}
	/* A small issue whose dead addresses come first: 300 copies, 6 failed
	 * 5.1.1 and nothing else finished yet. Judged over min_deliveries
	 * (100): 6 %, past 5 %, so paused now rather than never (no hook runs
	 * when the 100th copy is sent). */
	{
		int64_t g = make_issue("sending", 300, "queued", now), first;
		int paused_at = 0;

		first = count("SELECT max(id) - 299 FROM deliveries");
		for (int k = 1; k <= 20 && !paused_at; k++) {
			exec("UPDATE deliveries SET state = 'failed', last_code = 550, "
			    "last_status = '5.1.1' WHERE id = %lld", (long long)(first + k - 1));
			deliverability_check_delivery(db, &cfg, first + k - 1, &d);
			if (strcmp(status(g), "paused") == 0)
				paused_at = k;
		}
		CHECK(paused_at == 6, "300 queued, dead addresses first: paused at the 6th (%d)",
		    paused_at);
		CHECK(count("SELECT count(*) FROM events WHERE event = 'auto-paused' AND "
		    "detail LIKE 'hard bounce rate 6% passed 5%%judged over at least 100%'") == 1,
		    "the reason says the share is judged over min_deliveries");
		deliverability_issue_rates(db, &cfg, g, &r, &d);
		CHECK(r.bounce_ppm == 1000000 && r.bounce_judged_ppm == 60000 && r.judged,
		    "shown: 100%% of those finished; judged: 6%% of 100");
	}
	/* A hook inside the caller's transaction (bounce_apply) that is rolled
	 * back: what it saw and did is not remembered. */
	{
		int64_t t = make_issue("sending", 2000, "sent", now), first;

		first = count("SELECT max(id) - 1999 FROM deliveries");
		exec("UPDATE deliveries SET state = 'failed', last_code = 550, last_status = '5.1.1' "
		    "WHERE id BETWEEN %lld AND %lld", (long long)first, (long long)(first + 100));
		CHECK(db_begin(db, &d) == 0 && deliverability_check_delivery(db, &cfg, first, &d) == 0 &&
		    strcmp(status(t), "paused") == 0, "hook in a transaction: paused inside it");
		db_rollback(db);
		CHECK_STR(status(t), "sending", "rolled back");
		CHECK(deliverability_check_delivery(db, &cfg, first + 1, &d) == 0 &&
		    strcmp(status(t), "paused") == 0, "the next hook pauses it again, for good");
	}
	/* Too small to judge ever: 50 copies with min_deliveries 100. */
	{
		int64_t h = make_issue("sending", 50, "queued", now), first;

		first = count("SELECT max(id) - 49 FROM deliveries");
		for (int k = 0; k < 20; k++) {
			exec("UPDATE deliveries SET state = 'failed', last_code = 550, "
			    "last_status = '5.1.1' WHERE id = %lld", (long long)(first + k));
			deliverability_check_delivery(db, &cfg, first + k, &d);
		}
		CHECK_STR(status(h), "sending", "50 copies (< min_deliveries): never judged");
	}

	buf_free(&out);
	config_free(&cfg);
	db_close(db);
	snprintf(path, sizeof path, "rm -rf %s", dir);
	CHECK(system(path) == 0, "clean up");
	return check_exit();
}
