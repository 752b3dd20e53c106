/* issue_links - links from one issue to another: [title](issue:SLUG).
 *
 * In an issue's Markdown, a link to issue:SLUG is written as the archive
 * page of the issue of that slug, BASE_URL/p/SLUG, when the issue is
 * rendered (markdown_render_site(); emails and the web archive alike). So
 * that no reader meets a dead link, the targets are checked:
 *  - at 'issue create' (send_at 0): every SLUG names an issue (not a
 *    confirmation or welcome one) that is not cancelled; a draft is fine,
 *    it may be written alongside;
 *  - at 'issue schedule' (send_at the time chosen): every target is public
 *    already (sending or sent), is this issue itself, or is scheduled to go
 *    out no later than this one. A draft, a paused or cancelled issue, one
 *    scheduled later, or a slug that no longer exists is an error.
 * Errors (EX_DATAERR) name the slug and the line: "FILE:LINE" at create,
 * "issue ID, line N of its Markdown" at schedule.
 */
#ifndef BROADSIDE_ISSUE_LINKS_H
#define BROADSIDE_ISSUE_LINKS_H

#include <stdint.h>

#include "db.h"
#include "diag.h"
#include "issues.h"

/* `is`: the issue (its id may be 0 before it is stored). `where`: how to
 * name the source in errors ("post.md" at create, NULL: "issue ID");
 * first_line: the file line of the Markdown's first line (1 when it is the
 * Markdown alone). */
int	issue_links_check(struct db *db, const struct issue *is, int64_t send_at,
	    const char *where, int first_line, diag *d);

#endif
