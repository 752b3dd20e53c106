/* sender - the worker threads that send: a pool of connections per relay.
 *
 * For each relay, `connections` threads; each claims a batch of up to
 * `messages_per_session` due deliveries (queue_claim), renders them (one
 * compiled render per issue, shared by every thread), sends them over one
 * libesmtp session (smtp.c), and hands each message's outcome, as decided by
 * smtp_policy, to one writer thread that commits them in batched
 * transactions within ~20 ms of the reply. A relay whose breaker is open is
 * not claimed for; the other relays carry on. Per-relay `rate` is applied
 * to each message before its data goes out.
 * sender_stop() stops claiming, lets the sessions in flight finish (each
 * at most one batch), commits every outcome, and returns: nothing is left
 * leased, nothing is sent twice. With wait_ms > 0 it gives up after that
 * long on sessions stuck with a stalled relay (-1: the process should
 * exit; their deliveries stay leased and are due again at the next start).
 */
#ifndef BROADSIDE_SENDER_H
#define BROADSIDE_SENDER_H

#include <stdint.h>

#include "config.h"
#include "diag.h"
#include "secret.h"

struct sender;

/* cfg and sec must outlive the sender. */
int	sender_start(const struct config *cfg, const struct secret *sec,
	    struct sender **out, diag *d);
int	sender_stop(struct sender *s, int64_t wait_ms);
/* After a sender_stop() that returned 0. */
void	sender_free(struct sender *s);

/* Idle senders look for due deliveries now (thread-safe; void * for use
 * as a callback). */
void	sender_wake(void *s);

/* Messages accepted by a relay since start (committed). */
int64_t	sender_sent_total(struct sender *s);

#endif
