/* issues - the newsletter issues: stored source, audience, status, schedule.
 *
 * Status moves draft -> scheduled -> sending -> sent, with paused and
 * cancelled on the side; issue_transition() is the one place that says
 * which moves are allowed.
 */
#ifndef BROADSIDE_ISSUES_H
#define BROADSIDE_ISSUES_H

#include <stdint.h>

#include "buf.h"
#include "db.h"
#include "diag.h"

enum issue_audience { AUD_ALL, AUD_FREE, AUD_PAID };
enum issue_status {
	ISSUE_DRAFT, ISSUE_SCHEDULED, ISSUE_SENDING, ISSUE_PAUSED,
	ISSUE_SENT, ISSUE_CANCELLED,
};

/* The Markdown body marks the free readers' end with a line of its own: */
#define ISSUE_PAYWALL_MARK "<!-- paywall -->"

/* ISSUE_KIND_CONFIRMATION: the one issue whose copies are the signup
 * confirmation emails (signup.c); ISSUE_KIND_WELCOME: the one whose copies
 * are the welcome emails (welcome.c). Both always sending, never public. */
enum issue_kind { ISSUE_KIND_ISSUE, ISSUE_KIND_CONFIRMATION, ISSUE_KIND_WELCOME };

struct issue {
	int64_t		 id;
	enum issue_kind	 kind;
	char		*slug;		/* its name in the archive, or "" */
	char		*subject;
	char		*preheader;
	char		*source;	/* Markdown, paywall mark included */
	enum issue_audience audience;
	enum issue_status status;
	int64_t		 send_at;	/* 0: not scheduled */
	int64_t		 started_at, finished_at, created_at, updated_at;
	char		*pause_reason;	/* why the daemon paused it, or "" */
	int64_t		 fanout_cursor;	/* last subscriber id fanned out */
	int		 fanout_done;	/* every subscriber looked at */
};

/* The cut in a Markdown source: the first line that holds the mark alone
 * (up to three spaces before it, blanks after it: where CommonMark would
 * start an HTML block) outside a fenced code block, so that an issue may
 * show the mark in code. Returns where that line starts, or NULL; *after
 * (when not NULL) is where the next line starts; *count (when not NULL) is
 * how many such lines there are. */
const char *issue_paywall(const char *src, const char **after, int *count);

const char *issue_audience_name(enum issue_audience a);
int	 issue_audience_parse(const char *s, enum issue_audience *out);
const char *issue_status_name(enum issue_status s);
int	 issue_status_parse(const char *s, enum issue_status *out);

/* Not found: -1 with EX_NOINPUT ("issue 7: no such issue"). */
int	 issue_get(struct db *db, int64_t id, struct issue *out, diag *d);
void	 issue_free(struct issue *is);
/* Inserts; sets is->id. */
int	 issue_insert(struct db *db, struct issue *is, diag *d);
/* Replaces the subject, preheader, audience and Markdown source of issue
 * `id` with in's, if it is a draft or a scheduled issue that has not
 * started (EX_DATAERR naming its status otherwise, nothing changed). A new
 * subject makes a new slug (as issue_insert does); the old one is kept as
 * an alias (issue_find_slug, issue_public_alias). Records events. Caller
 * owns the transaction. */
int	 issue_update(struct db *db, int64_t id, const struct issue *in, diag *d);
/* Moves the issue to `to` if allowed from its current status (EX_DATAERR
 * naming both otherwise); records an event. Caller owns the transaction. */
int	 issue_transition(struct db *db, int64_t id, enum issue_status to,
	    diag *d);
/* The daemon pauses an issue being sent, saying why (shown by 'issue
 * show' and 'stats'); a no-op when it is no longer being sent. Caller owns
 * the transaction. */
int	 issue_pause(struct db *db, int64_t id, const char *why, diag *d);
/* The fan-out's durable cursor (queue.c's chunks write it in the same
 * transaction as their deliveries). Caller owns the transaction. */
int	 issue_set_fanout(struct db *db, int64_t id, int64_t cursor, int done, diag *d);
int	 issue_set_send_at(struct db *db, int64_t id, int64_t when, diag *d);

/* A sent issue some of whose copies the operator queued again (broadside
 * issue retry) goes back to sending, so that the senders take them; its
 * finished time is cleared and an event records `why`. Any other status:
 * nothing changes (a paused issue sends them once resumed). */
int	 issue_reopen(struct db *db, int64_t id, const char *why, diag *d);

/* The slug of a subject: lower-case ASCII letters and digits, every other
 * run of characters one '-', at most ISSUE_SLUG_MAX bytes, cut at a '-';
 * "issue" when nothing is left. */
#define ISSUE_SLUG_MAX	60
void	 issue_slugify(const char *subject, buf *out);

/* The issue of a slug (kind issue), its current one or one it had before
 * an edit: 1 and *out (caller frees); 0 when none has it; -1 on error. */
int	 issue_find_slug(struct db *db, const char *slug, struct issue *out, diag *d);

/* The confirmation issue's id, made (status sending) when there is none
 * yet. Caller owns the transaction. */
int	 issue_confirmation(struct db *db, int64_t *id, diag *d);
/* The same for the welcome issue. */
int	 issue_welcome(struct db *db, int64_t *id, diag *d);

/* The latest issues a reader of `tier` ("free" or "paid") would have got:
 * public (sending or sent), audience all or that tier, started at or after
 * `since`; newest first, at most `max` of them into ids; *n how many. */
int	 issue_catch_up(struct db *db, const char *tier, int64_t since, size_t max,
	    int64_t *ids, size_t *n, diag *d);

/* --- the public archive: issues that went out (sending or sent), never
 * drafts, scheduled, paused, cancelled or the confirmation issue --- */

struct issue_public {
	int64_t		 id;
	const char	*slug, *subject, *preheader;
	int64_t		 published;	/* when it started going out */
	int64_t		 updated;
};
/* Newest first, at most `limit` (0: all). A non-zero return of `each`
 * stops the walk. */
int	 issue_public_list(struct db *db, size_t limit,
	    int (*each)(const struct issue_public *p, void *arg), void *arg, diag *d);
/* The public issue of that slug: 1 and *out; 0 when there is none (or it is
 * not public); -1 on error. */
int	 issue_public_get(struct db *db, const char *slug, struct issue *out, diag *d);
/* An earlier slug of a public issue: 1 and its current slug appended to
 * `slug`; 0 when `old` is no such slug (or the issue is not public). */
int	 issue_public_alias(struct db *db, const char *old, buf *slug, diag *d);
/* The same by id (a reader's view link). */
int	 issue_public_by_id(struct db *db, int64_t id, struct issue *out, diag *d);
/* How many issues are public and the latest time any of them changed (for
 * ETag and Last-Modified). */
int	 issue_public_stamp(struct db *db, int64_t *count, int64_t *latest, diag *d);

#endif
