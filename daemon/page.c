/* page - the HTTP endpoint's HTML pages: files of templates/ with {{slot}}s. */
#include "page.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "xalloc.h"

#define PAGE_MAX_BYTES	(256 * 1024)

struct segment {
	size_t	 off, len;	/* literal text in p->text */
	int	 slot;		/* -1: none after the literal */
};

struct page {
	unsigned	 raw;		/* bit i: slot i takes HTML as is */
	char		*text;
	struct segment	*segs;
	size_t		 nsegs;
};

void
page_escape(buf *out, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': buf_puts(out, "&amp;"); break;
		case '<': buf_puts(out, "&lt;"); break;
		case '>': buf_puts(out, "&gt;"); break;
		case '"': buf_puts(out, "&quot;"); break;
		case '\'': buf_puts(out, "&#39;"); break;
		default: buf_putc(out, *s);
		}
	}
}

static void
where(const char *text, const char *p, int *line, int *col)
{
	*line = 1;
	*col = 1;
	for (const char *q = text; q < p; q++) {
		if (*q == '\n') {
			(*line)++;
			*col = 1;
		} else
			(*col)++;
	}
}

static int
parse(struct page *pg, const char *path, const char *const *slots, diag *d)
{
	const char *t = pg->text, *p = t, *open;
	size_t cap = 0;

	while ((open = strstr(p, "{{")) != NULL) {
		const char *close = strstr(open + 2, "}}");
		int line, col, slot = -1;
		size_t n;

		where(t, open, &line, &col);
		if (close == NULL)
			return diag_set(d, EX_DATAERR, "%s:%d:%d: '{{' without '}}'",
			    path, line, col);
		n = (size_t)(close - open - 2);
		for (int i = 0; slots[i]; i++)
			if (strlen(slots[i]) == n && memcmp(slots[i], open + 2, n) == 0)
				slot = i;
		if (slot < 0)
			return diag_set(d, EX_DATAERR, "%s:%d:%d: unknown slot '{{%.*s}}'",
			    path, line, col, (int)(n > 40 ? 40 : n), open + 2);
		pg->segs = xgrow(pg->segs, &cap, pg->nsegs + 1, sizeof *pg->segs);
		pg->segs[pg->nsegs++] = (struct segment){ (size_t)(p - t),
		    (size_t)(open - p), slot };
		p = close + 2;
	}
	pg->segs = xgrow(pg->segs, &cap, pg->nsegs + 1, sizeof *pg->segs);
	pg->segs[pg->nsegs++] = (struct segment){ (size_t)(p - t), strlen(p), -1 };
	return 0;
}

int
page_load(const char *dir, const char *file, const char *const *slots,
    struct page **out, diag *d)
{
	buf path = BUF_INIT, text = BUF_INIT;
	struct page *pg = NULL;
	char chunk[8192];
	size_t n;
	FILE *fp;
	int rc = -1;

	*out = NULL;
	buf_printf(&path, "%s/%s", dir, file);
	if ((fp = fopen(buf_cstr(&path), "r")) == NULL) {
		diag_set(d, errno == ENOENT ? EX_NOINPUT : EX_NOPERM,
		    "%s: cannot read page template: %s", buf_cstr(&path), strerror(errno));
		goto out;
	}
	while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0 && text.len <= PAGE_MAX_BYTES)
		buf_append(&text, chunk, n);
	if (ferror(fp) || text.len > PAGE_MAX_BYTES || memchr(text.data, '\0', text.len)) {
		diag_set(d, EX_DATAERR, "%s: %s", buf_cstr(&path), ferror(fp) ?
		    "read error" : text.len > PAGE_MAX_BYTES ? "page template over 256 KiB" :
		    "page template holds a NUL byte");
		fclose(fp);
		goto out;
	}
	fclose(fp);
	pg = xcalloc(1, sizeof *pg);
	pg->text = buf_detach(&text);
	for (int i = 0; slots[i] && i < 32; i++) {
		size_t n = strlen(slots[i]);
		if (n > 5 && strcmp(slots[i] + n - 5, "_html") == 0)
			pg->raw |= 1u << i;
	}
	if (parse(pg, buf_cstr(&path), slots, d) < 0)
		goto out;
	*out = pg;
	pg = NULL;
	rc = 0;
out:
	page_free(pg);
	buf_free(&path);
	buf_free(&text);
	return rc;
}

void
page_fill(const struct page *p, const char *const *values, buf *out)
{
	for (size_t i = 0; i < p->nsegs; i++) {
		buf_append(out, p->text + p->segs[i].off, p->segs[i].len);
		if (p->segs[i].slot < 0)
			continue;
		if (p->raw & (1u << p->segs[i].slot))
			buf_puts(out, values[p->segs[i].slot] ? values[p->segs[i].slot] : "");
		else
			page_escape(out, values[p->segs[i].slot]);
	}
}

void
page_free(struct page *p)
{
	if (p == NULL)
		return;
	free(p->text);
	free(p->segs);
	free(p);
}
