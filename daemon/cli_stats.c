/* cli_stats - broadside stats: the list, the queue and each issue at a glance. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "buf.h"
#include "cli.h"
#include "clock.h"
#include "deliverability.h"
#include "queue.h"
#include "stats.h"

/* Runs a "SELECT label, count" query into parallel arrays. */
static int
counts(struct db *db, sqlite3_stmt *st, buf *out, int json, const char *title, diag *d)
{
	int rc, n = 0;

	if (json)
		buf_printf(out, "\"%s\": {", title);
	else
		buf_printf(out, "%-12s", title);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(st, 0);
		long long v = sqlite3_column_int64(st, 1);
		if (json)
			buf_printf(out, "%s\"%s\": %lld", n ? ", " : "", k, v);
		else
			buf_printf(out, "%s%s %lld", n ? ", " : " ", k, v);
		n++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_fail(db, d, "reading statistics");
	if (json)
		buf_puts(out, "}");
	else
		buf_puts(out, n ? "\n" : " none\n");
	return 0;
}

/* Complaint and bounce rates with their warnings: JSON members, or text
 * lines indented by `indent`. */
static void
rates_part(const struct config *cfg, const struct deliv_rates *r, int json,
    const char *indent, buf *out)
{
	char w[2][DELIV_WARNING_MAX];
	size_t nw = deliverability_warnings(r, cfg, w);

	if (json) {
		buf_printf(out, "\"complaints\": %lld, \"complaint_rate\": %.6f, "
		    "\"hard_bounces\": %lld, \"bounce_rate\": %.6f, \"warnings\": [",
		    (long long)r->complaints, (double)r->complaint_ppm / 1e6,
		    (long long)r->hard_bounces, (double)r->bounce_ppm / 1e6);
		for (size_t i = 0; i < nw; i++) {
			buf_puts(out, i ? ", " : "");
			buf_json_string(out, w[i]);
		}
		buf_puts(out, "]");
		return;
	}
	buf_puts(out, indent);
	deliverability_describe(r, out);
	buf_putc(out, '\n');
	for (size_t i = 0; i < nw; i++)
		buf_printf(out, "%sWARNING: %s\n", indent, w[i]);
}

static int
cmd_stats(struct cli_ctx *ctx, int argc, char **argv, diag *d)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct db *db = ctx->db;
	buf out = BUF_INIT;
	int json = 0, ch, rc, n = 0;
	sqlite3_stmt *st;

	while ((ch = getopt_long(argc, argv, "j", opts, NULL)) != -1) {
		if (ch != 'j')
			return cli_usage(d, "unknown option");
		json = 1;
	}
	if (optind != argc)
		return cli_usage(d, "unexpected argument '%s'", argv[optind]);
	if (json)
		buf_putc(&out, '{');
	if (counts(db, db_stmt(db, "SELECT status, count(*) FROM subscribers GROUP BY status "
	    "ORDER BY status"), &out, json, "subscribers", d) < 0)
		goto fail;
	if (json)
		buf_puts(&out, ", ");
	if (counts(db, db_stmt(db, "SELECT tier, count(*) FROM subscribers WHERE status = "
	    "'active' GROUP BY tier ORDER BY tier"), &out, json, "active", d) < 0)
		goto fail;
	if (json)
		buf_puts(&out, ", ");
	/* With what retention folded into counts (queue_retire). */
	if (counts(db, stats_deliveries_by_state(db), &out, json, "deliveries", d) < 0)
		goto fail;
	if (json)
		buf_puts(&out, ", ");
	/* Reports without proof change nothing (bounce_apply.h); they are
	 * counted beside the bounces as "unverified". */
	if (counts(db, db_stmt(db, "SELECT kind, n FROM (SELECT kind, count(*) AS n "
	    "FROM bounces GROUP BY kind UNION ALL SELECT 'unverified', count(*) FROM events "
	    "WHERE kind = 'system' AND ref_id IS NULL AND event = 'bounce-unverified') "
	    "ORDER BY kind = 'unverified', kind"),
	    &out, json, "bounces", d) < 0)
		goto fail;
	buf_puts(&out, json ? ", \"issues\": [" : "issues:\n");
	st = db_stmt(db, "SELECT id, status, subject, coalesce(pause_reason, '') FROM issues "
	    "ORDER BY id");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		long long id = sqlite3_column_int64(st, 0);
		long long total, sent, pending, failed, dropped, first, last;
		double rate;
		struct deliv_rates dr;
		struct queue_counts qc;
		/* queue.c's counts: deliveries and what retention folded. */
		if (deliverability_issue_rates(db, &ctx->cfg, id, &dr, d) < 0 ||
		    queue_issue_counts(db, id, clock_now(), &qc, d) < 0) {
			sqlite3_reset(st);
			goto fail;
		}
		total = qc.total;
		sent = qc.sent;
		pending = qc.queued + qc.sending + qc.deferred;
		failed = qc.failed + qc.bounced;
		dropped = qc.dropped;
		first = qc.first_sent_at;
		last = qc.last_sent_at;
		rate = last > first ? (double)sent / (double)(last - first) : 0;
		if (json) {
			buf_printf(&out, "%s\n {\"id\": %lld, \"status\": \"%s\", \"subject\": ",
			    n ? "," : "", id, sqlite3_column_text(st, 1));
			buf_json_string(&out, (const char *)sqlite3_column_text(st, 2));
			buf_printf(&out, ", \"deliveries\": %lld, \"sent\": %lld, \"pending\": %lld, "
			    "\"failed\": %lld, \"dropped\": %lld, \"rate_per_s\": %.1f, "
			    "\"rate_last_minute_per_s\": %.1f, \"catch_up\": %lld, "
			    "\"catch_up_sent\": %lld, ",
			    total, sent, pending, failed, dropped, rate, qc.rate_minute,
			    (long long)qc.catch_up, (long long)qc.catch_up_sent);
			if (*sqlite3_column_text(st, 3)) {
				buf_puts(&out, "\"pause_reason\": ");
				buf_json_string(&out, (const char *)sqlite3_column_text(st, 3));
				buf_puts(&out, ", ");
			}
			rates_part(&ctx->cfg, &dr, 1, "", &out);
			buf_putc(&out, '}');
		} else {
			buf_printf(&out, "  %-4lld %-10s %lld deliveries: %lld sent, %lld pending, "
			    "%lld failed, %lld dropped", id, sqlite3_column_text(st, 1), total, sent,
			    pending, failed, dropped);
			if (rate > 0)
				buf_printf(&out, "; %.1f msg/s", rate);
			if (qc.rate_minute > 0)
				buf_printf(&out, " (last minute %.1f msg/s)", qc.rate_minute);
			if (qc.catch_up)
				buf_printf(&out, "; catch-up %lld (%lld sent)",
				    (long long)qc.catch_up, (long long)qc.catch_up_sent);
			buf_printf(&out, "\n       %s\n", sqlite3_column_text(st, 2));
			if (*sqlite3_column_text(st, 3))
				buf_printf(&out, "       paused by the daemon: %s\n",
				    sqlite3_column_text(st, 3));
			if (dr.deliveries > 0)
				rates_part(&ctx->cfg, &dr, 0, "       ", &out);
		}
		n++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		db_fail(db, d, "reading statistics");
		goto fail;
	}
	{
		/* The sender's standing with the mailbox providers: the last 30 days. */
		struct deliv_rates w;
		if (deliverability_window_rates(db, &ctx->cfg, clock_now() - DELIV_WINDOW, &w, d) < 0)
			goto fail;
		buf_puts(&out, json ? (n ? "\n], \"last_30_days\": {" : "], \"last_30_days\": {")
		    : (n ? "" : "  none\n"));
		if (json) {
			buf_printf(&out, "\"deliveries\": %lld, ", (long long)w.deliveries);
			rates_part(&ctx->cfg, &w, 1, "", &out);
			buf_puts(&out, "}}\n");
		} else {
			buf_puts(&out, "last 30 days:\n");
			rates_part(&ctx->cfg, &w, 0, "  ", &out);
		}
	}
	rc = cli_write_stdout(&out, d);
	buf_free(&out);
	return rc;
fail:
	buf_free(&out);
	return -1;
}

const struct cli_command cli_stats_commands[] = {
	{ NULL, "stats", "[--json]", "subscribers, deliveries, bounces and each issue's progress",
	  CLI_NEEDS_DB, cmd_stats },
	{ NULL, NULL, NULL, NULL, 0, NULL },
};
