/* metrics - process-wide counters any module bumps, and the /metrics page.
 *
 * Counters are lock-free atomics: a sender thread calls
 * metrics_relay_inc(relay_index, RELAY_SENT) after each accepted message,
 * the renderer metrics_inc(METRIC_RENDERED) per message, and so on; the HTTP
 * endpoint reads them all when scraped. relay_index is the relay's position
 * in cfg->relays (0 ..  METRICS_MAX_RELAYS - 1; others are ignored).
 * A relay's circuit breaker reports its state with metrics_relay_circuit();
 * until a module does, /healthz and /metrics say nothing about circuits.
 *
 * metrics_scrape() writes the Prometheus text format (version 0.0.4): the
 * counters above, plus figures read from the database (deliveries by relay
 * and state, queue depth, bounces by kind, unsubscribes, subscribers by
 * status). Rates (renders, sends per second) are rate() over the counters.
 */
#ifndef BROADSIDE_METRICS_H
#define BROADSIDE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "db.h"
#include "diag.h"

#define METRICS_MAX_RELAYS	64

enum metric {
	METRIC_RENDERED,	/* messages rendered */
	METRIC_UNSUB_HTTP,	/* unsubscribes done over HTTP (one-click or page) */
	METRIC_UNSUB_MAIL,	/* unsubscribes done by mail to unsubscribe+TOKEN@ */
	METRIC_RESUB_HTTP,	/* resubscribes from the page after an unsubscribe */
	METRIC_HTTP_2XX,	/* HTTP responses by class */
	METRIC_HTTP_4XX,
	METRIC_HTTP_5XX,
	METRIC_COUNT
};

enum relay_metric {
	RELAY_SENT,		/* messages accepted by the relay */
	RELAY_DEFERRED,		/* temporary failures (4xx, connection trouble) */
	RELAY_FAILED,		/* permanent failures (5xx) */
	RELAY_SESSIONS,		/* SMTP sessions opened */
	RELAY_METRIC_COUNT
};

enum relay_circuit {
	CIRCUIT_CLOSED,		/* sending */
	CIRCUIT_OPEN,		/* backed off as a whole */
	CIRCUIT_HALF_OPEN,	/* trying again */
};

void	metrics_inc(enum metric m);
void	metrics_add(enum metric m, uint64_t n);
uint64_t metrics_get(enum metric m);

void	metrics_relay_inc(size_t relay, enum relay_metric m);
void	metrics_relay_add(size_t relay, enum relay_metric m, uint64_t n);
uint64_t metrics_relay_get(size_t relay, enum relay_metric m);

void	metrics_relay_circuit(size_t relay, enum relay_circuit st);
/* 0 and *st once some module reported the relay's circuit; -1 before. */
int	metrics_relay_circuit_get(size_t relay, enum relay_circuit *st);
const char *metrics_circuit_name(enum relay_circuit st);

/* Writes every metric, Prometheus text format, to out. The database
 * figures need `db` (read only); on a database error -1 and d, with the
 * in-process counters still written. */
int	metrics_scrape(struct db *db, const struct config *cfg, buf *out, diag *d);

#endif
