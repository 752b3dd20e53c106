/* cli_dkim - broadside dkim keygen | dns | sign | verify: DKIM keys and checks.
 *
 * keygen makes a key pair and prints the DNS record to publish; dns prints
 * the records of the configured keys again; sign and verify run a message
 * file through the same code the daemon signs with (for checking a setup
 * by hand, and for the tests' independent verifier).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "buf.h"
#include "clock.h"
#include "cli.h"
#include "dkim.h"

static int
read_input(const char *path, buf *out, diag *d)
{
	FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char chunk[65536];
	size_t n;

	if (fp == NULL)
		return diag_set(d, EX_NOINPUT, "%s: cannot read: %m", path);
	while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
		buf_append(out, chunk, n);
	if (ferror(fp)) {
		if (fp != stdin)
			fclose(fp);
		return diag_set(d, EX_IOERR, "%s: read error", path);
	}
	if (fp != stdin)
		fclose(fp);
	return 0;
}

static int
cmd_keygen(struct cli_ctx *ctx, int argc, char **argv, diag *d)
{
	static const struct option opts[] = {
		{ "selector", required_argument, NULL, 's' },
		{ "domain", required_argument, NULL, 'd' },
		{ "type", required_argument, NULL, 't' },
		{ "bits", required_argument, NULL, 'b' },
		{ "out", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	const char *selector = NULL, *domain = NULL, *out = NULL;
	enum dkim_alg alg = DKIM_RSA_SHA256;
	long bits = 2048;
	char *end, *abs, defpath[512];
	buf txt = BUF_INIT, rec = BUF_INIT;
	int c;

	(void)ctx;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': selector = optarg; break;
		case 'd': domain = optarg; break;
		case 'o': out = optarg; break;
		case 't':
			if (strcmp(optarg, "rsa") == 0)
				alg = DKIM_RSA_SHA256;
			else if (strcmp(optarg, "ed25519") == 0)
				alg = DKIM_ED25519_SHA256;
			else
				return cli_usage(d, "--type %s: must be rsa or ed25519", optarg);
			break;
		case 'b':
			bits = strtol(optarg, &end, 10);
			if (*end || end == optarg || bits < 1024 || bits > 8192)
				return cli_usage(d, "--bits %s: must be 1024 to 8192 (2048 is usual)",
				    optarg);
			break;
		default:
			return cli_usage(d, "unknown option");
		}
	}
	if (optind < argc)
		return cli_usage(d, "unexpected argument '%s'", argv[optind]);
	if (!selector || !domain)
		return cli_usage(d, "--selector and --domain are required");
	if (!*selector || selector[strspn(selector, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._")])
		return cli_usage(d, "--selector '%s': letters, digits, '-', '.' and '_' only",
		    selector);
	if (!strchr(domain, '.') || domain[strspn(domain, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.")])
		return cli_usage(d, "--domain '%s': not a domain name", domain);
	if (out == NULL) {
		snprintf(defpath, sizeof defpath, "%s.%s.key", selector, domain);
		out = defpath;
	}
	if (dkim_keygen(alg, (int)bits, out, &txt, d) < 0) {
		buf_free(&txt);
		return -1;
	}
	if (alg == DKIM_RSA_SHA256)
		buf_printf(&rec, "wrote %s (RSA %ld bits, PEM, mode 0600)\n\n", out, bits);
	else
		buf_printf(&rec, "wrote %s (Ed25519, PEM, mode 0600)\n\n", out);
	buf_puts(&rec, "Publish this DNS record (zone-file form; strings of at most 255 "
	    "characters):\n\n");
	dkim_txt_record(selector, domain, buf_cstr(&txt), &rec);
	abs = realpath(out, NULL);
	buf_printf(&rec, "\nThen add the key to broadside.conf:\n\n"
	    "dkim = ( { selector = \"%s\"; domain = \"%s\"; key_file = \"%s\"; } );\n",
	    selector, domain, abs ? abs : out);
	free(abs);
	c = cli_write_stdout(&rec, d);
	buf_free(&txt);
	buf_free(&rec);
	return c;
}

static int
load_keys(struct cli_ctx *ctx, struct dkim **dk, diag *d)
{
	if (dkim_load(&ctx->cfg, dk, d) < 0)
		return -1;
	if (*dk == NULL)
		return diag_set(d, EX_CONFIG, "%s: no dkim keys configured "
		    "(dkim = ( { selector; domain; key_file; } );)", ctx->config_path);
	return 0;
}

static int
cmd_dns(struct cli_ctx *ctx, int argc, char **argv, diag *d)
{
	struct dkim *dk;
	buf out = BUF_INIT, txt = BUF_INIT;
	int rc = 0;

	(void)argv;
	if (argc > 1)
		return cli_usage(d, "dkim dns takes no arguments");
	if (load_keys(ctx, &dk, d) < 0)
		return -1;
	for (size_t i = 0; i < dkim_nkeys(dk) && rc == 0; i++) {
		buf_reset(&txt);
		rc = dkim_key_txt(dk, i, &txt, d);
		if (rc == 0)
			dkim_txt_record(dkim_key_selector(dk, i), dkim_key_domain(dk, i),
			    buf_cstr(&txt), &out);
	}
	if (rc == 0)
		rc = cli_write_stdout(&out, d);
	dkim_free(dk);
	buf_free(&out);
	buf_free(&txt);
	return rc;
}

static int
cmd_sign(struct cli_ctx *ctx, int argc, char **argv, diag *d)
{
	struct dkim *dk;
	buf msg = BUF_INIT;
	int rc;

	if (argc != 2)
		return cli_usage(d, "dkim sign needs one FILE (or -)");
	if (load_keys(ctx, &dk, d) < 0)
		return -1;
	rc = read_input(argv[1], &msg, d);
	if (rc == 0 && (rc = dkim_sign(dk, &msg, clock_now(), d)) < 0)
		diag_prefix(d, "%s: ", argv[1]);
	if (rc == 0)
		rc = cli_write_stdout(&msg, d);
	dkim_free(dk);
	buf_free(&msg);
	return rc;
}

static int
cmd_verify(struct cli_ctx *ctx, int argc, char **argv, diag *d)
{
	struct dkim *dk;
	struct dkim_verdict v[8];
	size_t n = 0, good = 0;
	buf msg = BUF_INIT;
	int rc;

	if (argc != 2)
		return cli_usage(d, "dkim verify needs one FILE (or -)");
	if (load_keys(ctx, &dk, d) < 0)
		return -1;
	rc = read_input(argv[1], &msg, d);
	if (rc == 0)
		rc = dkim_verify(dk, msg.data, msg.len, v, 8, &n, d);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		printf("%s: %s d=%s s=%s: %s\n", argv[1], v[i].alg, v[i].domain, v[i].selector,
		    v[i].ok ? "pass" : v[i].why);
		good += v[i].ok != 0;
	}
	if (rc == 0 && n == 0)
		rc = diag_set(d, EX_DATAERR, "%s: no DKIM-Signature", argv[1]);
	else if (rc == 0 && good < n)
		rc = diag_set(d, EX_DATAERR, "%s: %zu of %zu signatures fail", argv[1],
		    n - good, n);
	dkim_free(dk);
	buf_free(&msg);
	return rc;
}

const struct cli_command cli_dkim_commands[] = {
	{ "dkim", "keygen", "--selector S --domain D [--type rsa|ed25519] [--bits 2048] "
	  "[--out FILE]", "make a DKIM key (PEM, 0600) and print the DNS TXT record to publish",
	  CLI_NEEDS_NOTHING, cmd_keygen },
	{ "dkim", "dns", "", "print the DNS TXT records of the configured DKIM keys",
	  CLI_NEEDS_CONFIG, cmd_dns },
	{ "dkim", "sign", "FILE|-", "print the message signed with every configured DKIM key",
	  CLI_NEEDS_CONFIG, cmd_sign },
	{ "dkim", "verify", "FILE|-", "check a message's DKIM signatures against the "
	  "configured keys (no DNS)", CLI_NEEDS_CONFIG, cmd_verify },
	{ NULL, NULL, NULL, NULL, 0, NULL },
};
