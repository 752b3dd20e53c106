/* http_ops - the operator's endpoints: /healthz (JSON: database reachable,
 * relays' circuits) and /metrics (Prometheus text format, metrics.h). */
#include <stddef.h>

#include "http_int.h"
#include "log.h"
#include "metrics.h"

enum MHD_Result
http_healthz(struct http *h, struct MHD_Connection *c, struct req *r, struct db *db,
    const diag *open_err)
{
	diag d = DIAG_INIT;
	buf b = BUF_INIT;
	int db_ok = 0, known = 0, open = 0;
	/* The relays of the running config, by their current names. */
	size_t slots[METRICS_MAX_RELAYS];
	size_t nslots = metrics_relays_current(&h->site.cfg, slots, METRICS_MAX_RELAYS);

	if (db) {
		sqlite3_stmt *st = db_stmt(db, "SELECT count(*) FROM sqlite_master");
		db_ok = st && sqlite3_step(st) == SQLITE_ROW;
		if (st)
			sqlite3_reset(st);
		if (!db_ok)
			db_fail(db, &d, "health check");
	} else {
		d = *open_err;
	}
	for (size_t i = 0; i < nslots; i++) {
		enum relay_circuit st;
		if (metrics_relay_circuit_get(slots[i], &st) == 0) {
			known++;
			open += st == CIRCUIT_OPEN;
		}
	}
	buf_printf(&b, "{\"status\":\"%s\",\"database\":",
	    !db_ok ? "fail" : known && open == known ? "degraded" : "ok");
	/* The reason goes to the log; an outsider learns no path. */
	buf_json_string(&b, db_ok ? "ok" : "database unavailable");
	if (known) {
		buf_puts(&b, ",\"relays\":[");
		for (size_t i = 0, n = 0; i < nslots; i++) {
			enum relay_circuit st;
			if (metrics_relay_circuit_get(slots[i], &st) < 0)
				continue;
			buf_printf(&b, "%s{\"relay\":", n++ ? "," : "");
			buf_json_string(&b, metrics_relay_name(slots[i]));
			buf_printf(&b, ",\"circuit\":\"%s\"}", metrics_circuit_name(st));
		}
		buf_putc(&b, ']');
	}
	buf_puts(&b, "}\n");
	if (!db_ok)
		log_warn("http: /healthz: %s", d.msg);
	return http_respond(c, r, db_ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
	    "application/json", &b, NULL);
}

enum MHD_Result
http_metrics(struct http *h, struct MHD_Connection *c, struct req *r, struct db *db)
{
	diag d = DIAG_INIT;
	buf b = BUF_INIT;

	if (metrics_scrape(db, &h->site.cfg, &b, &d) < 0) {
		buf_free(&b);
		return http_send_failure(h, c, r, &d);
	}
	return http_respond(c, r, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", &b, NULL);
}
