/* issues - the newsletter issues: stored source, audience, status, schedule.
 *
 * Status moves draft -> scheduled -> sending -> sent, with paused and
 * cancelled on the side; issue_transition() is the one place that says
 * which moves are allowed.
 */
#ifndef BROADSIDE_ISSUES_H
#define BROADSIDE_ISSUES_H

#include <stdint.h>

#include "db.h"
#include "diag.h"

enum issue_audience { AUD_ALL, AUD_FREE, AUD_PAID };
enum issue_status {
	ISSUE_DRAFT, ISSUE_SCHEDULED, ISSUE_SENDING, ISSUE_PAUSED,
	ISSUE_SENT, ISSUE_CANCELLED,
};

/* The Markdown body marks the free readers' end with a line of its own: */
#define ISSUE_PAYWALL_MARK "<!-- paywall -->"

struct issue {
	int64_t		 id;
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

#endif
