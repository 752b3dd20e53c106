/* issue_file - read an issue file: front matter, then the Markdown body.
 *
 *   ---
 *   subject: Growth Dragons Weekly: DeepSeek’s AI Disruption
 *   preheader: one line shown in the inbox
 *   audience: all            # all | free | paid
 *   ---
 *   Markdown body; a line <!-- paywall --> marks the free readers' end.
 *
 * Keys: subject (required), preheader, audience (default all). A value may
 * be quoted ("..." or '...'); unquoted, " #" starts a comment. Errors name
 * the file and line.
 */
#ifndef BROADSIDE_ISSUE_FILE_H
#define BROADSIDE_ISSUE_FILE_H

#include <stddef.h>

#include "diag.h"
#include "issues.h"

/* Fills subject, preheader, audience and source of `out` (caller frees
 * with issue_free). `name` is the file name used in messages. */
int	issue_file_parse(const char *name, const char *text, size_t len,
	    struct issue *out, diag *d);

/* Reads FILE, or standard input for "-", whole into out. */
struct buf;
int	issue_file_read(const char *path, struct buf *out, diag *d);

/* 1 when s holds valid UTF-8 (no overlongs, no surrogates). */
int	utf8_valid(const char *s, size_t len);

#endif
