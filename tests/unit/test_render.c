/* test_render - per-tier compile and per-subscriber messages, on a hand-made
 * issue: the cut, the headers, the slots, hostile names, threads. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "check.h"
#include "config.h"
#include "mime.h"
#include "render.h"
#include "token.h"

static const char *src =
    "Happy Lunar New Year! It has been quite an eventful week—especially with "
    "all the DeepSeek news stealing the spotlight.\n\n"
    "## #1 DeepSeek Shows What China Does Best\n\n"
    "DeepSeek took the world by storm. {{name}} <b>raw</b>\n\n"
    "<!-- paywall -->\n\n"
    "## #2 Alibaba-Backed Robots Steal the Spotlight\n\n"
    "SECRET-PAID-ONLY paragraph after the cut.\n";

static struct config cfg;
static struct secret sec;

static int
crlf_ok(const char *s, size_t max_body)
{
	size_t col = 0;
	int in_body = 0;

	for (const char *p = s; *p; p++) {
		if (*p == '\r') {
			if (p[1] != '\n')
				return 0;
			if (col == 0)
				in_body = 1;
			p++;
			col = 0;
			continue;
		}
		if (*p == '\n')
			return 0;
		col++;
		if (col > (in_body ? max_body : 998))
			return 0;
	}
	return 1;
}

static char *
header(const char *msg, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = msg; *p && !(p[0] == '\r' && p[1] == '\n'); ) {
		const char *e = strstr(p, "\r\n");
		if (strncmp(p, name, n) == 0 && p[n] == ':') {
			buf v = BUF_INIT;
			const char *q = p + n + 1;
			for (;;) {
				const char *le = strstr(q, "\r\n");
				buf_append(&v, q, (size_t)(le - q));
				if (le[2] != ' ' && le[2] != '\t')
					break;
				q = le + 2;
			}
			return buf_detach(&v);
		}
		p = e + 2;
	}
	return NULL;
}

static struct render *shared_r;

static void *
worker(void *arg)
{
	buf out = BUF_INIT;
	diag d = DIAG_INIT;
	long bad = 0;

	for (int i = 0; i < 300; i++) {
		struct render_to to = { i + 1, (long)(intptr_t)arg * 1000 + i,
		    "reader@example.com", "Reader", i % 2 ? TIER_PAID : TIER_FREE };
		buf_reset(&out);
		if (render_message(shared_r, &to, 1800000000, &out, &d) < 0)
			bad++;
	}
	buf_free(&out);
	return (void *)bad;
}

int
main(void)
{
	struct issue is;
	struct render *r = NULL;
	diag d = DIAG_INIT;
	buf m = BUF_INIT, m2 = BUF_INIT, dec = BUF_INIT;
	char *v;

	config_defaults(&cfg);
	free(cfg.templates);
	cfg.templates = strdup("templates");
	free(cfg.list.address);
	cfg.list.address = strdup("1 Example Street, Springfield");
	free(cfg.bounces.address);
	cfg.bounces.address = strdup("bounces@mail.example.net");
	memset(&sec, 0, sizeof sec);
	sec.nkeys = 1;
	memset(sec.keys[0].key, 7, SECRET_KEY_LEN);

	memset(&is, 0, sizeof is);
	is.id = 42;
	is.subject = "Growth Dragons Weekly: DeepSeek’s AI Disruption — “2025”";
	is.preheader = "Happy Lunar New Year!";
	is.source = (char *)src;
	CHECK(render_compile(&cfg, &sec, &is, &r, &d) == 0, "compile (%s)", d.msg);
	if (r == NULL)
		return check_exit();

	struct render_to to = { 7, 99, "zoe@example.com", "Zoë \"Z\" O'Brien", TIER_FREE };
	CHECK(render_message(r, &to, 1800000000, &m, &d) == 0, "free copy renders");
	CHECK(crlf_ok(m.data, 76), "free copy: CRLF only, body lines <= 76, headers <= 998");
	CHECK(strncmp(m.data, "From: Growth Dragons <news@example.com>\r\nTo: ", 45) == 0,
	    "From first, To second");
	v = header(m.data, "To");
	CHECK(v && strstr(v, "<zoe@example.com>") && strstr(v, "=?UTF-8?Q?"), "To: encoded name (%s)", v);
	free(v);
	v = header(m.data, "Message-ID");
	CHECK(v && strncmp(v, " <7.", 4) == 0 && strstr(v, "@example.com>"), "Message-ID <delivery.random@from domain> (%s)", v);
	char *mid1 = v;
	v = header(m.data, "Date");
	CHECK_STR(v, " Fri, 15 Jan 2027 08:00:00 +0000", "Date in RFC 5322 form");
	free(v);
	char tok[TOKEN_MAX];
	token_unsub_make(&sec, cfg.list.id, 99, tok);
	buf want = BUF_INIT;
	buf_printf(&want, " <%s/u/%s>, <mailto:unsubscribe+%s@mail.example.net>", cfg.list.base_url, tok, tok);
	v = header(m.data, "List-Unsubscribe");
	CHECK_STR(v, want.data, "List-Unsubscribe: https + mailto with the token");
	free(v);
	v = header(m.data, "List-Unsubscribe-Post");
	CHECK_STR(v, " List-Unsubscribe=One-Click", "List-Unsubscribe-Post one-click");
	free(v);
	v = header(m.data, "List-Id");
	CHECK_STR(v, " \"Growth Dragons\" <growth-dragons.example.com>", "List-Id");
	free(v);
	v = header(m.data, "Feedback-ID");
	CHECK_STR(v, " 42:growth-dragons.example.com:broadside", "Feedback-ID derived");
	free(v);
	v = header(m.data, "MIME-Version");
	CHECK_STR(v, " 1.0", "MIME-Version");
	free(v);
	CHECK(strstr(m.data, "Content-Type: multipart/alternative;\r\n boundary=\"=_broadside_42\"") &&
	    strstr(m.data, "text/plain") < strstr(m.data, "text/html"), "multipart/alternative, text then html");

	buf_reset(&dec);
	render_body(r, &to, RENDER_PART_TEXT, &dec, &d);
	CHECK(strstr(dec.data, "Hi Zoë \"Z\" O'Brien,") != NULL, "text: name slot filled");
	CHECK(strstr(dec.data, "Keep reading with a 7-day free trial") != NULL, "free text: call to action");
	CHECK(strstr(dec.data, "SECRET-PAID-ONLY") == NULL && strstr(dec.data, "Alibaba-Backed") == NULL,
	    "free text: nothing after the cut");
	CHECK(strstr(dec.data, "{{name}} <b>raw</b>") != NULL, "text: '{{' and HTML in Markdown are content, not slots");
	buf_reset(&dec);
	render_body(r, &to, RENDER_PART_HTML, &dec, &d);
	CHECK(strstr(dec.data, "Hi Zo\xc3\xab &quot;Z&quot; O&#39;Brien,") != NULL, "html: name HTML-escaped");
	CHECK(strstr(dec.data, "{{name}} &lt;b&gt;raw&lt;/b&gt;") != NULL, "html: raw HTML escaped");
	/* No list.upgrade_url: the call to action is the reader's own trial
	 * page; "View online" is the reader's own view of this issue. */
	char rtok[TOKEN_MAX];
	token_trial_make(&sec, cfg.list.id, 99, rtok);
	buf_reset(&want);
	buf_printf(&want, "href=\"%s/trial/%s\"", cfg.list.base_url, rtok);
	CHECK(strstr(dec.data, want.data) != NULL, "html: upgrade button is the reader's trial link");
	token_view_make(&sec, cfg.list.id, 42, 99, rtok);
	buf_reset(&want);
	buf_printf(&want, "href=\"%s/i/42/%s\"", cfg.list.base_url, rtok);
	CHECK(strstr(dec.data, want.data) != NULL, "html: View online is the reader's own link");
	CHECK(strstr(dec.data, "/feed/") == NULL, "free html: no private feed link");
	buf_reset(&want);
	buf_printf(&want, "href=\"%s/u/%s\"", cfg.list.base_url, tok);
	CHECK(strstr(dec.data, want.data) != NULL, "html: unsubscribe link in the footer");
	CHECK(strstr(dec.data, "1 Example Street, Springfield") != NULL, "html: postal address line");
	CHECK(strstr(dec.data, "SECRET-PAID-ONLY") == NULL, "free html: nothing after the cut");

	/* The paid copy. */
	to.tier = TIER_PAID;
	to.name = NULL;
	CHECK(render_message(r, &to, 1800000000, &m2, &d) == 0 && crlf_ok(m2.data, 76), "paid copy renders");
	v = header(m2.data, "Message-ID");
	CHECK(v && mid1 && strcmp(v, mid1) != 0, "Message-ID differs per copy");
	free(v);
	free(mid1);
	buf_reset(&dec);
	render_body(r, &to, RENDER_PART_TEXT, &dec, &d);
	CHECK(strstr(dec.data, "SECRET-PAID-ONLY") && !strstr(dec.data, "Keep reading") &&
	    !strstr(dec.data, "paywall -->"), "paid text: everything, no call to action, no mark");
	CHECK(strstr(dec.data, "Hi there,") != NULL, "text: {{name|there}} fallback");
	token_feed_make(&sec, cfg.list.id, 99, rtok);
	buf_reset(&want);
	buf_printf(&want, "%s/feed/%s.xml", cfg.list.base_url, rtok);
	CHECK(strstr(dec.data, want.data) != NULL, "paid text: the reader's private feed link");
	render_free(r);
	/* The operator's own payment page is linked as it is. */
	free(cfg.list.upgrade_url);
	cfg.list.upgrade_url = strdup("https://pay.example.com/join?plan=1");
	CHECK(render_compile(&cfg, &sec, &is, &r, &d) == 0, "compile with list.upgrade_url");
	to.tier = TIER_FREE;
	buf_reset(&dec);
	render_body(r, &to, RENDER_PART_HTML, &dec, &d);
	CHECK(strstr(dec.data, "href=\"https://pay.example.com/join?plan=1\"") != NULL &&
	    strstr(dec.data, "/trial/") == NULL, "list.upgrade_url set: the button goes there");
	render_free(r);
	cfg.list.trial_days = 14;
	CHECK(render_compile(&cfg, &sec, &is, &r, &d) == 0, "compile with list.trial_days 14");
	buf_reset(&dec);
	render_body(r, &to, RENDER_PART_TEXT, &dec, &d);
	CHECK(strstr(dec.data, "Keep reading with a 14-day free trial") != NULL &&
	    strstr(dec.data, "get 14 days of") != NULL, "{{trial_days}} from list.trial_days");
	cfg.list.trial_days = 7;
	to.tier = TIER_PAID;

	/* Hostile recipients. */
	struct render_to evil = { 1, 5, "eve@example.com", "Eve\r\nBcc: all@example.com\r\n\r\n<script>", TIER_FREE };
	buf_reset(&m);
	CHECK(render_message(r, &evil, 1800000000, &m, &d) == 0, "newline name renders");
	CHECK(strstr(m.data, "\r\nBcc:") == NULL, "newline name: no injected header");
	buf_reset(&dec);
	render_body(r, &evil, RENDER_PART_HTML, &dec, &d);
	CHECK(strstr(dec.data, "<script>") == NULL, "newline name: HTML escaped in body");
	struct render_to bad = { 1, 6, "x@example.com\r\nBcc: all@example.com", "X", TIER_FREE };
	buf_reset(&m);
	CHECK(render_message(r, &bad, 1800000000, &m, &d) < 0 && m.len == 0 &&
	    strstr(d.msg, "subscriber 6: address") && !strchr(d.msg, '\n'),
	    "injected address refused, nothing written: %s", d.msg);

	/* Many threads, one compiled issue. */
	pthread_t th[4];
	long bad_total = 0;
	shared_r = r;
	for (long i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, worker, (void *)i);
	for (int i = 0; i < 4; i++) {
		void *ret;
		pthread_join(th[i], &ret);
		bad_total += (long)ret;
	}
	CHECK(bad_total == 0, "4 threads x 300 messages on one struct render");
	render_free(r);

	/* No cut, cut on the first line, a template error. */
	is.source = "Everything for everyone.\n";
	CHECK(render_compile(&cfg, &sec, &is, &r, &d) == 0, "no cut: compiles");
	buf_reset(&dec);
	to.tier = TIER_FREE;
	render_body(r, &to, RENDER_PART_TEXT, &dec, &d);
	CHECK(strstr(dec.data, "Everything for everyone.") && !strstr(dec.data, "Keep reading"),
	    "no cut: free readers get it all, no call to action");
	render_free(r);
	is.source = "<!-- paywall -->\nAll paid.\n";
	CHECK(render_compile(&cfg, &sec, &is, &r, &d) == 0, "cut on line 1: compiles");
	buf_reset(&dec);
	render_body(r, &to, RENDER_PART_TEXT, &dec, &d);
	CHECK(!strstr(dec.data, "All paid.") && strstr(dec.data, "Keep reading"), "cut on line 1: only the call to action");
	render_free(r);
	/* The mark shown in a code block is code, not the cut. */
	is.source = "How to cut:\n\n```\n<!-- paywall -->\n```\n\nFor everyone.\n";
	CHECK(render_compile(&cfg, &sec, &is, &r, &d) == 0, "mark in a code block: compiles");
	buf_reset(&dec);
	render_body(r, &to, RENDER_PART_TEXT, &dec, &d);
	CHECK(strstr(dec.data, "For everyone.") && strstr(dec.data, "<!-- paywall -->") &&
	    !strstr(dec.data, "Keep reading"), "mark in a code block: free readers get it all, the mark as code");
	buf_reset(&dec);
	render_body(r, &to, RENDER_PART_HTML, &dec, &d);
	CHECK(strstr(dec.data, "&lt;!-- paywall --&gt;") != NULL, "mark in a code block: escaped in the HTML part");
	render_free(r);
	/* list.allow_html: raw HTML in the Markdown reaches the HTML part. */
	is.source = "Before <b class=\"x\">bold</b> after.\n";
	cfg.list.allow_html = 1;
	CHECK(render_compile(&cfg, &sec, &is, &r, &d) == 0, "allow_html: compiles");
	buf_reset(&dec);
	render_body(r, &to, RENDER_PART_HTML, &dec, &d);
	CHECK(strstr(dec.data, "Before <b class=\"x\">bold</b> after.") != NULL, "allow_html: raw HTML kept");
	buf_reset(&dec);
	render_body(r, &to, RENDER_PART_TEXT, &dec, &d);
	CHECK(strstr(dec.data, "Before bold after.") != NULL, "allow_html: tags dropped from the text part");
	render_free(r);
	cfg.list.allow_html = 0;

	/* A layout without the unsubscribe slot is refused. */
	free(cfg.templates);
	cfg.templates = strdup("/nonexistent-templates");
	CHECK(render_compile(&cfg, &sec, &is, &r, &d) < 0 && r == NULL &&
	    strstr(d.msg, "/nonexistent-templates/layout.txt: cannot read template"),
	    "missing template folder refused: %s", d.msg);
	free(cfg.templates);
	cfg.templates = strdup("templates");

	char *base = cfg.list.base_url;
	cfg.list.base_url = "https://news.example.com/a path";
	CHECK(render_compile(&cfg, &sec, &is, &r, &d) < 0 && strstr(d.msg, "list.base_url"),
	    "base_url with a space refused: %s", d.msg);
	cfg.list.base_url = base;
	char *id = cfg.list.id;
	cfg.list.id = "list.example.com>\r\nBcc: x@y";
	CHECK(render_compile(&cfg, &sec, &is, &r, &d) < 0 && strstr(d.msg, "list.id"),
	    "list.id with specials refused");
	cfg.list.id = id;

	free(cfg.list.from);
	cfg.list.from = strdup("Broken <news@>");
	CHECK(render_compile(&cfg, &sec, &is, &r, &d) < 0 && r == NULL && strstr(d.msg, "list.from"),
	    "bad list.from refused: %s", d.msg);

	buf_free(&want);
	buf_free(&m);
	buf_free(&m2);
	buf_free(&dec);
	config_free(&cfg);
	return check_exit();
}
