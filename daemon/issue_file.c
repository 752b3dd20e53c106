/* issue_file - read an issue file: front matter, then the Markdown body. */
#include "issue_file.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "buf.h"
#include "xalloc.h"

#define MAX_ISSUE_BYTES	(32u << 20)
#define MAX_SUBJECT	250

int
utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;

	while (p < end) {
		unsigned c = *p;
		size_t n;
		unsigned cp;

		if (c < 0x80) { p++; continue; }
		if (c >= 0xc2 && c <= 0xdf) { n = 1; cp = c & 0x1f; }
		else if (c >= 0xe0 && c <= 0xef) { n = 2; cp = c & 0x0f; }
		else if (c >= 0xf0 && c <= 0xf4) { n = 3; cp = c & 0x07; }
		else return 0;
		if ((size_t)(end - p) <= n)
			return 0;
		for (size_t i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return 0;
		p += n + 1;
	}
	return 1;
}

int
issue_file_read(const char *path, buf *out, diag *d)
{
	FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char chunk[65536];
	size_t n;

	if (fp == NULL)
		return diag_set(d, errno == ENOENT ? EX_NOINPUT : EX_NOPERM, "%s: %s",
		    path, strerror(errno));
	while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0) {
		buf_append(out, chunk, n);
		if (out->len > MAX_ISSUE_BYTES) {
			if (fp != stdin)
				fclose(fp);
			return diag_set(d, EX_DATAERR, "%s: larger than %u MB", path,
			    MAX_ISSUE_BYTES >> 20);
		}
	}
	if (ferror(fp)) {
		int e = errno;
		if (fp != stdin)
			fclose(fp);
		return diag_set(d, EX_IOERR, "%s: %s", path, strerror(e));
	}
	if (fp != stdin)
		fclose(fp);
	return 0;
}

/* Trims blanks; strips quotes, or a " #" comment when unquoted. */
static int
value(char *v, const char **why)
{
	size_t n;

	while (*v == ' ' || *v == '\t')
		memmove(v, v + 1, strlen(v));
	if (*v == '"' || *v == '\'') {
		char q = *v;
		char *close = strrchr(v + 1, q);
		if (close == NULL) {
			*why = "quoted value is not closed";
			return -1;
		}
		for (char *p = close + 1; *p; p++)
			if (*p != ' ' && *p != '\t') {
				if (*p == '#' && (p[-1] == ' ' || p[-1] == '\t' || p == close + 1))
					break;
				*why = "text after the closing quote";
				return -1;
			}
		*close = '\0';
		memmove(v, v + 1, strlen(v + 1) + 1);
		return 0;
	}
	for (char *p = v; *p; p++)
		if (*p == '#' && p > v && (p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			break;
		}
	n = strlen(v);
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		v[--n] = '\0';
	return 0;
}

int
issue_file_parse(const char *name, const char *text, size_t len, struct issue *out,
    diag *d)
{
	const char *p = text, *end = text + len, *why;
	int line = 1, have_audience = 0, cuts = 0;
	buf l = BUF_INIT;

	memset(out, 0, sizeof *out);
	out->audience = AUD_ALL;
	if (memchr(text, '\0', len))
		return diag_set(d, EX_DATAERR, "%s: contains a NUL byte (not a text file)", name);
	if (!utf8_valid(text, len))
		return diag_set(d, EX_DATAERR, "%s: not valid UTF-8", name);
	if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;

#define NEXT_LINE() do {						\
		const char *nl_ = memchr(p, '\n', (size_t)(end - p));	\
		size_t n_ = nl_ ? (size_t)(nl_ - p) : (size_t)(end - p); \
		buf_reset(&l);						\
		buf_append(&l, p, n_);					\
		if (l.len && l.data[l.len - 1] == '\r')			\
			buf_truncate(&l, l.len - 1);			\
		p = nl_ ? nl_ + 1 : end;				\
	} while (0)

	if (p >= end)
		goto missing;
	NEXT_LINE();
	if (strcmp(buf_cstr(&l), "---") != 0) {
		buf_free(&l);
		return diag_set(d, EX_DATAERR, "%s:1: expected front matter starting with "
		    "'---' (subject, preheader, audience)", name);
	}
	for (;;) {
		char *colon, *key, *val;

		if (p >= end) {
			issue_free(out);
			buf_free(&l);
			return diag_set(d, EX_DATAERR, "%s:%d: front matter not closed by '---'",
			    name, line);
		}
		NEXT_LINE();
		line++;
		if (strcmp(buf_cstr(&l), "---") == 0)
			break;
		key = l.data;
		if (l.len == 0 || key[0] == '#')
			continue;
		colon = strchr(key, ':');
		if (colon == NULL) {
			why = "expected 'key: value'";
			goto bad;
		}
		*colon = '\0';
		val = colon + 1;
		if (value(val, &why) < 0)
			goto bad;
		if (strcmp(key, "subject") == 0) {
			if (out->subject) { why = "subject given twice"; goto bad; }
			if (*val == '\0') { why = "subject is empty"; goto bad; }
			if (strlen(val) > MAX_SUBJECT) { why = "subject is longer than 250 bytes"; goto bad; }
			out->subject = xstrdup(val);
		} else if (strcmp(key, "preheader") == 0) {
			if (out->preheader) { why = "preheader given twice"; goto bad; }
			out->preheader = xstrdup(val);
		} else if (strcmp(key, "audience") == 0) {
			if (have_audience++) { why = "audience given twice"; goto bad; }
			if (issue_audience_parse(val, &out->audience) < 0) {
				issue_free(out);
				diag_set(d, EX_DATAERR, "%s:%d: audience '%s': must be all, free or paid",
				    name, line, val);
				buf_free(&l);
				return -1;
			}
		} else {
			issue_free(out);
			diag_set(d, EX_DATAERR, "%s:%d: unknown front-matter key '%s' "
			    "(known: subject, preheader, audience)", name, line, key);
			buf_free(&l);
			return -1;
		}
	}
	if (out->subject == NULL)
		goto missing;
	if (out->preheader == NULL)
		out->preheader = xstrdup("");
	out->source = xstrndup(p, (size_t)(end - p));
	/* The cut: at most once. */
	(void)issue_paywall(out->source, NULL, &cuts);
	if (cuts > 1) {
		issue_free(out);
		buf_free(&l);
		return diag_set(d, EX_DATAERR, "%s: %d paywall cuts; an issue has at most one "
		    "line '" ISSUE_PAYWALL_MARK "'", name, cuts);
	}
	for (const char *q = out->source; *q; q++)
		if (*q != ' ' && *q != '\n' && *q != '\r' && *q != '\t')
			goto body_ok;
	issue_free(out);
	buf_free(&l);
	return diag_set(d, EX_DATAERR, "%s: the issue has no body after the front matter", name);
body_ok:
	buf_free(&l);
	return 0;
#undef NEXT_LINE
missing:
	issue_free(out);
	buf_free(&l);
	return diag_set(d, EX_DATAERR, "%s: missing subject in the front matter", name);
bad:
	issue_free(out);
	buf_free(&l);
	return diag_set(d, EX_DATAERR, "%s:%d: %s", name, line, why);
}
