/* welcome - what a new reader gets: the welcome email and the latest issues.
 *
 * welcome_queue() is called inside the transaction that makes readers
 * active: a confirmed signup (signup.c), and, with welcome.on_import,
 * 'subscriber import' and 'subscriber add' (cli_subscriber.c). For each
 * active subscriber with an id in [lo, hi] it queues, through queue.c, a
 * copy of the welcome issue (issue_welcome(): the layout around
 * welcome.txt/.html; when welcome.enabled) and of the welcome.catch_up
 * latest public issues of their tier that went out within
 * welcome.catch_up_age, marked catch-up. They are ordinary deliveries:
 * crash-safe, rate-limited, rendered for the reader's tier at claim time,
 * and never twice (UNIQUE (issue, subscriber)): a reader who had an issue,
 * or the welcome, before does not get it again. Anyone not active
 * (pending, unsubscribed, bounced, complained) gets nothing, and the claim
 * checks again before sending.
 */
#ifndef BROADSIDE_WELCOME_H
#define BROADSIDE_WELCOME_H

#include <stdint.h>

#include "config.h"
#include "db.h"
#include "diag.h"

/* Caller owns the transaction. *welcomed, *caught_up (may be NULL): copies
 * queued of the welcome email and of catch-up issues. */
int	welcome_queue(struct db *db, const struct config *cfg, int64_t lo, int64_t hi,
	    int64_t now, int64_t *welcomed, int64_t *caught_up, diag *d);

#endif
