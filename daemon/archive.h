/* archive - what the public sees of the issues that went out.
 *
 * The web archive's list (newest first: title, date, preheader), one
 * issue's free cut (the Markdown before the paywall mark; nothing of a
 * paid-only issue without a mark), and the Atom feed (RFC 4287) of the
 * latest ARCHIVE_FEED_MAX issues, free cut only (a paid reader's private
 * feed: whole), each entry's id a tag: URI
 * made of list.id, the issue's creation date and its id, so that it never
 * changes. Drafts, scheduled, paused and cancelled issues and the
 * confirmation issue are never shown (issues.c says which are public). All
 * text is HTML/XML-escaped here.
 */
#ifndef BROADSIDE_ARCHIVE_H
#define BROADSIDE_ARCHIVE_H

#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "db.h"
#include "diag.h"
#include "issues.h"

#define ARCHIVE_FEED_MAX	20

/* list.base_url without a trailing '/'. */
void	archive_base(const struct config *cfg, buf *out);
/* BASE_URL/p/: an issue's page is this and its slug (issue: links in
 * issues resolve to it, markdown.h). */
void	archive_issue_base(const struct config *cfg, buf *out);

/* "<ul class=\"issues\">...</ul>" (or a line saying there is nothing yet). */
int	archive_list_html(struct db *db, const struct config *cfg, buf *out, diag *d);

/* 1 and the issue with its free cut as HTML in `html`, *cut set when part
 * of it is kept for paid readers; 0 when no public issue has that slug. */
int	archive_issue(struct db *db, const struct config *cfg, const char *slug,
	    struct issue *is, buf *html, int *cut, diag *d);

/* The HTML of an issue as a tier reads it: whole (full; the mark line
 * gone) or the public's free cut (*cut set when part is kept back). */
int	archive_edition(const struct config *cfg, const struct issue *is, int full,
	    buf *html, int *cut, diag *d);

/* Where the public's call to action points: list.upgrade_url when set,
 * else the signup page (a reader's own trial link comes in their email). */
void	archive_upgrade_url(const struct config *cfg, buf *out);

/* A paid reader's private feed: whole issues, each entry linking to the
 * reader's own view of it. */
struct archive_feed_for {
	int64_t		 subscriber_id;
	const char	*self;		/* the feed's own URL */
	/* Appends the entry's alternate link for an issue. */
	void		(*link)(int64_t issue_id, void *arg, buf *out);
	void		*arg;
};

/* The Atom document: the public feed (f NULL), or a reader's own. */
int	archive_feed(struct db *db, const struct config *cfg,
	    const struct archive_feed_for *f, buf *out, diag *d);

/* "4 December 2026" (UTC). */
void	archive_date(int64_t t, char *out, size_t n);

#endif
