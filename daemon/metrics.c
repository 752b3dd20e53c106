/* metrics - process-wide counters any module bumps, and the /metrics page. */
#include "metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "deliverability.h"
#include "stats.h"

static _Atomic uint64_t counters[METRIC_COUNT];
static _Atomic uint64_t relay_counters[METRICS_MAX_RELAYS][RELAY_METRIC_COUNT];
/* 0: never reported; else enum relay_circuit + 1. */
static _Atomic int relay_circuits[METRICS_MAX_RELAYS];
/* Slot names; a slot is published (nslots) after its name is written. */
static char relay_names[METRICS_MAX_RELAYS][128];
static _Atomic size_t nslots;
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;

size_t
metrics_relay_index(const char *name)
{
	size_t i, n;

	pthread_mutex_lock(&slots_lock);
	n = atomic_load(&nslots);
	for (i = 0; i < n; i++)
		if (strcmp(relay_names[i], name) == 0)
			break;
	if (i == n) {
		if (n == METRICS_MAX_RELAYS) {
			i = METRICS_NO_RELAY;
		} else {
			snprintf(relay_names[n], sizeof relay_names[n], "%s", name);
			atomic_store(&nslots, n + 1);
		}
	}
	pthread_mutex_unlock(&slots_lock);
	return i;
}

/* The relay module's name: "host:port", "[v6]:port". */
static size_t
conf_slot(const struct relay_conf *rc, buf *name)
{
	buf_reset(name);
	buf_printf(name, strchr(rc->host, ':') ? "[%s]:%lld" : "%s:%lld", rc->host,
	    (long long)rc->port);
	return metrics_relay_index(buf_cstr(name));
}

void
metrics_relays_configure(const struct config *cfg)
{
	buf name = BUF_INIT;

	for (size_t i = 0; i < cfg->nrelays; i++)
		conf_slot(&cfg->relays[i], &name);
	buf_free(&name);
}

size_t
metrics_relays_current(const struct config *cfg, size_t *slots, size_t max)
{
	buf name = BUF_INIT;
	size_t n = 0;

	for (size_t i = 0; i < cfg->nrelays && n < max; i++) {
		size_t slot = conf_slot(&cfg->relays[i], &name);
		int dup = 0;
		for (size_t k = 0; k < n; k++)
			dup |= slots[k] == slot;
		if (slot != METRICS_NO_RELAY && !dup)
			slots[n++] = slot;
	}
	buf_free(&name);
	return n;
}

size_t
metrics_relay_count(void)
{
	return atomic_load(&nslots);
}

const char *
metrics_relay_name(size_t relay)
{
	return relay < atomic_load(&nslots) ? relay_names[relay] : "";
}

void
metrics_add(enum metric m, uint64_t n)
{
	if ((unsigned)m < METRIC_COUNT)
		atomic_fetch_add_explicit(&counters[m], n, memory_order_relaxed);
}

void
metrics_inc(enum metric m)
{
	metrics_add(m, 1);
}

uint64_t
metrics_get(enum metric m)
{
	return (unsigned)m < METRIC_COUNT ?
	    atomic_load_explicit(&counters[m], memory_order_relaxed) : 0;
}

void
metrics_relay_add(size_t relay, enum relay_metric m, uint64_t n)
{
	if (relay < METRICS_MAX_RELAYS && (unsigned)m < RELAY_METRIC_COUNT)
		atomic_fetch_add_explicit(&relay_counters[relay][m], n, memory_order_relaxed);
}

void
metrics_relay_inc(size_t relay, enum relay_metric m)
{
	metrics_relay_add(relay, m, 1);
}

uint64_t
metrics_relay_get(size_t relay, enum relay_metric m)
{
	if (relay >= METRICS_MAX_RELAYS || (unsigned)m >= RELAY_METRIC_COUNT)
		return 0;
	return atomic_load_explicit(&relay_counters[relay][m], memory_order_relaxed);
}

void
metrics_relay_circuit(size_t relay, enum relay_circuit st)
{
	if (relay < METRICS_MAX_RELAYS)
		atomic_store(&relay_circuits[relay], (int)st + 1);
}

int
metrics_relay_circuit_get(size_t relay, enum relay_circuit *st)
{
	int v;

	if (relay >= METRICS_MAX_RELAYS || (v = atomic_load(&relay_circuits[relay])) == 0)
		return -1;
	*st = (enum relay_circuit)(v - 1);
	return 0;
}

const char *
metrics_circuit_name(enum relay_circuit st)
{
	switch (st) {
	case CIRCUIT_CLOSED: return "closed";
	case CIRCUIT_OPEN: return "open";
	case CIRCUIT_HALF_OPEN: return "half-open";
	}
	return "unknown";
}

/* A label value: backslash, double quote and newline escaped. */
static void
label(buf *out, const char *s)
{
	buf_putc(out, '"');
	for (; s && *s; s++) {
		if (*s == '\\' || *s == '"')
			buf_putc(out, '\\');
		if (*s == '\n')
			buf_puts(out, "\\n");
		else
			buf_putc(out, *s);
	}
	buf_putc(out, '"');
}

static void
head(buf *out, const char *name, const char *type, const char *help)
{
	buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
scrape_counters(const struct config *cfg, buf *out)
{
	static const struct {
		enum metric	 m;
		const char	*name, *help;
	} plain[] = {
		{ METRIC_RENDERED, "broadside_rendered_total", "Messages rendered." },
		{ METRIC_RESUB_HTTP, "broadside_http_resubscribes_total",
		  "Resubscribes from the page shown after an unsubscribe." },
		{ METRIC_QUEUE_BEHIND, "broadside_queue_behind_total",
		  "Times the queue thread fell behind the senders and was raised from SCHED_IDLE." },
		{ METRIC_HTTP_DEADLINE, "broadside_http_deadline_closed_total",
		  "HTTP connections closed because a request had not come whole within "
		  "http.request_timeout (slow or stalled clients)." },
	};
	static const struct {
		enum relay_metric m;
		const char	*name, *help;
	} per_relay[] = {
		{ RELAY_SENT, "broadside_relay_sent_total",
		  "Messages accepted by the relay since the daemon started." },
		{ RELAY_DEFERRED, "broadside_relay_deferred_total",
		  "Temporary failures (4xx, connection trouble) since the daemon started." },
		{ RELAY_FAILED, "broadside_relay_failed_total",
		  "Permanent failures (5xx) since the daemon started." },
		{ RELAY_SESSIONS, "broadside_relay_sessions_total",
		  "SMTP sessions opened since the daemon started." },
	};
	size_t slots[METRICS_MAX_RELAYS], ncurrent, nrelays;

	/* Counters: every relay of the running config, reported on or not
	 * yet, and every name that had figures since the start (a relay whose
	 * address a reload changed keeps its old name's figures up to then).
	 * The circuit is a state of now: the running config's relays only,
	 * under their current names. */
	ncurrent = metrics_relays_current(cfg, slots, METRICS_MAX_RELAYS);
	nrelays = metrics_relay_count();

	for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
		head(out, plain[i].name, "counter", plain[i].help);
		buf_printf(out, "%s %llu\n", plain[i].name,
		    (unsigned long long)metrics_get(plain[i].m));
	}
	head(out, "broadside_unsubscribes_handled_total", "counter",
	    "Unsubscribes handled by this process since it started, by way.");
	buf_printf(out, "broadside_unsubscribes_handled_total{via=\"http\"} %llu\n",
	    (unsigned long long)metrics_get(METRIC_UNSUB_HTTP));
	buf_printf(out, "broadside_unsubscribes_handled_total{via=\"mail\"} %llu\n",
	    (unsigned long long)metrics_get(METRIC_UNSUB_MAIL));
	head(out, "broadside_http_responses_total", "counter",
	    "HTTP responses by status class since the daemon started.");
	buf_printf(out, "broadside_http_responses_total{class=\"2xx\"} %llu\n"
	    "broadside_http_responses_total{class=\"4xx\"} %llu\n"
	    "broadside_http_responses_total{class=\"5xx\"} %llu\n",
	    (unsigned long long)metrics_get(METRIC_HTTP_2XX),
	    (unsigned long long)metrics_get(METRIC_HTTP_4XX),
	    (unsigned long long)metrics_get(METRIC_HTTP_5XX));
	for (size_t k = 0; k < sizeof per_relay / sizeof per_relay[0]; k++) {
		head(out, per_relay[k].name, "counter", per_relay[k].help);
		for (size_t i = 0; i < nrelays; i++) {
			buf_printf(out, "%s{relay=", per_relay[k].name);
			label(out, metrics_relay_name(i));
			buf_printf(out, "} %llu\n",
			    (unsigned long long)metrics_relay_get(i, per_relay[k].m));
		}
	}
	head(out, "broadside_relay_circuit", "gauge",
	    "Relay circuit breaker: 0 closed (sending), 1 open (backed off), 2 half-open.");
	for (size_t i = 0; i < ncurrent; i++) {
		enum relay_circuit st;
		if (metrics_relay_circuit_get(slots[i], &st) < 0)
			continue;
		buf_puts(out, "broadside_relay_circuit{relay=");
		label(out, metrics_relay_name(slots[i]));
		buf_printf(out, "} %d\n", (int)st);
	}
}

/* Runs a query of (label, count) rows, or (label, label, count). */
static int
scrape_rows(struct db *db, sqlite3_stmt *st, buf *out, const char *metric,
    const char *l1, const char *l2, diag *d)
{
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		buf_printf(out, "%s{%s=", metric, l1);
		label(out, (const char *)sqlite3_column_text(st, 0));
		if (l2) {
			buf_printf(out, ",%s=", l2);
			label(out, (const char *)sqlite3_column_text(st, 1));
		}
		buf_printf(out, "} %lld\n", (long long)sqlite3_column_int64(st, l2 ? 2 : 1));
	}
	if (rc != SQLITE_DONE) {
		db_fail(db, d, "reading metrics");
		sqlite3_reset(st);
		return -1;
	}
	sqlite3_reset(st);
	return 0;
}

static int
scrape_db(struct db *db, const struct config *cfg, buf *out, diag *d)
{
	sqlite3_stmt *st;
	int64_t depth, due;

	head(out, "broadside_deliveries", "gauge",
	    "Deliveries by relay and state (queued, sending, sent, deferred, failed, "
	    "bounced, dropped); relay \"\" before a first attempt.");
	st = stats_deliveries_by_relay(db);
	if (scrape_rows(db, st, out, "broadside_deliveries", "relay", "state", d) < 0)
		return -1;

	if (stats_queue_depth(db, clock_now(), &depth, &due, d) < 0)
		return -1;
	head(out, "broadside_queue_depth", "gauge",
	    "Deliveries not finished yet: queued, deferred or being sent.");
	buf_printf(out, "broadside_queue_depth %lld\n", (long long)depth);
	head(out, "broadside_queue_due", "gauge", "Deliveries due to be sent now.");
	buf_printf(out, "broadside_queue_due %lld\n", (long long)due);

	head(out, "broadside_bounces_total", "counter",
	    "Bounces and complaints recorded, by kind (hard, soft, complaint).");
	st = db_stmt(db, "SELECT k.kind, (SELECT count(*) FROM bounces b WHERE b.kind = k.kind) "
	    "FROM (SELECT 'hard' AS kind UNION ALL SELECT 'soft' UNION ALL SELECT 'complaint') k");
	if (scrape_rows(db, st, out, "broadside_bounces_total", "kind", NULL, d) < 0)
		return -1;

	/* bounce_apply records a report without proof as event
	 * 'bounce-unverified' whose detail starts with its format. */
	head(out, "broadside_feedback_unverified_total", "counter",
	    "Bounces, complaints and unsubscribe mails without proof that they answer "
	    "a copy we sent (changed nothing), by format (dsn, arf, text, unsubscribe).");
	st = db_stmt(db, "SELECT substr(detail, 1, instr(detail || ' ', ' ') - 1), count(*) "
	    "FROM events WHERE kind = 'system' AND ref_id IS NULL AND event = 'bounce-unverified' "
	    "GROUP BY 1 ORDER BY 1");
	if (scrape_rows(db, st, out, "broadside_feedback_unverified_total", "format", NULL, d) < 0)
		return -1;

	/* subscriber_set_status() records event 'status' with detail
	 * "unsubscribed: HOW; ..."; HOW is the label. */
	head(out, "broadside_unsubscribes_total", "counter",
	    "Subscribers unsubscribed, by way (one-click, web, mail, cli, ...).");
	st = db_stmt(db, "SELECT CASE WHEN detail LIKE 'unsubscribed: %;%' "
	    "THEN substr(detail, 15, instr(detail, ';') - 15) ELSE 'other' END, count(*) "
	    "FROM events WHERE kind = 'subscriber' AND event = 'status' "
	    "AND detail LIKE 'unsubscribed%' GROUP BY 1 ORDER BY 1");
	if (scrape_rows(db, st, out, "broadside_unsubscribes_total", "via", NULL, d) < 0)
		return -1;

	if (deliverability_metrics(db, cfg, clock_now(), out, d) < 0)
		return -1;

	head(out, "broadside_subscribers", "gauge", "Subscribers by status.");
	st = db_stmt(db, "SELECT status, count(*) FROM subscribers GROUP BY 1 ORDER BY 1");
	return scrape_rows(db, st, out, "broadside_subscribers", "status", NULL, d);
}

int
metrics_scrape(struct db *db, const struct config *cfg, buf *out, diag *d)
{
	int rc = 0;

	scrape_counters(cfg, out);
	if (db) {
		/* One read transaction: the figures agree with each other. */
		if (db_exec(db, "BEGIN", d) < 0)
			return -1;
		rc = scrape_db(db, cfg, out, d);
		db_exec(db, "COMMIT", NULL);
	}
	return rc;
}
