/* test_queue - fan-out, claim with a lease, re-check at claim time, complete,
 * release, finishing issues and counts, on a real SQLite database. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "db.h"
#include "issues.h"
#include "queue.h"

static struct db *db;

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

#define LEASE	600
static struct queue_lease leases[8];

/* The lease of owner "wN" of process "pP:": token N * 1000 + P. */
static const struct queue_lease *
L(int w, int p)
{
	static char owners[8][16], procs[8][16];
	snprintf(procs[w], sizeof procs[w], "p%d:", p);
	snprintf(owners[w], sizeof owners[w], "p%d:w%d", p, w);
	leases[w].owner = owners[w];
	leases[w].process = procs[w];
	leases[w].token = w * 1000 + p;
	leases[w].secs = LEASE;
	return &leases[w];
}

/* Chunked fan-out: the issue is 'sending' with its first chunk, never
 * 'sent' before the fan-out is done, and a fan-out stopped mid-way (the
 * database closed between two chunks, as a crash would) goes on from its
 * cursor without a second copy for anyone. */
static void
fanout_chunks(const char *dir)
{
	char path[256];
	diag d = DIAG_INIT;
	int64_t n, total = 0, now = 1800000000, *ids = NULL;
	size_t nids = 0;
	int done = 0, steps = 0;

	snprintf(path, sizeof path, "%s/chunks.db", dir);
	CHECK(db_open(path, DB_OPEN_CREATE, &db, &d) == 0, "chunks: database created (%s)", d.msg);
	/* 25 subscribers: every fifth unsubscribed, every third paid. */
	exec("WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 25) "
	    "INSERT INTO subscribers (email, email_key, tier, status, created_at, updated_at) "
	    "SELECT 's' || i || '@x.org', 's' || i || '@x.org', CASE WHEN i % 3 = 0 THEN 'paid' "
	    "ELSE 'free' END, CASE WHEN i % 5 = 0 THEN 'unsubscribed' ELSE 'active' END, 0, 0 FROM k");
	exec("INSERT INTO issues (id, subject, source, audience, status, send_at, created_at, updated_at) "
	    "VALUES (1, 'All', 'x', 'all', 'scheduled', 10, 0, 0)");
	CHECK(queue_fanout_step(db, 1, now, 4, &n, &done, &d) == 0 && n == 4 && !done,
	    "first chunk: 4 subscribers looked at, 4 copies (%lld)", (long long)n);
	CHECK(num("SELECT status = 'sending' AND fanout_cursor = 4 AND fanout_done = 0 "
	    "FROM issues WHERE id = 1") == 1, "sending with the first chunk; cursor at subscriber 4");
	/* Every copy made so far is final: still not sent, the fan-out is not done. */
	exec("UPDATE deliveries SET state = 'sent', sent_at = 1800000000");
	CHECK(queue_finish_issues(db, now, NULL, NULL, &d) == 0 &&
	    num("SELECT status FROM issues WHERE id = 1 AND status = 'sending'") != -1,
	    "not 'sent' while the fan-out is unfinished");
	CHECK(queue_due_issues(db, now, &ids, &nids, &d) == 0 && nids == 1 && ids[0] == 1,
	    "an unfinished fan-out is due again");
	free(ids);
	CHECK(queue_fanout_step(db, 1, now, 4, &n, &done, &d) == 0 && n == 3 && !done,
	    "second chunk: subscriber 5 (unsubscribed) skipped (%lld)", (long long)n);
	/* A crash: the connection goes, the cursor stays. */
	db_close(db);
	CHECK(db_open(path, DB_OPEN_EXISTING, &db, &d) == 0, "chunks: database reopened");
	/* A chunk replayed from an old cursor (as if its commit was lost after
	 * the copies) makes no second copy. */
	exec("UPDATE issues SET fanout_cursor = 2 WHERE id = 1");
	total = num("SELECT count(*) FROM deliveries");
	while (!done && steps++ < 20) {
		if (queue_fanout_step(db, 1, now, 4, &n, &done, &d) < 0)
			break;
		total += n;
	}
	CHECK(done && total == 20 && num("SELECT count(*) FROM deliveries") == 20 &&
	    num("SELECT count(DISTINCT subscriber_id) FROM deliveries") == 20,
	    "resumed: 20 copies in all, one per active subscriber (%lld)", (long long)total);
	CHECK(num("SELECT fanout_done FROM issues WHERE id = 1") == 1, "fan-out done");
	CHECK(queue_fanout_step(db, 1, now, 4, &n, &done, &d) == 0 && n == 0 && done,
	    "a done fan-out adds nothing");
	exec("UPDATE deliveries SET state = 'sent', sent_at = 1800000000");
	CHECK(queue_finish_issues(db, now, NULL, NULL, &d) == 0 &&
	    num("SELECT count(*) FROM issues WHERE id = 1 AND status = 'sent'") == 1,
	    "sent once the fan-out is done and every copy final");
	db_close(db);
}

/* Retention: final copies older than the cut-off are folded into their
 * issue's counts and deleted, in small transactions; totals stay; copies
 * not final, or recent, stay; bounces stay; and issue after issue the
 * database does not grow (freed pages are reused). */
static void
retention(const char *dir)
{
	char path[256], sql[512];
	diag d = DIAG_INIT;
	int64_t now = 1800000000, day = 86400, pages1 = 0, cursor, n, folded;
	struct queue_counts before, after;
	int done, steps, all_ok = 1;

	snprintf(path, sizeof path, "%s/retention.db", dir);
	CHECK(db_open(path, DB_OPEN_CREATE, &db, &d) == 0, "retention: database created (%s)", d.msg);
	exec("WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 3000) "
	    "INSERT INTO subscribers (email, email_key, tier, status, created_at, updated_at) "
	    "SELECT 'r' || i || '@x.org', 'r' || i || '@x.org', 'free', 'active', 0, 0 FROM k");
	for (int issue = 1; issue <= 6; issue++) {
		snprintf(sql, sizeof sql, "INSERT INTO issues (id, subject, source, audience, status, "
		    "send_at, created_at, updated_at) VALUES (%d, 'I', 'x', 'all', 'scheduled', 10, 0, 0)",
		    issue);
		exec(sql);
		if (queue_fanout(db, issue, now, &n, &d) < 0 || n != 3000)
			all_ok = 0;
		/* Sent, with a few failed, bounced (with a bounce report),
		 * dropped, and 5 still deferred. */
		snprintf(sql, sizeof sql, "UPDATE deliveries SET state = CASE WHEN subscriber_id %% 100 = 1 "
		    "THEN 'failed' WHEN subscriber_id %% 100 = 2 THEN 'bounced' WHEN subscriber_id %% 100 = 3 "
		    "THEN 'dropped' WHEN subscriber_id <= 500 AND subscriber_id %% 100 = 4 THEN 'deferred' "
		    "ELSE 'sent' END, sent_at = %lld + subscriber_id, updated_at = %lld + subscriber_id "
		    "WHERE issue_id = %d", (long long)now, (long long)now, issue);
		exec(sql);
		snprintf(sql, sizeof sql, "INSERT INTO bounces (delivery_id, subscriber_id, kind, created_at) "
		    "SELECT id, subscriber_id, 'hard', %lld FROM deliveries WHERE issue_id = %d "
		    "AND state = 'bounced'", (long long)now, issue);
		exec(sql);
		/* 30 of issue 1's copies went to readers who joined later. */
		if (issue == 1)
			exec("UPDATE deliveries SET catch_up = 1 WHERE issue_id = 1 AND "
			    "subscriber_id % 100 = 50");
		if (issue == 1)
			CHECK(queue_issue_counts(db, 1, now, &before, &d) == 0 && before.sent == 2905 &&
			    before.catch_up == 30 && before.catch_up_sent == 30 &&
			    before.failed == 30 && before.bounced == 30 && before.dropped == 30 &&
			    before.deferred == 5 && before.total == 3000, "issue 1 before: %lld sent",
			    (long long)before.sent);
		/* 100 days pass. */
		snprintf(sql, sizeof sql, "UPDATE deliveries SET created_at = created_at - %lld, "
		    "updated_at = updated_at - %lld, sent_at = sent_at - %lld", (long long)(100 * day), (long long)(100 * day),
		    (long long)(100 * day));
		exec(sql);
		now += 7 * day;
		/* The copies of the week just sent stay: only what is older
		 * than 90 days goes. */
		if (issue == 6) {
			snprintf(sql, sizeof sql, "UPDATE deliveries SET created_at = %lld, "
			    "updated_at = %lld WHERE issue_id = 6", (long long)now, (long long)now);
			exec(sql);
		}
		cursor = 0;
		done = 0;
		folded = 0;
		for (steps = 0; !done && steps < 100; steps++) {
			if (queue_retire(db, now - 90 * day, &cursor, 500, &n, &done, &d) < 0) {
				printf("# %s\n", d.msg);
				break;
			}
			folded += n;
		}
		if (issue == 1) {
			/* The newest row stays whatever its age: ids are
			 * never handed out twice. */
			CHECK(done && folded == 2994 && steps >= 6, "issue 1: 2994 final copies folded "
			    "in %d transactions of at most 500, the newest kept (%lld)", steps,
			    (long long)folded);
			CHECK(num("SELECT count(*) FROM deliveries WHERE issue_id = 1") == 6 &&
			    num("SELECT count(*) FROM deliveries WHERE state = 'deferred'") == 5 &&
			    num("SELECT max(id) FROM deliveries") == 3000,
			    "the 5 copies still deferred stay, and the newest row");
			CHECK(queue_issue_counts(db, 1, now, &after, &d) == 0 &&
			    after.sent == before.sent && after.failed == before.failed &&
			    after.bounced == before.bounced && after.dropped == before.dropped &&
			    after.deferred == 5 && after.total == before.total &&
			    after.catch_up == 30 && after.catch_up_sent == 30 &&
			    after.first_sent_at == before.first_sent_at - 100 * day &&
			    after.last_sent_at == before.last_sent_at - 100 * day,
			    "issue 1's counts (catch-up copies too) and sending span are the same "
			    "after folding");
			CHECK(num("SELECT count(*) FROM bounces WHERE delivery_id IS NULL") == 30 &&
			    num("SELECT count(*) FROM bounces") == 30,
			    "bounce reports stay (their delivery gone)");
			pages1 = num("PRAGMA page_count");
		}
		if (issue == 6)
			CHECK(num("SELECT count(*) FROM deliveries WHERE issue_id = 6") == 3000,
			    "a recent issue's copies stay");
	}
	CHECK(all_ok, "six issues fanned out to 3000 each");
	CHECK(num("SELECT count(*) FROM deliveries") == 5 * 5 + 3000 &&
	    num("SELECT sum(n) FROM delivery_counts") == 5 * 2995,
	    "after six issues: only what is recent or not final has a row");
	n = num("PRAGMA page_count");
	CHECK(n <= pages1 + pages1 / 10 + 40, "the database is bounded: %lld pages after six "
	    "issues, %lld after the first", (long long)n, (long long)pages1);
	CHECK(queue_issue_counts(db, 0, now, &after, &d) == 0 && after.total == 6 * 3000,
	    "overall total: every copy of the six issues (%lld)", (long long)after.total);
	db_close(db);
}

int
main(void)
{
	char dir[] = "/tmp/broadside-queue.XXXXXX", path[256];
	diag d = DIAG_INIT;
	struct queue_batch b = { 0 };
	struct queue_counts c;
	int64_t n = -1, dropped = 0, now = 1800000000;

	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof path, "%s/q.db", dir);
	CHECK(db_open(path, DB_OPEN_CREATE, &db, &d) == 0, "database created (%s)", d.msg);

	/* 6 subscribers: 3 free, 2 paid active, 1 paid unsubscribed. */
	exec("INSERT INTO subscribers (email, email_key, tier, status, created_at, updated_at) VALUES "
	    "('a@x.org','a@x.org','free','active',0,0), ('b@x.org','b@x.org','free','active',0,0),"
	    "('c@x.org','c@x.org','free','active',0,0), ('d@x.org','d@x.org','paid','active',0,0),"
	    "('e@x.org','e@x.org','paid','active',0,0), ('f@x.org','f@x.org','paid','unsubscribed',0,0)");
	exec("INSERT INTO issues (id, subject, source, audience, status, send_at, created_at, updated_at) VALUES "
	    "(1, 'All', 'x', 'all', 'scheduled', 10, 0, 0), (2, 'Paid', 'x', 'paid', 'scheduled', 10, 0, 0),"
	    "(3, 'Later', 'x', 'free', 'scheduled', 1900000000, 0, 0), (4, 'Draft', 'x', 'all', 'draft', NULL, 0, 0)");

	{
		int64_t *ids = NULL;
		size_t nids = 0;
		CHECK(queue_due_issues(db, now, &ids, &nids, &d) == 0 && nids == 2 &&
		    ids[0] == 1 && ids[1] == 2, "due issues: the two whose time has come");
		free(ids);
	}
	CHECK(queue_fanout(db, 1, now, &n, &d) == 0 && n == 5, "audience all: 5 active subscribers (%lld)",
	    (long long)n);
	CHECK(num("SELECT count(*) FROM issues WHERE id = 1 AND status = 'sending'") == 1,
	    "fan-out moves the issue to sending");
	CHECK(queue_fanout(db, 2, now, &n, &d) == 0 && n == 2, "audience paid: the 2 active paid ones");
	CHECK(queue_fanout(db, 1, now, &n, &d) == 0 && n == 0 &&
	    num("SELECT count(*) FROM deliveries WHERE issue_id = 1") == 5,
	    "fan-out twice: no second copy for anyone");
	CHECK(queue_fanout(db, 4, now, &n, &d) < 0 &&
	    num("SELECT count(*) FROM deliveries WHERE issue_id = 4") == 0,
	    "a draft is not fanned out, and nothing is left behind");

	/* Claim: batches, leases, limit. */
	CHECK(queue_claim(db, L(1, 1), 3, now, &b, &dropped, &d) == 0 && b.n == 3,
	    "claim a batch of 3");
	CHECK(b.items[0].issue_id == 1 && strcmp(b.items[0].email, "a@x.org") == 0 &&
	    b.items[0].tier == TIER_FREE && b.items[0].attempts == 0, "claimed item carries what render needs");
	CHECK(num("SELECT count(*) FROM deliveries WHERE state = 'sending' AND lease_owner = 'p1:w1' AND lease_token = 1001 "
	    "AND lease_expires > 1800000000") == 3, "claimed rows are leased to their owner");
	{
		struct queue_batch b2 = { 0 };
		CHECK(queue_claim(db, L(2, 1), 10, now, &b2, NULL, &d) == 0 && b2.n == 4,
		    "a second sender gets only the rest (%zu)", b2.n);
		CHECK(b2.items[0].delivery_id != b.items[0].delivery_id, "no delivery claimed twice");
		queue_batch_free(&b2);
	}
	{
		struct queue_batch b3 = { 0 };
		CHECK(queue_claim(db, L(3, 1), 10, now, &b3, NULL, &d) == 0 && b3.n == 0,
		    "nothing left to claim while leases hold");
		CHECK(queue_claim(db, L(3, 1), 2, now + LEASE + 1, &b3, NULL, &d) == 0 &&
		    b3.n == 0, "an expired lease of one's own process is not taken (it is alive)");
		CHECK(queue_renew(db, "p1:", LEASE, now + 100, &n, &d) == 0 && n == 7 &&
		    num("SELECT count(*) FROM deliveries WHERE lease_expires = 1800000700") == 7,
		    "the heartbeat renews every lease of the process (%lld)", (long long)n);
		/* w1 lives on (its lease renewed later); w2's process is gone. */
		exec("UPDATE deliveries SET lease_expires = 1900000000 WHERE lease_owner = 'p1:w1'");
		CHECK(queue_claim(db, L(3, 2), 2, now + 100 + LEASE + 1, &b3, NULL, &d) == 0 &&
		    b3.n == 2, "a gone process's expired lease is claimable again");
		{
			/* The first holder's outcome for a copy taken over: not recorded. */
			struct queue_outcome o = { 0 };
			o.delivery_id = b3.items[0].delivery_id;
			o.owner = "p1:w2";
			o.token = 2001;
			o.result = QR_DEFERRED;
			o.next_attempt_at = now + 60;
			o.at = now;
			CHECK(queue_complete(db, &o, 1, &d) == 0 &&
			    num("SELECT count(*) FROM deliveries WHERE state = 'sending' "
			    "AND lease_token = 3002") == 2,
			    "an outcome under a lease no longer held changes nothing");
			o.result = QR_RELEASE;
			CHECK(queue_complete(db, &o, 1, &d) == 0 &&
			    num("SELECT count(*) FROM deliveries WHERE state = 'sending' "
			    "AND lease_token = 3002") == 2, "nor does its release");
		}
		queue_batch_free(&b3);
	}

	/* Complete: sent, deferred, failed+suppressed, release. */
	{
		struct queue_outcome o[4];
		memset(o, 0, sizeof o);
		for (int i = 0; i < 3; i++) {
			o[i].delivery_id = b.items[i].delivery_id;
			o[i].subscriber_id = b.items[i].subscriber_id;
			o[i].at = now;
			o[i].owner = "p1:w1";
			o[i].token = 1001;
		}
		o[0].result = QR_SENT; o[0].code = 250; strcpy(o[0].status, "2.0.0");
		o[0].text = "ok"; o[0].message_id = "1.abc@example.com"; o[0].relay = "r:25";
		o[1].result = QR_DEFERRED; o[1].code = 451; o[1].next_attempt_at = now + 60;
		o[2].result = QR_FAILED; o[2].code = 550; strcpy(o[2].status, "5.1.1");
		o[2].suppress = 1; o[2].text = "user unknown";
		CHECK(queue_complete(db, o, 3, &d) == 0, "outcomes written in one batch (%s)", d.msg);
	}
	CHECK(num("SELECT count(*) FROM deliveries WHERE id = 1 AND state = 'sent' AND attempts = 1 "
	    "AND sent_at = 1800000000 AND message_id = '1.abc@example.com' AND last_code = 250 "
	    "AND lease_owner IS NULL") == 1, "sent: state, attempt, time, Message-ID, reply recorded");
	CHECK(num("SELECT count(*) FROM deliveries WHERE id = 2 AND state = 'deferred' AND attempts = 1 "
	    "AND next_attempt_at = 1800000060 AND first_attempt_at = 1800000000") == 1,
	    "deferred: next attempt and first attempt recorded");
	CHECK(num("SELECT count(*) FROM deliveries WHERE id = 3 AND state = 'failed' "
	    "AND last_status = '5.1.1'") == 1, "failed: enhanced status recorded");
	CHECK(num("SELECT count(*) FROM subscribers WHERE id = 3 AND status = 'bounced'") == 1,
	    "a dead address suppresses the subscriber");

	{
		struct queue_batch b4 = { 0 };
		CHECK(queue_claim(db, L(4, 1), 10, now + 30, &b4, NULL, &d) == 0 && b4.n == 0,
		    "a deferred delivery waits for its next attempt");
		CHECK(queue_claim(db, L(4, 1), 10, now + 61, &b4, NULL, &d) == 0 && b4.n == 1 &&
		    b4.items[0].attempts == 1 && b4.items[0].first_attempt_at == now,
		    "then it is claimed, with its attempts so far");
		{
			struct queue_outcome r = { 0 };
			r.delivery_id = b4.items[0].delivery_id;
			r.result = QR_RELEASE;
			r.at = now + 61;
			r.owner = "p1:w4";
			r.token = 4001;
			r.blamed = 1;
			CHECK(queue_complete(db, &r, 1, &d) == 0 &&
			    num("SELECT count(*) FROM deliveries WHERE id = 2 AND state = 'deferred' "
			    "AND attempts = 1 AND lease_owner IS NULL AND faults = 1") == 1,
			    "released: back untouched, no attempt counted (a fault noted)");
		}
		queue_batch_free(&b4);
	}

	/* Re-check at claim time. */
	exec("UPDATE subscribers SET status = 'complained' WHERE email = 'b@x.org'");
	{
		struct queue_batch b5 = { 0 };
		dropped = 0;
		CHECK(queue_claim(db, L(5, 1), 10, now + 61, &b5, &dropped, &d) == 0 && b5.n == 0 &&
		    dropped == 1, "a subscriber no longer active has the copy dropped at claim time");
		queue_batch_free(&b5);
	}

	/* Everything in flight back at start-up. */
	CHECK(queue_release_all(db, &n, &d) == 0 && n == 4 &&
	    num("SELECT count(*) FROM deliveries WHERE state = 'sending'") == 0,
	    "release_all puts every leased delivery back (%lld)", (long long)n);
	CHECK(num("SELECT count(*) FROM deliveries WHERE state = 'queued'") == 4,
	    "never-tried deliveries are queued again");

	/* Pause: no claims; cancel: dropped; finish. */
	exec("UPDATE issues SET status = 'paused' WHERE id = 1");
	{
		struct queue_batch b6 = { 0 };
		CHECK(queue_claim(db, L(6, 1), 10, now + 100, &b6, NULL, &d) == 0 && b6.n == 2 &&
		    b6.items[0].issue_id == 2, "a paused issue is not claimed from");
		queue_batch_reset(&b6);
		exec("UPDATE issues SET status = 'cancelled' WHERE id = 2");
		CHECK(queue_finish_issues(db, now + 100, NULL, NULL, &d) == 0, "finish round");
		CHECK(num("SELECT count(*) FROM deliveries WHERE issue_id = 2 AND state = 'sending'") == 2,
		    "cancel leaves copies in flight to their senders");
		CHECK(queue_finish_issues(db, now + 100 + LEASE + 1, NULL, NULL, &d) == 0 &&
		    num("SELECT count(*) FROM deliveries WHERE issue_id = 2 AND state = 'dropped'") == 2,
		    "a cancelled issue's lost leases are dropped");
		queue_batch_free(&b6);
	}
	exec("UPDATE issues SET status = 'sending' WHERE id = 1");
	exec("UPDATE deliveries SET state = 'sent', sent_at = 1800000010 WHERE issue_id = 1 AND state <> 'sent' "
	    "AND state <> 'failed' AND state <> 'dropped'");
	CHECK(queue_finish_issues(db, now + 100, NULL, NULL, &d) == 0 &&
	    num("SELECT count(*) FROM issues WHERE id = 1 AND status = 'sent' AND finished_at > 0") == 1,
	    "an issue whose copies are all final becomes sent");

	CHECK(queue_issue_counts(db, 1, now + 20, &c, &d) == 0 && c.total == 5 && c.sent == 3 &&
	    c.failed == 1 && c.dropped == 1 && c.queued == 0, "per-issue counts by state");
	CHECK(c.first_sent_at == now && c.last_sent_at == now + 10 && c.rate_average > 0.29 &&
	    c.rate_average < 0.31 && c.rate_minute > 0.049 && c.rate_minute < 0.051,
	    "rates: %.3f/s over the run, %.3f/s in the last minute", c.rate_average, c.rate_minute);
	CHECK(queue_issue_counts(db, 0, now + 20, &c, &d) == 0 && c.total == 7, "overall counts");
	CHECK(queue_pending(db, &n, &d) == 0 && n == 0, "nothing pending");

	queue_batch_free(&b);
	db_close(db);
	fanout_chunks(dir);
	retention(dir);
	snprintf(path, sizeof path, "rm -rf %s", dir);
	if (system(path) != 0)
		return 1;
	return check_exit();
}
