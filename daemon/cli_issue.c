/* cli_issue - broadside issue create|edit|list|show|schedule|pause|resume|cancel,
 * and the operator's deliveries (who did not get it and why) and retry. */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "address.h"
#include "buf.h"
#include "archive.h"
#include "cli.h"
#include "clock.h"
#include "issue_file.h"
#include "issue_links.h"
#include "issues.h"
#include "queue.h"
#include "render.h"

#include "subscribers.h"

/* Seconds of slack for "--at" times that are just now. */
#define PAST_SLACK 60

int
cli_issue_id(const char *s, int64_t *id, diag *d)
{
	char *end;
	long long v = strtoll(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v <= 0)
		return cli_usage(d, "'%s' is not an issue id (a positive number)", s);
	*id = v;
	return 0;
}

/* An issue file read and checked (front matter, Markdown) into *is; *name
 * is how errors name it and *first the file line of the Markdown's first
 * line, for issue: link errors. Shared by create and edit. */
static int
read_issue(const char *path, struct issue *is, const char **name, int *first, diag *d)
{
	buf text = BUF_INIT;

	*name = strcmp(path, "-") == 0 ? "<stdin>" : path;
	if (issue_file_read(path, &text, d) < 0)
		return -1;
	if (issue_file_parse(*name, buf_cstr(&text), text.len, is, d) < 0) {
		buf_free(&text);
		return -1;
	}
	/* The body is the end of the file, copied as it is. */
	size_t blen = strlen(is->source);
	*first = 1;
	if (blen <= text.len && memcmp(text.data + text.len - blen, is->source, blen) == 0)
		for (size_t i = 0; i < text.len - blen; i++)
			*first += text.data[i] == '\n';
	buf_free(&text);
	return 0;
}

static int
cmd_create(struct cli_ctx *ctx, int argc, char **argv, diag *d)
{
	struct issue is;
	const char *name;
	int first;

	if (argc != 2)
		return cli_usage(d, "one FILE.md is needed");
	if (read_issue(argv[1], &is, &name, &first, d) < 0)
		return -1;
	/* Stored first, so that a link to itself is known. */
	if (db_begin(ctx->db, d) < 0 || issue_insert(ctx->db, &is, d) < 0 ||
	    issue_links_check(ctx->db, &is, 0, name, first, d) < 0 ||
	    db_commit(ctx->db, d) < 0) {
		db_rollback(ctx->db);
		issue_free(&is);
		return -1;
	}
	printf("%lld\n", (long long)is.id);
	issue_free(&is);
	return 0;
}

static int
cmd_edit(struct cli_ctx *ctx, int argc, char **argv, diag *d)
{
	struct issue is, now;
	const char *name;
	int64_t id = 0;
	int first;

	if (argc != 3)
		return cli_usage(d, "an issue ID and one FILE.md are needed");
	if (cli_issue_id(argv[1], &id, d) < 0 || read_issue(argv[2], &is, &name, &first, d) < 0)
		return -1;
	is.id = id;
	/* Stored first, as at create, so that a link to itself (by its new
	 * slug) is known; a scheduled issue's links are held to the schedule's
	 * rule (issue_links.h). */
	if (db_begin(ctx->db, d) < 0 || issue_update(ctx->db, id, &is, d) < 0 ||
	    issue_get(ctx->db, id, &now, d) < 0) {
		db_rollback(ctx->db);
		issue_free(&is);
		return -1;
	}
	if (issue_links_check(ctx->db, &now, now.status == ISSUE_SCHEDULED ? now.send_at : 0,
	    name, first, d) < 0 || db_commit(ctx->db, d) < 0) {
		db_rollback(ctx->db);
		issue_free(&is);
		issue_free(&now);
		return -1;
	}
	printf("issue %lld edited (%s); archive name %s\n", (long long)id,
	    issue_status_name(now.status), now.slug);
	issue_free(&is);
	issue_free(&now);
	return 0;
}

static void
time_or_dash(int64_t t, char *out, size_t n)
{
	if (t > 0)
		clock_format_rfc3339(t, out, n);
	else
		snprintf(out, n, "-");
}

/* One issue as a JSON object (without the Markdown source). */
static void
issue_json(buf *out, const struct issue *is)
{
	char sa[32], st[32], fi[32], cr[32];

	time_or_dash(is->send_at, sa, sizeof sa);
	time_or_dash(is->started_at, st, sizeof st);
	time_or_dash(is->finished_at, fi, sizeof fi);
	time_or_dash(is->created_at, cr, sizeof cr);
	buf_printf(out, "{\"id\": %lld, \"subject\": ", (long long)is->id);
	buf_json_string(out, is->subject);
	buf_puts(out, ", \"preheader\": ");
	buf_json_string(out, is->preheader);
	buf_printf(out, ", \"audience\": \"%s\", \"status\": \"%s\", \"send_at\": ",
	    issue_audience_name(is->audience), issue_status_name(is->status));
	buf_json_string(out, is->send_at ? sa : NULL);
	buf_puts(out, ", \"started_at\": ");
	buf_json_string(out, is->started_at ? st : NULL);
	buf_puts(out, ", \"finished_at\": ");
	buf_json_string(out, is->finished_at ? fi : NULL);
	buf_printf(out, ", \"created_at\": \"%s\", \"paywall\": %s, \"pause_reason\": ", cr,
	    issue_paywall(is->source, NULL, NULL) ? "true" : "false");
	buf_json_string(out, is->pause_reason && *is->pause_reason ? is->pause_reason : NULL);
	buf_puts(out, ", \"slug\": ");
	buf_json_string(out, is->slug && *is->slug ? is->slug : NULL);
	buf_putc(out, '}');
}

static int
parse_json_flag(int argc, char **argv, int *json, diag *d)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	*json = 0;
	while ((ch = getopt_long(argc, argv, "j", opts, NULL)) != -1) {
		if (ch != 'j')
			return cli_usage(d, "unknown option");
		*json = 1;
	}
	return 0;
}

static int
cmd_list(struct cli_ctx *ctx, int argc, char **argv, diag *d)
{
	sqlite3_stmt *st;
	buf out = BUF_INIT;
	int json, rc, n = 0;

	if (parse_json_flag(argc, argv, &json, d) < 0)
		return -1;
	if (optind != argc)
		return cli_usage(d, "unexpected argument '%s'", argv[optind]);
	st = db_stmt(ctx->db, "SELECT id FROM issues WHERE kind = 'issue' ORDER BY id");
	if (json)
		buf_putc(&out, '[');
	else
		buf_printf(&out, "%-5s %-10s %-8s %-20s %s\n", "ID", "STATUS", "AUDIENCE",
		    "SEND AT", "SUBJECT");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct issue is;
		char sa[32];
		if (issue_get(ctx->db, sqlite3_column_int64(st, 0), &is, d) < 0) {
			sqlite3_reset(st);
			buf_free(&out);
			return -1;
		}
		if (json) {
			buf_puts(&out, n ? ",\n " : "\n ");
			issue_json(&out, &is);
		} else {
			time_or_dash(is.send_at, sa, sizeof sa);
			buf_printf(&out, "%-5lld %-10s %-8s %-20s %s\n", (long long)is.id,
			    issue_status_name(is.status), issue_audience_name(is.audience),
			    sa, is.subject);
		}
		issue_free(&is);
		n++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		buf_free(&out);
		return db_fail(ctx->db, d, "listing issues");
	}
	if (json)
		buf_puts(&out, n ? "\n]\n" : "]\n");
	rc = cli_write_stdout(&out, d);
	buf_free(&out);
	return rc;
}

/* Delivery counts by state, in the fixed order of the schema. */
static const char *const delivery_states[] = {
	"queued", "sending", "sent", "deferred", "failed", "bounced", "dropped"
};

static int
cmd_show(struct cli_ctx *ctx, int argc, char **argv, diag *d)
{
	struct issue is;
	buf out = BUF_INIT;
	int json, rc;
	int64_t id = 0, counts[7], total = 0;
	struct queue_counts qc;

	if (parse_json_flag(argc, argv, &json, d) < 0)
		return -1;
	if (optind != argc - 1)
		return cli_usage(d, "one issue ID is needed");
	if (cli_issue_id(argv[optind], &id, d) < 0 || issue_get(ctx->db, id, &is, d) < 0)
		return -1;
	if (queue_issue_counts(ctx->db, id, clock_now(), &qc, d) < 0) {
		issue_free(&is);
		return -1;
	}
	counts[0] = qc.queued;
	counts[1] = qc.sending;
	counts[2] = qc.sent;
	counts[3] = qc.deferred;
	counts[4] = qc.failed;
	counts[5] = qc.bounced;
	counts[6] = qc.dropped;
	for (int i = 0; i < 7; i++)
		total += counts[i];
	if (json) {
		issue_json(&out, &is);
		buf_truncate(&out, out.len - 1);	/* reopen the object */
		buf_puts(&out, ", \"deliveries\": {");
		for (int i = 0; i < 7; i++)
			buf_printf(&out, "%s\"%s\": %lld", i ? ", " : "", delivery_states[i],
			    (long long)counts[i]);
		buf_printf(&out, ", \"total\": %lld}, \"catch_up\": {\"total\": %lld, "
		    "\"sent\": %lld}, \"fanned_out\": %s, \"rate_per_s\": %.1f, "
		    "\"rate_last_minute_per_s\": %.1f}\n", (long long)total,
		    (long long)qc.catch_up, (long long)qc.catch_up_sent,
		    is.fanout_done ? "true" : "false", qc.rate_average, qc.rate_minute);
	} else {
		char sa[32], st[32], fi[32];
		time_or_dash(is.send_at, sa, sizeof sa);
		time_or_dash(is.started_at, st, sizeof st);
		time_or_dash(is.finished_at, fi, sizeof fi);
		buf_printf(&out, "issue %lld: %s\n  preheader: %s\n  audience:  %s\n"
		    "  status:    %s\n  send at:   %s\n  started:   %s\n  finished:  %s\n"
		    "  paywall:   %s\n  deliveries: %lld",
		    (long long)is.id, is.subject, is.preheader, issue_audience_name(is.audience),
		    issue_status_name(is.status), sa, st, fi,
		    issue_paywall(is.source, NULL, NULL) ? "yes" : "no (everyone gets all of it)",
		    (long long)total);
		for (int i = 0; i < 7; i++)
			if (counts[i])
				buf_printf(&out, ", %s %lld", delivery_states[i], (long long)counts[i]);
		buf_putc(&out, '\n');
		/* Copies for readers who joined after it went (welcome.c). */
		if (is.kind == ISSUE_KIND_ISSUE && is.slug && *is.slug) {
			buf a = BUF_INIT;
			archive_issue_base(&ctx->cfg, &a);
			buf_printf(&out, "  archive:   %s%s (link to it with issue:%s)\n", a.data,
			    is.slug, is.slug);
			buf_free(&a);
		}
		if (qc.catch_up)
			buf_printf(&out, "  catch-up:  %lld of them for new readers, %lld sent\n",
			    (long long)qc.catch_up, (long long)qc.catch_up_sent);
		/* A big list is fanned out in chunks while the first copies go. */
		if (!is.fanout_done && (is.status == ISSUE_SENDING || is.status == ISSUE_PAUSED))
			buf_printf(&out, "  fan-out:   under way (subscribers up to id %lld done)\n",
			    (long long)is.fanout_cursor);
		if (is.status == ISSUE_PAUSED && is.pause_reason && *is.pause_reason)
			buf_printf(&out, "  paused by the daemon: %s\n", is.pause_reason);
		if (qc.sent + qc.bounced > 0)
			buf_printf(&out, "  rate:      %.1f msg/s over the run, %.1f msg/s in the "
			    "last minute\n", qc.rate_average, qc.rate_minute);
	}
	issue_free(&is);
	rc = cli_write_stdout(&out, d);
	buf_free(&out);
	return rc;
}

/* The issue's links checked for a send at `when` (issue_links.h). */
static int
links_at(struct db *db, int64_t id, int64_t when, diag *d)
{
	struct issue is;
	int rc;

	if (issue_get(db, id, &is, d) < 0)
		return -1;
	rc = issue_links_check(db, &is, when, NULL, 1, d);
	issue_free(&is);
	return rc;
}

static int
cmd_schedule(struct cli_ctx *ctx, int argc, char **argv, diag *d)
{
	static const struct option opts[] = {
		{ "at", required_argument, NULL, 'a' },
		{ "now", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	const char *at = NULL;
	int now = 0, ch;
	int64_t id = 0, when, t = clock_now();
	char shown[32];

	while ((ch = getopt_long(argc, argv, "a:n", opts, NULL)) != -1) {
		if (ch == 'a')
			at = optarg;
		else if (ch == 'n')
			now = 1;
		else
			return cli_usage(d, "unknown option");
	}
	if (optind != argc - 1)
		return cli_usage(d, "one issue ID is needed");
	if (!!at == now)
		return cli_usage(d, "give exactly one of --at TIME or --now");
	if (cli_issue_id(argv[optind], &id, d) < 0)
		return -1;
	if (now) {
		when = t;
	} else if (clock_parse_time(at, &when) < 0) {
		return diag_set(d, EX_DATAERR, "--at '%s': not a time; write RFC 3339 "
		    "(2026-12-01T09:00:00Z, 2026-12-01T10:00:00+01:00) or local "
		    "\"YYYY-MM-DD HH:MM\"", at);
	} else if (when < t - PAST_SLACK) {
		return diag_set(d, EX_DATAERR, "--at '%s': that is in the past", at);
	}
	if (db_begin(ctx->db, d) < 0)
		return -1;
	if (issue_transition(ctx->db, id, ISSUE_SCHEDULED, d) < 0 ||
	    issue_set_send_at(ctx->db, id, when, d) < 0 ||
	    links_at(ctx->db, id, when, d) < 0 || db_commit(ctx->db, d) < 0) {
		db_rollback(ctx->db);
		return -1;
	}
	clock_format_rfc3339(when, shown, sizeof shown);
	printf("issue %lld scheduled for %s\n", (long long)id, shown);
	return 0;
}

/* pause, resume and cancel: one status move each. */
static int
move(struct cli_ctx *ctx, int argc, char **argv, const char *verb, diag *d)
{
	struct issue is;
	enum issue_status to;
	int64_t id = 0;

	if (argc != 2)
		return cli_usage(d, "one issue ID is needed");
	if (cli_issue_id(argv[1], &id, d) < 0 || db_begin(ctx->db, d) < 0)
		return -1;
	if (issue_get(ctx->db, id, &is, d) < 0)
		goto fail;
	if (strcmp(verb, "resume") == 0 && is.status == ISSUE_PAUSED) {
		/* The daemon paused it because it could not be rendered (or a
		 * rate): the compile is tried first, and says why it still fails. */
		struct secret none;
		struct render *r = NULL;
		memset(&none, 0, sizeof none);
		if (render_compile(&ctx->cfg, &none, &is, &r, d) < 0) {
			diag_prefix(d, "issue %lld still cannot be rendered, so it stays paused: ",
			    (long long)id);
			issue_free(&is);
			goto fail;
		}
		render_free(r);
	}
	issue_free(&is);
	if (strcmp(verb, "pause") == 0)
		to = ISSUE_PAUSED;
	else if (strcmp(verb, "cancel") == 0)
		to = ISSUE_CANCELLED;
	else if (is.status != ISSUE_PAUSED) {
		diag_set(d, EX_DATAERR, "issue %lld is %s, not paused", (long long)id,
		    issue_status_name(is.status));
		goto fail;
	} else
		/* Back to where it was: sending if it had started, else waiting. */
		to = is.started_at ? ISSUE_SENDING : ISSUE_SCHEDULED;
	if (issue_transition(ctx->db, id, to, d) < 0)
		goto fail;
	if (to == ISSUE_CANCELLED) {
		if (queue_cancel(ctx->db, id, clock_now(), NULL, d) < 0)
			goto fail;
	}
	if (db_commit(ctx->db, d) < 0)
		goto fail;
	printf("issue %lld %s\n", (long long)id, issue_status_name(to));
	return 0;
fail:
	db_rollback(ctx->db);
	return -1;
}

static int cmd_pause(struct cli_ctx *c, int n, char **v, diag *d) { return move(c, n, v, "pause", d); }
static int cmd_resume(struct cli_ctx *c, int n, char **v, diag *d) { return move(c, n, v, "resume", d); }
static int cmd_cancel(struct cli_ctx *c, int n, char **v, diag *d) { return move(c, n, v, "cancel", d); }

/* --- deliveries and retry: what the operator does after a send --- */

static int
parse_state(const char *s, diag *d)
{
	if (!queue_state_known(s))
		return cli_usage(d, "--state '%s': not a delivery state (queued, sending, "
		    "sent, deferred, failed, bounced or dropped)", s);
	return 0;
}

/* A reply text on one line of a table: controls become spaces. */
static void
put_oneline(buf *out, const char *s)
{
	for (; *s; s++)
		buf_putc(out, iscntrl((unsigned char)*s) ? ' ' : *s);
}

struct deliveries_out {
	buf	*out;
	int	 json, n;
};

static int
delivery_row(const struct queue_delivery_view *v, void *arg)
{
	struct deliveries_out *o = arg;
	buf *out = o->out;
	char next[32], upd[32];

	time_or_dash(v->next_attempt_at, next, sizeof next);
	clock_format_rfc3339(v->updated_at, upd, sizeof upd);
	if (o->json) {
		buf_printf(out, "%s\n {\"delivery_id\": %lld, \"subscriber_id\": ",
		    o->n ? "," : "", (long long)v->delivery_id);
		if (v->subscriber_id > 0)
			buf_printf(out, "%lld", (long long)v->subscriber_id);
		else
			buf_puts(out, "null");
		buf_puts(out, ", \"email\": ");
		buf_json_string(out, v->email);
		buf_puts(out, ", \"subscriber_status\": ");
		buf_json_string(out, v->sub_status ? v->sub_status : "removed");
		buf_puts(out, ", \"state\": ");
		buf_json_string(out, v->state);
		if (v->code)
			buf_printf(out, ", \"code\": %d", v->code);
		else
			buf_puts(out, ", \"code\": null");
		buf_puts(out, ", \"enhanced_status\": ");
		buf_json_string(out, *v->status ? v->status : NULL);
		buf_puts(out, ", \"text\": ");
		buf_json_string(out, *v->text ? v->text : NULL);
		buf_printf(out, ", \"attempts\": %lld, \"next_attempt_at\": ",
		    (long long)v->attempts);
		buf_json_string(out, v->next_attempt_at ? next : NULL);
		buf_puts(out, ", \"relay\": ");
		buf_json_string(out, *v->relay ? v->relay : NULL);
		buf_printf(out, ", \"updated_at\": \"%s\"}", upd);
	} else {
		char code[8];
		if (v->code)
			snprintf(code, sizeof code, "%d", v->code);
		else
			snprintf(code, sizeof code, "-");
		buf_printf(out, "%-8lld %-32s %-9s %-4s %-7s %-8lld %-20s ",
		    (long long)v->delivery_id, v->email ? v->email : "(removed)", v->state,
		    code, *v->status ? v->status : "-", (long long)v->attempts, next);
		if (*v->text)
			put_oneline(out, v->text);
		else if (v->sub_status == NULL)
			buf_puts(out, "(subscriber removed)");
		else if (strcmp(v->sub_status, "active") != 0)
			buf_printf(out, "(subscriber %s)", v->sub_status);
		else
			buf_putc(out, '-');
		buf_putc(out, '\n');
	}
	o->n++;
	return 0;
}

static int
cmd_deliveries(struct cli_ctx *ctx, int argc, char **argv, diag *d)
{
	static const struct option opts[] = {
		{ "state", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *state = NULL;
	struct deliveries_out o = { NULL, 0, 0 };
	struct issue is;
	buf out = BUF_INIT;
	int64_t id = 0;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "s:j", opts, NULL)) != -1) {
		if (ch == 's') {
			if (parse_state(optarg, d) < 0)
				return -1;
			state = optarg;
		} else if (ch == 'j')
			o.json = 1;
		else
			return cli_usage(d, "unknown option");
	}
	if (optind != argc - 1)
		return cli_usage(d, "one issue ID is needed");
	if (cli_issue_id(argv[optind], &id, d) < 0 || issue_get(ctx->db, id, &is, d) < 0)
		return -1;
	issue_free(&is);
	o.out = &out;
	if (o.json)
		buf_putc(&out, '[');
	else
		buf_printf(&out, "%-8s %-32s %-9s %-4s %-7s %-8s %-20s %s\n", "ID", "EMAIL",
		    "STATE", "CODE", "STATUS", "ATTEMPTS", "NEXT ATTEMPT", "REPLY");
	if (queue_deliveries(ctx->db, id, state, delivery_row, &o, d) < 0) {
		buf_free(&out);
		return -1;
	}
	if (o.json)
		buf_puts(&out, o.n ? "\n]\n" : "]\n");
	else if (o.n == 0)
		buf_printf(&out, "(no %s deliveries of issue %lld)\n", state ? state : "unsent",
		    (long long)id);
	rc = cli_write_stdout(&out, d);
	buf_free(&out);
	return rc;
}

static int
cmd_retry(struct cli_ctx *ctx, int argc, char **argv, diag *d)
{
	static const struct option opts[] = {
		{ "state", required_argument, NULL, 's' },
		{ "since", required_argument, NULL, 'S' },
		{ "to", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	const char *state = "failed", *since_s = NULL, *to = NULL, *why;
	struct queue_retry_result res;
	struct subscriber sub;
	struct issue is;
	char key[ADDRESS_MAX + 1], detail[160];
	int64_t id = 0, since = 0, now = clock_now(), ago;
	int ch;

	while ((ch = getopt_long(argc, argv, "s:S:t:", opts, NULL)) != -1) {
		if (ch == 's') {
			if (parse_state(optarg, d) < 0)
				return -1;
			if (strcmp(optarg, "failed") != 0 && strcmp(optarg, "deferred") != 0)
				return cli_usage(d, "--state '%s': retry queues failed or deferred "
				    "copies again, never %s ones", optarg, optarg);
			state = optarg;
		} else if (ch == 'S')
			since_s = optarg;
		else if (ch == 't')
			to = optarg;
		else
			return cli_usage(d, "unknown option");
	}
	if (optind != argc - 1)
		return cli_usage(d, "one issue ID is needed");
	if (cli_issue_id(argv[optind], &id, d) < 0)
		return -1;
	if (since_s) {
		if (clock_parse_duration(since_s, &ago) == 0)
			since = now - ago;
		else if (clock_parse_time(since_s, &since) < 0)
			return diag_set(d, EX_DATAERR, "--since '%s': not a time; write RFC 3339 "
			    "(2026-12-01T09:00:00Z), local \"YYYY-MM-DD HH:MM\", or a duration "
			    "ago (90m, 2h, 1d)", since_s);
	}
	if (to && address_normalize(to, key, &why) < 0)
		return diag_set(d, EX_DATAERR, "--to '%s': %s", to, why);

	if (db_begin(ctx->db, d) < 0)
		return -1;
	if (issue_get(ctx->db, id, &is, d) < 0)
		goto fail;
	issue_free(&is);
	if (is.status == ISSUE_CANCELLED || is.status == ISSUE_DRAFT ||
	    is.status == ISSUE_SCHEDULED) {
		diag_set(d, EX_DATAERR, "issue %lld is %s: %s", (long long)id,
		    issue_status_name(is.status), is.status == ISSUE_CANCELLED ?
		    "its copies are not sent any more" : "it has not been sent yet");
		goto fail;
	}
	memset(&sub, 0, sizeof sub);
	if (to) {
		if (subscriber_find(ctx->db, key, &sub, d) < 0) {
			if (d->code == EX_NOUSER)
				diag_set(d, EX_NOUSER, "--to '%s': no such subscriber (removed, "
				    "or never on the list)", to);
			goto fail;
		}
		subscriber_free(&sub);
		if (sub.status != SUB_ACTIVE) {
			diag_set(d, EX_DATAERR, "--to '%s': the subscriber is %s; a copy to an "
			    "address that is %s is never queued again", to,
			    sub_status_name(sub.status), sub_status_name(sub.status));
			goto fail;
		}
	}
	if (queue_retry(ctx->db, id, state, since, to ? sub.id : 0, now, &res, d) < 0)
		goto fail;
	if (to && res.queued == 0) {
		diag_set(d, EX_DATAERR, "--to '%s': issue %lld has no %s copy for this "
		    "subscriber%s", to, (long long)id, state, since_s ? " since then" : "");
		goto fail;
	}
	if (res.queued > 0) {
		snprintf(detail, sizeof detail, "%lld %s cop%s queued again by the operator",
		    (long long)res.queued, state, res.queued == 1 ? "y" : "ies");
		if (issue_reopen(ctx->db, id, detail, d) < 0 ||
		    db_event(ctx->db, "issue", id, "retry", detail, d) < 0)
			goto fail;
	}
	if (db_commit(ctx->db, d) < 0)
		goto fail;
	printf("issue %lld: %lld %s cop%s queued again", (long long)id,
	    (long long)res.queued, state, res.queued == 1 ? "y" : "ies");
	if (res.skipped) {
		int first = 1;
		printf("; %lld skipped, never mailed again (", (long long)res.skipped);
		for (int i = SUB_UNSUBSCRIBED; i < SUB_NSTATUS; i++)
			if (res.skipped_status[i]) {
				printf("%s%s %lld", first ? "" : ", ",
				    sub_status_name((enum sub_status)i),
				    (long long)res.skipped_status[i]);
				first = 0;
			}
		if (res.skipped_removed)
			printf("%sremoved %lld", first ? "" : ", ", (long long)res.skipped_removed);
		printf(")");
	}
	printf("%s\n", res.queued && is.status == ISSUE_PAUSED ?
	    "; the issue is paused: they go once it is resumed" : "");
	return 0;
fail:
	db_rollback(ctx->db);
	return -1;
}

const struct cli_command cli_issue_commands[] = {
	{ "issue", "create", "FILE.md", "store an issue (front matter + Markdown); prints its id",
	  CLI_NEEDS_DB, cmd_create },
	{ "issue", "edit", "ID FILE.md", "replace a draft's or scheduled issue's subject, "
	  "preheader, audience and Markdown (not once it has started); a new subject gets a "
	  "new slug and the old one redirects", CLI_NEEDS_DB, cmd_edit },
	{ "issue", "list", "[--json]", "list issues", CLI_NEEDS_DB, cmd_list },
	{ "issue", "show", "ID [--json]", "show an issue and its deliveries by state",
	  CLI_NEEDS_DB, cmd_show },
	{ "issue", "schedule", "ID (--at TIME | --now)",
	  "send at TIME (RFC 3339 or local \"YYYY-MM-DD HH:MM\"), or now", CLI_NEEDS_DB, cmd_schedule },
	{ "issue", "pause", "ID", "stop sending an issue for now", CLI_NEEDS_DB, cmd_pause },
	{ "issue", "resume", "ID", "go on sending a paused issue", CLI_NEEDS_DB, cmd_resume },
	{ "issue", "cancel", "ID", "stop an issue for good; queued copies are dropped",
	  CLI_NEEDS_DB, cmd_cancel },
	{ "issue", "deliveries", "ID [--state failed|deferred|queued|sending|sent|bounced|dropped] [--json]",
	  "who did not get it and why: each copy's state, last reply, attempts, next attempt "
	  "(every state but sent unless --state)", CLI_NEEDS_DB, cmd_deliveries },
	{ "issue", "retry", "ID [--state failed|deferred] [--since TIME] [--to EMAIL]",
	  "queue failed (or deferred) copies again now; never a copy already sent, nor one "
	  "to an unsubscribed, bounced, complained or removed address", CLI_NEEDS_DB, cmd_retry },
	{ NULL, NULL, NULL, NULL, 0, NULL },
};
