/* test_dkim - DKIM signing and our verifier on the fixture message: both
 * algorithms, canonicalization edge cases, tampering, threads.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "check.h"
#include "clock.h"
#include "config.h"
#include "dkim.h"
#include "xalloc.h"

static char tmpdir[] = "/tmp/test_dkim.XXXXXX";

static void
read_file(const char *path, buf *out)
{
	FILE *fp = fopen(path, "rb");
	char chunk[4096];
	size_t n;

	if (fp == NULL) {
		perror(path);
		exit(1);
	}
	while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
		buf_append(out, chunk, n);
	fclose(fp);
}

/* A config whose dkim list holds the given keys (made in tmpdir). */
static void
make_config(struct config *cfg, const char *const *names, size_t n)
{
	config_defaults(cfg);
	cfg->dkim = xcalloc(n, sizeof *cfg->dkim);
	cfg->ndkim = n;
	for (size_t i = 0; i < n; i++) {
		buf p = BUF_INIT;
		buf_printf(&p, "%s/%s.key", tmpdir, names[i]);
		cfg->dkim[i].selector = xstrdup(names[i]);
		cfg->dkim[i].domain = xstrdup("example.com");
		cfg->dkim[i].key_file = buf_detach(&p);
	}
}

static size_t
verify_count(const struct dkim *dk, const buf *m, size_t *n, char *why, size_t whylen)
{
	struct dkim_verdict v[4];
	size_t good = 0;
	diag d = DIAG_INIT;

	*n = 0;
	if (dkim_verify(dk, m->data, m->len, v, 4, n, &d) < 0)
		return 0;
	for (size_t i = 0; i < *n; i++) {
		good += v[i].ok != 0;
		if (!v[i].ok && why)
			snprintf(why, whylen, "%s", v[i].why);
	}
	return good;
}

struct worker {
	const struct dkim *dk;
	const buf	*msg;
	int		 bad;
	int		 copies;
};

static void *
work(void *arg)
{
	struct worker *w = arg;
	buf m = BUF_INIT;
	diag d = DIAG_INIT;

	for (int i = 0; i < w->copies; i++) {
		size_t n;
		buf_reset(&m);
		buf_printf(&m, "X-Copy: %d\r\n", i);
		buf_append(&m, w->msg->data, w->msg->len);
		if (dkim_sign(w->dk, &m, 1795440000, &d) < 0 || verify_count(w->dk, &m, &n, NULL, 0) != 2)
			w->bad++;
	}
	buf_free(&m);
	return NULL;
}

int
main(void)
{
	static const char *const both[] = { "s1", "e1" };
	struct config cfg;
	struct dkim *dk = NULL;
	diag d = DIAG_INIT;
	buf fix = BUF_INIT, m = BUF_INIT, txt = BUF_INIT, p = BUF_INIT;
	char why[160] = "";
	size_t n;

	if (mkdtemp(tmpdir) == NULL)
		return 1;
	buf_printf(&p, "%s/s1.key", tmpdir);
	CHECK(dkim_keygen(DKIM_RSA_SHA256, 2048, buf_cstr(&p), &txt, &d) == 0,
	    "keygen rsa-2048 %s", d.msg);
	CHECK(strncmp(buf_cstr(&txt), "v=DKIM1; k=rsa; p=MIIB", 22) == 0, "rsa TXT value");
	buf_reset(&p);
	buf_reset(&txt);
	buf_printf(&p, "%s/e1.key", tmpdir);
	CHECK(dkim_keygen(DKIM_ED25519_SHA256, 0, buf_cstr(&p), &txt, &d) == 0, "keygen ed25519");
	CHECK(strlen(buf_cstr(&txt)) == 22 + 44, "ed25519 TXT value holds 32 raw bytes");
	read_file("tests/fixtures/dkim/message.eml", &fix);

	make_config(&cfg, both, 2);
	CHECK(dkim_load(&cfg, &dk, &d) == 0 && dkim_nkeys(dk) == 2, "load two keys %s", d.msg);
	CHECK_STR(dkim_key_alg(dk, 1), "ed25519-sha256", "second key is ed25519");

	buf_append(&m, fix.data, fix.len);
	CHECK(dkim_sign(NULL, &m, 0, &d) == 0 && m.len == fix.len, "no keys: message unchanged");
	CHECK(dkim_sign(dk, &m, 1795440000, &d) == 0, "sign the fixture");
	CHECK(strncmp(m.data, "DKIM-Signature: v=1; a=rsa-sha256;", 34) == 0, "rsa signature first");
	CHECK(memcmp(m.data + m.len - fix.len, fix.data, fix.len) == 0,
	    "the message follows the signatures unchanged");
	CHECK(strstr(m.data, "t=1795440000;") != NULL, "t= is the time given");
	CHECK(verify_count(dk, &m, &n, why, sizeof why) == 2 && n == 2, "both verify %s", why);

	/* Body canonicalization: trailing blanks and empty lines do not count. */
	{
		buf t = BUF_INIT;
		const char *sep = strstr(m.data, "\r\n\r\n");
		buf_append(&t, m.data, m.len);
		buf_puts(&t, "\r\n\r\n \t \r\n");
		CHECK(verify_count(dk, &t, &n, why, sizeof why) == 2,
		    "empty and blank lines added at the end still verify");
		buf_truncate(&t, (size_t)(sep - m.data) + 4);
		buf_append(&t, fix.data + (strstr(fix.data, "\r\n\r\n") - fix.data) + 4,
		    fix.len - (size_t)(strstr(fix.data, "\r\n\r\n") - fix.data) - 4);
		CHECK(verify_count(dk, &t, &n, why, sizeof why) == 2, "rebuilt copy verifies");
		char *hit = strstr(t.data, "February 5");
		hit[9] = '6';
		CHECK(verify_count(dk, &t, &n, why, sizeof why) == 0 && strstr(why, "body hash"),
		    "a changed body fails on the body hash (%s)", why);
		buf_free(&t);
	}

	/* An empty body: the relaxed canonical body is empty (RFC 6376 §3.4.4). */
	buf_reset(&m);
	buf_puts(&m, "From: a@example.com\r\nSubject: empty\r\n\r\n");
	CHECK(dkim_sign(dk, &m, 0, &d) == 0 && strstr(m.data,
	    "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;"), "empty body: SHA-256 of nothing");
	CHECK(strstr(m.data, " t=") == NULL, "now = 0: no t=");
	CHECK(verify_count(dk, &m, &n, why, sizeof why) == 2, "empty body verifies");
	buf_reset(&m);
	buf_puts(&m, "From: a@example.com\r\nSubject: blank\r\n\r\n\r\n  \r\n\r\n");
	CHECK(dkim_sign(dk, &m, 0, &d) == 0 && strstr(m.data,
	    "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;"), "blank lines only: same as empty");
	buf_reset(&m);
	buf_puts(&m, "From: a@example.com\r\nSubject: x\r\n\r\nno final line end");
	CHECK(dkim_sign(dk, &m, 0, &d) == 0 &&
	    verify_count(dk, &m, &n, why, sizeof why) == 2, "body without final CRLF");
	buf_reset(&m);
	buf_puts(&m, "From: a@example.com\r\n");
	CHECK(dkim_sign(dk, &m, 0, &d) < 0 && strstr(d.msg, "no empty line"), "no body: refused");
	buf_reset(&m);
	buf_puts(&m, " From: a@example.com\r\n\r\nx\r\n");
	CHECK(dkim_sign(dk, &m, 0, &d) < 0 && strstr(d.msg, "continuation"),
	    "leading continuation line: refused");
	buf_reset(&m);
	buf_puts(&m, "From: a@example.com\r\nFrom: b@example.com\r\n\r\nx\r\n");
	CHECK(dkim_sign(dk, &m, 0, &d) < 0, "two From fields: refused");

	/* Threads share one struct dkim. */
	{
		pthread_t th[2];
		struct worker w[2] = { { dk, &fix, 0, 150 }, { dk, &fix, 0, 150 } };
		for (int i = 0; i < 2; i++)
			pthread_create(&th[i], NULL, work, &w[i]);
		for (int i = 0; i < 2; i++)
			pthread_join(th[i], NULL);
		CHECK(w[0].bad + w[1].bad == 0, "300 copies signed in two threads all verify (%d bad)",
		    w[0].bad + w[1].bad);
	}

	/* A key of the wrong type for its a=: the verifier names it. */
	{
		static const char *const only_rsa[] = { "s1" };
		struct config c2;
		struct dkim *dk2;
		buf s = BUF_INIT;
		make_config(&c2, only_rsa, 1);
		CHECK(dkim_load(&c2, &dk2, &d) == 0, "load one key");
		buf_append(&s, fix.data, fix.len);
		dkim_sign(dk, &s, 0, &d);
		CHECK(verify_count(dk2, &s, &n, why, sizeof why) == 1 && n == 2 &&
		    strstr(why, "no configured key"), "unknown selector is reported (%s)", why);
		buf_free(&s);
		dkim_free(dk2);
		config_free(&c2);
	}

	dkim_free(dk);
	config_free(&cfg);
	buf_free(&fix);
	buf_free(&m);
	buf_free(&txt);
	buf_reset(&p);
	buf_printf(&p, "rm -rf %s", tmpdir);
	CHECK(system(buf_cstr(&p)) == 0, "clean up");
	buf_free(&p);
	return check_exit();
}
