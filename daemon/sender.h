/* sender - the worker threads that send: a pool of connections per relay.
 *
 * For each relay, `connections` worker threads, each sending batches of up
 * to `messages_per_session` deliveries over one libesmtp session (smtp.c)
 * and handing each message's outcome, as decided by smtp_policy, to the
 * outbox (outbox.c, the one writer: journal, then one transaction per pass
 * that records the outcomes gathered, each within ~20 ms of the reply, and
 * claims the next batch of every worker that needs one). The queue thread
 * times those passes and renders the batches claimed (one compiled render
 * per issue). A worker of a relay without a rate gets its next batch ready
 * while it sends the last quarter of the current one; one of a
 * rate-limited relay asks when it needs one. A relay whose breaker is open is not claimed for (what its
 * workers held goes back to the queue); the other relays carry on. Per-relay
 * `rate` is applied to each message before its data goes out. A batch ready
 * for an issue no longer being sent (paused, cancelled) goes back too.
 * sender_stop() stops claiming, lets the sessions in flight finish (each
 * at most one batch), puts back what was claimed but not sent, commits every
 * outcome, and returns: nothing is left leased, nothing is sent twice. With
 * wait_ms > 0 it gives up after that long on sessions stuck with a stalled
 * relay (-1: the process should exit; their deliveries stay leased and are
 * due again at the next start).
 *
 * Leases: each claim has its owner ("host:pid:gGEN:relay#N") and a random
 * token, written into the rows it takes; every outcome is recorded only
 * under that lease, and the queue thread renews its leases every third of
 * sending.lease. Outcomes are journalled (journal.c) as they come; one that
 * cannot be committed is kept and retried, and nothing new is claimed
 * meanwhile.
 *
 * A reload retires the running sender (sender_retire: it claims nothing
 * more, its sessions finish their batches at their own pace) and starts
 * another with the new config at once, under another generation number.
 */
#ifndef BROADSIDE_SENDER_H
#define BROADSIDE_SENDER_H

#include <stdint.h>

#include "config.h"
#include "diag.h"
#include "secret.h"

struct sender;

/* cfg and sec must outlive the sender. `gen` tells this sender's leases
 * and outcome journal from those of the other senders of this process. */
int	sender_start(const struct config *cfg, const struct secret *sec, unsigned gen,
	    struct sender **out, diag *d);
/* Stops claiming and lets the sessions in flight finish; returns at once. */
void	sender_retire(struct sender *s);
/* 1 once every session of a retired sender has ended (then sender_stop()
 * returns at once). */
int	sender_done(struct sender *s);
int	sender_stop(struct sender *s, int64_t wait_ms);
/* After a sender_stop() that returned 0. */
void	sender_free(struct sender *s);

/* Idle senders look for due deliveries now (thread-safe; void * for use
 * as a callback). */
void	sender_wake(void *s);

/* Messages accepted by a relay since start (committed). */
int64_t	sender_sent_total(struct sender *s);

#endif
