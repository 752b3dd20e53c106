/* csv - an RFC 4180 CSV reader. */
#include "csv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

#define CHUNK	(256 * 1024)

void
csv_open(struct csv *c, const char *data, size_t len)
{
	memset(c, 0, sizeof *c);
	c->p = data;
	c->end = data + len;
	c->line = 1;
	c->started = 1;
	/* A UTF-8 byte order mark, as spreadsheets write, is not data. */
	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
		c->p += 3;
}

void
csv_open_file(struct csv *c, FILE *fp)
{
	memset(c, 0, sizeof *c);
	c->fp = fp;
	c->chunk = xmalloc(CHUNK);
	c->p = c->end = c->chunk;
	c->line = 1;
}

void
csv_close(struct csv *c)
{
	for (int i = 0; i < CSV_MAX_FIELDS; i++)
		buf_free(&c->field[i]);
	free(c->chunk);
	c->chunk = NULL;
}

/* 1 when there is a byte at c->p (reading the next chunk if need be). */
static int
more(struct csv *c)
{
	size_t n;

	if (c->p < c->end)
		return 1;
	if (c->fp == NULL || c->ioerr)
		return 0;
	n = fread(c->chunk, 1, CHUNK, c->fp);
	if (n == 0) {
		if (ferror(c->fp))
			c->ioerr = errno ? errno : EIO;
		return 0;
	}
	c->bytes += n;
	c->p = c->chunk;
	c->end = c->chunk + n;
	if (!c->started) {
		c->started = 1;
		/* fread fills the chunk unless the input ends first. */
		if (n >= 3 && memcmp(c->p, "\xef\xbb\xbf", 3) == 0)
			c->p += 3;
		return more(c);
	}
	return 1;
}

/* Skips the rest of a bad record's line. */
static int
skip_line(struct csv *c)
{
	while (more(c)) {
		const char *nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
		if (nl) {
			c->p = nl;
			break;
		}
		c->p = c->end;
	}
	return -1;
}

static int
read_error(struct csv *c, const char **why)
{
	static char msg[128];

	snprintf(msg, sizeof msg, "read error: %s", strerror(c->ioerr));
	*why = msg;
	return -1;
}

int
csv_next(struct csv *c, struct csv_record *r, const char **why)
{
	size_t n = 0;

	/* Blank lines between records are skipped. */
	while (more(c) && (*c->p == '\n' || *c->p == '\r')) {
		if (*c->p == '\n')
			c->line++;
		c->p++;
	}
	if (c->ioerr)
		return read_error(c, why);
	if (!more(c))
		return 0;
	r->line = c->line;
	for (;;) {
		buf *f;
		if (n == CSV_MAX_FIELDS) {
			*why = "too many fields";
			return skip_line(c);
		}
		f = &c->field[n];
		buf_reset(f);
		buf_append(f, "", 0);
		if (more(c) && *c->p == '"') {
			c->p++;
			for (;;) {
				if (!more(c)) {
					if (c->ioerr)
						return read_error(c, why);
					*why = "quoted field not closed before end of file";
					return -1;
				}
				if (*c->p == '"') {
					c->p++;
					if (more(c) && *c->p == '"') {
						buf_putc(f, '"');
						c->p++;
						continue;
					}
					break;
				}
				if (*c->p == '\n')
					c->line++;
				buf_putc(f, *c->p++);
			}
			if (more(c) && *c->p != ',' && *c->p != '\n' && *c->p != '\r') {
				*why = "text after a closing quote";
				return skip_line(c);
			}
		} else {
			/* The common case: plain bytes up to the next separator,
			 * appended a run at a time. */
			while (more(c)) {
				const char *s = c->p;
				while (c->p < c->end && *c->p != ',' && *c->p != '\n' &&
				    *c->p != '\r' && *c->p != '"')
					c->p++;
				buf_append(f, s, (size_t)(c->p - s));
				if (c->p < c->end)
					break;
			}
			if (more(c) && *c->p == '"') {
				*why = "quote inside an unquoted field";
				return skip_line(c);
			}
		}
		if (c->ioerr)
			return read_error(c, why);
		if (memchr(f->data, '\0', f->len)) {
			*why = "NUL byte in field";
			return skip_line(c);
		}
		r->fields[n++] = f->data;
		if (more(c) && *c->p == ',') {
			c->p++;
			continue;
		}
		if (more(c) && *c->p == '\r')
			c->p++;
		if (more(c) && *c->p == '\n') {
			c->p++;
			c->line++;
		}
		break;
	}
	r->nfields = n;
	return 1;
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
