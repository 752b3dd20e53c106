/* unsubscribe - the one way to unsubscribe (or resubscribe) by token.
 *
 * The HTTP endpoint (POST /u/TOKEN) and the mail intake
 * (unsubscribe+TOKEN@domain) both come here. The token is checked with
 * token_unsub_verify() against the key file's current key and previous
 * keys within cfg->keys.grace, for cfg->list.id. Unsubscribing is
 * idempotent and happens in its own transaction, or in the caller's when
 * one is open (the caller then commits or rolls back): subscriber_set_status()
 * also drops the subscriber's queued deliveries of issues not yet sent.
 *
 * Failures: a forged, truncated or stale token -> EX_DATAERR, nothing
 * changed; a genuine token for a subscriber no longer there -> EX_NOUSER;
 * a busy database -> EX_TEMPFAIL (try again).
 */
#ifndef BROADSIDE_UNSUBSCRIBE_H
#define BROADSIDE_UNSUBSCRIBE_H

#include "config.h"
#include "db.h"
#include "diag.h"
#include "secret.h"
#include "subscribers.h"

/* Unsubscribes the subscriber the token names; `how` goes in the events log
 * ("one-click", "web", "mail"; "mail" counts in METRIC_UNSUB_MAIL, the
 * rest in METRIC_UNSUB_HTTP). Already unsubscribed, bounced or complained:
 * nothing changes, and 0. The mail intake calls it for unsubscribe+TOKEN@. */
int	unsubscribe_token(struct db *db, const struct config *cfg,
	    const struct secret *sec, const char *token, const char *how, diag *d);

/* As unsubscribe_token, and tells which subscriber the token named (*id,
 * also on EX_NOUSER) and its status before (*was; SUB_ACTIVE: this call
 * unsubscribed it). Either may be NULL. */
int	unsubscribe_token_ex(struct db *db, const struct config *cfg,
	    const struct secret *sec, const char *token, const char *how,
	    int64_t *id, enum sub_status *was, diag *d);

/* Sets an unsubscribed subscriber active again (nothing else: a bounced or
 * complained address stays so, and *done is 0). */
int	resubscribe_token(struct db *db, const struct config *cfg,
	    const struct secret *sec, const char *token, const char *how,
	    int *done, diag *d);

/* Checks the token and reads the subscriber it names (for a page). */
int	unsubscribe_lookup(struct db *db, const struct config *cfg,
	    const struct secret *sec, const char *token, struct subscriber *out,
	    diag *d);

/* "jane@example.com" -> "j***@example.com", for pages that must not show
 * the whole address to whoever holds the link. */
void	unsubscribe_mask_email(const char *email, buf *out);

#endif
