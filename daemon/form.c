/* form - the fields of an application/x-www-form-urlencoded body. */
#include "form.h"

#include <string.h>

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes p[0..n) into out; -1 when malformed. */
static int
decode(const char *p, size_t n, buf *out)
{
	size_t start = out->len;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)p[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int h, l;
			if (i + 2 >= n || (h = hexval(p[i + 1])) < 0 ||
			    (l = hexval(p[i + 2])) < 0)
				return -1;
			c = h << 4 | l;
			i += 2;
		}
		if (c == 0)
			return -1;
		buf_putc(out, (char)c);
	}
	if (!form_utf8_ok(out->data ? out->data + start : "", out->len - start))
		return -1;
	return 0;
}

int
form_utf8_ok(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *z = p + n;

	while (p < z) {
		unsigned c = *p;
		size_t k;
		unsigned v;
		if (c < 0x80) {
			p++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			k = 1; v = c & 0x1F;
		} else if (c >= 0xE0 && c <= 0xEF) {
			k = 2; v = c & 0x0F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			k = 3; v = c & 0x07;
		} else
			return 0;
		if ((size_t)(z - p) <= k)
			return 0;
		for (size_t j = 1; j <= k; j++) {
			if ((p[j] & 0xC0) != 0x80)
				return 0;
			v = v << 6 | (p[j] & 0x3F);
		}
		if ((k == 2 && (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF))) ||
		    (k == 3 && (v < 0x10000 || v > 0x10FFFF)))
			return 0;
		p += k + 1;
	}
	return 1;
}

int
form_field(const char *body, size_t len, const char *name, buf *out)
{
	const char *p = body, *z = body + len;
	size_t nl = strlen(name);
	int found = 0;

	while (p < z) {
		const char *amp = memchr(p, '&', (size_t)(z - p));
		const char *end = amp ? amp : z;
		const char *eq = memchr(p, '=', (size_t)(end - p));
		const char *kz = eq ? eq : end;
		buf key = BUF_INIT;
		int rc = decode(p, (size_t)(kz - p), &key);

		if (rc == 0 && !found && key.len == nl && memcmp(key.data, name, nl) == 0) {
			found = 1;
			if (eq)
				rc = decode(eq + 1, (size_t)(end - eq - 1), out);
		} else if (rc == 0 && eq) {
			buf skip = BUF_INIT;
			rc = decode(eq + 1, (size_t)(end - eq - 1), &skip);
			buf_free(&skip);
		}
		buf_free(&key);
		if (rc < 0)
			return -1;
		p = end + (amp ? 1 : 0);
	}
	return found;
}
