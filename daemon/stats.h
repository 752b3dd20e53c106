/* stats - the read-only counts reported about sending: by the CLI (stats,
 * issue show), /metrics and the deliverability judge.
 *
 * queue.c alone writes `deliveries`; every count that reads it for a report
 * is here, in one place, so that a change of the schema (retention folding
 * old rows into delivery_counts, a new state) has one reader to follow.
 * Row lists come back as prepared statements of the database's cache, for
 * the caller's printer to step and reset.
 */
#ifndef BROADSIDE_STATS_H
#define BROADSIDE_STATS_H

#include <stdint.h>

#include "db.h"
#include "diag.h"

/* Rows (state, count) over every issue, retention's folded counts included. */
sqlite3_stmt *stats_deliveries_by_state(struct db *db);
/* Rows (relay, state, count); relay "" before a first attempt. */
sqlite3_stmt *stats_deliveries_by_relay(struct db *db);

/* Not finished (queued, deferred, sending), and of those due at `now`. */
int	stats_queue_depth(struct db *db, int64_t now, int64_t *depth, int64_t *due, diag *d);

/* One issue's finished copies, for its bounce and complaint rates. */
struct stats_issue {
	int64_t	finished;	/* sent, failed or bounced */
	int64_t	dead;		/* of those, bounced or refused as a dead address */
	int64_t	total_upto;	/* all its copies, counted up to `min` */
	int64_t	complaints;	/* copies with a complaint */
	int64_t	hard_reports;	/* copies with a hard bounce report, not already dead */
};
int	stats_issue(struct db *db, int64_t issue_id, int64_t min, struct stats_issue *out,
	    diag *d);

/* The largest id of `bounces` (0 for none), and how many rows have a larger
 * one: what was recorded since, by any process (the deliverability hook's
 * bound; a range of the primary key). */
int	stats_bounces_last_id(struct db *db, int64_t *id, diag *d);
int	stats_bounces_after(struct db *db, int64_t after, int64_t *n, diag *d);

#endif
