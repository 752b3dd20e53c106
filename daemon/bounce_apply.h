/* bounce_apply - what a parsed bounce does to the subscriber it is about.
 *
 * A report changes a subscriber only with proof that it answers a copy we
 * sent to that subscriber (bounce_prove), tried in this order:
 *   verp             the VERP address it was sent to, with a genuine MAC;
 *   message-id       the returned copy's Message-ID, whose MAC binds the
 *                    delivery and its subscriber (token.h);
 *   list-unsubscribe our unsubscribe token in the returned copy's
 *                    List-Unsubscribe field (a complaint feedback loop that
 *                    returns the original's headers carries it).
 * A report without proof (only an address, a forged MAC, a removed
 * subscriber) changes nothing: each of its verdicts is an event
 * 'bounce-unverified' and counts in bounce_outcome.unverified. With proof,
 * in one transaction, the verdict is recorded in `bounces` and `events`:
 *   hard      -> subscriber bounced at once, the delivery 'bounced';
 *   soft      -> the bounce score (at most +1 per score_interval, starting
 *                over when the last bounce is older than score_reset), and
 *                bounced when it reaches score_threshold (Mailman 3's rules);
 *   complaint -> subscriber complained (no more mail of any kind).
 * A delay notice (every verdict ignore, reason "delayed") with proof is an
 * event 'delay' on the subscriber and never a score.
 * A status other than active drops the subscriber's queued deliveries
 * (subscribers.c does that). A mail to unsubscribe+TOKEN@ unsubscribes the
 * token's subscriber (a bad token: unverified). Deliveries are read and
 * written through queue.c. Nothing is ever sent back.
 */
#ifndef BROADSIDE_BOUNCE_APPLY_H
#define BROADSIDE_BOUNCE_APPLY_H

#include <stdint.h>

#include "bounce_parse.h"
#include "config.h"
#include "db.h"
#include "diag.h"
#include "secret.h"

/* Mailman 3's bounce score, as a pure function of times passed in. */
struct bounce_score_rules {
	int64_t	threshold;	/* bounced at this score (5) */
	int64_t	interval;	/* at most +1 per this many seconds (1 day) */
	int64_t	reset;		/* a score older than this starts over (7 days) */
};

/* The score after a soft bounce at `now`, given the score and the time of
 * the last counted bounce (0: never). *counted_at is the time to record as
 * the last counted bounce (unchanged when this one did not count). Returns
 * the new score; *reached is 1 when it is at or above the threshold. */
int64_t	bounce_score_next(const struct bounce_score_rules *rules, int64_t score,
	    int64_t last_at, int64_t now, int64_t *counted_at, int *reached);
void	bounce_score_rules_from(const struct config *cfg, struct bounce_score_rules *out);

enum bounce_proof_kind {
	PROOF_NONE,
	PROOF_VERP,
	PROOF_MESSAGE_ID,
	PROOF_LIST_UNSUBSCRIBE,
};

struct bounce_proof {
	enum bounce_proof_kind kind;
	int64_t	delivery_id;	/* 0: not known (list-unsubscribe proof only) */
	int64_t	subscriber_id;	/* set with any proof */
	char	why[320];	/* PROOF_NONE: what was missing or forged */
};

const char *bounce_proof_name(enum bounce_proof_kind k);

/* Looks for the proof (above) with the key file's keys; reads the
 * database, writes nothing. 0 (p->kind may be PROOF_NONE), -1 on a
 * database error. */
int	bounce_prove(struct db *db, const struct config *cfg, const struct secret *sec,
	    const struct bounce_report *r, int64_t now, struct bounce_proof *p, diag *d);

struct bounce_outcome {
	int	recorded;	/* rows written to `bounces` */
	int	unverified;	/* verdicts without proof: recorded as events only */
	int	delays;		/* delay notices with proof: an event, no score */
	enum bounce_proof_kind proof;
	int	suppressed;	/* subscribers whose status changed */
	int	ignored;	/* 1: nothing to apply (not a bounce, forged, ...) */
	char	summary[512];	/* one line for the log / the CLI */
};

/* Applies the report in its own transaction. -1 with EX_TEMPFAIL when the
 * database is busy (the caller keeps the message and retries), other codes
 * for a broken database or key file. */
int	bounce_apply(struct db *db, const struct config *cfg,
	    const struct bounce_report *r, int64_t now, struct bounce_outcome *oc, diag *d);
/* The same inside a transaction the caller owns (the IMAP intake records
 * the message's UID in it too). */
int	bounce_apply_tx(struct db *db, const struct config *cfg,
	    const struct bounce_report *r, int64_t now, struct bounce_outcome *oc, diag *d);

#endif
