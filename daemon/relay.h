/* relay - one SMTP relay of the pool: its settings, circuit breaker and rate.
 *
 * Circuit breaker: a relay that fails as a whole (down, greeting/EHLO/MAIL
 * refused, 421) is left alone for retry.relay_min_backoff, doubling with
 * each further failure up to retry.relay_max_backoff (backoff_delay); the
 * first session that goes through closes the breaker. Each change of state
 * is logged once and reported to metrics (closed, open, half-open). Rate: a token bucket of `rate` messages per second with a
 * burst of one second's worth (0 = unlimited). Thread-safe.
 */
#ifndef BROADSIDE_RELAY_H
#define BROADSIDE_RELAY_H

#include <stdint.h>

#include "config.h"

struct relay;

/* index: the relay's position in cfg->relays; no longer its metrics slot,
 * which is its name's (metrics_relay_index of "host:port"), so that a reload
 * that changes the address reports the relay under its new name. */
struct relay *relay_new(const struct relay_conf *rc, size_t index, int64_t min_backoff,
	    int64_t max_backoff);
/* The relay's metrics slot (METRICS_NO_RELAY once all are taken). */
size_t	 relay_index(const struct relay *r);
void	 relay_free(struct relay *r);
const char *relay_name(const struct relay *r);		/* "host:port" */
const struct relay_conf *relay_conf(const struct relay *r);

/* 0 when the relay may be tried at now_ms, else ms until it may. */
int64_t	 relay_wait_ms(struct relay *r, int64_t now_ms);
/* The relay failed as a whole (`why` for the log): open the breaker. */
void	 relay_failed(struct relay *r, int64_t now_ms, const char *why);
/* A session went through: close the breaker. */
void	 relay_succeeded(struct relay *r);
/* 1 while the breaker is open. */
int	 relay_is_down(struct relay *r, int64_t now_ms);

/* A copy taken (refused 0: the run ends), or refused for a reason that is
 * not about its address (refused 1, with the reply's code and enhanced
 * status): the number of copies refused in a row with that same reply, this
 * one included, across the relay's connections (smtp_policy_refusing). */
int64_t	 relay_refusal(struct relay *r, int refused, int code, const char *status);

/* Takes one message's token: 0 when taken, else ms until one is due. */
int64_t	 relay_rate_take(struct relay *r, int64_t now_ms);

#endif
