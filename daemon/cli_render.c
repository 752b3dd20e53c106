/* cli_render - broadside issue preview: one subscriber's copy, to stdout;
 * broadside issue send-test: one copy through the first relay, as a test.
 *
 * Compiles the issue as the daemon does (render.c) and writes the message
 * that subscriber would receive: the whole RFC 5322 message (eml, the
 * default, CRLF), or only its decoded HTML or text part. --to picks the
 * subscriber (their name, tier and unsubscribe token); an address that is
 * not on the list is previewed with no name. Delivery id 0: a preview.
 *
 * send-test renders the copy the same way (so it is what a reader gets:
 * same templates, same DKIM signature) with "[TEST] " before the subject
 * and an X-Broadside-Test header, and hands it to the first relay of the
 * config with smtp_send, as the daemon does. It is not a delivery: no row
 * is written, nothing is counted, and a bounce of it matches no delivery.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "address.h"
#include "buf.h"
#include "cli.h"
#include "clock.h"
#include "dkim.h"
#include "issues.h"
#include "mailcheck.h"
#include "relay.h"
#include "render.h"
#include "secret.h"
#include "smtp.h"
#include "subscribers.h"
#include "xalloc.h"

#define PREVIEW_ADDRESS "subscriber@example.com"

/* Who a copy is for: a subscriber gets their own (name, their tier unless
 * one was given, their unsubscribe link); any other address a copy with
 * no name, to the spelling given. */
static int
reader_of(struct cli_ctx *ctx, const char *email, const char *spelling, int tier_given,
    enum sub_tier *tier, struct subscriber *sub, int *have_sub, struct render_to *to, diag *d)
{
	diag nf = DIAG_INIT;

	if (subscriber_find(ctx->db, email, sub, &nf) == 0) {
		*have_sub = 1;
		to->subscriber_id = sub->id;
		to->name = sub->name;
		if (!tier_given)
			*tier = sub->tier;
	} else if (nf.code != EX_NOUSER) {
		*d = nf;
		return -1;
	}
	to->email = *have_sub ? sub->email : spelling;
	return 0;
}

/* The issue, when a copy of it for `tier` exists. */
static int
issue_for(struct cli_ctx *ctx, int64_t id, enum sub_tier tier, struct issue *is, diag *d)
{
	if (issue_get(ctx->db, id, is, d) < 0)
		return -1;
	if ((is->audience == AUD_PAID && tier == TIER_FREE) ||
	    (is->audience == AUD_FREE && tier == TIER_PAID)) {
		diag_set(d, EX_DATAERR, "issue %lld goes to %s subscribers only (audience %s); "
		    "a %s copy does not exist: give --tier %s", (long long)id,
		    issue_audience_name(is->audience), issue_audience_name(is->audience),
		    sub_tier_name(tier), issue_audience_name(is->audience));
		issue_free(is);
		return -1;
	}
	return 0;
}

static int
cmd_preview(struct cli_ctx *ctx, int argc, char **argv, diag *d)
{
	static const struct option opts[] = {
		{ "tier", required_argument, NULL, 't' },
		{ "to", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, 'f' },
		{ "check", no_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	const char *tier_s = NULL, *to_s = NULL, *format = "eml";
	char email[ADDRESS_MAX + 1];
	struct subscriber sub;
	struct issue is;
	struct secret sec;
	struct render *r = NULL;
	struct render_to to;
	enum sub_tier tier = TIER_FREE;
	int have_sub = 0, have_issue = 0, check = 0, ch, rc = -1;
	int64_t id;
	buf out = BUF_INIT;

	memset(&sub, 0, sizeof sub);
	while ((ch = getopt_long(argc, argv, "t:o:f:c", opts, NULL)) != -1) {
		if (ch == 'c')
			check = 1;
		else if (ch == 't')
			tier_s = optarg;
		else if (ch == 'o')
			to_s = optarg;
		else if (ch == 'f')
			format = optarg;
		else
			return cli_usage(d, "unknown option");
	}
	if (optind != argc - 1)
		return cli_usage(d, "one issue ID is needed");
	if (cli_issue_id(argv[optind], &id, d) < 0)
		return -1;
	if (tier_s && sub_tier_parse(tier_s, &tier) < 0)
		return cli_usage(d, "--tier '%s': use free or paid", tier_s);
	if (strcmp(format, "eml") != 0 && strcmp(format, "html") != 0 &&
	    strcmp(format, "text") != 0)
		return cli_usage(d, "--format '%s': use eml, html or text", format);
	if (check && strcmp(format, "eml") != 0)
		return cli_usage(d, "--check reads the whole message: no --format %s", format);

	memset(&to, 0, sizeof to);
	to.email = PREVIEW_ADDRESS;
	if (to_s) {
		const char *why = NULL;
		if (address_normalize(to_s, email, &why) < 0)
			return diag_set(d, EX_DATAERR, "--to '%s': %s", to_s,
			    why ? why : "not an address");
		if (reader_of(ctx, email, email, tier_s != NULL, &tier, &sub, &have_sub, &to,
		    d) < 0)
			return -1;
	}
	to.tier = tier;

	if (issue_for(ctx, id, tier, &is, d) < 0)
		goto done;
	have_issue = 1;
	if (secret_load(ctx->cfg.key_file, &sec, d) < 0)
		goto done;
	if (render_compile(&ctx->cfg, &sec, &is, &r, d) < 0)
		goto done;
	if (strcmp(format, "eml") == 0)
		rc = render_message(r, &to, clock_now(), &out, d);
	else
		rc = render_body(r, &to, strcmp(format, "html") == 0 ?
		    RENDER_PART_HTML : RENDER_PART_TEXT, &out, d);
	if (rc == 0 && check) {
		/* The copy as the providers will judge it, then a report. */
		struct dkim *dk = NULL;
		struct mailcheck_result res;
		buf rep = BUF_INIT;
		if ((rc = dkim_load(&ctx->cfg, &dk, d)) == 0) {
			buf_printf(&rep, "issue %lld, %s copy to %s (%zu bytes):\n", (long long)id,
			    sub_tier_name(tier), to.email, out.len);
			mailcheck_run(dk, out.data, out.len, mailcheck_find_spamassassin(), &res,
			    &rep);
			rc = cli_write_stdout(&rep, d);
			if (rc == 0 && res.failed)
				rc = diag_set(d, EX_DATAERR, "issue %lld: %d check%s failed",
				    (long long)id, res.failed, res.failed == 1 ? "" : "s");
		}
		dkim_free(dk);
		buf_free(&rep);
	} else if (rc == 0)
		rc = cli_write_stdout(&out, d);
done:
	render_free(r);
	memset(&sec, 0, sizeof sec);
	if (have_issue)
		issue_free(&is);
	if (have_sub)
		subscriber_free(&sub);
	buf_free(&out);
	return rc;
}

#define TEST_SUBJECT_PREFIX "[TEST] "

/* The outcome as the session reports it, once: read in the callback, as
 * the sender does (the message's fields may change after it). */
struct test_outcome {
	int		 done;
	struct smtp_outcome o;
	char		 text[256];
};

static void
test_done(struct smtp_msg *m, void *arg)
{
	struct test_outcome *t = arg;

	if (t->done++)
		return;
	t->o = m->outcome;
	snprintf(t->text, sizeof t->text, "%s", m->text);
}

static int
cmd_send_test(struct cli_ctx *ctx, int argc, char **argv, diag *d)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 'o' },
		{ "tier", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	const char *tier_s = NULL, *to_s = NULL, *why = NULL;
	char email[ADDRESS_MAX + 1], err[256];
	struct subscriber sub;
	struct issue is;
	struct secret sec;
	struct render *r = NULL;
	struct relay *relay = NULL;
	struct render_to to;
	struct smtp_msg msg;
	struct smtp_job job;
	struct test_outcome res;
	enum sub_tier tier = TIER_FREE;
	int have_sub = 0, have_issue = 0, have_sec = 0, ch, rc = -1;
	int64_t id, now = clock_now();
	buf out = BUF_INIT;
	char *subject;

	memset(&sub, 0, sizeof sub);
	memset(&sec, 0, sizeof sec);
	while ((ch = getopt_long(argc, argv, "o:t:", opts, NULL)) != -1) {
		if (ch == 'o')
			to_s = optarg;
		else if (ch == 't')
			tier_s = optarg;
		else
			return cli_usage(d, "unknown option");
	}
	if (optind != argc - 1)
		return cli_usage(d, "one issue ID is needed");
	if (cli_issue_id(argv[optind], &id, d) < 0)
		return -1;
	if (to_s == NULL)
		return cli_usage(d, "--to EMAIL is needed: the address the test copy goes to");
	if (tier_s && sub_tier_parse(tier_s, &tier) < 0)
		return cli_usage(d, "--tier '%s': use free or paid", tier_s);
	if (address_normalize(to_s, email, &why) < 0)
		return diag_set(d, EX_DATAERR, "--to '%s': %s", to_s, why ? why : "not an address");
	if (ctx->cfg.nrelays == 0)
		return diag_set(d, EX_CONFIG, "%s: no relay configured; a test copy goes "
		    "through the first of relays", ctx->config_path);

	/* A subscriber gets their own copy (name, tier, unsubscribe link);
	 * any other address a copy with no name, free unless --tier. */
	memset(&to, 0, sizeof to);
	if (reader_of(ctx, email, to_s, tier_s != NULL, &tier, &sub, &have_sub, &to, d) < 0)
		return -1;
	to.tier = tier;

	if (issue_for(ctx, id, tier, &is, d) < 0)
		goto done;
	have_issue = 1;
	/* Marked in the subject, where every reader of the inbox sees it. */
	subject = xmalloc(strlen(TEST_SUBJECT_PREFIX) + strlen(is.subject) + 1);
	strcpy(subject, TEST_SUBJECT_PREFIX);
	strcat(subject, is.subject);
	free(is.subject);
	is.subject = subject;
	if (secret_load(ctx->cfg.key_file, &sec, d) < 0)
		goto done;
	have_sec = 1;
	if (smtp_check_config(&ctx->cfg, d) < 0 ||
	    render_compile(&ctx->cfg, &sec, &is, &r, d) < 0)
		goto done;
	buf_printf(&out, "X-Broadside-Test: issue %lld, %s copy; not a delivery\r\n",
	    (long long)id, sub_tier_name(tier));
	if (render_message(r, &to, now, &out, d) < 0)
		goto done;

	relay = relay_new(&ctx->cfg.relays[0], 0, ctx->cfg.retry.relay_min_backoff,
	    ctx->cfg.retry.relay_max_backoff);
	memset(&msg, 0, sizeof msg);
	msg.delivery_id = 0;		/* no delivery: its bounce matches none */
	msg.from = ctx->cfg.bounces.address;	/* no VERP: a test copy's bounce proves nothing */
	msg.rcpt = to.email;
	msg.data = out.data;
	msg.len = out.len;
	memset(&job, 0, sizeof job);
	job.relay = relay;
	job.timeouts = &ctx->cfg.smtp;
	job.msgs = &msg;
	job.n = 1;
	job.done = test_done;
	job.arg = &res;
	memset(&res, 0, sizeof res);
	err[0] = '\0';
	if (smtp_send(&job, err, sizeof err) < 0 && !res.done) {
		diag_set(d, EX_UNAVAILABLE, "relay %s: %s; no test copy sent", relay_name(relay),
		    err[0] ? err : "the session failed");
		goto done;
	}
	if (!res.done || res.o.stage == STAGE_CONNECT || res.o.code == 0) {
		diag_set(d, EX_UNAVAILABLE, "relay %s: %s; no test copy sent", relay_name(relay),
		    res.text[0] ? res.text : err[0] ? err : "the session failed");
		goto done;
	}
	if (res.o.code / 100 != 2) {
		diag_set(d, res.o.code / 100 == 4 ? EX_TEMPFAIL : EX_UNAVAILABLE,
		    "relay %s refused the test copy to %s at %s: %d%s%s %s; no test copy sent",
		    relay_name(relay), to.email, smtp_stage_name(res.o.stage), res.o.code,
		    res.o.status[0] ? " " : "", res.o.status, res.text);
		goto done;
	}
	printf("test copy of issue %lld (%s) sent to %s through %s: %d%s%s %s\n",
	    (long long)id, sub_tier_name(tier), to.email, relay_name(relay),
	    res.o.code, res.o.status[0] ? " " : "", res.o.status, res.text);
	rc = 0;
done:
	relay_free(relay);
	render_free(r);
	if (have_sec)
		memset(&sec, 0, sizeof sec);
	if (have_issue)
		issue_free(&is);
	if (have_sub)
		subscriber_free(&sub);
	buf_free(&out);
	return rc;
}

const struct cli_command cli_render_commands[] = {
	{ "issue", "preview", "ID [--tier free|paid] [--to EMAIL] [--format eml|html|text] [--check]",
	  "write the message a subscriber would receive to stdout (eml by default); "
	  "--check: a deliverability report on it instead (DKIM, headers, SpamAssassin)",
	  CLI_NEEDS_DB, cmd_preview },
	{ "issue", "send-test", "ID --to EMAIL [--tier free|paid]",
	  "send one real copy through the first relay, marked as a test (\"[TEST] \" subject, "
	  "X-Broadside-Test header); not a delivery, not counted", CLI_NEEDS_DB, cmd_send_test },
	{ NULL, NULL, NULL, NULL, 0, NULL },
};
