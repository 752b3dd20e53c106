/* queue - the deliveries of an issue: fan-out, claim with a lease, complete.
 *
 * Fan-out turns a due issue into one `deliveries` row per eligible subscriber
 * (active, in the issue's audience) in committed chunks of subscriber ids,
 * each one prepared INSERT ... SELECT that commits with the issue's cursor
 * (the last id done): sending starts with the first chunk, a stopped
 * fan-out goes on from the cursor, and UNIQUE(issue, subscriber) keeps it
 * idempotent, so no subscriber can get an issue twice. Senders claim batches of due deliveries
 * of issues that are 'sending' (not paused or cancelled): each claimed row
 * becomes 'sending' with a lease (owner, expiry); a lease that expires is
 * claimable again. The subscriber is checked again at claim time: one who is
 * no longer active has the delivery 'dropped'. Outcomes come back in batches
 * (queue_complete), one transaction per batch. A released delivery goes back
 * to the queue untouched (no attempt counted).
 * The issue becomes 'sent' when its fan-out is done and every delivery is
 * final (sent, failed, bounced, dropped): queue_finish_issues().
 */
#ifndef BROADSIDE_QUEUE_H
#define BROADSIDE_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "diag.h"
#include "subscribers.h"

/* A claim: who holds it, a random number unique to this claim, and how
 * long it lasts unless renewed. Every outcome and release is written only
 * while the row still carries this owner and token. `process` is the
 * owner's prefix common to the whole daemon: a lease of one's own process
 * never "expires" under it (the process knows its sessions are alive and
 * renews them); only a gone process's leases are taken over. */
struct queue_lease {
	const char	*owner;
	const char	*process;
	int64_t		 token;
	int64_t		 secs;
};
/* A fresh random claim token (never 0). */
int64_t	queue_token(void);

struct queue_item {
	int64_t		 delivery_id, issue_id, subscriber_id;
	int64_t		 attempts, first_attempt_at;	/* 0: never tried */
	int64_t		 faults;	/* relay dropped/refused while it was on the wire */
	int64_t		 token;		/* the claim's */
	char		*email, *name;
	enum sub_tier	 tier;
};

struct queue_batch {
	struct queue_item *items;
	size_t		 n, cap;
};

enum queue_result {
	QR_SENT,
	QR_DEFERRED,	/* again at next_attempt_at */
	QR_FAILED,	/* permanent; suppress: the subscriber is marked bounced */
	QR_RELEASE,	/* back to the queue untouched (relay at fault, shutdown) */
};

struct queue_outcome {
	int64_t		 delivery_id, subscriber_id;
	char		*owner;			/* the lease it answers (owned) */
	int64_t		 token;
	enum queue_result result;
	int		 suppress;
	int		 blamed;		/* QR_RELEASE: the relay gave up on
						 * this very copy (faults + 1) */
	int64_t		 at;			/* when the reply came */
	int64_t		 next_attempt_at;	/* QR_DEFERRED */
	int		 code;			/* SMTP reply code, 0: none */
	char		 status[16];		/* enhanced status, "" if none */
	char		*text;			/* reply text (owned) */
	char		*message_id;		/* Message-ID sent, or NULL (owned) */
	char		*relay;			/* "host:port" (owned) */
};
void	queue_outcome_free(struct queue_outcome *o);

/* Per-issue (issue_id > 0) or overall (issue_id 0) counts by state and the
 * sending rate; rows folded by retention are counted (first/last sent and
 * the average rate too; not the last minute's rate). */
struct queue_counts {
	int64_t		 queued, sending, deferred, sent, failed, bounced, dropped;
	int64_t		 total;
	int64_t		 first_sent_at, last_sent_at;	/* 0: none sent */
	int64_t		 catch_up, catch_up_sent;	/* copies queued for new
						 * readers (welcome.c), of them sent */
	double		 rate_minute;	/* messages/s sent in the last minute */
	double		 rate_average;	/* sent / (last - first sent), whole run */
};

/* One chunk of the fan-out, in one transaction: the copies of the next
 * `chunk` subscribers by id after the issue's cursor (those active and in
 * the audience), the cursor moved past them, and a scheduled issue made
 * 'sending' with its first chunk, so the senders start on it at once.
 * *done = 1 when no subscriber is left (the issue may then become 'sent').
 * *count (may be NULL): copies created. A draft, sent or cancelled issue:
 * -1 with EX_DATAERR and nothing changed. */
#define QUEUE_FANOUT_CHUNK	20000
int	queue_fanout_step(struct db *db, int64_t issue_id, int64_t now, int64_t chunk,
	    int64_t *count, int *done, diag *d);
/* The whole fan-out: chunk after chunk (each committed) until done. */
int	queue_fanout(struct db *db, int64_t issue_id, int64_t now, int64_t *count,
	    diag *d);

/* The issues being sent ('sending': not paused or cancelled), and sent
 * issues with catch-up copies waiting, oldest first, at most
 * QUEUE_MAX_SENDING of them; ids has room for that many. */
#define QUEUE_MAX_SENDING	64
int	queue_sending_issues(struct db *db, int64_t *ids, size_t *n, diag *d);

/* Claims up to `limit` due deliveries for `owner`, in one transaction.
 * Deliveries of subscribers no longer active are dropped on the way (their
 * count in *dropped, may be NULL). Appends to `out`. */
int	queue_claim(struct db *db, const struct queue_lease *l, size_t limit,
	    int64_t now, struct queue_batch *out, int64_t *dropped, diag *d);
/* The same inside the caller's transaction (on failure `out` is as it was
 * and the caller rolls back). */
int	queue_claim_in(struct db *db, const struct queue_lease *l, size_t limit,
	    int64_t now, struct queue_batch *out, int64_t *dropped, diag *d);
/* The heartbeat: every lease of owners starting with `prefix` lasts `secs`
 * from now again. *n (may be NULL): how many. */
int	queue_renew(struct db *db, const char *prefix, int64_t secs, int64_t now,
	    int64_t *n, diag *d);
/* A subscriber's copies still waiting (queued, deferred) are dropped: one
 * who left gets nothing more. Caller owns the transaction. */
int	queue_drop_subscriber(struct db *db, int64_t subscriber_id, int64_t now,
	    int64_t *n, diag *d);
/* A cancelled issue's waiting copies are dropped (those on the wire are
 * left to their outcome). Caller owns the transaction. */
int	queue_cancel(struct db *db, int64_t issue_id, int64_t now, int64_t *n, diag *d);
/* The issue of a delivery; 0 when there is no such delivery. */
int	queue_delivery_issue(struct db *db, int64_t delivery_id, int64_t *issue_id, diag *d);
/* Whether any copy was ever queued on this database (links have gone out
 * signed with its key). */
int	queue_ever_used(struct db *db, int *used, diag *d);
void	queue_batch_reset(struct queue_batch *b);
void	queue_batch_free(struct queue_batch *b);

/* Writes outcomes back in one transaction. A failure with `suppress` also
 * marks the subscriber bounced (which drops their other pending copies). */
int	queue_complete(struct db *db, const struct queue_outcome *o, size_t n, diag *d);
/* The same inside the caller's transaction. */
int	queue_record(struct db *db, const struct queue_outcome *o, size_t n, diag *d);

/* Puts every leased delivery back untouched: at start-up, when no other
 * daemon can hold a lease. *n (may be NULL): how many. */
int	queue_release_all(struct db *db, int64_t *n, diag *d);

/* Issues 'sending' whose deliveries are all final become 'sent'; pending
 * deliveries of cancelled issues are dropped. Calls back for each issue
 * finished (may be NULL). */
int	queue_finish_issues(struct db *db, int64_t now,
	    void (*finished)(int64_t issue_id, const struct queue_counts *c, void *arg),
	    void *arg, diag *d);

/* Ids of issues with fan-out work: scheduled with send_at <= now, or a
 * fan-out under way (resumed after a stop); *ids owned. */
int	queue_due_issues(struct db *db, int64_t now, int64_t **ids, size_t *n, diag *d);

/* Counts by state and rate; issue_id 0: every issue. */
int	queue_issue_counts(struct db *db, int64_t issue_id, int64_t now,
	    struct queue_counts *out, diag *d);

/* Retention: in one transaction, walks at most `limit` deliveries by id
 * after *cursor (0 to start); each final one (sent, failed, bounced,
 * dropped) made and last changed before `before` is added to its issue's
 * delivery_counts and deleted. *cursor moves past what was walked; *done
 * = 1 when the walk reached the end or a copy made at or after `before`.
 * *folded (may be NULL): rows folded. queue_issue_counts adds the folded
 * counts, so an issue's totals do not change. */
int	queue_retire(struct db *db, int64_t before, int64_t *cursor, size_t limit,
	    int64_t *folded, int *done, diag *d);

/* Deliveries not yet final (queued, sending, deferred), every issue. */
int	queue_pending(struct db *db, int64_t *n, diag *d);

/* --- for signup --- */

/* Inside the caller's transaction: the subscriber's copy of the
 * confirmation issue is queued, due now. A copy already queued, deferred
 * or on the wire stays as it is; one already sent, failed or dropped is
 * queued again (the reader asked again); a bounced one is not. *queued:
 * whether a copy is now due that was not before. */
int	queue_confirmation(struct db *db, int64_t issue_id, int64_t subscriber_id,
	    int64_t now, int *queued, diag *d);

/* --- for welcome --- */

/* Inside the caller's transaction: a copy of the issue, due now, for each
 * active subscriber with an id in [lo, hi] (and of `tier`, "free" or
 * "paid", when not NULL); catch_up marks the copies as catch-up ones (an
 * issue that went out before the reader joined: claimed even once the
 * issue is 'sent'). A subscriber who has a copy already keeps it (UNIQUE
 * (issue, subscriber): never twice). *n (may be NULL): copies made. */
int	queue_welcome(struct db *db, int64_t issue_id, int64_t lo, int64_t hi,
	    const char *tier, int catch_up, int64_t now, int64_t *n, diag *d);

/* --- for bounce_apply --- */

/* 1 and the delivery's subscriber (0 when the subscriber was removed),
 * 0 when there is no such delivery, -1 on a database error. */
int	queue_delivery_subscriber(struct db *db, int64_t delivery_id,
	    int64_t *subscriber_id, diag *d);
/* A delivery that left (sent, failed, deferred, sending) becomes 'bounced',
 * with the report's status and text. */
int	queue_mark_bounced(struct db *db, int64_t delivery_id, const char *status,
	    const char *text, int64_t now, diag *d);

/* --- for the operator's commands --- */

/* One delivery of an issue as the operator sees it (broadside issue
 * deliveries). Strings are owned by the row and freed by the next row or
 * queue_deliveries' return: copy what must outlive the callback. */
struct queue_delivery_view {
	int64_t		 delivery_id, subscriber_id;	/* subscriber 0: forgotten */
	const char	*email;		/* NULL when the subscriber was removed */
	const char	*sub_status;	/* "active", ...; NULL when removed */
	const char	*state;		/* queued, sending, sent, ... */
	int		 code;		/* last SMTP reply code, 0: none */
	const char	*status;	/* enhanced status, "" if none */
	const char	*text;		/* last reply text, "" if none */
	const char	*relay;		/* "host:port", "" if none */
	int64_t		 attempts;
	int64_t		 next_attempt_at;	/* 0 unless queued or deferred */
	int64_t		 updated_at;
};

/* 1 when s names a delivery state (queued, sending, sent, deferred, failed,
 * bounced, dropped), else 0. */
int	queue_state_known(const char *s);

/* Calls `each` for each delivery of the issue in `state` (NULL: every state
 * but sent), by delivery id. A non-zero return of `each` stops the walk. */
int	queue_deliveries(struct db *db, int64_t issue_id, const char *state,
	    int (*each)(const struct queue_delivery_view *v, void *arg), void *arg,
	    diag *d);

/* What queue_retry did or would do. */
struct queue_retry_result {
	int64_t		 queued;		/* put back in the queue */
	int64_t		 skipped;		/* subscriber not active or removed */
	int64_t		 skipped_status[SUB_NSTATUS];	/* by enum sub_status */
	int64_t		 skipped_removed;	/* subscriber forgotten */
};

/* Inside the caller's transaction: the issue's deliveries in `state`
 * ("failed" or "deferred"; never sent ones) whose last change is at or after
 * `since` (0: any), and of `subscriber_id` only when > 0, go back to the
 * queue: state queued, due `now`, lease cleared, first_attempt_at cleared
 * (the maximum age counts from this new try); attempts are kept. A copy of
 * a subscriber who is not active (unsubscribed, bounced, complained) or was
 * removed is never queued again: it is counted in skipped. */
int	queue_retry(struct db *db, int64_t issue_id, const char *state, int64_t since,
	    int64_t subscriber_id, int64_t now, struct queue_retry_result *out, diag *d);

#endif
