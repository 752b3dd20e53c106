/* queue - the deliveries of an issue: fan-out, claim with a lease, complete. */
#include "queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sysexits.h>

#include "issues.h"
#include "log.h"
#include "xalloc.h"

void
queue_outcome_free(struct queue_outcome *o)
{
	free(o->text);
	free(o->message_id);
	free(o->relay);
	free(o->owner);
	o->text = o->message_id = o->relay = o->owner = NULL;
}

int64_t
queue_token(void)
{
	uint64_t t = 0;

	while (t == 0)
		if (getrandom(&t, sizeof t, 0) != (ssize_t)sizeof t)
			t = 0;
	return (int64_t)(t >> 1);
}

/* Drops the items from the n-th on. */
static void
batch_truncate(struct queue_batch *b, size_t n)
{
	while (b->n > n) {
		b->n--;
		free(b->items[b->n].email);
		free(b->items[b->n].name);
	}
}

void
queue_batch_reset(struct queue_batch *b)
{
	batch_truncate(b, 0);
}

void
queue_batch_free(struct queue_batch *b)
{
	queue_batch_reset(b);
	free(b->items);
	memset(b, 0, sizeof *b);
}

int
queue_fanout_step(struct db *db, int64_t issue_id, int64_t now, int64_t chunk,
    int64_t *count, int *done, diag *d)
{
	sqlite3_stmt *st;
	struct issue is;
	int64_t hi, seen, n = 0;

	*done = 0;
	if (count)
		*count = 0;
	if (db_begin(db, d) < 0)
		return -1;
	if (issue_get(db, issue_id, &is, d) < 0)
		goto fail;
	issue_free(&is);
	if (is.fanout_done) {
		*done = 1;
		return db_commit(db, d);
	}
	if (is.status != ISSUE_SCHEDULED && is.status != ISSUE_SENDING &&
	    is.status != ISSUE_PAUSED) {
		diag_set(d, EX_DATAERR, "issue %lld is %s; it is not fanned out",
		    (long long)issue_id, issue_status_name(is.status));
		goto fail;
	}
	/* The next `chunk` subscribers by id, whatever their status: a chunk
	 * is a range of the primary key, read in order (the unary + keeps
	 * SQLite off the status index, which would walk every active
	 * subscriber for each chunk). */
	st = db_stmt(db, "SELECT max(id), count(*) FROM (SELECT id FROM subscribers "
	    "WHERE id > ?1 ORDER BY id LIMIT ?2)");
	sqlite3_bind_int64(st, 1, is.fanout_cursor);
	sqlite3_bind_int64(st, 2, chunk);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		db_fail(db, d, "fanning out issue");
		goto fail;
	}
	hi = sqlite3_column_int64(st, 0);
	seen = sqlite3_column_int64(st, 1);
	sqlite3_reset(st);
	if (seen > 0) {
		st = db_stmt(db,
		    "INSERT OR IGNORE INTO deliveries (issue_id, subscriber_id, state, "
		    "next_attempt_at, created_at, updated_at) "
		    "SELECT ?1, s.id, 'queued', 0, ?2, ?2 FROM subscribers s "
		    "WHERE s.id > ?3 AND s.id <= ?4 AND +s.status = 'active' "
		    "AND (?5 = 'all' OR +s.tier = ?5) ORDER BY s.id");
		sqlite3_bind_int64(st, 1, issue_id);
		sqlite3_bind_int64(st, 2, now);
		sqlite3_bind_int64(st, 3, is.fanout_cursor);
		sqlite3_bind_int64(st, 4, hi);
		sqlite3_bind_text(st, 5, issue_audience_name(is.audience), -1, SQLITE_STATIC);
		if (db_step_done(db, st, d, "fanning out issue") < 0)
			goto fail;
		n = sqlite3_changes(db_handle(db));
	}
	/* A short chunk reached the last subscriber: the fan-out is over
	 * (someone who subscribes later has a higher id and is not waited
	 * for). The cursor commits with the chunk's copies. */
	*done = seen < chunk;
	if (issue_set_fanout(db, issue_id, seen > 0 ? hi : is.fanout_cursor, *done, d) < 0)
		goto fail;
	if (is.status == ISSUE_SCHEDULED && issue_transition(db, issue_id, ISSUE_SENDING, d) < 0)
		goto fail;
	if (db_commit(db, d) < 0)
		return -1;
	if (count)
		*count = n;
	return 0;
fail:
	db_rollback(db);
	return -1;
}

int
queue_fanout(struct db *db, int64_t issue_id, int64_t now, int64_t *count, diag *d)
{
	int64_t n, total = 0;
	int done = 0;

	while (!done) {
		if (queue_fanout_step(db, issue_id, now, QUEUE_FANOUT_CHUNK, &n, &done, d) < 0)
			return -1;
		total += n;
	}
	if (count)
		*count = total;
	return 0;
}

static int
claim_rows(struct db *db, sqlite3_stmt *sel, const struct queue_lease *l, size_t limit,
    int64_t now, struct queue_batch *out, int64_t *dropped, diag *d)
{
	int rc = SQLITE_DONE;

	while (out->n < limit && (rc = sqlite3_step(sel)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(sel, 0);
		const char *email = (const char *)sqlite3_column_text(sel, 5);
		/* 1 when the subscriber is one this issue goes to: active, or
		 * pending for the confirmation issue. */
		int eligible = sqlite3_column_int(sel, 8);
		const char *tier = (const char *)sqlite3_column_text(sel, 7);
		const char *name = (const char *)sqlite3_column_text(sel, 6);
		sqlite3_stmt *up;
		struct queue_item *it;

		if (email == NULL || !eligible) {
			/* Unsubscribed, bounced, complained or forgotten since
			 * the fan-out (or confirmed since the confirmation was
			 * queued): this copy is not sent. */
			up = db_stmt(db, "UPDATE deliveries SET state = 'dropped', "
			    "lease_owner = NULL, lease_expires = NULL, updated_at = ?2 "
			    "WHERE id = ?1");
			sqlite3_bind_int64(up, 1, id);
			sqlite3_bind_int64(up, 2, now);
			if (db_step_done(db, up, d, "dropping delivery") < 0)
				return -1;
			if (dropped)
				(*dropped)++;
			continue;
		}
		/* The relay is recorded with the outcome, not here: a
		 * release leaves the row as it was. */
		up = db_stmt(db, "UPDATE deliveries SET state = 'sending', lease_owner = ?2, "
		    "lease_expires = ?3, updated_at = ?4, lease_token = ?5 WHERE id = ?1");
		sqlite3_bind_int64(up, 1, id);
		sqlite3_bind_text(up, 2, l->owner, -1, SQLITE_STATIC);
		sqlite3_bind_int64(up, 3, now + l->secs);
		sqlite3_bind_int64(up, 4, now);
		sqlite3_bind_int64(up, 5, l->token);
		if (db_step_done(db, up, d, "claiming delivery") < 0)
			return -1;
		out->items = xgrow(out->items, &out->cap, out->n + 1, sizeof *out->items);
		it = &out->items[out->n++];
		it->delivery_id = id;
		it->issue_id = sqlite3_column_int64(sel, 1);
		it->subscriber_id = sqlite3_column_int64(sel, 2);
		it->attempts = sqlite3_column_int64(sel, 3);
		it->first_attempt_at = sqlite3_column_int64(sel, 4);
		it->email = xstrdup(email);
		it->name = xstrdup(name ? name : "");
		it->tier = tier && strcmp(tier, "paid") == 0 ? TIER_PAID : TIER_FREE;
		it->faults = sqlite3_column_int64(sel, 9);
		it->token = l->token;
	}
	if (out->n < limit && rc != SQLITE_DONE)
		return db_fail(db, d, "claiming deliveries");
	return 0;
}

/* Column 8 of a claim: whether the copy may go to this subscriber. */
#define ELIGIBLE "coalesce(s.status = CASE (SELECT kind FROM issues WHERE id = d.issue_id) " \
	"WHEN 'confirmation' THEN 'pending' ELSE 'active' END, 0)"

int
queue_sending_issues(struct db *db, int64_t *ids, size_t *n, diag *d)
{
	/* Catch-up copies of a sent issue are found through their partial
	 * index (0010_welcome.sql), not by walking every sent issue. */
	sqlite3_stmt *st = db_stmt(db, "SELECT id FROM issues WHERE status = 'sending' "
	    "UNION SELECT issue_id FROM deliveries INDEXED BY deliveries_catch_up WHERE catch_up = 1 AND "
	    "state IN ('queued', 'deferred', 'sending') AND issue_id IN "
	    "(SELECT id FROM issues WHERE status = 'sent') ORDER BY 1 LIMIT ?1");
	int rc;

	*n = 0;
	sqlite3_bind_int(st, 1, QUEUE_MAX_SENDING);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		ids[(*n)++] = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_fail(db, d, "listing the issues being sent");
	return 0;
}

int
queue_claim_in(struct db *db, const struct queue_lease *l, size_t limit,
    int64_t now, struct queue_batch *out, int64_t *dropped, diag *d)
{
	sqlite3_stmt *sel;
	int64_t ids[QUEUE_MAX_SENDING];
	size_t nids = 0, n0 = out->n;

	/* The issues being sent, oldest first; paused and cancelled ones are
	 * not claimed from. */
	if (queue_sending_issues(db, ids, &nids, d) < 0)
		return -1;
	for (size_t i = 0; i < nids && out->n < limit; i++) {
		/* Due deliveries first, then those a gone daemon held. */
		sel = db_stmt(db,
		    "SELECT d.id, d.issue_id, d.subscriber_id, d.attempts, "
		    "coalesce(d.first_attempt_at, 0), s.email, s.name, s.tier, " ELIGIBLE ", d.faults "
		    "FROM deliveries d LEFT JOIN subscribers s ON s.id = d.subscriber_id "
		    "WHERE d.issue_id = ?1 AND d.state IN ('queued', 'deferred') "
		    "AND d.next_attempt_at <= ?2 LIMIT ?3");
		sqlite3_bind_int64(sel, 1, ids[i]);
		sqlite3_bind_int64(sel, 2, now);
		sqlite3_bind_int64(sel, 3, (int64_t)(limit - out->n));
		if (claim_rows(db, sel, l, limit, now, out, dropped, d) < 0)
			goto fail;
		sqlite3_reset(sel);
		if (out->n >= limit)
			break;
		/* Never one's own: this process's sessions renew their leases,
		 * and a clock step forward must not hand their copies out again. */
		sel = db_stmt(db,
		    "SELECT d.id, d.issue_id, d.subscriber_id, d.attempts, "
		    "coalesce(d.first_attempt_at, 0), s.email, s.name, s.tier, " ELIGIBLE ", d.faults "
		    "FROM deliveries d LEFT JOIN subscribers s ON s.id = d.subscriber_id "
		    "WHERE d.issue_id = ?1 AND d.state = 'sending' AND d.lease_expires < ?2 "
		    "AND substr(coalesce(d.lease_owner, ''), 1, length(?4)) <> ?4 LIMIT ?3");
		sqlite3_bind_int64(sel, 1, ids[i]);
		sqlite3_bind_int64(sel, 2, now);
		sqlite3_bind_int64(sel, 3, (int64_t)(limit - out->n));
		sqlite3_bind_text(sel, 4, l->process, -1, SQLITE_STATIC);
		if (claim_rows(db, sel, l, limit, now, out, dropped, d) < 0)
			goto fail;
		sqlite3_reset(sel);
	}
	return 0;
fail:
	batch_truncate(out, n0);
	return -1;
}

int
queue_claim(struct db *db, const struct queue_lease *l, size_t limit,
    int64_t now, struct queue_batch *out, int64_t *dropped, diag *d)
{
	size_t n0 = out->n;

	if (db_begin(db, d) < 0)
		return -1;
	if (queue_claim_in(db, l, limit, now, out, dropped, d) < 0) {
		db_rollback(db);
		return -1;
	}
	if (db_commit(db, d) < 0) {
		batch_truncate(out, n0);
		return -1;
	}
	return 0;
}

static void
bind_reply(sqlite3_stmt *st, const struct queue_outcome *o, int first)
{
	if (o->code)
		sqlite3_bind_int(st, first, o->code);
	else
		sqlite3_bind_null(st, first);
	sqlite3_bind_text(st, first + 1, o->status, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, first + 2, o->text ? o->text : "", -1, SQLITE_STATIC);
	if (o->relay)
		sqlite3_bind_text(st, first + 3, o->relay, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, first + 3);
}

/* The lease an outcome answers, at ?first and ?first+1. */
static void
bind_lease(sqlite3_stmt *st, const struct queue_outcome *o, int first)
{
	sqlite3_bind_text(st, first, o->owner ? o->owner : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, first + 1, o->token);
}

static int
complete_one(struct db *db, const struct queue_outcome *o, diag *d)
{
	sqlite3_stmt *st;
	char why[160];

	switch (o->result) {
	case QR_SENT:
		/* Recorded even if the copy was dropped meanwhile: it went.
		 * Never over another claim's lease. */
		st = db_stmt(db, "UPDATE deliveries SET state = 'sent', attempts = attempts + 1, "
		    "first_attempt_at = coalesce(first_attempt_at, ?2), sent_at = ?2, "
		    "last_code = ?3, last_status = ?4, last_text = ?5, relay = coalesce(?6, relay), "
		    "message_id = ?7, lease_owner = NULL, lease_expires = NULL, lease_token = NULL, "
		    "updated_at = ?2 WHERE id = ?1 AND state <> 'sent' AND (state <> 'sending' "
		    "OR (lease_owner IS ?8 AND lease_token IS ?9))");
		sqlite3_bind_int64(st, 1, o->delivery_id);
		sqlite3_bind_int64(st, 2, o->at);
		bind_lease(st, o, 8);
		bind_reply(st, o, 3);
		if (o->message_id)
			sqlite3_bind_text(st, 7, o->message_id, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 7);
		return db_step_done(db, st, d, "recording a sent message");
	case QR_DEFERRED:
	case QR_FAILED:
		st = db_stmt(db, "UPDATE deliveries SET state = ?8, attempts = attempts + 1, "
		    "first_attempt_at = coalesce(first_attempt_at, ?2), next_attempt_at = ?7, "
		    "last_code = ?3, last_status = ?4, last_text = ?5, relay = coalesce(?6, relay), "
		    "lease_owner = NULL, lease_expires = NULL, lease_token = NULL, updated_at = ?2 "
		    "WHERE id = ?1 AND state = 'sending' AND lease_owner IS ?9 AND lease_token IS ?10");
		sqlite3_bind_int64(st, 1, o->delivery_id);
		sqlite3_bind_int64(st, 2, o->at);
		bind_reply(st, o, 3);
		bind_lease(st, o, 9);
		sqlite3_bind_int64(st, 7, o->result == QR_DEFERRED ? o->next_attempt_at : 0);
		sqlite3_bind_text(st, 8, o->result == QR_DEFERRED ? "deferred" : "failed", -1,
		    SQLITE_STATIC);
		if (db_step_done(db, st, d, "recording a delivery attempt") < 0)
			return -1;
		if (o->result == QR_FAILED && o->suppress && o->subscriber_id > 0) {
			snprintf(why, sizeof why, "SMTP %d %s%s%.100s", o->code, o->status,
			    *o->status ? " " : "", o->text ? o->text : "");
			return subscriber_set_status(db, o->subscriber_id, SUB_BOUNCED, why, d);
		}
		return 0;
	case QR_RELEASE:
		/* A fault noted against the copy keeps the relay's words, so
		 * that `issue deliveries` can say why it is still waiting. */
		st = db_stmt(db, "UPDATE deliveries SET "
		    "state = CASE WHEN attempts = 0 THEN 'queued' ELSE 'deferred' END, "
		    "faults = faults + ?5, "
		    "last_code = CASE WHEN ?5 THEN ?6 ELSE last_code END, "
		    "last_status = CASE WHEN ?5 THEN ?7 ELSE last_status END, "
		    "last_text = CASE WHEN ?5 THEN ?8 ELSE last_text END, "
		    "relay = CASE WHEN ?5 THEN coalesce(?9, relay) ELSE relay END, "
		    "lease_owner = NULL, lease_expires = NULL, lease_token = NULL, updated_at = ?2 "
		    "WHERE id = ?1 AND state = 'sending' AND lease_owner IS ?3 AND lease_token IS ?4");
		sqlite3_bind_int64(st, 1, o->delivery_id);
		sqlite3_bind_int64(st, 2, o->at);
		bind_lease(st, o, 3);
		sqlite3_bind_int(st, 5, o->blamed != 0);
		bind_reply(st, o, 6);
		return db_step_done(db, st, d, "releasing a delivery");
	}
	return diag_set(d, EX_SOFTWARE, "queue: unknown outcome %d", (int)o->result);
}

int
queue_record(struct db *db, const struct queue_outcome *o, size_t n, diag *d)
{
	for (size_t i = 0; i < n; i++)
		if (complete_one(db, &o[i], d) < 0)
			return -1;
	return 0;
}

int
queue_complete(struct db *db, const struct queue_outcome *o, size_t n, diag *d)
{
	if (n == 0)
		return 0;
	if (db_begin(db, d) < 0)
		return -1;
	if (queue_record(db, o, n, d) < 0) {
		db_rollback(db);
		return -1;
	}
	return db_commit(db, d);
}

int
queue_renew(struct db *db, const char *prefix, int64_t secs, int64_t now, int64_t *n,
    diag *d)
{
	/* Looked up by (issue, state) for the issues that can have copies on
	 * the wire, not through every delivery. */
	sqlite3_stmt *st = db_stmt(db, "UPDATE deliveries SET lease_expires = ?1 "
	    "WHERE issue_id IN (SELECT id FROM issues WHERE status IN "
	    "('sending', 'paused', 'cancelled', 'sent')) AND state = 'sending' "
	    "AND substr(coalesce(lease_owner, ''), 1, length(?2)) = ?2");

	sqlite3_bind_int64(st, 1, now + secs);
	sqlite3_bind_text(st, 2, prefix, -1, SQLITE_STATIC);
	if (db_step_done(db, st, d, "renewing leases") < 0)
		return -1;
	if (n)
		*n = sqlite3_changes(db_handle(db));
	return 0;
}

/* Drops the copies still waiting (queued, deferred) that `st` picks by ?2;
 * those on the wire are left to their outcome. */
static int
drop_waiting(struct db *db, sqlite3_stmt *st, int64_t id, int64_t now, int64_t *n, diag *d)
{
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, id);
	if (db_step_done(db, st, d, "dropping waiting deliveries") < 0)
		return -1;
	if (n)
		*n = sqlite3_changes(db_handle(db));
	return 0;
}

int
queue_drop_subscriber(struct db *db, int64_t subscriber_id, int64_t now, int64_t *n, diag *d)
{
	return drop_waiting(db, db_stmt(db, "UPDATE deliveries SET state = 'dropped', "
	    "updated_at = ?1, lease_owner = NULL, lease_expires = NULL "
	    "WHERE subscriber_id = ?2 AND state IN ('queued', 'deferred')"),
	    subscriber_id, now, n, d);
}

int
queue_cancel(struct db *db, int64_t issue_id, int64_t now, int64_t *n, diag *d)
{
	return drop_waiting(db, db_stmt(db, "UPDATE deliveries SET state = 'dropped', "
	    "updated_at = ?1, lease_owner = NULL, lease_expires = NULL "
	    "WHERE issue_id = ?2 AND state IN ('queued', 'deferred')"), issue_id, now, n, d);
}

int
queue_delivery_issue(struct db *db, int64_t delivery_id, int64_t *issue_id, diag *d)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT issue_id FROM deliveries WHERE id = ?1");
	int rc;

	*issue_id = 0;
	sqlite3_bind_int64(st, 1, delivery_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*issue_id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(db, d, "finding a delivery's issue");
	return 0;
}

int
queue_ever_used(struct db *db, int *used, diag *d)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT EXISTS (SELECT 1 FROM deliveries) OR "
	    "EXISTS (SELECT 1 FROM delivery_counts)");
	int rc = sqlite3_step(st);

	*used = rc == SQLITE_ROW && sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return db_fail(db, d, "looking for deliveries");
	return 0;
}

int
queue_release_all(struct db *db, int64_t *n, diag *d)
{
	sqlite3_stmt *st;

	if (db_begin(db, d) < 0)
		return -1;
	st = db_stmt(db, "UPDATE deliveries SET "
	    "state = CASE WHEN attempts = 0 THEN 'queued' ELSE 'deferred' END, "
	    "lease_owner = NULL, lease_expires = NULL, lease_token = NULL WHERE state = 'sending'");
	if (db_step_done(db, st, d, "releasing leased deliveries") < 0) {
		db_rollback(db);
		return -1;
	}
	if (n)
		*n = sqlite3_changes(db_handle(db));
	return db_commit(db, d);
}

int
queue_due_issues(struct db *db, int64_t now, int64_t **ids, size_t *n, diag *d)
{
	/* Scheduled and due, or with a fan-out under way (sending, or paused
	 * once started): a fan-out stopped by a crash goes on from its cursor. */
	sqlite3_stmt *st = db_stmt(db, "SELECT id FROM issues WHERE fanout_done = 0 AND "
	    "((status = 'scheduled' AND send_at IS NOT NULL AND send_at <= ?1) OR "
	    "status = 'sending' OR (status = 'paused' AND fanout_cursor > 0)) "
	    "ORDER BY send_at, id");
	size_t cap = 0;
	int rc;

	*ids = NULL;
	*n = 0;
	sqlite3_bind_int64(st, 1, now);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*ids = xgrow(*ids, &cap, *n + 1, sizeof **ids);
		(*ids)[(*n)++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		free(*ids);
		*ids = NULL;
		*n = 0;
		return db_fail(db, d, "looking for due issues");
	}
	return 0;
}

int
queue_finish_issues(struct db *db, int64_t now,
    void (*finished)(int64_t issue_id, const struct queue_counts *c, void *arg),
    void *arg, diag *d)
{
	sqlite3_stmt *st;
	int64_t ids[64];
	size_t nids = 0;
	int rc;

	/* This runs every tick: look first, and take the write lock only when
	 * there is something to change (a sender's claim would wait on it). */
	st = db_stmt(db, "SELECT EXISTS (SELECT 1 FROM issues i WHERE i.status = 'sending' "
	    "AND i.fanout_done = 1 AND i.kind = 'issue' AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.issue_id = i.id "
	    "AND d.state IN ('queued', 'sending', 'deferred'))) OR EXISTS (SELECT 1 "
	    "FROM issues i JOIN deliveries d ON d.issue_id = i.id WHERE i.status = 'cancelled' "
	    "AND d.state IN ('queued', 'deferred', 'sending'))");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_int(st, 0) == 0) {
		sqlite3_reset(st);
		return 0;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return db_fail(db, d, "looking for finished issues");

	/* A cancelled issue sends nothing more: drop what is still waiting,
	 * and what a lost lease left behind. */
	if (db_begin(db, d) < 0)
		return -1;
	/* Written so that SQLite looks up (issue, state) for the cancelled
	 * issues alone, not every waiting delivery. */
	st = db_stmt(db, "UPDATE deliveries SET state = 'dropped', lease_owner = NULL, "
	    "lease_expires = NULL, updated_at = ?1 WHERE issue_id IN "
	    "(SELECT id FROM issues WHERE status = 'cancelled') "
	    "AND state IN ('queued', 'deferred', 'sending') "
	    "AND (state <> 'sending' OR lease_expires < ?1)");
	sqlite3_bind_int64(st, 1, now);
	if (db_step_done(db, st, d, "dropping deliveries of cancelled issues") < 0)
		goto fail;
	st = db_stmt(db, "SELECT i.id FROM issues i WHERE i.status = 'sending' "
	    "AND i.fanout_done = 1 AND i.kind = 'issue' AND NOT EXISTS "
	    "(SELECT 1 FROM deliveries d WHERE d.issue_id = i.id AND d.state IN "
	    "('queued', 'sending', 'deferred')) ORDER BY i.id LIMIT 64");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		ids[nids++] = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		db_fail(db, d, "looking for finished issues");
		goto fail;
	}
	for (size_t i = 0; i < nids; i++)
		if (issue_transition(db, ids[i], ISSUE_SENT, d) < 0)
			goto fail;
	if (db_commit(db, d) < 0)
		return -1;
	for (size_t i = 0; i < nids && finished; i++) {
		struct queue_counts c;
		if (queue_issue_counts(db, ids[i], now, &c, d) == 0)
			finished(ids[i], &c, arg);
	}
	return 0;
fail:
	db_rollback(db);
	return -1;
}

int
queue_issue_counts(struct db *db, int64_t issue_id, int64_t now,
    struct queue_counts *out, diag *d)
{
	sqlite3_stmt *st;
	int rc;

	memset(out, 0, sizeof *out);
	if (issue_id > 0) {
		st = db_stmt(db, "SELECT state, count(*), sum(catch_up) FROM deliveries "
		    "WHERE issue_id = ?1 GROUP BY state");
		sqlite3_bind_int64(st, 1, issue_id);
	} else {
		st = db_stmt(db, "SELECT state, count(*), sum(catch_up) FROM deliveries "
		    "GROUP BY state");
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *s = (const char *)sqlite3_column_text(st, 0);
		int64_t c = sqlite3_column_int64(st, 1), cu = sqlite3_column_int64(st, 2);

		out->catch_up += cu;
		if (strcmp(s, "sent") == 0)
			out->catch_up_sent += cu;
		int64_t *slot = strcmp(s, "queued") == 0 ? &out->queued :
		    strcmp(s, "sending") == 0 ? &out->sending :
		    strcmp(s, "deferred") == 0 ? &out->deferred :
		    strcmp(s, "sent") == 0 ? &out->sent :
		    strcmp(s, "failed") == 0 ? &out->failed :
		    strcmp(s, "bounced") == 0 ? &out->bounced : &out->dropped;
		*slot += c;
		out->total += c;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_fail(db, d, "counting deliveries");

	if (issue_id > 0) {
		st = db_stmt(db, "SELECT count(*) FROM deliveries WHERE sent_at >= ?2 "
		    "AND issue_id = ?1");
		sqlite3_bind_int64(st, 1, issue_id);
	} else {
		st = db_stmt(db, "SELECT count(*) FROM deliveries WHERE sent_at >= ?2");
	}
	sqlite3_bind_int64(st, 2, now - 60);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return db_fail(db, d, "counting deliveries");
	}
	out->rate_minute = (double)sqlite3_column_int64(st, 0) / 60.0;
	sqlite3_reset(st);

	if (issue_id > 0) {
		st = db_stmt(db, "SELECT min(sent_at), max(sent_at) FROM deliveries "
		    "WHERE issue_id = ?1 AND state IN ('sent', 'bounced') AND sent_at IS NOT NULL");
		sqlite3_bind_int64(st, 1, issue_id);
	} else {
		st = db_stmt(db, "SELECT min(sent_at), max(sent_at) FROM deliveries");
	}
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return db_fail(db, d, "counting deliveries");
	}
	out->first_sent_at = sqlite3_column_int64(st, 0);
	out->last_sent_at = sqlite3_column_int64(st, 1);
	sqlite3_reset(st);

	/* What retention folded away (queue_retire) still counts. */
	st = db_stmt(db, "SELECT state, n, coalesce(first_sent_at, 0), coalesce(last_sent_at, 0), "
	    "catch_up FROM delivery_counts WHERE ?1 = 0 OR issue_id = ?1");
	sqlite3_bind_int64(st, 1, issue_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *s = (const char *)sqlite3_column_text(st, 0);
		int64_t c = sqlite3_column_int64(st, 1), cu = sqlite3_column_int64(st, 4);
		int64_t first = sqlite3_column_int64(st, 2), last = sqlite3_column_int64(st, 3);

		out->catch_up += cu;
		if (strcmp(s, "sent") == 0)
			out->catch_up_sent += cu;
		int64_t *slot = strcmp(s, "sent") == 0 ? &out->sent :
		    strcmp(s, "failed") == 0 ? &out->failed :
		    strcmp(s, "bounced") == 0 ? &out->bounced : &out->dropped;
		*slot += c;
		out->total += c;
		if (first && (!out->first_sent_at || first < out->first_sent_at))
			out->first_sent_at = first;
		if (last > out->last_sent_at)
			out->last_sent_at = last;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_fail(db, d, "counting deliveries");
	if (out->sent + out->bounced > 0) {
		int64_t span = out->last_sent_at - out->first_sent_at;
		out->rate_average = (double)(out->sent + out->bounced) / (double)(span > 0 ? span : 1);
	}
	return 0;
}

/* --- retention --- */

struct fold {
	int64_t	issue_id;
	char	state[8];
	int64_t	n, first, last;
	int64_t	catch_up;	/* of n */
};

int
queue_retire(struct db *db, int64_t before, int64_t *cursor, size_t limit,
    int64_t *folded, int *done, diag *d)
{
	sqlite3_stmt *sel, *del, *up;
	struct fold *f = NULL;
	size_t nf = 0, capf = 0, seen = 0;
	int64_t last = *cursor, newest;
	int rc;

	*done = 0;
	if (folded)
		*folded = 0;
	if (db_begin(db, d) < 0)
		return -1;
	/* In id order, which is the order of creation: the walk ends at the
	 * first copy made after the cut-off. A copy not yet final (queued,
	 * deferred, sending) or changed since is passed over and stays. */
	sel = db_stmt(db, "SELECT coalesce(max(id), 0) FROM deliveries");
	if (sqlite3_step(sel) != SQLITE_ROW) {
		sqlite3_reset(sel);
		db_fail(db, d, "finding the newest delivery");
		db_rollback(db);
		return -1;
	}
	newest = sqlite3_column_int64(sel, 0);
	sqlite3_reset(sel);
	sel = db_stmt(db, "SELECT id, issue_id, state, sent_at, created_at, updated_at, "
	    "catch_up FROM deliveries WHERE id > ?1 ORDER BY id LIMIT ?2");
	sqlite3_bind_int64(sel, 1, *cursor);
	sqlite3_bind_int64(sel, 2, (int64_t)limit);
	while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(sel, 0), issue = sqlite3_column_int64(sel, 1);
		const char *state = (const char *)sqlite3_column_text(sel, 2);
		int64_t sent_at = sqlite3_column_int64(sel, 3);
		size_t i;
		int left;

		seen++;
		/* The newest row always stays: SQLite gives the next row
		 * max(id) + 1, so deleting it would hand its id to the next
		 * copy, and an old VERP address (its MAC never expires) would
		 * name a stranger's delivery. */
		if (sqlite3_column_int64(sel, 4) >= before || id == newest) {
			*done = 1;
			break;
		}
		last = id;
		if (sqlite3_column_int64(sel, 5) >= before || (strcmp(state, "sent") != 0 &&
		    strcmp(state, "failed") != 0 && strcmp(state, "bounced") != 0 &&
		    strcmp(state, "dropped") != 0))
			continue;
		for (i = 0; i < nf; i++)
			if (f[i].issue_id == issue && strcmp(f[i].state, state) == 0)
				break;
		if (i == nf) {
			f = xgrow(f, &capf, nf + 1, sizeof *f);
			memset(&f[nf], 0, sizeof f[nf]);
			f[nf].issue_id = issue;
			snprintf(f[nf].state, sizeof f[nf].state, "%s", state);
			nf++;
		}
		f[i].n++;
		f[i].catch_up += sqlite3_column_int64(sel, 6) != 0;
		/* The sending span counts what left (as queue_issue_counts). */
		left = strcmp(state, "sent") == 0 || strcmp(state, "bounced") == 0;
		if (left && sent_at && (!f[i].first || sent_at < f[i].first))
			f[i].first = sent_at;
		if (left && sent_at > f[i].last)
			f[i].last = sent_at;
		/* Bounces keep their row (kind, status, time, subscriber):
		 * their delivery_id becomes NULL (foreign key). */
		del = db_stmt(db, "DELETE FROM deliveries WHERE id = ?1");
		sqlite3_bind_int64(del, 1, id);
		if (db_step_done(db, del, d, "deleting an old delivery") < 0) {
			sqlite3_reset(sel);
			goto fail;
		}
		if (folded)
			(*folded)++;
	}
	sqlite3_reset(sel);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		db_fail(db, d, "reading old deliveries");
		goto fail;
	}
	if (seen < limit)
		*done = 1;
	for (size_t i = 0; i < nf; i++) {
		up = db_stmt(db, "INSERT INTO delivery_counts (issue_id, state, n, first_sent_at, "
		    "last_sent_at, catch_up) VALUES (?1, ?2, ?3, nullif(?4, 0), nullif(?5, 0), ?6) "
		    "ON CONFLICT (issue_id, state) DO UPDATE SET n = n + excluded.n, "
		    "catch_up = catch_up + excluded.catch_up, "
		    "first_sent_at = coalesce(min(first_sent_at, excluded.first_sent_at), "
		    "first_sent_at, excluded.first_sent_at), "
		    "last_sent_at = coalesce(max(last_sent_at, excluded.last_sent_at), "
		    "last_sent_at, excluded.last_sent_at)");
		sqlite3_bind_int64(up, 1, f[i].issue_id);
		sqlite3_bind_text(up, 2, f[i].state, -1, SQLITE_STATIC);
		sqlite3_bind_int64(up, 3, f[i].n);
		sqlite3_bind_int64(up, 4, f[i].first);
		sqlite3_bind_int64(up, 5, f[i].last);
		sqlite3_bind_int64(up, 6, f[i].catch_up);
		if (db_step_done(db, up, d, "folding old deliveries into counts") < 0)
			goto fail;
	}
	if (db_commit(db, d) < 0)
		goto fail_nodb;
	free(f);
	*cursor = last;
	return 0;
fail:
	db_rollback(db);
fail_nodb:
	free(f);
	if (folded)
		*folded = 0;
	return -1;
}

int
queue_pending(struct db *db, int64_t *n, diag *d)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT count(*) FROM deliveries "
	    "WHERE state IN ('queued', 'sending', 'deferred')");

	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return db_fail(db, d, "counting pending deliveries");
	}
	*n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return 0;
}

/* --- for welcome --- */

int
queue_welcome(struct db *db, int64_t issue_id, int64_t lo, int64_t hi, const char *tier,
    int catch_up, int64_t now, int64_t *n, diag *d)
{
	sqlite3_stmt *st = db_stmt(db,
	    "INSERT OR IGNORE INTO deliveries (issue_id, subscriber_id, state, "
	    "next_attempt_at, created_at, updated_at, catch_up) "
	    "SELECT ?1, s.id, 'queued', ?2, ?2, ?2, ?3 FROM subscribers s "
	    "WHERE s.id BETWEEN ?4 AND ?5 AND s.status = 'active' "
	    "AND (?6 IS NULL OR s.tier = ?6) ORDER BY s.id");

	sqlite3_bind_int64(st, 1, issue_id);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int(st, 3, catch_up != 0);
	sqlite3_bind_int64(st, 4, lo);
	sqlite3_bind_int64(st, 5, hi);
	if (tier)
		sqlite3_bind_text(st, 6, tier, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 6);
	if (db_step_done(db, st, d, "queueing welcome copies") < 0)
		return -1;
	if (n)
		*n = sqlite3_changes(db_handle(db));
	return 0;
}

/* --- for bounce_apply --- */

int
queue_delivery_subscriber(struct db *db, int64_t delivery_id, int64_t *subscriber_id,
    diag *d)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT subscriber_id FROM deliveries WHERE id = ?");
	int rc;

	*subscriber_id = 0;
	sqlite3_bind_int64(st, 1, delivery_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*subscriber_id = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		return 1;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_fail(db, d, "looking up a delivery");
	return 0;
}

int
queue_mark_bounced(struct db *db, int64_t delivery_id, const char *status,
    const char *text, int64_t now, diag *d)
{
	sqlite3_stmt *st = db_stmt(db, "UPDATE deliveries SET state = 'bounced', "
	    "last_status = ?, last_text = ?, updated_at = ? "
	    "WHERE id = ? AND state IN ('sent', 'failed', 'deferred', 'sending')");

	sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int64(st, 4, delivery_id);
	return db_step_done(db, st, d, "marking the delivery bounced");
}

/* --- for the operator's commands --- */

static const char *const op_states[] = {
	"queued", "sending", "sent", "deferred", "failed", "bounced", "dropped"
};

int
queue_state_known(const char *s)
{
	for (size_t i = 0; i < sizeof op_states / sizeof op_states[0]; i++)
		if (strcmp(s, op_states[i]) == 0)
			return 1;
	return 0;
}

static const char *
col_text(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);
	return s ? s : "";
}

int
queue_deliveries(struct db *db, int64_t issue_id, const char *state,
    int (*each)(const struct queue_delivery_view *v, void *arg), void *arg, diag *d)
{
	sqlite3_stmt *st = db_stmt(db,
	    "SELECT d.id, coalesce(d.subscriber_id, 0), s.email, s.status, d.state, "
	    "coalesce(d.last_code, 0), d.last_status, d.last_text, d.relay, d.attempts, "
	    "d.next_attempt_at, d.updated_at "
	    "FROM deliveries d LEFT JOIN subscribers s ON s.id = d.subscriber_id "
	    "WHERE d.issue_id = ?1 AND (CASE WHEN ?2 IS NULL THEN d.state <> 'sent' "
	    "ELSE d.state = ?2 END) ORDER BY d.id");
	int rc;

	sqlite3_bind_int64(st, 1, issue_id);
	if (state)
		sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct queue_delivery_view v;

		v.delivery_id = sqlite3_column_int64(st, 0);
		v.subscriber_id = sqlite3_column_int64(st, 1);
		v.email = (const char *)sqlite3_column_text(st, 2);
		v.sub_status = (const char *)sqlite3_column_text(st, 3);
		v.state = col_text(st, 4);
		v.code = sqlite3_column_int(st, 5);
		v.status = col_text(st, 6);
		v.text = col_text(st, 7);
		v.relay = col_text(st, 8);
		v.attempts = sqlite3_column_int64(st, 9);
		v.next_attempt_at = strcmp(v.state, "queued") == 0 ||
		    strcmp(v.state, "deferred") == 0 ? sqlite3_column_int64(st, 10) : 0;
		v.updated_at = sqlite3_column_int64(st, 11);
		if (each(&v, arg) != 0)
			break;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(db, d, "listing deliveries");
	return 0;
}

int
queue_retry(struct db *db, int64_t issue_id, const char *state, int64_t since,
    int64_t subscriber_id, int64_t now, struct queue_retry_result *out, diag *d)
{
	sqlite3_stmt *st;
	int rc;

	memset(out, 0, sizeof *out);
	if (strcmp(state, "failed") != 0 && strcmp(state, "deferred") != 0)
		return diag_set(d, EX_USAGE, "queue: deliveries in state '%s' are not "
		    "queued again (failed or deferred only)", state);
	/* What stays out first, then one UPDATE for the rest: both read the
	 * same rows inside the caller's transaction. */
	st = db_stmt(db,
	    "SELECT coalesce(s.status, ''), count(*) FROM deliveries d "
	    "LEFT JOIN subscribers s ON s.id = d.subscriber_id "
	    "WHERE d.issue_id = ?1 AND d.state = ?2 AND d.updated_at >= ?3 "
	    "AND (?4 <= 0 OR d.subscriber_id = ?4) "
	    "AND (s.id IS NULL OR s.status <> 'active') GROUP BY 1");
	sqlite3_bind_int64(st, 1, issue_id);
	sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, since);
	sqlite3_bind_int64(st, 4, subscriber_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		enum sub_status ss;
		int64_t n = sqlite3_column_int64(st, 1);

		if (sub_status_parse(col_text(st, 0), &ss) == 0)
			out->skipped_status[ss] += n;
		else
			out->skipped_removed += n;
		out->skipped += n;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_fail(db, d, "looking for deliveries to retry");
	st = db_stmt(db,
	    "UPDATE deliveries SET state = 'queued', next_attempt_at = ?5, "
	    "first_attempt_at = NULL, lease_owner = NULL, lease_expires = NULL, "
	    "updated_at = ?5 WHERE issue_id = ?1 AND state = ?2 AND updated_at >= ?3 "
	    "AND (?4 <= 0 OR subscriber_id = ?4) AND subscriber_id IN "
	    "(SELECT id FROM subscribers WHERE status = 'active')");
	sqlite3_bind_int64(st, 1, issue_id);
	sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, since);
	sqlite3_bind_int64(st, 4, subscriber_id);
	sqlite3_bind_int64(st, 5, now);
	if (db_step_done(db, st, d, "queueing deliveries again") < 0)
		return -1;
	out->queued = sqlite3_changes(db_handle(db));
	return 0;
}

int
queue_confirmation(struct db *db, int64_t issue_id, int64_t subscriber_id, int64_t now,
    int *queued, diag *d)
{
	/* One row per (issue, subscriber): a copy already final (sent,
	 * failed, dropped) is queued again as a new first try; one still
	 * waiting or on the wire is left as it is; a bounced one never. */
	sqlite3_stmt *st = db_stmt(db,
	    "INSERT INTO deliveries (issue_id, subscriber_id, state, next_attempt_at, "
	    "created_at, updated_at) VALUES (?1, ?2, 'queued', ?3, ?3, ?3) "
	    "ON CONFLICT (issue_id, subscriber_id) DO UPDATE SET state = 'queued', "
	    "next_attempt_at = ?3, first_attempt_at = NULL, faults = 0, lease_owner = NULL, "
	    "lease_expires = NULL, lease_token = NULL, updated_at = ?3 "
	    "WHERE state IN ('sent', 'failed', 'dropped')");

	sqlite3_bind_int64(st, 1, issue_id);
	sqlite3_bind_int64(st, 2, subscriber_id);
	sqlite3_bind_int64(st, 3, now);
	if (db_step_done(db, st, d, "queueing a confirmation") < 0)
		return -1;
	*queued = sqlite3_changes(db_handle(db)) > 0;
	return 0;
}
