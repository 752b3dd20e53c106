/* bench_dkim - what DKIM signing costs beside rendering, on one core.
 *
 *   bench_dkim ISSUE.md TEMPLATE_DIR [SECONDS]
 *
 * Compiles the issue once per key setup and renders copies for rotating
 * subscribers into one reused buffer, as a sender thread does: without
 * keys (render only, the baseline), signed with an RSA-2048 key, with an
 * Ed25519 key, and with both (rotation / dual signing). Prints messages per
 * second of each and its ratio to render only; then the signing alone
 * (dkim_sign of one rendered copy, again and again). Times are the thread's
 * CPU time, so that other work on the machine does not skew the ratios.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "config.h"
#include "dkim.h"
#include "issue_file.h"
#include "render.h"
#include "xalloc.h"

static char dir[] = "/tmp/bench_dkim.XXXXXX";

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);	/* CPU time: others' load does not count */
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const diag *d)
{
	fprintf(stderr, "bench_dkim: %s\n", d->msg);
	exit(1);
}

/* cfg->dkim holds the keys named (files in dir). */
static void
set_keys(struct config *cfg, const char *const *names, size_t n)
{
	for (size_t i = 0; i < cfg->ndkim; i++) {
		free(cfg->dkim[i].selector);
		free(cfg->dkim[i].domain);
		free(cfg->dkim[i].key_file);
	}
	free(cfg->dkim);
	cfg->dkim = n ? xcalloc(n, sizeof *cfg->dkim) : NULL;
	cfg->ndkim = n;
	for (size_t i = 0; i < n; i++) {
		buf p = BUF_INIT;
		buf_printf(&p, "%s/%s.key", dir, names[i]);
		cfg->dkim[i].selector = xstrdup(names[i]);
		cfg->dkim[i].domain = xstrdup("example.com");
		cfg->dkim[i].key_file = buf_detach(&p);
	}
}

/* Messages per second rendered (and signed, when cfg has keys). */
static double
render_rate(const struct config *cfg, const struct secret *sec, const struct issue *is,
    double secs, size_t *avg)
{
	struct render *r;
	diag d = DIAG_INIT;
	buf out = BUF_INIT;
	char email[64], name[64];
	long n = 0;
	size_t bytes = 0;
	int64_t when = clock_now();
	double t0, t1;

	if (render_compile(cfg, sec, is, &r, &d) < 0)
		die(&d);
	t0 = now_s();
	do {
		for (int k = 0; k < 100; k++, n++) {
			int i = (int)(n % 1000);
			snprintf(email, sizeof email, "reader%d@example.com", i);
			snprintf(name, sizeof name, "Reader Number %d", i);
			struct render_to to = { n + 1, i + 1, email, name,
			    i % 2 ? TIER_PAID : TIER_FREE };
			buf_reset(&out);
			if (render_message(r, &to, when, &out, &d) < 0)
				die(&d);
			bytes += out.len;
		}
		t1 = now_s();
	} while (t1 - t0 < secs);
	*avg = bytes / (size_t)n;
	render_free(r);
	buf_free(&out);
	return (double)n / (t1 - t0);
}

/* dkim_sign alone on one rendered copy. */
static double
sign_rate(const struct config *cfg, const buf *msg, double secs)
{
	struct dkim *dk;
	diag d = DIAG_INIT;
	buf m = BUF_INIT;
	long n = 0;
	double t0, t1;

	if (dkim_load(cfg, &dk, &d) < 0)
		die(&d);
	t0 = now_s();
	do {
		for (int k = 0; k < 50; k++, n++) {
			buf_reset(&m);
			buf_append(&m, msg->data, msg->len);
			if (dkim_sign(dk, &m, 1795440000, &d) < 0)
				die(&d);
		}
		t1 = now_s();
	} while (t1 - t0 < secs);
	dkim_free(dk);
	buf_free(&m);
	return (double)n / (t1 - t0);
}

int
main(int argc, char **argv)
{
	static const char *const rsa[] = { "rsa2048" }, *const ed[] = { "ed25519" },
	    *const both[] = { "rsa2048", "ed25519" };
	struct config cfg;
	struct secret sec;
	struct issue is;
	struct render *r;
	diag d = DIAG_INIT;
	buf text = BUF_INIT, txt = BUF_INIT, p = BUF_INIT, one = BUF_INIT;
	double secs = argc > 3 ? atof(argv[3]) : 1.0, base, rr, re, rb, sr, se;
	size_t avg;

	if (argc < 3) {
		fprintf(stderr, "usage: bench_dkim ISSUE.md TEMPLATE_DIR [SECONDS]\n");
		return 64;
	}
	if (mkdtemp(dir) == NULL)
		return 1;
	buf_printf(&p, "%s/rsa2048.key", dir);
	if (dkim_keygen(DKIM_RSA_SHA256, 2048, p.data, &txt, &d) < 0)
		die(&d);
	buf_reset(&p);
	buf_printf(&p, "%s/ed25519.key", dir);
	if (dkim_keygen(DKIM_ED25519_SHA256, 0, p.data, &txt, &d) < 0)
		die(&d);
	if (issue_file_read(argv[1], &text, &d) < 0 ||
	    issue_file_parse(argv[1], buf_cstr(&text), text.len, &is, &d) < 0)
		die(&d);
	is.id = 1;
	config_defaults(&cfg);
	free(cfg.templates);
	cfg.templates = xstrdup(argv[2]);
	memset(&sec, 0, sizeof sec);
	sec.nkeys = 1;
	for (int i = 0; i < 32; i++)
		sec.keys[0].key[i] = (unsigned char)(i * 37 + 11);

	base = render_rate(&cfg, &sec, &is, secs, &avg);
	set_keys(&cfg, rsa, 1);
	rr = render_rate(&cfg, &sec, &is, secs, &avg);
	set_keys(&cfg, ed, 1);
	re = render_rate(&cfg, &sec, &is, secs, &avg);
	set_keys(&cfg, both, 2);
	rb = render_rate(&cfg, &sec, &is, secs, &avg);

	/* One unsigned copy for the signing-alone figures. */
	set_keys(&cfg, NULL, 0);
	if (render_compile(&cfg, &sec, &is, &r, &d) < 0)
		die(&d);
	struct render_to to = { 1, 1, "reader@example.com", "Reader", TIER_PAID };
	if (render_message(r, &to, clock_now(), &one, &d) < 0)
		die(&d);
	render_free(r);
	set_keys(&cfg, rsa, 1);
	sr = sign_rate(&cfg, &one, secs);
	set_keys(&cfg, ed, 1);
	se = sign_rate(&cfg, &one, secs);

	printf("dkim: weekly example, %zu-byte messages, one core\n", avg);
	printf("  render only              %8.0f msg/s  (baseline)\n", base);
	printf("  render + rsa-2048        %8.0f msg/s  %5.2f of render only  (%.0f us each)\n",
	    rr, rr / base, 1e6 / rr);
	printf("  render + ed25519         %8.0f msg/s  %5.2f of render only  (%.0f us each)\n",
	    re, re / base, 1e6 / re);
	printf("  render + both keys       %8.0f msg/s  %5.2f of render only\n", rb, rb / base);
	printf("  sign only, rsa-2048      %8.0f msg/s  (body + header hash + RSA)\n", sr);
	printf("  sign only, ed25519       %8.0f msg/s  (%.1fx rsa-2048)\n", se, se / sr);
	/* Postfix's smtp-source over loopback on these machines (DESIGN.md). */
	/* ~7,500 msg/s: what broadsided sends unsigned into smtp-sink over 4
	 * connections on these machines (bench.sh smtp). */
	printf("  at 7,500 msg/s (unsigned sending, make bench) signing would take %.2f cores "
	    "(rsa-2048), %.2f core (ed25519)\n", 7500 / rr - 7500 / base, 7500 / re - 7500 / base);

	set_keys(&cfg, NULL, 0);
	config_free(&cfg);
	issue_free(&is);
	buf_free(&text);
	buf_free(&txt);
	buf_free(&one);
	buf_reset(&p);
	buf_printf(&p, "rm -rf %s", dir);
	if (system(p.data) != 0)
		return 1;
	buf_free(&p);
	return 0;
}
