/* page - the HTTP endpoint's HTML pages: files of templates/ with {{slot}}s.
 *
 * A page file is HTML with slots written {{name}}; each slot name must be
 * one of those the caller allows, or loading fails naming file, line and
 * column. Filling replaces each slot with its value, HTML-escaped. Written
 * here rather than shared with the email renderer: these pages need only
 * plain escaped slots, no fallbacks, no per-tier compilation.
 */
#ifndef BROADSIDE_PAGE_H
#define BROADSIDE_PAGE_H

#include "buf.h"
#include "diag.h"

struct page;

/* Reads dir/file. `slots` is a NULL-terminated list of allowed names. */
int	page_load(const char *dir, const char *file, const char *const *slots,
	    struct page **out, diag *d);
/* values[i] is the value of slots[i] given to page_load (NULL: empty).
 * A slot whose name ends in "_html" (at most the first 32 slots) takes
 * HTML the caller built and escaped itself, as is: the page frame's
 * {{body_html}}, the archive's list. */
void	page_fill(const struct page *p, const char *const *values, buf *out);
void	page_free(struct page *p);

/* Appends s with & < > " ' escaped. */
void	page_escape(buf *out, const char *s);

#endif
