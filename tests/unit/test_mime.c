/* test_mime - quoted-printable, RFC 2047 words, header safety, templates,
 * Markdown to HTML and text. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "check.h"
#include "markdown.h"
#include "mime.h"
#include "template.h"

/* Every line of s ends in CRLF, none is longer than max, no bare CR/LF. */
static int
lines_ok(const char *s, size_t max)
{
	size_t col = 0;

	for (; *s; s++) {
		if (*s == '\r') {
			if (s[1] != '\n')
				return 0;
			s++;
			col = 0;
			continue;
		}
		if (*s == '\n')
			return 0;
		if (++col > max)
			return 0;
	}
	return col == 0;
}

static int
hexv(int c)
{
	return c <= '9' ? c - '0' : c - 'A' + 10;
}

/* Decodes the Q encoded-words of a header value (test-only, strict). */
static int
decode_words(const char *h, buf *out)
{
	const char *p = strchr(h, ':') + 1;

	while (*p) {
		while (*p == ' ' || *p == '\r' || *p == '\n')
			p++;
		if (*p == '\0')
			break;
		if (strncmp(p, "=?UTF-8?Q?", 10) != 0)
			return -1;
		const char *e = strstr(p + 10, "?=");
		if (e == NULL || e - p + 2 > 75)
			return -1;
		/* a word must hold whole UTF-8 sequences */
		buf w = BUF_INIT;
		for (const char *q = p + 10; q < e; q++) {
			if (*q == '_')
				buf_putc(&w, ' ');
			else if (*q == '=') {
				buf_putc(&w, (char)(hexv(q[1]) << 4 | hexv(q[2])));
				q += 2;
			} else
				buf_putc(&w, *q);
		}
		int cont = 0;
		for (size_t i = 0; i < w.len; i++) {
			unsigned char c = (unsigned char)w.data[i];
			if (cont) {
				if ((c & 0xC0) != 0x80)
					return -1;
				cont--;
			} else if (c >= 0xF0) cont = 3;
			else if (c >= 0xE0) cont = 2;
			else if (c >= 0xC0) cont = 1;
		}
		if (cont)
			return -1;
		buf_append(out, w.data ? w.data : "", w.len);
		buf_free(&w);
		p = e + 2;
	}
	return 0;
}

static void
test_qp(void)
{
	buf b = BUF_INIT, d = BUF_INIT;

	mime_qp_encode(&b, "a=b\n", 4);
	CHECK_STR(b.data, "a=3Db\r\n", "qp: '=' encoded, LF becomes CRLF");
	buf_reset(&b);
	mime_qp_encode(&b, "end \nx\t\n", 8);
	CHECK_STR(b.data, "end=20\r\nx=09\r\n", "qp: white space before a line end encoded");
	buf_reset(&b);
	mime_qp_encode(&b, ".dot\nFrom me\nFrom\n", 18);
	CHECK_STR(b.data, "=2Edot\r\n=46rom me\r\nFrom\r\n", "qp: leading '.' and 'From ' encoded");
	buf_reset(&b);
	mime_qp_encode(&b, "no newline", 10);
	CHECK_STR(b.data, "no newline=\r\n", "qp: open line closed by a soft break");

	buf src = BUF_INIT;
	for (int i = 0; i < 400; i++)
		buf_puts(&src, i % 7 ? "’" : "word ");
	buf_puts(&src, "\n");
	for (int i = 0; i < 3000; i++)
		buf_putc(&src, "ab =\t\x01\xff"[i % 7]);
	buf_reset(&b);
	mime_qp_encode(&b, src.data, src.len);
	CHECK(lines_ok(b.data, 76), "qp: every line <= 76 octets and CRLF");
	int split = 0;
	for (const char *p = b.data; (p = strstr(p, "=\r\n")); p += 3) {
		/* the byte after a soft break must not be a continuation byte */
		if (strncmp(p + 3, "=8", 2) == 0 || strncmp(p + 3, "=9", 2) == 0 ||
		    strncmp(p + 3, "=A", 2) == 0 || strncmp(p + 3, "=B", 2) == 0)
			split = 1;
	}
	CHECK(!split, "qp: no UTF-8 sequence split over a soft break");
	mime_qp_decode(&d, b.data, b.len);
	CHECK(d.len == src.len && memcmp(d.data, src.data, d.len) == 0,
	    "qp: decode(encode(x)) == x for %zu bytes", src.len);

	/* Segments spliced at column 0 decode to the concatenation. */
	struct mime_qp q;
	buf_reset(&b);
	buf_reset(&d);
	mime_qp_init(&q, &b);
	mime_qp_put(&q, "Hi ", 3);
	mime_qp_end(&q);
	mime_qp_put(&q, "Zoë", 4);
	mime_qp_end(&q);
	mime_qp_put(&q, ",\n", 2);
	mime_qp_end(&q);
	mime_qp_decode(&d, b.data, b.len);
	CHECK_STR(d.data, "Hi Zoë,\n", "qp: spliced segments decode to the whole");
	buf_free(&b);
	buf_free(&d);
	buf_free(&src);
}

static void
test_headers(void)
{
	buf b = BUF_INIT, d = BUF_INIT;
	const char *subj = "Growth Dragons Weekly: DeepSeek’s AI Disruption, Alibaba’s "
	    "Robot Spectacle, and China’s Memory Chip Strides — “quoted”";

	mime_header_text(&b, "Subject", "Plain subject");
	CHECK_STR(b.data, "Subject: Plain subject\r\n", "header: ASCII subject as is");
	buf_reset(&b);
	mime_header_text(&b, "Subject", subj);
	CHECK(strncmp(b.data, "Subject: =?UTF-8?Q?", 19) == 0, "header: non-ASCII as encoded-words");
	CHECK(lines_ok(b.data, 78), "header: folded within 78 columns");
	CHECK(decode_words(b.data, &d) == 0 && strcmp(buf_cstr(&d), subj) == 0,
	    "header: words <= 75, whole UTF-8 each, decode to the subject");

	buf_reset(&b);
	mime_header_text(&b, "Subject", "Hi\r\nBcc: victim@example.com\n\nbody");
	CHECK(strstr(b.data, "\r\nB") == NULL && strstr(b.data, "\n\n") == NULL &&
	    lines_ok(b.data, 998), "header: CR/LF in a value cannot start a header");
	CHECK_STR(b.data, "Subject: Hi Bcc: victim@example.com body\r\n",
	    "header: control bytes become one space");

	buf_reset(&b);
	mime_phrase(&b, "John Smith");
	CHECK_STR(b.data, "John Smith", "phrase: atoms as they are");
	buf_reset(&b);
	mime_phrase(&b, "Joe \"The Man\" O'Neil, Jr.\\");
	CHECK_STR(b.data, "\"Joe \\\"The Man\\\" O'Neil, Jr.\\\\\"", "phrase: specials quoted and escaped");
	buf_reset(&b);
	mime_phrase(&b, "Jürgen “J” Müller");
	CHECK(strncmp(b.data, "=?UTF-8?Q?J=C3=BCrgen_", 22) == 0, "phrase: non-ASCII encoded (%s)", b.data);
	buf_reset(&b);
	mime_mailbox(&b, "Eve\r\nBcc: x@evil.com", "eve@example.com");
	CHECK_STR(b.data, "\"Eve Bcc: x@evil.com\" <eve@example.com>", "mailbox: injected header becomes a quoted name");
	buf_reset(&b);
	mime_mailbox(&b, "", "a@b.example");
	CHECK_STR(b.data, "a@b.example", "mailbox: no name, bare address");
	buf_reset(&b);
	buf long_name = BUF_INIT;
	for (int i = 0; i < 300; i++)
		buf_putc(&long_name, 'x');
	mime_phrase(&b, long_name.data);
	buf line = BUF_INIT;
	buf_puts(&line, "To: ");
	buf_append(&line, b.data, b.len);
	buf_reset(&b);
	mime_header_raw(&b, "To", line.data + 4);
	CHECK(lines_ok(b.data, 78), "header: a 300-character name still folds within 78");
	buf_free(&long_name);
	buf_free(&line);

	CHECK(mime_addr_ok("reader@example.com"), "addr: plain ok");
	CHECK(mime_addr_ok("first.last+tag@sub.example.co.uk"), "addr: dots and plus ok");
	CHECK(!mime_addr_ok("a@b.com\r\nBcc: c@d.com"), "addr: CRLF refused");
	CHECK(!mime_addr_ok("a b@c.com"), "addr: space refused");
	CHECK(!mime_addr_ok("<a@b.com>"), "addr: angle brackets refused");
	CHECK(!mime_addr_ok("a@@b.com") && !mime_addr_ok("@b.com") && !mime_addr_ok("a@"),
	    "addr: malformed refused");
	CHECK(!mime_addr_ok("a..b@c.com") && !mime_addr_ok("a@b..com"), "addr: empty labels refused");

	buf n = BUF_INIT, a = BUF_INIT;
	CHECK(mime_addr_parse("Growth Dragons <news@example.com>", &n, &a) == 0 &&
	    strcmp(n.data, "Growth Dragons") == 0 && strcmp(a.data, "news@example.com") == 0,
	    "addr_parse: name and address");
	buf_reset(&n); buf_reset(&a);
	CHECK(mime_addr_parse("\"Q, \\\"Inc\\\"\" <q@example.com>", &n, &a) == 0 &&
	    strcmp(n.data, "Q, \"Inc\"") == 0, "addr_parse: quoted name unquoted");
	buf_reset(&n); buf_reset(&a);
	CHECK(mime_addr_parse("news@example.com", &n, &a) == 0 && n.len == 0, "addr_parse: bare address");
	buf_reset(&n); buf_reset(&a);
	CHECK(mime_addr_parse("Bad <news@>", &n, &a) < 0, "addr_parse: invalid address refused");
	buf_free(&n); buf_free(&a);
	buf_free(&b);
	buf_free(&d);
}

static void
test_template(void)
{
	struct template *t;
	diag d = DIAG_INIT;
	const char *src = "Hi {{name|there}},\n{{ content }} {{unsubscribe_url}}";

	CHECK(template_parse("t.txt", src, strlen(src), &t, &d) == 0, "template: parses");
	CHECK(t && t->npieces == 6, "template: 6 pieces (%zu)", t ? t->npieces : 0);
	CHECK(t && t->pieces[1].slot == SLOT_NAME && strcmp(t->pieces[1].fallback, "there") == 0,
	    "template: slot with fallback");
	CHECK(t && t->pieces[3].slot == SLOT_CONTENT && t->pieces[3].line == 2 &&
	    t->pieces[3].col == 1, "template: slot position line 2 col 1");
	CHECK(t && !t->html, "template: .txt is text");
	template_free(t);

	src = "<p>ok</p>\n  <b>{{nmae}}</b>";
	CHECK(template_parse("x/layout.html", src, strlen(src), &t, &d) < 0 && t == NULL,
	    "template: unknown slot refused");
	CHECK(strstr(d.msg, "x/layout.html:2:6: unknown slot 'nmae'") != NULL, "template error: %s", d.msg);
	src = "ü {{name";
	CHECK(template_parse("l.txt", src, strlen(src), &t, &d) < 0 &&
	    strstr(d.msg, "l.txt:1:3: '{{' without a closing '}}'"), "template: unclosed: %s", d.msg);
	src = "a\n{{ |x}}";
	CHECK(template_parse("l.txt", src, strlen(src), &t, &d) < 0 &&
	    strstr(d.msg, "l.txt:2:1: empty slot"), "template: empty slot: %s", d.msg);
	src = "{{name\n}}";
	CHECK(template_parse("l.txt", src, strlen(src), &t, &d) < 0, "template: slot over two lines refused");
	CHECK(template_load("/nonexistent", "layout.html", &t, &d) < 0 &&
	    strstr(d.msg, "/nonexistent/layout.html: cannot read template"), "template: missing file: %s", d.msg);
}

struct links_seen {
	char	slug[4][32];
	int	line[4];
	int	n;
};

static int
collect_link(const char *slug, int line, void *arg)
{
	struct links_seen *ls = arg;

	if (ls->n < 4) {
		snprintf(ls->slug[ls->n], sizeof ls->slug[0], "%s", slug);
		ls->line[ls->n++] = line;
	}
	return 0;
}

static void
test_markdown(void)
{
	buf h = BUF_INIT, t = BUF_INIT;
	diag d = DIAG_INIT;
	const char *md = "# Title\n\nSee [the site](https://example.com/?a=1&b=2) "
	    "and <script>alert(1)</script> <b>bold</b> [x](javascript:alert(1)).\n\n"
	    "<div>block</div>\n\n| a | b |\n|---|---|\n| 1 | ~~2~~ |\n\n"
	    "- one\n- two\n\nhttps://auto.example.org/path\n";

	CHECK(markdown_render(md, strlen(md), 0, &h, &t, &d) == 0, "markdown: renders");
	CHECK(strstr(h.data, "&lt;script&gt;") && !strstr(h.data, "<script"), "markdown: raw inline HTML escaped");
	CHECK(strstr(h.data, "&lt;div&gt;block&lt;/div&gt;") != NULL, "markdown: raw HTML block escaped");
	CHECK(!strstr(h.data, "javascript:"), "markdown: javascript: link dropped");
	CHECK(strstr(h.data, "<table style=") && strstr(h.data, "<del>2</del>"), "markdown: GFM table and strikethrough");
	CHECK(strstr(h.data, "<a style=\"color:#1a73e8;text-decoration:underline\" href=\"https://auto.example.org/path\">"),
	    "markdown: autolink, inline style");
	CHECK(strstr(t.data, "Title\n=====\n") != NULL, "text: heading underlined");
	CHECK(strstr(t.data, "the site <https://example.com/?a=1&b=2>") != NULL, "text: link as text <url>");
	CHECK(strstr(t.data, "<script>alert(1)</script>") != NULL, "text: raw HTML shown as text");
	CHECK(strstr(t.data, "- one\n- two\n") != NULL, "text: tight list");
	CHECK(strstr(t.data, "a | b\n-----\n1 | 2\n") != NULL, "text: table rows");
	CHECK(strstr(t.data, "\nhttps://auto.example.org/path\n") != NULL, "text: autolink once");

	buf_reset(&h);
	buf_reset(&t);
	CHECK(markdown_render(md, strlen(md), 1, &h, &t, &d) == 0 &&
	    strstr(h.data, "<b>bold</b>") && strstr(h.data, "<div>block</div>") &&
	    strstr(t.data, "bold") && !strstr(t.data, "<b>"), "markdown: allow_html passes raw HTML through");

	/* issue:SLUG links: made archive URLs, listed with their lines */
	{
		const char *il = "Intro.\n\nSee [the rise](issue:deepseek-rise) and\n"
		    "[TikTok](ISSUE:tiktok-ban \"t\"), not [this](https://x.org/issue:no).\n\n"
		    "    [code](issue:in-code)\n";
		buf_reset(&h);
		buf_reset(&t);
		CHECK(markdown_render_site(il, strlen(il), 0, "https://news.example.com/p/", &h, &t,
		    &d) == 0 && strstr(h.data, "href=\"https://news.example.com/p/deepseek-rise\"") &&
		    strstr(t.data, "the rise <https://news.example.com/p/deepseek-rise>") &&
		    strstr(h.data, "href=\"https://news.example.com/p/tiktok-ban\"") &&
		    !strstr(h.data, "\"issue:") && strstr(h.data, "https://x.org/issue:no") &&
		    strstr(h.data, "[code](issue:in-code)"),
		    "markdown: issue:SLUG links become the archive URL (any case), others and code stay");
		struct links_seen ls = { { "" }, { 0 }, 0 };
		CHECK(markdown_issue_links(il, strlen(il), collect_link, &ls, &d) == 0 && ls.n == 2 &&
		    strcmp(ls.slug[0], "deepseek-rise") == 0 && ls.line[0] == 3 &&
		    strcmp(ls.slug[1], "tiktok-ban") == 0 && ls.line[1] == 4,
		    "markdown: issue links listed with their lines (%d: %s %d, %s %d)", ls.n,
		    ls.slug[0], ls.line[0], ls.slug[1], ls.line[1]);
	}

	/* wrapping: no text line over 72 columns (characters) */
	buf big = BUF_INIT;
	for (int i = 0; i < 200; i++)
		buf_puts(&big, "DeepSeek’s “model” — wraps ");
	buf_puts(&big, "\n\n> ");
	for (int i = 0; i < 50; i++)
		buf_puts(&big, "quoted words here ");
	buf_reset(&t);
	markdown_render(big.data, big.len, 0, NULL, &t, &d);
	int over = 0;
	for (char *line = t.data; line && *line;) {
		char *nl = strchr(line, '\n');
		size_t n = 0;
		for (char *c = line; c < nl; c++)
			if (((unsigned char)*c & 0xC0) != 0x80)
				n++;
		if (n > 72)
			over = 1;
		line = nl + 1;
	}
	CHECK(!over && strstr(t.data, "\n> quoted"), "text: wrapped at 72 columns, quote prefixed");
	buf_free(&big);
	buf_free(&h);
	buf_free(&t);
}

int
main(void)
{
	test_qp();
	test_headers();
	test_template();
	test_markdown();
	return check_exit();
}
