/* readerlink - a reader's own signed links (token.h): the trial page, the
 * private full-content feed, and one issue "view online" as their tier
 * gets it.
 *
 *   LINK_TRIAL   BASE/trial/TOKEN
 *   LINK_FEED    BASE/feed/TOKEN.xml
 *   LINK_VIEW    BASE/i/ISSUE/TOKEN
 *
 * BASE is list.base_url without a trailing '/' (archive_base). The one
 * place these URLs are spelled: the renderer, the HTTP pages and the CLI
 * all make them here, and http.c routes exactly these shapes.
 */
#ifndef BROADSIDE_READERLINK_H
#define BROADSIDE_READERLINK_H

#include <stdint.h>

#include "buf.h"
#include "secret.h"

enum reader_link { LINK_TRIAL, LINK_FEED, LINK_VIEW };

/* Appends the link; issue_id counts for LINK_VIEW only. */
void	readerlink(buf *out, enum reader_link kind, const char *base,
	    const struct secret *sec, const char *list_id, int64_t issue_id,
	    int64_t subscriber_id);

#endif
