/* unsubscribe - the one way to unsubscribe (or resubscribe) by token. */
#include "unsubscribe.h"

#include <string.h>
#include <sysexits.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "token.h"

static int
verify(const struct config *cfg, const struct secret *sec, const char *token,
    int64_t *id, diag *d)
{
	if (token_unsub_verify(sec, cfg->keys.grace, clock_now(), cfg->list.id, token, id) < 0)
		return diag_set(d, EX_DATAERR, "unsubscribe token '%.*s' is forged, "
		    "truncated or made with a retired key", TOKEN_MAX, token);
	return 0;
}

int
unsubscribe_lookup(struct db *db, const struct config *cfg, const struct secret *sec,
    const char *token, struct subscriber *out, diag *d)
{
	int64_t id;

	if (verify(cfg, sec, token, &id, d) < 0)
		return -1;
	return subscriber_get(db, id, out, d);
}

/* Sets status `to` when the subscriber is in status `from`; *done tells,
 * *was is the status before. */
static int
change(struct db *db, const struct config *cfg, const struct secret *sec,
    const char *token, enum sub_status from, enum sub_status to, const char *how,
    int *done, int64_t *idp, enum sub_status *was, diag *d)
{
	struct subscriber s;
	int64_t id;
	/* The caller's open transaction is joined (the mail intake applies a
	 * whole message in one); otherwise this is one of its own. */
	int own = sqlite3_get_autocommit(db_handle(db));

	*done = 0;
	if (verify(cfg, sec, token, idp, d) < 0)
		return -1;
	id = *idp;
	if (own) {
		/* Repeats (a provider retrying, a second click) are common: a read
		 * answers them without taking the database's write lock. */
		if (subscriber_get(db, id, &s, d) < 0)
			return -1;
		*was = s.status;
		subscriber_free(&s);
		if (*was != from)
			return 0;
	}
	if (own && db_begin(db, d) < 0)
		return -1;
	if (subscriber_get(db, id, &s, d) < 0)
		goto fail;
	*was = s.status;
	if (s.status == from) {
		if (subscriber_set_status(db, id, to, how, d) < 0) {
			subscriber_free(&s);
			goto fail;
		}
		*done = 1;
	}
	subscriber_free(&s);
	if (own && db_commit(db, d) < 0)
		goto fail;
	return 0;
fail:
	if (own)
		db_rollback(db);
	return -1;
}

int
unsubscribe_token_ex(struct db *db, const struct config *cfg, const struct secret *sec,
    const char *token, const char *how, int64_t *idp, enum sub_status *wasp, diag *d)
{
	enum sub_status was = SUB_ACTIVE;
	int64_t id = 0;
	int done, rc;

	rc = change(db, cfg, sec, token, SUB_ACTIVE, SUB_UNSUBSCRIBED, how, &done, &id, &was, d);
	/* A reader who signed up and has not confirmed may leave as well
	 * (the confirmation email carries List-Unsubscribe too). */
	if (rc == 0 && !done && was == SUB_PENDING)
		rc = change(db, cfg, sec, token, SUB_PENDING, SUB_UNSUBSCRIBED, how, &done, &id,
		    &was, d);
	if (idp)
		*idp = id;
	if (wasp)
		*wasp = was;
	if (rc < 0)
		return -1;
	if (done) {
		metrics_inc(strcmp(how, "mail") == 0 ? METRIC_UNSUB_MAIL : METRIC_UNSUB_HTTP);
		log_info("subscriber %lld unsubscribed (%s)", (long long)id, how);
	}
	return 0;
}

int
unsubscribe_token(struct db *db, const struct config *cfg, const struct secret *sec,
    const char *token, const char *how, diag *d)
{
	return unsubscribe_token_ex(db, cfg, sec, token, how, NULL, NULL, d);
}

int
resubscribe_token(struct db *db, const struct config *cfg, const struct secret *sec,
    const char *token, const char *how, int *done, diag *d)
{
	enum sub_status was;
	int64_t id = 0;

	if (change(db, cfg, sec, token, SUB_UNSUBSCRIBED, SUB_ACTIVE, how, done, &id, &was, d) < 0)
		return -1;
	if (*done) {
		metrics_inc(METRIC_RESUB_HTTP);
		log_info("subscriber %lld resubscribed (%s)", (long long)id, how);
	}
	return 0;
}

void
unsubscribe_mask_email(const char *email, buf *out)
{
	const char *at = strrchr(email, '@');
	size_t n = 1;

	if (at == NULL || at == email) {
		buf_puts(out, "***");
		return;
	}
	/* The whole first character, UTF-8 continuation bytes included. */
	while (email + n < at && ((unsigned char)email[n] & 0xC0) == 0x80)
		n++;
	buf_append(out, email, n);
	buf_puts(out, "***");
	buf_puts(out, at);
}
