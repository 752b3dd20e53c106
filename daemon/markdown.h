/* markdown - an issue's Markdown as email HTML and as plain text (cmark-gfm).
 *
 * One parse (CommonMark + the GFM table, strikethrough and autolink
 * extensions) gives two renderings of the same tree:
 *  - HTML for email clients: cmark-gfm's HTML with inline styles added to
 *    the elements it emits (clients drop <style> blocks; inline survives);
 *  - plain text by a walk of the tree: paragraphs wrapped at 72 columns,
 *    headings underlined, lists with "-" or "1.", quotes with "> ", code
 *    indented, tables as "a | b" rows, links as "text <url>".
 * Raw HTML in the Markdown is shown as text (escaped) unless allow_html;
 * unsafe link schemes (javascript: and the like) are dropped then too.
 */
#ifndef BROADSIDE_MARKDOWN_H
#define BROADSIDE_MARKDOWN_H

#include <stddef.h>

#include "buf.h"
#include "diag.h"

#define MARKDOWN_TEXT_WIDTH	72

/* Renders src[0..len) into html and text (either may be NULL); appends. */
int	markdown_render(const char *src, size_t len, int allow_html, buf *html,
	    buf *text, diag *d);

/* A link from one issue to another: [title](issue:SLUG) (issue_links.h). */
#define MARKDOWN_ISSUE_SCHEME	"issue:"
/* The same, each issue link made issue_base + SLUG ("BASE_URL/p/"; NULL:
 * left as written). */
int	markdown_render_site(const char *src, size_t len, int allow_html,
	    const char *issue_base, buf *html, buf *text, diag *d);
/* Calls each(slug, line) for every issue link, in order (line: 1-based in
 * src); a non-zero return of `each` stops the walk and is returned. */
int	markdown_issue_links(const char *src, size_t len,
	    int (*each)(const char *slug, int line, void *arg), void *arg, diag *d);

#endif
