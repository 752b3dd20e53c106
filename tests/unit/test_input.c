/* test_input - address validation, the CSV reader and issue files. */
#include <stdlib.h>

#include "address.h"
#include "buf.h"
#include "check.h"
#include "csv.h"
#include "issue_file.h"

static void
addresses(void)
{
	char out[ADDRESS_MAX + 1], big[400];
	const char *why;
	static const char *bad[] = {
		"", "plain", "@example.com", "a@", "a@b", "a..b@example.com", ".a@example.com",
		"a.@example.com", "a b@example.com", "a@exa_mple.com", "a@-example.com",
		"a@example-.com", "a@example..com", "\"q\"@example.com", "a@[127.0.0.1]",
		"zo\xc3\xab@example.com", "a@example.com.", "a\n@example.com", "a<b>@example.com",
	};

	CHECK(address_normalize("Ada.Lovelace+news@Example.COM", out, &why) == 0,
	    "plain address with plus and mixed case");
	CHECK_STR(out, "ada.lovelace+news@example.com",
	    "the key is the whole address in lower case: one person, one address (issue 15)");
	CHECK(address_normalize("o'brien@example.com", out, &why) == 0, "apostrophe allowed");
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(address_normalize(bad[i], out, &why) < 0, "rejects bad address %zu (%s)", i,
		    why);
	memset(big, 'a', 65);
	strcpy(big + 65, "@example.com");
	CHECK(address_normalize(big, out, &why) < 0 && strstr(why, "64"), "local part > 64");
	memset(big, 'a', 64);
	big[64] = '@';
	for (int i = 0; i < 4; i++)
		memcpy(big + 65 + i * 50, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.", 50);
	strcpy(big + 265, "com");
	CHECK(address_normalize(big, out, &why) < 0 && strstr(why, "254"), "address > 254");
	CHECK(address_from_mailbox("Growth Dragons <news@example.com>", out) == 0 &&
	    strcmp(out, "news@example.com") == 0, "address of a mailbox");
}

static void
csv(void)
{
	const char *data = "email,name\r\n\"a@x.com\",\"Doe, \"\"J\"\"\"\nb@x.com,\"two\nlines\"\n\nc@x.com,\n";
	struct csv c;
	struct csv_record r;
	const char *why;
	buf out = BUF_INIT;

	csv_open(&c, data, strlen(data));
	CHECK(csv_next(&c, &r, &why) == 1 && r.nfields == 2 && r.line == 1, "header");
	CHECK(csv_next(&c, &r, &why) == 1 && strcmp(r.fields[1], "Doe, \"J\"") == 0,
	    "quoted field with comma and doubled quotes");
	CHECK(csv_next(&c, &r, &why) == 1 && r.line == 3 && strcmp(r.fields[1], "two\nlines") == 0,
	    "field across lines keeps its start line");
	CHECK(csv_next(&c, &r, &why) == 1 && r.line == 6 && r.nfields == 2 && r.fields[1][0] == 0,
	    "blank line skipped; empty last field");
	CHECK(csv_next(&c, &r, &why) == 0, "end");
	csv_close(&c);

	csv_open(&c, "a,\"b\"x\n", 7);
	CHECK(csv_next(&c, &r, &why) < 0 && strstr(why, "closing quote"), "text after quote");
	csv_close(&c);
	csv_open(&c, "a,\"open\n", 8);
	CHECK(csv_next(&c, &r, &why) < 0 && strstr(why, "not closed"), "unclosed quote");
	csv_close(&c);

	csv_field(&out, "O'Brien, Pat");
	buf_putc(&out, ',');
	csv_field(&out, "say \"hi\"");
	CHECK_STR(buf_cstr(&out), "\"O'Brien, Pat\",\"say \"\"hi\"\"\"", "csv_field quotes");
	buf_free(&out);
}

/* A stream read in 256 KB chunks gives the same records, fields and line
 * numbers as the same bytes in memory, whatever falls on a chunk boundary
 * (quoted fields with "" and line breaks, CRLF), and names the bad line
 * far into the file. */
static void
csv_stream(void)
{
	buf data = BUF_INIT;
	struct csv a, b;
	struct csv_record ra, rb;
	const char *why_a, *why_b;
	FILE *fp;
	int same = 1, n = 0, ra_rc, rb_rc;

	buf_puts(&data, "\xef\xbb\xbf" "email,name\r\n");
	for (int i = 0; i < 30000; i++)
		buf_printf(&data, i % 7 == 0 ? "r%d@x.com,\"Doe, \"\"J\"\"\nline %d\"\r\n" :
		    "r%d@x.com,Reader %d\n", i, i);
	buf_puts(&data, "late@x.com,\"bad\"x\n");
	fp = tmpfile();
	CHECK(fp && fwrite(data.data, 1, data.len, fp) == data.len && data.len > 3 * 262144,
	    "a CSV of %zu bytes (several chunks)", data.len);
	if (!fp) {
		buf_free(&data);
		return;
	}
	rewind(fp);
	csv_open(&a, data.data, data.len);
	csv_open_file(&b, fp);
	do {
		ra_rc = csv_next(&a, &ra, &why_a);
		rb_rc = csv_next(&b, &rb, &why_b);
		if (ra_rc != rb_rc || (ra_rc == 1 && (ra.line != rb.line || ra.nfields != rb.nfields ||
		    strcmp(ra.fields[0], rb.fields[0]) != 0 || strcmp(ra.fields[1], rb.fields[1]) != 0)))
			same = 0;
		n += ra_rc == 1;
	} while (same && ra_rc == 1);
	CHECK(same && n == 30001, "streamed records are the in-memory ones (%d)", n);
	CHECK(rb_rc < 0 && strstr(why_b, "closing quote") && rb.line == ra.line &&
	    ra.line == 1 + 30000 + (30000 + 6) / 7 + 1, "the bad last line is named: %d", rb.line);
	csv_close(&a);
	csv_close(&b);
	fclose(fp);
	buf_free(&data);
}

static void
issue_files(void)
{
	static const struct { const char *text, *want; } bad[] = {
		{ "no front matter\n", "t.md:1: expected front matter" },
		{ "---\nsubject: x\n", "front matter not closed" },
		{ "---\npreheader: p\n---\nbody\n", "missing subject" },
		{ "---\nsubject: x\ncolour: red\n---\nbody\n", "t.md:3: unknown front-matter key 'colour'" },
		{ "---\nsubject: x\naudience: everyone\n---\nbody\n", "t.md:3: audience 'everyone'" },
		{ "---\nsubject: \"x\n---\nbody\n", "t.md:2: quoted value is not closed" },
		{ "---\nsubject: x\n---\n\n  \n", "no body" },
		{ "---\nsubject: x\n---\na\n<!-- paywall -->\nb\n<!-- paywall -->\n", "2 paywall cuts" },
		{ "---\nsubject: \xff\n---\nbody\n", "not valid UTF-8" },
		{ "---\nsubject:\n---\nbody\n", "subject is empty" },
	};
	struct issue is;
	diag d = DIAG_INIT;
	const char *good = "---\nsubject: \"Weekly #12: DeepSeek\xe2\x80\x99s AI\"  # quoted\n"
	    "preheader: one line\naudience: paid   # all | free | paid\n---\nHello\n\n"
	    "<!-- paywall -->\nMore\n";

	CHECK(issue_file_parse("t.md", good, strlen(good), &is, &d) == 0, "good issue parses");
	CHECK_STR(is.subject, "Weekly #12: DeepSeek\xe2\x80\x99s AI", "quoted subject keeps '#'");
	CHECK_STR(is.preheader, "one line", "preheader");
	CHECK(is.audience == AUD_PAID, "audience with comment");
	CHECK_STR(is.source, "Hello\n\n<!-- paywall -->\nMore\n", "body after front matter");
	issue_free(&is);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = issue_file_parse("t.md", bad[i].text, strlen(bad[i].text), &is, &d);
		CHECK(rc < 0 && d.code == 65 && strstr(d.msg, bad[i].want),
		    "bad issue file %zu: %s", i, d.msg);
	}
	CHECK(utf8_valid("\xe2\x80\x99", 3) && !utf8_valid("\xe2\x80", 2) &&
	    !utf8_valid("\xc0\xaf", 2) && !utf8_valid("\xed\xa0\x80", 3), "utf8_valid");
}

/* Where the cut is: one finder for the parser, the renderer and the CLI. */
static void
paywall_lines(void)
{
	static const struct { const char *src; int at, count; } cases[] = {
		{ "a\n<!-- paywall -->\nb\n", 2, 1 },
		{ "<!-- paywall -->", 0, 1 },				/* no newline at all */
		{ "a\n   <!-- paywall -->  \r\nb\n", 2, 1 },	/* 3 spaces, blanks, CRLF */
		{ "a\n    <!-- paywall -->\nb\n", -1, 0 },		/* 4 spaces: code */
		{ "a\nsee <!-- paywall --> here\nb\n", -1, 0 },	/* inside a line */
		{ "a\n<!-- paywall --> x\nb\n", -1, 0 },		/* more on the line */
		{ "```md\n<!-- paywall -->\n```\nafter\n", -1, 0 },	/* shown in code */
		{ "~~~~\n<!-- paywall -->\n~~~\nstill code\n~~~~\n<!-- paywall -->\n", 42, 1 },
		{ "```\n<!-- paywall -->\n```  \n<!-- paywall -->\nb\n", 27, 1 },
		{ "``not a fence``\n<!-- paywall -->\n", 16, 1 },
		{ "```\nnever closed\n<!-- paywall -->\n", -1, 0 },
		{ "x\n<!-- paywall -->\ny\n<!-- paywall -->\n", 2, 2 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *after = NULL;
		int count = -1;
		const char *cut = issue_paywall(cases[i].src, &after, &count);
		int at = cut ? (int)(cut - cases[i].src) : -1;
		CHECK(at == cases[i].at && count == cases[i].count &&
		    (!cut || (after > cut && (after[-1] == '\n' || *after == '\0'))),
		    "paywall line %zu: at %d (want %d), %d of them (want %d)", i, at,
		    cases[i].at, count, cases[i].count);
	}
}

int
main(void)
{
	addresses();
	csv();
	csv_stream();
	issue_files();
	paywall_lines();
	return check_exit();
}
