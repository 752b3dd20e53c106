/* mime - the bytes of a message: quoted-printable, RFC 2047 words, headers. */
#include "mime.h"

#include <string.h>

static const char hex[] = "0123456789ABCDEF";

void
mime_qp_init(struct mime_qp *q, buf *out)
{
	q->out = out;
	q->col = 0;
}

/* Length of the UTF-8 sequence starting at s[0] when it is complete and
 * valid within n bytes; 1 otherwise (the byte is then encoded alone). */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	size_t l;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xE0) == 0xC0 && s[0] >= 0xC2)
		l = 2;
	else if ((s[0] & 0xF0) == 0xE0)
		l = 3;
	else if ((s[0] & 0xF8) == 0xF0 && s[0] <= 0xF4)
		l = 4;
	else
		return 1;
	if (l > n)
		return 1;
	for (size_t i = 1; i < l; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 1;
	return l;
}

void
mime_qp_put(struct mime_qp *q, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	buf *out = q->out;
	int col = q->col;
	size_t i = 0;

	/* Worst case: every byte as "=XX" plus a soft break per 16 bytes. */
	buf_reserve(out, n * 3 + (n / 16 + 2) * 3);
	char *w = out->data + out->len;

	while (i < n) {
		unsigned char c = s[i];
		size_t take = 1, enc;
		int lit;

		if (c == '\n' || (c == '\r' && i + 1 < n && s[i + 1] == '\n')) {
			*w++ = '\r';
			*w++ = '\n';
			col = 0;
			i += c == '\r' ? 2 : 1;
			continue;
		}
		if (c >= 0x80) {
			take = utf8_len(s + i, n - i);
			lit = 0;
		} else if (c == ' ' || c == '\t') {
			/* White space before a line end (or at the end of this
			 * piece, whose follower is unknown) is encoded. */
			lit = i + 1 < n && s[i + 1] != '\n' && s[i + 1] != '\r';
		} else if (c > 32 && c < 127 && c != '=') {
			lit = 1;
			if (col == 0 && c == '.')
				lit = 0;
			if (col == 0 && c == 'F' && n - i >= 5 &&
			    memcmp(s + i, "From ", 5) == 0)
				lit = 0;
		} else {
			lit = 0;
		}
		enc = lit ? 1 : take * 3;
		if (col + (int)enc > MIME_QP_MAX - 1) {
			*w++ = '=';
			*w++ = '\r';
			*w++ = '\n';
			col = 0;
			if (c == '.' || c == 'F')
				continue;	/* re-decide at column 0 */
		}
		if (lit) {
			*w++ = (char)c;
		} else {
			for (size_t k = 0; k < take; k++) {
				*w++ = '=';
				*w++ = hex[s[i + k] >> 4];
				*w++ = hex[s[i + k] & 15];
			}
		}
		col += (int)enc;
		i += take;
	}
	out->len = (size_t)(w - out->data);
	out->data[out->len] = '\0';
	q->col = col;
}

void
mime_qp_end(struct mime_qp *q)
{
	if (q->col > 0) {
		buf_append(q->out, "=\r\n", 3);
		q->col = 0;
	}
}

void
mime_qp_encode(buf *out, const char *s, size_t n)
{
	struct mime_qp q;

	mime_qp_init(&q, out);
	mime_qp_put(&q, s, n);
	mime_qp_end(&q);
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

void
mime_qp_decode(buf *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '=') {
			if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
				continue;	/* CRLF -> LF */
			buf_putc(out, s[i]);
			continue;
		}
		if (i + 2 < n && s[i + 1] == '\r' && s[i + 2] == '\n') {
			i += 2;
		} else if (i + 1 < n && s[i + 1] == '\n') {
			i += 1;
		} else if (i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			buf_putc(out, (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2])));
			i += 2;
		} else if (i + 1 < n) {
			buf_putc(out, '=');
		}
	}
}

void
mime_clean(buf *out, const char *s)
{
	size_t start = out->len;
	int space = 1;		/* drop leading white space */

	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 32 || c == 127 || c == ' ') {
			if (!space)
				buf_putc(out, ' ');
			space = 1;
			continue;
		}
		buf_putc(out, (char)c);
		space = 0;
	}
	if (out->len > start && out->data[out->len - 1] == ' ')
		buf_truncate(out, out->len - 1);
}

void
mime_fold(buf *out, const char *line, size_t len, size_t namelen)
{
	size_t pos = 0;

	while (len - pos > MIME_FOLD_AT) {
		size_t brk = 0, lo = pos == 0 ? namelen + 2 : pos + 1;
		for (size_t i = pos + MIME_FOLD_AT; i > lo; i--)
			if (line[i] == ' ') {
				brk = i;
				break;
			}
		if (brk == 0)
			for (size_t i = pos + MIME_FOLD_AT + 1; i < len; i++)
				if (line[i] == ' ') {
					brk = i;
					break;
				}
		if (brk == 0)
			break;
		buf_append(out, line + pos, brk - pos);
		buf_append(out, "\r\n", 2);
		pos = brk;		/* the space leads the next line */
	}
	buf_append(out, line + pos, len - pos);
	buf_append(out, "\r\n", 2);
}

void
mime_header_raw(buf *out, const char *name, const char *value)
{
	buf line = BUF_INIT;

	buf_puts(&line, name);
	buf_puts(&line, ": ");
	mime_clean(&line, value);
	mime_fold(out, line.data, line.len, strlen(name));
	buf_free(&line);
}

/* Characters RFC 2047 5(3) lets stand for themselves inside a phrase; the
 * strictest context, so the same words serve Subject and display names. */
static int
q_safe(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '!' || c == '*' || c == '+' ||
	    c == '-' || c == '/';
}

/* Needs encoded-words: non-ASCII, something that looks like one, or a word
 * too long to fold. */
static int
needs_words(const char *s)
{
	size_t word = 0;

	if (strstr(s, "=?"))
		return 1;
	for (; *s; s++) {
		if ((unsigned char)*s >= 0x80)
			return 1;
		word = *s == ' ' ? 0 : word + 1;
		if (word > 60)
			return 1;
	}
	return 0;
}

/* Appends s as Q encoded-words of at most 75 octets, separated by a space,
 * never splitting a UTF-8 sequence. `first` is the room left on the current
 * line for the first word (a shorter first word keeps the line within 78),
 * `rest` the length of the others. */
static void
encoded_words(buf *out, const char *str, size_t n, size_t first, size_t rest)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, room = first;
	const size_t over = 12;		/* "=?UTF-8?Q?" + "?=" */

	if (room < over + 9)
		room = 75;
	while (i < n) {
		size_t used = over;
		if (i > 0)
			buf_putc(out, ' ');
		buf_puts(out, "=?UTF-8?Q?");
		while (i < n) {
			size_t l = utf8_len(s + i, n - i), e;
			e = (l == 1 && (q_safe(s[i]) || s[i] == ' ')) ? 1 : 3 * l;
			if (used + e > room && used > over)
				break;
			for (size_t k = 0; k < l; k++) {
				unsigned char c = s[i + k];
				if (e == 1)
					buf_putc(out, c == ' ' ? '_' : (char)c);
				else {
					buf_putc(out, '=');
					buf_putc(out, hex[c >> 4]);
					buf_putc(out, hex[c & 15]);
				}
			}
			used += e;
			i += l;
		}
		buf_puts(out, "?=");
		room = rest;
	}
}

void
mime_header_text(buf *out, const char *name, const char *value)
{
	buf v = BUF_INIT, line = BUF_INIT;

	mime_clean(&v, value);
	buf_puts(&line, name);
	buf_puts(&line, ": ");
	if (needs_words(buf_cstr(&v)))
		encoded_words(&line, buf_cstr(&v), v.len, MIME_FOLD_AT - line.len, 75);
	else
		buf_append(&line, v.data, v.len);
	mime_fold(out, buf_cstr(&line), line.len, strlen(name));
	buf_free(&v);
	buf_free(&line);
}

static int
atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* A word that can stand as an atom: atext only, nothing like "=?". */
static int
plain_word(const char *p, const char *e)
{
	if (e - p > 60)
		return 0;
	for (const char *q = p; q < e; q++) {
		if (!atext((unsigned char)*q))
			return 0;
		if (q[0] == '=' && q + 1 < e && q[1] == '?')
			return 0;
	}
	return 1;
}

static const char *
word_end(const char *p)
{
	while (*p && *p != ' ')
		p++;
	return p;
}

/* Non-ASCII phrase: atoms stay as they are, each run of words that need
 * encoding becomes encoded-words with its inner spaces inside them (white
 * space between two encoded-words is not text, RFC 2047 6.2). */
static void
phrase_words(buf *out, const char *v)
{
	const char *p = v;
	int first = 1;

	while (*p) {
		const char *e = word_end(p);
		if (!first)
			buf_putc(out, ' ');
		first = 0;
		if (plain_word(p, e)) {
			buf_append(out, p, (size_t)(e - p));
		} else {
			while (*e == ' ' && e[1] && !plain_word(e + 1, word_end(e + 1)))
				e = word_end(e + 1);
			/* 66: fits a line after any header name we write ("List-Id: "). */
			encoded_words(out, p, (size_t)(e - p), 66, 66);
		}
		p = *e ? e + 1 : e;
	}
}

static void phrase(buf *out, const char *name, int quote);

void
mime_phrase(buf *out, const char *name)
{
	phrase(out, name, 0);
}

void
mime_phrase_quoted(buf *out, const char *name)
{
	phrase(out, name, 1);
}

/* 1 when mime_clean would leave s as it is (the common case: no copy). */
static int
is_clean(const char *s)
{
	if (*s == ' ')
		return 0;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 32 || c == 127 || (c == ' ' && (s[1] == ' ' || s[1] == '\0')))
			return 0;
	}
	return 1;
}

static void
phrase(buf *out, const char *name, int quote)
{
	buf v = BUF_INIT;
	const char *val = name ? name : "";
	size_t len;
	int plain = !quote;

	if (!is_clean(val)) {
		mime_clean(&v, val);
		val = buf_cstr(&v);
	}
	len = strlen(val);
	if (len == 0) {
		buf_free(&v);
		return;
	}
	if (needs_words(val)) {
		phrase_words(out, val);
		buf_free(&v);
		return;
	}
	for (size_t i = 0; i < len; i++)
		if (val[i] != ' ' && !atext((unsigned char)val[i]))
			plain = 0;
	if (plain) {
		buf_append(out, val, len);
	} else {
		buf_putc(out, '"');
		for (size_t i = 0; i < len; i++) {
			if (val[i] == '"' || val[i] == '\\')
				buf_putc(out, '\\');
			buf_putc(out, val[i]);
		}
		buf_putc(out, '"');
	}
	buf_free(&v);
}

void
mime_mailbox(buf *out, const char *name, const char *addr)
{
	size_t before = out->len;

	mime_phrase(out, name);
	if (out->len == before) {
		buf_puts(out, addr);
		return;
	}
	buf_puts(out, " <");
	buf_puts(out, addr);
	buf_putc(out, '>');
}

int
mime_addr_ok(const char *addr)
{
	const char *at = strchr(addr, '@');
	size_t len = strlen(addr);

	if (at == NULL || strchr(at + 1, '@') || len > 254)
		return 0;
	size_t local = (size_t)(at - addr);
	if (local == 0 || local > 64 || addr[0] == '.' || at[-1] == '.')
		return 0;
	for (const char *p = addr; p < at; p++) {
		if (*p == '.' && p[1] == '.')
			return 0;
		if (*p != '.' && !atext((unsigned char)*p))
			return 0;
	}
	const char *dom = at + 1;
	if (*dom == '\0' || *dom == '.' || addr[len - 1] == '.' || addr[len - 1] == '-')
		return 0;
	for (const char *p = dom; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (*p == '.' && p[1] == '.')
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.'))
			return 0;
	}
	return 1;
}

int
mime_addr_parse(const char *s, buf *name, buf *addr)
{
	buf t = BUF_INIT;
	const char *lt;
	int rc = 0;

	mime_clean(&t, s);
	lt = strrchr(buf_cstr(&t), '<');
	if (lt && t.len > 0 && t.data[t.len - 1] == '>') {
		size_t start = addr->len;
		const char *p = t.data, *e = lt;
		buf_append(addr, lt + 1, t.len - (size_t)(lt - t.data) - 2);
		if (!mime_addr_ok(addr->data + start))
			rc = -1;
		while (e > p && e[-1] == ' ')
			e--;
		if (e - p >= 2 && *p == '"' && e[-1] == '"') {
			for (p++, e--; p < e; p++) {
				if (*p == '\\' && p + 1 < e)
					p++;
				buf_putc(name, *p);
			}
		} else {
			buf_append(name, p, (size_t)(e - p));
		}
	} else {
		buf_append(addr, t.data ? t.data : "", t.len);
		if (!mime_addr_ok(buf_cstr(&t)))
			rc = -1;
	}
	buf_free(&t);
	return rc;
}
