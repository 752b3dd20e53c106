/* subscribers - the people an issue goes to: lookup, status, suppression.
 *
 * The one place that changes a subscriber's status. Setting a status other
 * than active also drops every queued or deferred delivery of an issue not
 * yet sent to that subscriber, so an unsubscribe, hard bounce or complaint
 * takes effect for mail already in the queue. Callers own the transaction.
 */
#ifndef BROADSIDE_SUBSCRIBERS_H
#define BROADSIDE_SUBSCRIBERS_H

#include <stdint.h>

#include "buf.h"
#include "db.h"
#include "diag.h"

enum sub_tier { TIER_FREE, TIER_PAID };
/* SUB_PENDING: signed up on the web, not yet confirmed (gets only the
 * confirmation email). Last, so that the older values keep their numbers. */
enum sub_status { SUB_ACTIVE, SUB_UNSUBSCRIBED, SUB_BOUNCED, SUB_COMPLAINED, SUB_PENDING };
#define SUB_NSTATUS	5

struct subscriber {
	int64_t		 id;
	char		*email;
	char		*name;
	enum sub_tier	 tier;
	enum sub_status	 status;
	int64_t		 bounce_score;
	int64_t		 last_bounce_at;	/* 0: never */
	int64_t		 created_at, updated_at;
	int64_t		 pending_since;		/* SUB_PENDING: when asked; else 0 */
	int64_t		 paid_until;		/* tier paid ends then; 0: no end */
	int		 on_trial;		/* that paid period is the trial */
	int64_t		 trial_at;		/* when the one trial started; 0: never */
};

const char *sub_tier_name(enum sub_tier t);
int	 sub_tier_parse(const char *s, enum sub_tier *out);
const char *sub_status_name(enum sub_status s);
int	 sub_status_parse(const char *s, enum sub_status *out);

/* Not found: -1 with EX_NOUSER. */
int	 subscriber_get(struct db *db, int64_t id, struct subscriber *out, diag *d);
/* By normal form (address_normalize). */
int	 subscriber_find(struct db *db, const char *email_key, struct subscriber *out, diag *d);
void	 subscriber_free(struct subscriber *s);

/* Sets the status (and records an event with `why`); a status other than
 * active drops pending deliveries (see above). */
int	 subscriber_set_status(struct db *db, int64_t id, enum sub_status st,
	    const char *why, diag *d);
/* Marks queued/deferred deliveries of the subscriber 'dropped'; returns the
 * count in *n (may be NULL). */
int	 subscriber_drop_pending(struct db *db, int64_t id, int64_t *n, diag *d);
/* Records a bounce score change (bounce_apply owns the scoring rules). */
int	 subscriber_set_bounce_score(struct db *db, int64_t id, int64_t score,
	    int64_t at, diag *d);

/* --- paid periods: the trial, and periods set from outside --- */

/* What starting the trial would do for s (a POST of the trial page):
 * TRIAL_OK starts it; TRIAL_PAID: paid already; TRIAL_USED: had one;
 * TRIAL_INACTIVE: not an active subscriber. */
enum trial_state { TRIAL_OK, TRIAL_PAID, TRIAL_USED, TRIAL_INACTIVE };
enum trial_state subscriber_trial_state(const struct subscriber *s);
/* Starts the reader's one trial as of `now`: tier paid until `until`,
 * an event. Conditional in the database, so two at once start one: *st
 * is TRIAL_OK when this call started it, else why not (nothing changed).
 * Caller owns the transaction. */
int	 subscriber_start_trial(struct db *db, int64_t id, int64_t now, int64_t until,
	    enum trial_state *st, diag *d);
/* Tier from outside (an operator, a payment system): paid until `until`
 * (0: no end), or free; ends a trial under way. An event. Caller owns the
 * transaction. */
int	 subscriber_set_paid(struct db *db, int64_t id, enum sub_tier tier, int64_t until,
	    const char *why, diag *d);
/* Paid periods over by `now`: back to free, an event each ("trial ended"
 * or "paid period ended"), at most `limit` readers; *n how many. Caller
 * owns the transaction. */
int	 subscriber_expire_paid(struct db *db, int64_t now, int limit, int64_t *n, diag *d);

/* Adds s (email as given, already validated; email_key its normal form).
 * An address already present: -1 with EX_DATAERR. Sets *id. */
int	 subscriber_insert(struct db *db, const struct subscriber *s,
	    const char *email_key, int64_t *id, diag *d);
/* The same, and the events log says where the subscriber came from
 * ("imported from FILE"; NULL: nothing more than the tier). */
int	 subscriber_insert_from(struct db *db, const struct subscriber *s,
	    const char *email_key, const char *source, int64_t *id, diag *d);
/* NULL name / tier: unchanged. A tier given ends any paid period's end
 * (subscriber_set_paid with no end). */
int	 subscriber_update(struct db *db, int64_t id, const char *name,
	    const enum sub_tier *tier, diag *d);
/* Forgets the person: deletes the row (deliveries and bounces keep their
 * counts, not the person) and keeps a hash of the address so that the
 * address stays suppressed. */
int	 subscriber_remove(struct db *db, int64_t id, const char *email_key, diag *d);
/* *yes = 1 when the address (normal form: any case) was removed before.
 * email, the spelling given (or NULL), also matches a removal recorded
 * before keys were case-insensitive (migration 0006). */
int	 subscriber_suppressed(struct db *db, const char *email_key, const char *email,
	    int *yes, diag *d);

/* --- double opt-in (signup.c) --- */

/* The subscriber (new, pending or unsubscribed) becomes pending as of
 * `now`; the status it had before is kept to go back to if it never
 * confirms. `why` goes to the events log. */
int	 subscriber_set_pending(struct db *db, int64_t id, int64_t now, const char *why,
	    diag *d);
/* The highest subscriber id ever given (0: none): every subscriber added
 * later has a higher one (AUTOINCREMENT). */
int	 subscriber_last_id(struct db *db, int64_t *id, diag *d);
/* A pending subscriber becomes active. *done = 0 when it was not pending
 * (nothing changed). */
int	 subscriber_confirm(struct db *db, int64_t id, const char *why, int *done,
	    diag *d);
/* Pending since before `before`: a new address is deleted (its queued
 * confirmation dropped); one that had a status goes back to it. *n (may be
 * NULL): how many. */
int	 subscriber_expire_pending(struct db *db, int64_t before, int64_t *n, diag *d);

/* A bulk import inside the caller's one transaction: rows are added (and
 * their "created" events), a person already on the list keeps their state,
 * a removed address is skipped, and an address given twice (in any case)
 * is a duplicate, reported with the line that had it first. Rows are
 * buffered and added 64 to an INSERT OR IGNORE (looked at one by one when
 * a batch met an address already taken). Memory: 64 rows, and about 12 bytes per row
 * added (ids and line numbers) besides SQLite's page cache. */
struct sub_import;
struct sub_import_dup {
	int	 line, first_line;	/* the duplicate's line, the first one's */
	buf	 email, first_email;	/* as spelled on each */
};
/* source: the events log's "imported from FILE". NULL on error. */
struct sub_import *subscriber_import_start(struct db *db, const char *source, diag *d);
/* 0; 1 with *dup filled when a duplicate was found (maybe a row given
 * before this one and buffered); -1 on error. */
int	 subscriber_import_row(struct sub_import *im, const struct subscriber *s,
	    const char *email_key, int line, struct sub_import_dup *dup, diag *d);
/* Adds the buffered rows; returns as subscriber_import_row. Before
 * reporting an error of a later line, and after the last row. */
int	 subscriber_import_flush(struct sub_import *im, struct sub_import_dup *dup, diag *d);
/* After a flush: rows added, already on the list, suppressed. */
void	 subscriber_import_counts(const struct sub_import *im, int64_t *added,
	    int64_t *existing, int64_t *suppressed);
/* After the last flush, before the commit: the events of the rows added. */
int	 subscriber_import_finish(struct sub_import *im, diag *d);
void	 subscriber_import_end(struct sub_import *im);

#endif
