/* csv - an RFC 4180 CSV reader. */
#include "csv.h"

#include <string.h>

void
csv_open(struct csv *c, const char *data, size_t len)
{
	memset(c, 0, sizeof *c);
	c->p = data;
	c->end = data + len;
	c->line = 1;
	/* A UTF-8 byte order mark, as spreadsheets write, is not data. */
	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
		c->p += 3;
}

void
csv_close(struct csv *c)
{
	for (int i = 0; i < CSV_MAX_FIELDS; i++)
		buf_free(&c->field[i]);
}

int
csv_next(struct csv *c, struct csv_record *r, const char **why)
{
	size_t n = 0;

	/* Blank lines between records are skipped. */
	while (c->p < c->end && (*c->p == '\n' || *c->p == '\r')) {
		if (*c->p == '\n')
			c->line++;
		c->p++;
	}
	if (c->p >= c->end)
		return 0;
	r->line = c->line;
	for (;;) {
		buf *f;
		if (n == CSV_MAX_FIELDS) {
			*why = "too many fields";
			goto skip;
		}
		f = &c->field[n];
		buf_reset(f);
		buf_append(f, "", 0);
		if (c->p < c->end && *c->p == '"') {
			c->p++;
			for (;;) {
				if (c->p >= c->end) {
					*why = "quoted field not closed before end of file";
					return -1;
				}
				if (*c->p == '"') {
					if (c->p + 1 < c->end && c->p[1] == '"') {
						buf_putc(f, '"');
						c->p += 2;
						continue;
					}
					c->p++;
					break;
				}
				if (*c->p == '\n')
					c->line++;
				buf_putc(f, *c->p++);
			}
			if (c->p < c->end && *c->p != ',' && *c->p != '\n' && *c->p != '\r') {
				*why = "text after a closing quote";
				goto skip;
			}
		} else {
			const char *s = c->p;
			while (c->p < c->end && *c->p != ',' && *c->p != '\n' && *c->p != '\r') {
				if (*c->p == '"') {
					*why = "quote inside an unquoted field";
					goto skip;
				}
				c->p++;
			}
			buf_append(f, s, (size_t)(c->p - s));
		}
		if (memchr(f->data, '\0', f->len)) {
			*why = "NUL byte in field";
			goto skip;
		}
		r->fields[n++] = f->data;
		if (c->p < c->end && *c->p == ',') {
			c->p++;
			continue;
		}
		if (c->p < c->end && *c->p == '\r')
			c->p++;
		if (c->p < c->end && *c->p == '\n') {
			c->p++;
			c->line++;
		}
		break;
	}
	r->nfields = n;
	return 1;
skip:
	while (c->p < c->end && *c->p != '\n')
		c->p++;
	return -1;
}

void
csv_field(buf *out, const char *s)
{
	if (strpbrk(s, ",\"\r\n") == NULL && *s != ' ' && *s != '\0') {
		buf_puts(out, s);
		return;
	}
	if (*s == '\0')
		return;
	buf_putc(out, '"');
	for (; *s; s++) {
		if (*s == '"')
			buf_putc(out, '"');
		buf_putc(out, *s);
	}
	buf_putc(out, '"');
}
