/* cli_render - broadside issue preview: one subscriber's copy, to stdout.
 *
 * Compiles the issue as the daemon does (render.c) and writes the message
 * that subscriber would receive: the whole RFC 5322 message (eml, the
 * default, CRLF), or only its decoded HTML or text part. --to picks the
 * subscriber (their name, tier and unsubscribe token); an address that is
 * not on the list is previewed with no name. Delivery id 0: a preview.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "address.h"
#include "buf.h"
#include "cli.h"
#include "clock.h"
#include "dkim.h"
#include "issues.h"
#include "mailcheck.h"
#include "render.h"
#include "secret.h"
#include "subscribers.h"

#define PREVIEW_ADDRESS "subscriber@example.com"

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
		diag nf = DIAG_INIT;
		if (subscriber_find(ctx->db, email, &sub, &nf) == 0) {
			have_sub = 1;
			to.subscriber_id = sub.id;
			to.name = sub.name;
			if (tier_s == NULL)
				tier = sub.tier;
		} else if (nf.code != EX_NOUSER) {
			*d = nf;
			return -1;
		}
		to.email = have_sub ? sub.email : email;
	}
	to.tier = tier;

	if (issue_get(ctx->db, id, &is, d) < 0)
		goto done;
	have_issue = 1;
	if ((is.audience == AUD_PAID && tier == TIER_FREE) ||
	    (is.audience == AUD_FREE && tier == TIER_PAID)) {
		diag_set(d, EX_DATAERR, "issue %lld goes to %s subscribers only "
		    "(audience %s); a %s subscriber receives nothing", (long long)id,
		    issue_audience_name(is.audience), issue_audience_name(is.audience),
		    sub_tier_name(tier));
		goto done;
	}
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

const struct cli_command cli_render_commands[] = {
	{ "issue", "preview", "ID [--tier free|paid] [--to EMAIL] [--format eml|html|text] [--check]",
	  "write the message a subscriber would receive to stdout (eml by default); "
	  "--check: a deliverability report on it instead (DKIM, headers, SpamAssassin)",
	  CLI_NEEDS_DB, cmd_preview },
	{ NULL, NULL, NULL, NULL, 0, NULL },
};
