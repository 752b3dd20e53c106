/* signup - readers who join by themselves: double opt-in and its abuse limits.
 *
 * signup_submit() takes what the web form sent and decides, in one
 * transaction, what happens; its answer never tells whether the address was
 * known. In order: too many attempts from the client address
 * (signup.ip_limit per signup.ip_window) -> SIGNUP_BUSY; the honeypot field
 * filled -> SIGNUP_DONE and nothing else; a form not signed by us, older
 * than signup.form_max_age -> SIGNUP_STALE, or sent back sooner than
 * signup.min_fill_time -> SIGNUP_TOO_FAST; an address that is not one ->
 * SIGNUP_INVALID. Then SIGNUP_DONE whatever the address's state: a new
 * address becomes a 'pending' subscriber, a pending or unsubscribed one
 * (pending again), and those get one confirmation email (a copy of the
 * confirmation issue, queued like any copy: crash-safe and rate-limited
 * with the rest), unless the address had signup.address_limit attempts in
 * signup.address_window or signup.confirmations_per_day emails in 24
 * hours. An active, bounced, complained or removed address gets nothing.
 * Every attempt is recorded in `signups` (pruned after a day), and pending
 * signups older than signup.pending_expiry expire on the way.
 *
 * The confirmation link (token.h) opens a page: signup_confirm_state()
 * only reads; signup_confirm() (the page's POST) makes the reader active.
 */
#ifndef BROADSIDE_SIGNUP_H
#define BROADSIDE_SIGNUP_H

#include <stdint.h>

#include "config.h"
#include "db.h"
#include "diag.h"
#include "secret.h"
#include "subscribers.h"

#define SIGNUP_NAME_MAX	100	/* bytes of a name kept */

enum signup_result {
	SIGNUP_DONE,		/* "check your inbox" (whatever happened) */
	SIGNUP_INVALID,		/* not an email address: say so */
	SIGNUP_STALE,		/* form not ours or too old: reload it */
	SIGNUP_TOO_FAST,	/* sent back too soon after it was served */
	SIGNUP_BUSY,		/* too many attempts from this client: 429 */
};

struct signup_form {
	const char	*email;		/* as typed (NULL: missing) */
	const char	*name;		/* may be NULL */
	const char	*honeypot;	/* the field people never see */
	const char	*form;		/* the signed form-load time */
	const char	*ip;		/* the client's address */
};

/* now_ms: the time in milliseconds (the form's load time is signed to the
 * millisecond). *what: what happened, for the log and the tests ("mailed",
 * "known", ...). */
int	signup_submit(struct db *db, const struct config *cfg, const struct secret *sec,
	    const struct signup_form *f, int64_t now_ms, enum signup_result *res,
	    const char **what, diag *d);

enum confirm_state {
	CONFIRM_PENDING,	/* show the Confirm button */
	CONFIRM_DONE,		/* already a reader */
	CONFIRM_GONE,		/* forged, expired, or no longer pending */
};

/* Reads only. *email (when not NULL, owned) is the reader's address. */
int	signup_confirm_state(struct db *db, const struct config *cfg,
	    const struct secret *sec, const char *token, int64_t now,
	    enum confirm_state *st, char **email, diag *d);
/* The POST: a pending, unexpired reader becomes active. */
int	signup_confirm(struct db *db, const struct config *cfg, const struct secret *sec,
	    const char *token, int64_t now, enum confirm_state *st, char **email, diag *d);

/* A clean display name: control characters become spaces, blanks at the
 * ends go, at most SIGNUP_NAME_MAX bytes (never half a UTF-8 character). */
void	signup_clean_name(const char *in, buf *out);
/* The same with another length limit. */
void	signup_clean(const char *in, size_t max, buf *out);

#endif
