/* bounce_apply - what a parsed bounce does to the subscriber it is about. */
#include "bounce_apply.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include "address.h"
#include "buf.h"
#include "deliverability.h"
#include "log.h"
#include "secret.h"
#include "subscribers.h"
#include "token.h"
#include "unsubscribe.h"

/* Bounces come back days after the mail left (retries last 5 days, some
 * providers report later still): previous keys stay good this long. */
#define VERP_GRACE	(60 * 86400LL)

int64_t
bounce_score_next(const struct bounce_score_rules *rules, int64_t score,
    int64_t last_at, int64_t now, int64_t *counted_at, int *reached)
{
	*counted_at = last_at;
	if (last_at <= 0 || score <= 0 || now - last_at > rules->reset) {
		/* First bounce, or the last one is stale: start over. */
		score = 1;
		*counted_at = now;
	} else if (now - last_at >= rules->interval) {
		score++;
		*counted_at = now;
	}
	/* else: already counted within this interval */
	*reached = score >= rules->threshold;
	return score;
}

void
bounce_score_rules_from(const struct config *cfg, struct bounce_score_rules *out)
{
	out->threshold = cfg->bounces.score_threshold > 0 ? cfg->bounces.score_threshold : 5;
	out->interval = cfg->bounces.score_interval > 0 ? cfg->bounces.score_interval : 86400;
	out->reset = cfg->bounces.score_reset > 0 ? cfg->bounces.score_reset : 7 * 86400;
}

/* "bounces+12.abc@example.com" is ours when "bounces@example.com" is the
 * bounce address: same local part before '+', same domain. */
static int
looks_ours(const char *bounce_address, const char *addr)
{
	const char *at = strrchr(bounce_address, '@'), *aat = strrchr(addr, '@');
	size_t l;

	if (at == NULL || aat == NULL)
		return 0;
	l = (size_t)(at - bounce_address);
	return strncasecmp(addr, bounce_address, l) == 0 && addr[l] == '+' &&
	    strcasecmp(at, aat) == 0;
}

struct target {
	int64_t	delivery_id;	/* 0: none */
	int64_t	subscriber_id;	/* 0: none */
	const char *how;	/* "verp", "message-id", "address" */
};

static int
delivery_subscriber(struct db *db, int64_t delivery_id, int64_t *sid, diag *d)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT subscriber_id FROM deliveries WHERE id = ?");
	int rc;

	*sid = 0;
	sqlite3_bind_int64(st, 1, delivery_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*sid = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		return 1;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_fail(db, d, "looking up the bounced delivery");
	return 0;
}

static int
delivery_by_message_id(struct db *db, const char *mid, int64_t *did, int64_t *sid, diag *d)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT id, subscriber_id FROM deliveries "
	    "WHERE message_id = ?1 OR message_id = '<' || ?1 || '>' LIMIT 1");
	int rc;

	sqlite3_bind_text(st, 1, mid, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*did = sqlite3_column_int64(st, 0);
		*sid = sqlite3_column_int64(st, 1);
		sqlite3_reset(st);
		return 1;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_fail(db, d, "looking up the returned Message-ID");
	return 0;
}

/* A subscriber with that address who was mailed at least once; the
 * latest such delivery. */
static int
subscriber_by_address(struct db *db, const char *addr, int64_t *did, int64_t *sid, diag *d)
{
	char key[ADDRESS_MAX + 1];
	const char *why;
	sqlite3_stmt *st;
	int rc;

	if (addr == NULL || address_normalize(addr, key, &why) < 0)
		return 0;
	st = db_stmt(db, "SELECT d.id, s.id FROM subscribers s JOIN deliveries d "
	    "ON d.subscriber_id = s.id WHERE s.email_key = ? AND d.state NOT IN "
	    "('queued', 'dropped') ORDER BY d.id DESC LIMIT 1");
	sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*did = sqlite3_column_int64(st, 0);
		*sid = sqlite3_column_int64(st, 1);
		sqlite3_reset(st);
		return 1;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_fail(db, d, "looking up the bounced address");
	return 0;
}

static int
record_bounce(struct db *db, const struct target *t, const struct bounce_verdict *v,
    int64_t now, diag *d)
{
	sqlite3_stmt *st = db_stmt(db, "INSERT INTO bounces (delivery_id, subscriber_id, "
	    "kind, status, reply_code, reason, diagnostic, created_at) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)");

	if (t->delivery_id)
		sqlite3_bind_int64(st, 1, t->delivery_id);
	else
		sqlite3_bind_null(st, 1);
	if (t->subscriber_id)
		sqlite3_bind_int64(st, 2, t->subscriber_id);
	else
		sqlite3_bind_null(st, 2);
	sqlite3_bind_text(st, 3, bounce_kind_name(v->kind), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, v->status, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, v->reply, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, v->reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, v->diagnostic, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, now);
	return db_step_done(db, st, d, "recording the bounce");
}

static int
mark_delivery(struct db *db, int64_t did, const struct bounce_verdict *v, int64_t now,
    diag *d)
{
	sqlite3_stmt *st = db_stmt(db, "UPDATE deliveries SET state = 'bounced', "
	    "last_status = ?, last_text = ?, updated_at = ? "
	    "WHERE id = ? AND state IN ('sent', 'failed', 'deferred', 'sending')");

	sqlite3_bind_text(st, 1, v->status, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, v->diagnostic, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int64(st, 4, did);
	return db_step_done(db, st, d, "marking the delivery bounced");
}

/* The effect of one verdict on one subscriber. */
static int
apply_one(struct db *db, const struct config *cfg, const struct target *t,
    const struct bounce_verdict *v, int64_t now, struct bounce_outcome *oc, diag *d)
{
	struct subscriber sub;
	char detail[768];
	int rc = 0;

	if (record_bounce(db, t, v, now, d) < 0)
		return -1;
	oc->recorded++;
	if (t->subscriber_id == 0) {
		snprintf(detail, sizeof detail, "%s bounce for %s (%s %s) matches no "
		    "subscriber: recorded only", bounce_kind_name(v->kind),
		    v->recipient[0] ? v->recipient : "an unknown recipient", v->status,
		    v->reason);
		return db_event(db, "system", 0, "bounce-unmatched", detail, d);
	}
	if (t->delivery_id && v->kind != BOUNCE_COMPLAINT &&
	    mark_delivery(db, t->delivery_id, v, now, d) < 0)
		return -1;
	memset(&sub, 0, sizeof sub);
	if (subscriber_get(db, t->subscriber_id, &sub, d) < 0)
		return -1;
	snprintf(detail, sizeof detail, "%s %s %s%s%s via %s, delivery %lld: %.400s",
	    bounce_kind_name(v->kind), v->status, v->reason,
	    v->feedback[0] ? " " : "", v->feedback, t->how, (long long)t->delivery_id,
	    v->diagnostic);
	switch (v->kind) {
	case BOUNCE_HARD:
		if (db_event(db, "subscriber", sub.id, "bounce", detail, d) < 0)
			rc = -1;
		else if (sub.status == SUB_ACTIVE) {
			char why[128];
			snprintf(why, sizeof why, "hard bounce %s %s", v->status, v->reason);
			rc = subscriber_set_status(db, sub.id, SUB_BOUNCED, why, d);
			oc->suppressed += rc == 0;
		}
		break;
	case BOUNCE_SOFT: {
		struct bounce_score_rules rules;
		int64_t at, score;
		int reached;

		bounce_score_rules_from(cfg, &rules);
		score = bounce_score_next(&rules, sub.bounce_score, sub.last_bounce_at, now,
		    &at, &reached);
		snprintf(detail + strlen(detail), sizeof detail - strlen(detail),
		    " (score %lld of %lld)", (long long)score, (long long)rules.threshold);
		if (subscriber_set_bounce_score(db, sub.id, score, at, d) < 0 ||
		    db_event(db, "subscriber", sub.id, "bounce", detail, d) < 0)
			rc = -1;
		else if (reached && sub.status == SUB_ACTIVE) {
			char why[128];
			snprintf(why, sizeof why, "bounce score %lld reached %lld (last: %s %s)",
			    (long long)score, (long long)rules.threshold, v->status, v->reason);
			rc = subscriber_set_status(db, sub.id, SUB_BOUNCED, why, d);
			oc->suppressed += rc == 0;
		}
		break;
	}
	case BOUNCE_COMPLAINT:
		if (db_event(db, "subscriber", sub.id, "complaint", detail, d) < 0)
			rc = -1;
		else if (strcmp(v->feedback, "opt-out") == 0 ||
		    strcmp(v->feedback, "unsubscribe") == 0) {
			/* Not spam: the reader asked to leave. */
			if (sub.status == SUB_ACTIVE) {
				rc = subscriber_set_status(db, sub.id, SUB_UNSUBSCRIBED,
				    "opt-out feedback", d);
				oc->suppressed += rc == 0;
			}
		} else if (sub.status != SUB_COMPLAINED) {
			char why[128];
			snprintf(why, sizeof why, "spam complaint (%s)",
			    v->feedback[0] ? v->feedback : "abuse");
			rc = subscriber_set_status(db, sub.id, SUB_COMPLAINED, why, d);
			oc->suppressed += rc == 0;
		}
		break;
	default:
		break;
	}
	subscriber_free(&sub);
	/* Too many complaints or hard bounces pause the issue (when configured). */
	if (rc == 0 && t->delivery_id && (v->kind == BOUNCE_HARD || v->kind == BOUNCE_COMPLAINT))
		rc = deliverability_check_delivery(db, cfg, t->delivery_id, d);
	return rc;
}

static void
summary(struct bounce_outcome *oc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
summary(struct bounce_outcome *oc, const char *fmt, ...)
{
	size_t n = strlen(oc->summary);
	va_list ap;

	if (n >= sizeof oc->summary - 1)
		return;
	if (n)
		oc->summary[n++] = ';', oc->summary[n++] = ' ', oc->summary[n] = '\0';
	va_start(ap, fmt);
	vsnprintf(oc->summary + n, sizeof oc->summary - n, fmt, ap);
	va_end(ap);
}

static int
load_secret(const struct config *cfg, struct secret *s, int *loaded, diag *d)
{
	if (*loaded)
		return 0;
	if (secret_load(cfg->key_file, s, d) < 0) {
		/* Keep the message: the MTA retries once the key is back. */
		d->code = EX_TEMPFAIL;
		return -1;
	}
	*loaded = 1;
	return 0;
}

/* unsubscribe+TOKEN@: the one unsubscribe path (unsubscribe.c), in our
 * transaction. A forged or stale token changes nothing. */
static int
apply_unsubscribe(struct db *db, const struct config *cfg, const struct bounce_report *r,
    const struct secret *s, struct bounce_outcome *oc, diag *d)
{
	int64_t sid = 0;
	enum sub_status was = SUB_ACTIVE;

	if (unsubscribe_token_ex(db, cfg, s, r->unsub_token, "mail", &sid, &was, d) < 0) {
		if (d->code == EX_DATAERR) {
			summary(oc, "unsubscribe mail to %s: forged or stale token, ignored",
			    r->unsub_address);
			d->code = 0;
			return 0;
		}
		if (d->code == EX_NOUSER) {
			summary(oc, "unsubscribe mail: subscriber %lld no longer exists",
			    (long long)sid);
			d->code = 0;
			return 0;
		}
		return -1;
	}
	if (was == SUB_ACTIVE) {
		oc->suppressed++;
		summary(oc, "subscriber %lld unsubscribed by mail", (long long)sid);
	} else {
		summary(oc, "subscriber %lld already %s", (long long)sid, sub_status_name(was));
	}
	return 0;
}

int
bounce_apply_tx(struct db *db, const struct config *cfg, const struct bounce_report *r,
    int64_t now, struct bounce_outcome *oc, diag *d)
{
	struct secret sec;
	int have_secret = 0, forged = 0, any = 0;
	struct target verp = { 0, 0, "verp" };
	const char *forged_addr = NULL;

	memset(oc, 0, sizeof *oc);
	for (size_t i = 0; i < r->n; i++)
		any |= r->v[i].kind != BOUNCE_IGNORE;

	if (r->unsub_token[0]) {
		if (load_secret(cfg, &sec, &have_secret, d) < 0)
			return -1;
		if (apply_unsubscribe(db, cfg, r, &sec, oc, d) < 0)
			return -1;
	}
	if (!any) {
		if (oc->summary[0] == '\0')
			summary(oc, "%s: no bounce, ignored", bounce_format_name(r->format));
		oc->ignored = oc->suppressed == 0;
		return 0;
	}

	/* The VERP address: our own envelope sender, with its MAC. */
	for (size_t i = 0; i < r->nenvelope && verp.delivery_id == 0; i++) {
		int64_t did;
		if (!looks_ours(cfg->bounces.address, r->envelope[i]))
			continue;
		if (load_secret(cfg, &sec, &have_secret, d) < 0)
			return -1;
		if (token_verp_verify(&sec, VERP_GRACE, now, cfg->bounces.address,
		    r->envelope[i], &did) == 0) {
			verp.delivery_id = did;
		} else {
			forged = 1;
			forged_addr = r->envelope[i];
		}
	}
	if (verp.delivery_id == 0 && forged) {
		summary(oc, "forged VERP address %s: ignored", forged_addr);
		log_warn("bounce to forged VERP address %s ignored", forged_addr);
		oc->ignored = 1;
		return 0;
	}
	if (verp.delivery_id) {
		int found = delivery_subscriber(db, verp.delivery_id, &verp.subscriber_id, d);
		const struct bounce_verdict *pick = NULL;
		struct subscriber sub;

		if (found < 0)
			return -1;
		if (!found) {
			summary(oc, "VERP delivery %lld no longer exists: ignored",
			    (long long)verp.delivery_id);
			oc->ignored = 1;
			return 0;
		}
		/* One recipient per envelope: the verdict for that subscriber,
		 * else the gravest one (a forwarded address fails under
		 * another name). */
		memset(&sub, 0, sizeof sub);
		if (verp.subscriber_id && subscriber_get(db, verp.subscriber_id, &sub, d) == 0) {
			for (size_t i = 0; i < r->n && !pick; i++)
				if (r->v[i].kind != BOUNCE_IGNORE &&
				    strcasecmp(r->v[i].recipient, sub.email) == 0)
					pick = &r->v[i];
			subscriber_free(&sub);
		} else if (verp.subscriber_id) {
			if (d->code != EX_NOUSER)
				return -1;
			verp.subscriber_id = 0;	/* removed since: record only */
			d->code = 0;
		}
		for (int want = BOUNCE_COMPLAINT; want >= BOUNCE_SOFT && !pick; want--)
			for (size_t i = 0; i < r->n && !pick; i++)
				if ((int)r->v[i].kind == want)
					pick = &r->v[i];
		if (apply_one(db, cfg, &verp, pick, now, oc, d) < 0)
			return -1;
		summary(oc, "%s bounce (%s %s) for delivery %lld, subscriber %lld",
		    bounce_kind_name(pick->kind), pick->status, pick->reason,
		    (long long)verp.delivery_id, (long long)verp.subscriber_id);
		return 0;
	}

	/* No VERP: the returned Message-ID, then the recipient's address. */
	for (size_t i = 0; i < r->n; i++) {
		const struct bounce_verdict *v = &r->v[i];
		struct target t = { 0, 0, "message-id" };
		int found = 0;

		if (v->kind == BOUNCE_IGNORE)
			continue;
		if (r->message_id[0])
			found = delivery_by_message_id(db, r->message_id, &t.delivery_id,
			    &t.subscriber_id, d);
		if (found == 0) {
			t.how = "address";
			found = subscriber_by_address(db, v->recipient, &t.delivery_id,
			    &t.subscriber_id, d);
		}
		if (found < 0)
			return -1;
		if (apply_one(db, cfg, &t, v, now, oc, d) < 0)
			return -1;
		if (t.subscriber_id)
			summary(oc, "%s bounce (%s %s) for %s, subscriber %lld (by %s)",
			    bounce_kind_name(v->kind), v->status, v->reason, v->recipient,
			    (long long)t.subscriber_id, t.how);
		else
			summary(oc, "%s bounce (%s %s) for %s: no such subscriber, recorded",
			    bounce_kind_name(v->kind), v->status, v->reason,
			    v->recipient[0] ? v->recipient : "unknown recipient");
	}
	return 0;
}

int
bounce_apply(struct db *db, const struct config *cfg, const struct bounce_report *r,
    int64_t now, struct bounce_outcome *oc, diag *d)
{
	if (db_begin(db, d) < 0)
		return -1;
	if (bounce_apply_tx(db, cfg, r, now, oc, d) < 0) {
		db_rollback(db);
		return -1;
	}
	if (oc->recorded == 0 && oc->suppressed == 0) {
		db_rollback(db);	/* nothing written */
		return 0;
	}
	return db_commit(db, d);
}
