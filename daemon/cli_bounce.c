/* cli_bounce - broadside bounce [FILE|-], broadside bounce check FILE...
 *
 * `bounce` reads one returned message (a file, or standard input for a
 * Postfix pipe transport or an alias) and applies it: exit 0 when it was
 * applied or ignored, EX_TEMPFAIL when the database is busy so that the MTA
 * keeps the message and retries (a bounce is never lost), EX_DATAERR when
 * the input is not mail. It never answers the message.
 * `bounce check` prints what each message means as JSON, one object per
 * line, and changes nothing. When the config, key file and database are
 * there it also says whether the report carries proof that it answers a
 * copy we sent ("proof", "verified": bounce_apply.h) and counts the
 * verified and unverified reports on standard error.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "bounce_apply.h"
#include "bounce_parse.h"
#include "buf.h"
#include "cli.h"
#include "clock.h"
#include "log.h"
#include "secret.h"
#include "subscribers.h"
#include "unsubscribe.h"

#define MAX_MESSAGE	(64 * 1024 * 1024)	/* larger input is refused */

static int
read_input(const char *path, buf *out, diag *d)
{
	FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char chunk[65536];
	size_t got;

	if (fp == NULL)
		return diag_set(d, errno == ENOENT ? EX_NOINPUT : EX_DATAERR,
		    "%s: cannot read: %s", path, strerror(errno));
	while ((got = fread(chunk, 1, sizeof chunk, fp)) > 0) {
		if (out->len + got > MAX_MESSAGE) {
			if (fp != stdin)
				fclose(fp);
			return diag_set(d, EX_DATAERR, "%s: message larger than %d MB; refused",
			    strcmp(path, "-") == 0 ? "standard input" : path,
			    MAX_MESSAGE / (1024 * 1024));
		}
		buf_append(out, chunk, got);
	}
	if (ferror(fp)) {
		int e = errno;
		if (fp != stdin)
			fclose(fp);
		return diag_set(d, EX_DATAERR, "%s: cannot read: %s", path, strerror(e));
	}
	if (fp != stdin)
		fclose(fp);
	return 0;
}

/* What `bounce check` needs to tell a verified report from a forged one:
 * the config, the key file and the database, when they are there. Without
 * them it still parses, and says "verified": null. */
struct check_proof {
	struct config	cfg;
	struct secret	sec;
	struct db	*db;
	int		ok, have_cfg;
};

static void
check_proof_open(struct cli_ctx *ctx, struct check_proof *cp)
{
	buf errs = BUF_INIT;
	diag e = DIAG_INIT;

	memset(cp, 0, sizeof *cp);
	if (ctx->config_path == NULL || access(ctx->config_path, R_OK) != 0)
		return;
	if (config_load(ctx->config_path, &cp->cfg, &errs, &e) < 0) {
		buf_free(&errs);
		config_free(&cp->cfg);
		return;
	}
	buf_free(&errs);
	cp->have_cfg = 1;
	if (secret_load(cp->cfg.key_file, &cp->sec, &e) < 0 ||
	    db_open(cp->cfg.database, DB_OPEN_EXISTING, &cp->db, &e) < 0)
		return;
	cp->ok = 1;
}

static void
check_proof_close(struct check_proof *cp)
{
	db_close(cp->db);
	if (cp->have_cfg)
		config_free(&cp->cfg);
	memset(&cp->sec, 0, sizeof cp->sec);
}

/* Adds "proof", "verified" (and what was missing) to the report's JSON
 * object in out; counts. */
static void
check_proof_json(struct check_proof *cp, const struct bounce_report *r, buf *out,
    int counts[3])
{
	struct bounce_proof p;
	diag e = DIAG_INIT;
	int any = r->unsub_token[0] != '\0';

	for (size_t i = 0; i < r->n; i++)
		any |= r->v[i].kind != BOUNCE_IGNORE;
	if (out->len == 0 || out->data[out->len - 1] != '}')
		return;
	buf_truncate(out, out->len - 1);
	if (!any) {
		counts[2]++;
		buf_puts(out, ",\"proof\":null,\"verified\":null}");
		return;
	}
	if (!cp->ok) {
		buf_puts(out, ",\"proof\":null,\"verified\":null}");
		return;
	}
	if (r->unsub_token[0]) {
		/* unsubscribe+TOKEN@ mail: the token is its own proof. */
		struct subscriber sub;
		int good;

		memset(&sub, 0, sizeof sub);
		good = unsubscribe_lookup(cp->db, &cp->cfg, &cp->sec, r->unsub_token, &sub, &e) == 0;
		counts[good ? 0 : 1]++;
		if (good)
			buf_printf(out, ",\"proof\":\"unsubscribe-token\",\"verified\":true,"
			    "\"subscriber\":%lld}", (long long)sub.id);
		subscriber_free(&sub);
		if (!good)
			buf_puts(out, ",\"proof\":\"none\",\"verified\":false,\"unverified\":"
			    "\"forged or stale unsubscribe token, or its subscriber was removed\"}");
		return;
	}
	if (bounce_prove(cp->db, &cp->cfg, &cp->sec, r, clock_now(), &p, &e) < 0) {
		buf_puts(out, ",\"proof\":null,\"verified\":null}");
		return;
	}
	buf_puts(out, ",\"proof\":");
	buf_json_string(out, bounce_proof_name(p.kind));
	if (p.kind == PROOF_NONE) {
		counts[1]++;
		buf_puts(out, ",\"verified\":false,\"unverified\":");
		buf_json_string(out, p.why);
	} else {
		counts[0]++;
		buf_printf(out, ",\"verified\":true,\"subscriber\":%lld",
		    (long long)p.subscriber_id);
		if (p.delivery_id)
			buf_printf(out, ",\"delivery\":%lld", (long long)p.delivery_id);
	}
	buf_putc(out, '}');
}

static int
cmd_check(struct cli_ctx *ctx, int argc, char **argv, diag *d)
{
	int bad = 0, counts[3] = { 0, 0, 0 };	/* verified, unverified, no verdict */
	struct check_proof cp;

	if (argc < 2)
		return cli_usage(d, "bounce check needs at least one FILE");
	check_proof_open(ctx, &cp);
	for (int i = 1; i < argc; i++) {
		buf data = BUF_INIT, out = BUF_INIT;
		struct bounce_report *r;
		diag e = DIAG_INIT;
		const char *name = strcmp(argv[i], "-") == 0 ? "standard input" : argv[i];

		if (read_input(argv[i], &data, &e) < 0 ||
		    bounce_parse(data.data, data.len, &r, &e) < 0) {
			if (strncmp(e.msg, argv[i], strlen(argv[i])) != 0)
				diag_prefix(&e, "%s: ", name);
			fprintf(stderr, "broadside: %s\n", e.msg);
			*d = e;
			bad = 1;
			buf_free(&data);
			continue;
		}
		bounce_report_json(r, argv[i], &out);
		check_proof_json(&cp, r, &out, counts);
		buf_putc(&out, '\n');
		bounce_report_free(r);
		buf_free(&data);
		if (cli_write_stdout(&out, d) < 0) {
			buf_free(&out);
			check_proof_close(&cp);
			return -1;
		}
		buf_free(&out);
	}
	if (cp.ok)
		fprintf(stderr, "broadside: bounce check: %d verified, %d unverified "
		    "(would change nothing), %d without a verdict\n", counts[0], counts[1],
		    counts[2]);
	check_proof_close(&cp);
	if (bad) {
		if (argc > 2)
			return diag_set(d, d->code, "some messages could not be read");
		return diag_set(d, d->code, "%s", d->msg);
	}
	return 0;
}

static int
cmd_bounce(struct cli_ctx *ctx, int argc, char **argv, diag *d)
{
	const char *path = argc > 1 ? argv[1] : "-";
	const char *name = strcmp(path, "-") == 0 ? "standard input" : path;
	buf data = BUF_INIT;
	struct bounce_report *r;
	struct bounce_outcome oc;
	int rc;

	if (argc > 2)
		return cli_usage(d, "bounce takes one FILE (or - for standard input)");
	if (read_input(path, &data, d) < 0) {
		buf_free(&data);
		return -1;
	}
	if (bounce_parse(data.data, data.len, &r, d) < 0) {
		buf_free(&data);
		return diag_prefix(d, "%s: ", name);
	}
	buf_free(&data);
	rc = bounce_apply(ctx->db, &ctx->cfg, r, clock_now(), &oc, d);
	if (rc == 0)
		printf("%s: %s\n", name, oc.summary);
	bounce_report_free(r);
	return rc;
}

const struct cli_command cli_bounce_commands[] = {
	{ "bounce", "check", "FILE...", "print what each returned message means as JSON; changes nothing",
	  CLI_NEEDS_NOTHING, cmd_check },
	{ NULL, "bounce", "[FILE|-]", "apply one returned message (bounce, complaint, "
	  "unsubscribe mail) read from FILE or standard input",
	  CLI_NEEDS_DB, cmd_bounce },
	{ NULL, NULL, NULL, NULL, 0, NULL },
};
