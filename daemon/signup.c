/* signup - readers who join by themselves: double opt-in and its abuse limits. */
#include "signup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "address.h"
#include "issues.h"
#include "log.h"
#include "queue.h"
#include "token.h"
#include "welcome.h"
#include "xalloc.h"

#define PRUNE_AGE	86400	/* attempts are kept a day */

void
signup_clean_name(const char *in, buf *out)
{
	signup_clean(in, SIGNUP_NAME_MAX, out);
}

void
signup_clean(const char *in, size_t max, buf *out)
{
	size_t start = out->len, n;

	for (const unsigned char *p = (const unsigned char *)(in ? in : ""); *p; p++)
		buf_putc(out, (char)(*p < 0x20 || *p == 0x7f ? ' ' : *p));
	n = out->len - start;
	if (n > max) {
		n = max;
		/* Back to a character's first byte. */
		while (n > 0 && ((unsigned char)out->data[start + n] & 0xC0) == 0x80)
			n--;
		buf_truncate(out, start + n);
	}
	while (out->len > start && out->data[out->len - 1] == ' ')
		buf_truncate(out, out->len - 1);
	n = 0;
	while (start + n < out->len && out->data[start + n] == ' ')
		n++;
	if (n) {
		memmove(out->data + start, out->data + start + n, out->len - start - n);
		buf_truncate(out, out->len - n);
	}
}

static int
count_since(struct db *db, sqlite3_stmt *st, const char *key, int64_t since,
    int64_t *n, diag *d)
{
	int rc;

	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, since);
	rc = sqlite3_step(st);
	*n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return db_fail(db, d, "counting signup attempts");
	return 0;
}

static int
record(struct db *db, const char *ip, const char *key, const char *outcome, int64_t now,
    diag *d)
{
	sqlite3_stmt *st = db_stmt(db, "INSERT INTO signups (at, ip, email_key, outcome) "
	    "VALUES (?, ?, ?, ?)");

	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_text(st, 2, ip, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, key ? key : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, outcome, -1, SQLITE_STATIC);
	if (db_step_done(db, st, d, "recording a signup attempt") < 0)
		return -1;
	st = db_stmt(db, "DELETE FROM signups WHERE at < ?");
	sqlite3_bind_int64(st, 1, now - PRUNE_AGE);
	return db_step_done(db, st, d, "pruning signup attempts");
}

/* The address's part, inside the transaction: *what tells what was done. */
static int
join(struct db *db, const struct config *cfg, const char *email, const char *key,
    const char *name, const char *ip, int64_t now, const char **what, diag *d)
{
	struct subscriber s;
	int64_t n, id, issue;
	int suppressed, queued;
	char why[128];
	diag nd = DIAG_INIT;

	snprintf(why, sizeof why, "signup from %.60s", ip);
	if (subscriber_find(db, key, &s, &nd) < 0) {
		if (nd.code != EX_NOUSER) {
			*d = nd;
			return -1;
		}
		if (subscriber_suppressed(db, key, email, &suppressed, d) < 0)
			return -1;
		if (suppressed) {
			*what = "suppressed";
			return 0;
		}
		struct subscriber ns = { 0 };
		buf nm = BUF_INIT;
		signup_clean_name(name, &nm);
		ns.email = (char *)email;
		ns.name = (char *)buf_cstr(&nm);
		ns.tier = TIER_FREE;
		ns.status = SUB_PENDING;
		int rc = subscriber_insert_from(db, &ns, key, why, &id, d);
		buf_free(&nm);
		if (rc < 0 || subscriber_set_pending(db, id, now, why, d) < 0)
			return -1;
	} else {
		id = s.id;
		enum sub_status st = s.status;
		subscriber_free(&s);
		if (st != SUB_PENDING && st != SUB_UNSUBSCRIBED) {
			/* A reader already, or an address never to be mailed. */
			*what = "known";
			return 0;
		}
		if (subscriber_set_pending(db, id, now, why, d) < 0)
			return -1;
	}
	if (count_since(db, db_stmt(db, "SELECT count(*) FROM signups WHERE email_key = ?1 "
	    "AND outcome = 'mailed' AND at > ?2"), key, now - 86400, &n, d) < 0)
		return -1;
	if (n >= cfg->signup.confirm_per_day) {
		*what = "capped";
		return 0;
	}
	if (issue_confirmation(db, &issue, d) < 0 ||
	    queue_confirmation(db, issue, id, now, &queued, d) < 0)
		return -1;
	*what = queued ? "mailed" : "queued";
	return 0;
}

int
signup_submit(struct db *db, const struct config *cfg, const struct secret *sec,
    const struct signup_form *f, int64_t now_ms, enum signup_result *res, const char **what,
    diag *d)
{
	int64_t now = now_ms / 1000;
	char key[ADDRESS_MAX + 1] = "";
	const char *why = NULL, *ip = f->ip ? f->ip : "";
	int64_t n, loaded = 0;

	*res = SIGNUP_DONE;
	*what = "";
	if (db_begin(db, d) < 0)
		return -1;
	if (count_since(db, db_stmt(db, "SELECT count(*) FROM signups WHERE ip = ?1 "
	    "AND at > ?2"), ip, now - cfg->signup.ip_window, &n, d) < 0)
		goto fail;
	if (n >= cfg->signup.ip_limit) {
		*res = SIGNUP_BUSY;
		*what = "client limit";
	} else if (f->honeypot && *f->honeypot) {
		*what = "honeypot";
	} else if (f->form == NULL || token_form_verify(sec, cfg->keys.grace, now,
	    cfg->list.id, f->form, &loaded) < 0 || loaded > now_ms + 60000 ||
	    now_ms - loaded > cfg->signup.form_max_age * 1000) {
		*res = SIGNUP_STALE;
		*what = "stale form";
	} else if (now_ms - loaded < cfg->signup.min_fill * 1000) {
		*res = SIGNUP_TOO_FAST;
		*what = "too fast";
	} else if (f->email == NULL || address_normalize(f->email, key, &why) < 0) {
		*res = SIGNUP_INVALID;
		*what = "invalid address";
		key[0] = '\0';
	} else {
		if (count_since(db, db_stmt(db, "SELECT count(*) FROM signups WHERE "
		    "email_key = ?1 AND at > ?2"), key, now - cfg->signup.address_window,
		    &n, d) < 0)
			goto fail;
		if (n >= cfg->signup.address_limit)
			*what = "address limit";
		else if (subscriber_expire_pending(db, now - cfg->signup.pending_expiry,
		    NULL, d) < 0 || join(db, cfg, f->email, key, f->name, ip, now, what, d) < 0)
			goto fail;
	}
	if (record(db, ip, key, *what, now, d) < 0 || db_commit(db, d) < 0)
		goto fail;
	return 0;
fail:
	db_rollback(db);
	return -1;
}

/* The subscriber a token names, when it is genuine and the reader still
 * exists; *st CONFIRM_GONE otherwise. */
static int
lookup(struct db *db, const struct config *cfg, const struct secret *sec,
    const char *token, int64_t now, struct subscriber *s, enum confirm_state *st,
    diag *d)
{
	int64_t id;
	diag nd = DIAG_INIT;

	*st = CONFIRM_GONE;
	memset(s, 0, sizeof *s);
	if (token_confirm_verify(sec, cfg->keys.grace, now, cfg->list.id, token, &id) < 0)
		return 0;
	if (subscriber_get(db, id, s, &nd) < 0) {
		if (nd.code == EX_NOUSER)
			return 0;
		*d = nd;
		return -1;
	}
	if (s->status == SUB_ACTIVE)
		*st = CONFIRM_DONE;
	else if (s->status == SUB_PENDING && s->pending_since >= now - cfg->signup.pending_expiry)
		*st = CONFIRM_PENDING;
	return 0;
}

int
signup_confirm_state(struct db *db, const struct config *cfg, const struct secret *sec,
    const char *token, int64_t now, enum confirm_state *st, char **email, diag *d)
{
	struct subscriber s;

	if (lookup(db, cfg, sec, token, now, &s, st, d) < 0)
		return -1;
	if (email)
		*email = *st != CONFIRM_GONE ? xstrdup(s.email) : NULL;
	subscriber_free(&s);
	return 0;
}

int
signup_confirm(struct db *db, const struct config *cfg, const struct secret *sec,
    const char *token, int64_t now, enum confirm_state *st, char **email, diag *d)
{
	struct subscriber s;
	int done = 0;

	if (email)
		*email = NULL;
	if (db_begin(db, d) < 0)
		return -1;
	if (lookup(db, cfg, sec, token, now, &s, st, d) < 0)
		goto fail;
	if (*st == CONFIRM_PENDING) {
		/* The welcome and the latest issue go with the confirmation,
		 * in its transaction (welcome.h). */
		if (subscriber_confirm(db, s.id, "confirmed on the web", &done, d) < 0 ||
		    (done && welcome_queue(db, cfg, s.id, s.id, now, NULL, NULL, d) < 0)) {
			subscriber_free(&s);
			goto fail;
		}
		*st = CONFIRM_DONE;
		log_info("subscriber %lld confirmed their signup", (long long)s.id);
	}
	if (email && *st != CONFIRM_GONE)
		*email = xstrdup(s.email);
	subscriber_free(&s);
	if (db_commit(db, d) < 0) {
		if (email) {
			free(*email);
			*email = NULL;
		}
		return -1;
	}
	return 0;
fail:
	db_rollback(db);
	return -1;
}
