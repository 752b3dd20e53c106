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
#include "queue.h"
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
	const char *how;	/* the proof: "verp", "message-id", "list-unsubscribe" */
};

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
	if (t->delivery_id && v->kind != BOUNCE_COMPLAINT &&
	    queue_mark_bounced(db, t->delivery_id, v->status, v->diagnostic, now, d) < 0)
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
		else if (sub.status == SUB_ACTIVE || sub.status == SUB_PENDING) {
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
		else if (reached && (sub.status == SUB_ACTIVE || sub.status == SUB_PENDING)) {
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
			if (sub.status == SUB_ACTIVE || sub.status == SUB_PENDING) {
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

/* ---- proof: does the report answer a copy we sent, and to whom? ---- */

const char *
bounce_proof_name(enum bounce_proof_kind k)
{
	switch (k) {
	case PROOF_VERP: return "verp";
	case PROOF_MESSAGE_ID: return "message-id";
	case PROOF_LIST_UNSUBSCRIBE: return "list-unsubscribe";
	default: return "none";
	}
}

static void
why(struct bounce_proof *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
why(struct bounce_proof *p, const char *fmt, ...)
{
	va_list ap;

	if (p->why[0])
		return;		/* the first reason is the telling one */
	va_start(ap, fmt);
	vsnprintf(p->why, sizeof p->why, fmt, ap);
	va_end(ap);
}

/* The unsubscribe tokens of a List-Unsubscribe field in a header block:
 * ".../u/TOKEN" and "mailto:unsubscribe+TOKEN@". Calls fn for each until
 * it returns 1. Folded lines are read as one. */
static int
each_list_unsub_token(const char *h, int (*fn)(const char *tok, void *arg), void *arg)
{
	for (const char *p = h; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		const char *e;
		buf field = BUF_INIT;
		int hit = 0;

		if (strncasecmp(p, "List-Unsubscribe:", 17) != 0)
			continue;
		/* the field with its continuation lines */
		for (e = p + 17; *e; e++)
			if (*e == '\n' && e[1] != ' ' && e[1] != '\t')
				break;
		buf_append(&field, p + 17, (size_t)(e - p - 17));
		for (const char *q = buf_cstr(&field); *q && !hit; q++) {
			const char *t = NULL;
			if (strncmp(q, "/u/", 3) == 0)
				t = q + 3;
			else if (strncasecmp(q, "mailto:unsubscribe+", 19) == 0)
				t = q + 19;
			if (t == NULL)
				continue;
			size_t n = strspn(t, "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.");
			if (n > 0 && n < TOKEN_MAX) {
				char tok[TOKEN_MAX];
				memcpy(tok, t, n);
				tok[n] = '\0';
				hit = fn(tok, arg);
			}
		}
		buf_free(&field);
		if (hit)
			return 1;
	}
	return 0;
}

struct unsub_try {
	const struct secret *sec;
	const struct config *cfg;
	int64_t	now, sid;
	int	tried;
};

static int
try_unsub_token(const char *tok, void *arg)
{
	struct unsub_try *u = arg;
	int64_t grace = u->cfg->keys.grace > VERP_GRACE ? u->cfg->keys.grace : VERP_GRACE;

	u->tried++;
	return token_unsub_verify(u->sec, grace, u->now, u->cfg->list.id, tok, &u->sid) == 0;
}

int
bounce_prove(struct db *db, const struct config *cfg, const struct secret *sec,
    const struct bounce_report *r, int64_t now, struct bounce_proof *p, diag *d)
{
	int64_t did, sid;
	int found;

	memset(p, 0, sizeof *p);
	/* 1. The VERP address: our own envelope sender, with its MAC. */
	for (size_t i = 0; i < r->nenvelope; i++) {
		if (!looks_ours(cfg->bounces.address, r->envelope[i]))
			continue;
		if (token_verp_verify(sec, VERP_GRACE, now, cfg->bounces.address,
		    r->envelope[i], &did) < 0) {
			why(p, "forged VERP address %.200s", r->envelope[i]);
			continue;
		}
		if ((found = queue_delivery_subscriber(db, did, &sid, d)) < 0)
			return -1;
		if (!found || sid == 0) {
			why(p, "VERP delivery %lld %s", (long long)did,
			    found ? "went to a subscriber since removed" : "no longer exists");
			continue;
		}
		p->kind = PROOF_VERP;
		p->delivery_id = did;
		p->subscriber_id = sid;
		return 0;
	}
	/* 2. The returned copy's Message-ID: MAC of (delivery, subscriber). */
	if (r->message_id[0] && token_msgid_delivery(r->message_id, &did) == 0) {
		if ((found = queue_delivery_subscriber(db, did, &sid, d)) < 0)
			return -1;
		if (found && sid && token_msgid_verify(sec, VERP_GRACE, now, r->message_id,
		    sid, &did) == 0) {
			p->kind = PROOF_MESSAGE_ID;
			p->delivery_id = did;
			p->subscriber_id = sid;
			return 0;
		}
		why(p, "Message-ID <%.200s> %s", r->message_id, !found ?
		    "names no delivery of ours" : sid == 0 ? "went to a subscriber since removed" :
		    "is forged (its MAC is wrong)");
	}
	/* 3. Our unsubscribe token in the returned copy's List-Unsubscribe. */
	if (r->orig_headers[0]) {
		struct unsub_try u = { sec, cfg, now, 0, 0 };
		if (each_list_unsub_token(r->orig_headers, try_unsub_token, &u)) {
			struct subscriber sub;
			memset(&sub, 0, sizeof sub);
			if (subscriber_get(db, u.sid, &sub, d) < 0) {
				if (d->code != EX_NOUSER)
					return -1;
				d->code = 0;
				why(p, "unsubscribe token of subscriber %lld, since removed",
				    (long long)u.sid);
				return 0;
			}
			subscriber_free(&sub);
			p->kind = PROOF_LIST_UNSUBSCRIBE;
			p->subscriber_id = u.sid;
			/* The delivery, when the Message-ID names one of this
			 * subscriber's (the token is the proof; this only
			 * links the report to the copy). */
			if (r->message_id[0] && token_msgid_delivery(r->message_id, &did) == 0) {
				if ((found = queue_delivery_subscriber(db, did, &sid, d)) < 0)
					return -1;
				if (found && sid == u.sid)
					p->delivery_id = did;
			}
			return 0;
		}
		if (u.tried)
			why(p, "forged or stale unsubscribe token in the returned List-Unsubscribe");
	}
	why(p, "no VERP address, Message-ID or unsubscribe token of ours");
	return 0;
}

/* ---- applying ---- */

/* A report without proof: one event per verdict, nothing else. */
static int
record_unverified(struct db *db, const struct bounce_report *r, const struct bounce_proof *p,
    struct bounce_outcome *oc, diag *d)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct bounce_verdict *v = &r->v[i];
		char detail[768];

		if (v->kind == BOUNCE_IGNORE)
			continue;
		snprintf(detail, sizeof detail, "%s %s %s%s%s for %.254s, unverified (%s): "
		    "changed nothing", bounce_format_name(r->format), bounce_kind_name(v->kind),
		    v->status, v->feedback[0] ? " " : "", v->feedback,
		    v->recipient[0] ? v->recipient : "an unknown recipient", p->why);
		if (db_event(db, "system", 0, "bounce-unverified", detail, d) < 0)
			return -1;
		oc->unverified++;
	}
	return 0;
}

/* unsubscribe+TOKEN@: the one unsubscribe path (unsubscribe.c), in our
 * transaction. A forged or stale token changes nothing: it is recorded as
 * unverified. */
static int
apply_unsubscribe(struct db *db, const struct config *cfg, const struct bounce_report *r,
    const struct secret *s, struct bounce_outcome *oc, diag *d)
{
	int64_t sid = 0;
	enum sub_status was = SUB_ACTIVE;
	char detail[512];

	if (unsubscribe_token_ex(db, cfg, s, r->unsub_token, "mail", &sid, &was, d) < 0) {
		if (d->code != EX_DATAERR && d->code != EX_NOUSER)
			return -1;
		snprintf(detail, sizeof detail, "unsubscribe mail to %.300s, unverified (%s): "
		    "changed nothing", r->unsub_address, d->code == EX_DATAERR ?
		    "forged or stale token" : "the token's subscriber was removed");
		summary(oc, "unsubscribe mail to %s: %s, unverified, ignored", r->unsub_address,
		    d->code == EX_DATAERR ? "forged or stale token" : "subscriber removed");
		d->code = 0;
		oc->unverified++;
		return db_event(db, "system", 0, "bounce-unverified", detail, d);
	}
	if (was == SUB_ACTIVE || was == SUB_PENDING) {
		oc->suppressed++;
		summary(oc, "subscriber %lld unsubscribed by mail", (long long)sid);
	} else {
		summary(oc, "subscriber %lld already %s", (long long)sid, sub_status_name(was));
	}
	return 0;
}

/* A delay notice: the MTA is still trying. With proof it is one event
 * on the subscriber ("delay"), never a score; without, nothing. */
static int
record_delay(struct db *db, const struct config *cfg, const struct bounce_report *r,
    const struct bounce_verdict *v, int64_t now, struct secret *sec, int *have_secret,
    struct bounce_outcome *oc, diag *d)
{
	struct bounce_proof p;
	char detail[640];

	if (load_secret(cfg, sec, have_secret, d) < 0 ||
	    bounce_prove(db, cfg, sec, r, now, &p, d) < 0)
		return -1;
	if (p.kind == PROOF_NONE) {
		summary(oc, "delay notice (%s), no proof: ignored", v->status);
		return 0;
	}
	snprintf(detail, sizeof detail, "delay %s via %s, delivery %lld: %.400s (still "
	    "retried by the remote MTA: not a bounce, not scored)", v->status,
	    bounce_proof_name(p.kind), (long long)p.delivery_id, v->diagnostic);
	if (db_event(db, "subscriber", p.subscriber_id, "delay", detail, d) < 0)
		return -1;
	oc->delays++;
	summary(oc, "delay notice (%s) for subscriber %lld: recorded, not a bounce",
	    v->status, (long long)p.subscriber_id);
	return 0;
}

int
bounce_apply_tx(struct db *db, const struct config *cfg, const struct bounce_report *r,
    int64_t now, struct bounce_outcome *oc, diag *d)
{
	struct secret sec;
	struct bounce_proof p;
	int have_secret = 0, any = 0;
	struct target t;
	const struct bounce_verdict *pick = NULL;
	struct subscriber sub;

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
		const struct bounce_verdict *delay = NULL;
		for (size_t i = 0; i < r->n && !delay; i++)
			if (strcmp(r->v[i].reason, "delayed") == 0)
				delay = &r->v[i];
		if (delay && record_delay(db, cfg, r, delay, now, &sec, &have_secret, oc, d) < 0)
			return -1;
		if (oc->summary[0] == '\0')
			summary(oc, "%s: no bounce, ignored", bounce_format_name(r->format));
		oc->ignored = oc->suppressed == 0;
		return 0;
	}
	if (load_secret(cfg, &sec, &have_secret, d) < 0)
		return -1;
	if (bounce_prove(db, cfg, &sec, r, now, &p, d) < 0)
		return -1;
	oc->proof = p.kind;
	if (p.kind == PROOF_NONE) {
		if (record_unverified(db, r, &p, oc, d) < 0)
			return -1;
		summary(oc, "%s report, unverified (%s): changed nothing",
		    bounce_format_name(r->format), p.why);
		log_warn("unverified %s report (%s): changed nothing",
		    bounce_format_name(r->format), p.why);
		oc->ignored = 1;
		return 0;
	}
	t.delivery_id = p.delivery_id;
	t.subscriber_id = p.subscriber_id;
	t.how = bounce_proof_name(p.kind);
	/* One recipient per copy: the verdict for that subscriber, else the
	 * gravest one (a forwarded address fails under another name). */
	memset(&sub, 0, sizeof sub);
	if (subscriber_get(db, t.subscriber_id, &sub, d) == 0) {
		for (size_t i = 0; i < r->n && !pick; i++)
			if (r->v[i].kind != BOUNCE_IGNORE &&
			    strcasecmp(r->v[i].recipient, sub.email) == 0)
				pick = &r->v[i];
		subscriber_free(&sub);
	} else {
		return -1;
	}
	for (int want = BOUNCE_COMPLAINT; want >= BOUNCE_SOFT && !pick; want--)
		for (size_t i = 0; i < r->n && !pick; i++)
			if ((int)r->v[i].kind == want)
				pick = &r->v[i];
	if (apply_one(db, cfg, &t, pick, now, oc, d) < 0)
		return -1;
	summary(oc, "%s bounce (%s %s) for delivery %lld, subscriber %lld (proof: %s)",
	    bounce_kind_name(pick->kind), pick->status, pick->reason,
	    (long long)t.delivery_id, (long long)t.subscriber_id, t.how);
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
	if (oc->recorded == 0 && oc->suppressed == 0 && oc->unverified == 0 && oc->delays == 0) {
		db_rollback(db);	/* nothing written */
		return 0;
	}
	return db_commit(db, d);
}
