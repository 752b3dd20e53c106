/* metrics - process-wide counters any module bumps, and the /metrics page.
 *
 * Counters are lock-free atomics: the renderer calls
 * metrics_inc(METRIC_RENDERED) per message; a relay takes its slot once,
 * `i = metrics_relay_index("host:port")`, then its senders call
 * metrics_relay_inc(i, RELAY_SENT) per accepted message and its breaker
 * metrics_relay_circuit(i, CIRCUIT_OPEN) on each change. A slot belongs to
 * a name, never to a position in the config: after a reload that changes a
 * relay's address, the relay takes the slot of its new name. The HTTP
 * endpoint reads the slots of the relays of its current config when scraped. Until a module reports a relay's circuit,
 * /healthz and /metrics say nothing about it.
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
#define METRICS_NO_RELAY	((size_t)-1)

enum metric {
	METRIC_RENDERED,	/* messages rendered */
	METRIC_UNSUB_HTTP,	/* unsubscribes done over HTTP (one-click or page) */
	METRIC_UNSUB_MAIL,	/* unsubscribes done by mail to unsubscribe+TOKEN@ */
	METRIC_RESUB_HTTP,	/* resubscribes from the page after an unsubscribe */
	METRIC_HTTP_2XX,	/* HTTP responses by class */
	METRIC_HTTP_4XX,
	METRIC_HTTP_5XX,
	METRIC_QUEUE_BEHIND,	/* the queue thread fell behind and was raised */
	METRIC_HTTP_DEADLINE,	/* connections closed past http.request_timeout */
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

/* The slot of relay `name` ("host:port"): the same name always gets the
 * same slot; METRICS_NO_RELAY once all are taken (the calls below then do
 * nothing). Takes a lock: call it once per relay, not per message. */
size_t	metrics_relay_index(const char *name);
/* Takes the slots of cfg's relays in their order, so that slot i is also
 * cfg->relays[i] (the daemon does it at start, before any relay reports). */
void	metrics_relays_configure(const struct config *cfg);
/* Slots taken so far, and each one's name. */
size_t	metrics_relay_count(void);
const char *metrics_relay_name(size_t relay);
/* The slots of cfg's relays, in their order, by name: the relays whose
 * circuit /metrics and /healthz report, so that after a reload that changes
 * a relay's address the relay shows under its new name and the old name's
 * last state is not shown as if it were now. Fills at most `max` slots;
 * returns how many. */
size_t	metrics_relays_current(const struct config *cfg, size_t *slots, size_t max);

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
