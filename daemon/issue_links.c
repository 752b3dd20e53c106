/* issue_links - links from one issue to another: [title](issue:SLUG). */
#include "issue_links.h"

#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "clock.h"
#include "markdown.h"

struct check {
	struct db		*db;
	const struct issue	*is;
	int64_t			 send_at;
	const char		*where;
	int			 first_line;
	diag			*d;
	int			 failed;	/* a database error, not a bad link */
};

static int
slug_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > ISSUE_SLUG_MAX + 21)	/* a slug and a "-N" suffix */
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
			return 0;
	return 1;
}

/* Sets the error: "WHERE:LINE: issue:SLUG: why" or "issue ID, line N of
 * its Markdown: issue:SLUG: why". */
static int
bad(struct check *c, const char *slug, int line, const char *why, const char *hint)
{
	char clean[96];
	size_t i;

	/* The slug as written may hold anything: shown cut and printable. */
	for (i = 0; slug[i] && i < sizeof clean - 4; i++)
		clean[i] = (unsigned char)slug[i] < 0x20 || slug[i] == 0x7f ? '?' : slug[i];
	clean[i] = '\0';
	if (slug[i])
		strcat(clean, "...");
	if (c->where)
		diag_set(c->d, EX_DATAERR, "%s:%d: issue:%s: %s%s", c->where,
		    c->first_line + line - 1, clean, why, hint);
	else
		diag_set(c->d, EX_DATAERR, "issue %lld, line %d of its Markdown: issue:%s: %s%s",
		    (long long)c->is->id, line, clean, why, hint);
	return 1;
}

static int
one(const char *slug, int line, void *arg)
{
	struct check *c = arg;
	struct issue t;
	int found, rc = 0;
	char when[32];

	if (!slug_ok(slug))
		return bad(c, slug, line, "not a slug (lower-case letters, digits and '-', as "
		    "in the archive's /p/SLUG)", "");
	found = issue_find_slug(c->db, slug, &t, c->d);
	if (found < 0) {
		c->failed = 1;
		return 1;
	}
	if (found == 0)
		return bad(c, slug, line, "no issue has this slug", " ('broadside issue show ID' "
		    "shows an issue's archive address)");
	if (t.id == c->is->id)
		;	/* itself: public when it is sent */
	else if (t.status == ISSUE_CANCELLED)
		rc = bad(c, slug, line, "that issue is cancelled and will never be public", "");
	else if (c->send_at == 0 || t.status == ISSUE_SENDING || t.status == ISSUE_SENT)
		;	/* created: any living issue; scheduled: public already */
	else if (t.status == ISSUE_SCHEDULED && t.send_at <= c->send_at)
		;	/* public before this one goes out */
	else if (t.status == ISSUE_SCHEDULED) {
		char why[120];
		clock_format_rfc3339(t.send_at, when, sizeof when);
		snprintf(why, sizeof why, "that issue (%lld) is scheduled for %s, after this one",
		    (long long)t.id, when);
		rc = bad(c, slug, line, why, " (it would not be public yet): schedule it no "
		    "later than this one");
	} else {
		char why[80];
		snprintf(why, sizeof why, "that issue (%lld) is %s, not public", (long long)t.id,
		    issue_status_name(t.status));
		rc = bad(c, slug, line, why, ": send or schedule it first (no later than this one)");
	}
	issue_free(&t);
	return rc;
}

int
issue_links_check(struct db *db, const struct issue *is, int64_t send_at, const char *where,
    int first_line, diag *d)
{
	struct check c = { db, is, send_at, where, first_line, d, 0 };
	const char *src = is->source ? is->source : "";
	int rc = markdown_issue_links(src, strlen(src), one, &c, d);

	return rc != 0 ? -1 : 0;
}
