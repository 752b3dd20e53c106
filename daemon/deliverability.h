/* deliverability - complaint and bounce rates, their warnings and the pause.
 *
 * Mailbox providers judge a sender by the share of its mail that readers
 * report as spam (Gmail: under 0.1 %, never 0.3 %) and that bounces hard.
 * This module counts both per issue and over a window (the last 30 days),
 * warns once per issue in the log (and in the events log) when an issue
 * passes deliverability.warn_*_rate, and pauses an issue still sending when
 * it passes deliverability.pause_*_rate (when set). The pause is automatic
 * once per issue: an operator who resumes it has seen the rate and decided.
 *
 * Counted per issue, among its deliveries that are finished (sent, failed
 * or bounced):
 *   complaints    deliveries with a bounces row of kind 'complaint' (ARF)
 *   hard bounces  deliveries bounced, failed with a 5.1.x status (the
 *                 address does not exist), or with a 'hard' bounces row
 * Rates are judged once an issue has deliverability.min_deliveries (queued
 * ones too), as a share of its finished deliveries but never of fewer than
 * min_deliveries: 6 hard bounces among the first 40 of a 300-copy issue are
 * judged as 6 of 100 (min 100), which is the least the share can be when
 * the 100th is finished. So a share can only pass a limit when a complaint
 * or a hard bounce is counted (a sent copy only lowers it), and checking on
 * each of those (deliverability_check_delivery) catches every crossing.
 */
#ifndef BROADSIDE_DELIVERABILITY_H
#define BROADSIDE_DELIVERABILITY_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "db.h"
#include "diag.h"

#define DELIV_WINDOW	(30 * 86400)	/* the window of the sender's overall rates */

struct deliv_rates {
	int64_t	 issue_id;		/* 0 for a window over every issue */
	int64_t	 deliveries;		/* finished: sent, failed, bounced */
	int64_t	 total;			/* all, queued too (counted up to min_deliveries) */
	int64_t	 complaints;
	int64_t	 hard_bounces;
	int64_t	 complaint_ppm;		/* parts per million of deliveries */
	int64_t	 bounce_ppm;
	int64_t	 complaint_judged_ppm;	/* ... of max(deliveries, min_deliveries) */
	int64_t	 bounce_judged_ppm;
	int	 judged;		/* total >= min_deliveries */
	int	 complaint_warn;	/* judged and past warn_complaint_rate */
	int	 bounce_warn;
	int	 paused;		/* deliverability_check_issue paused it now */
};

/* Counts of one issue (read only). */
int	deliverability_issue_rates(struct db *db, const struct config *cfg,
	    int64_t issue_id, struct deliv_rates *out, diag *d);
/* Counts over every issue since `since` (deliveries finished, complaints
 * and bounces recorded since then). */
int	deliverability_window_rates(struct db *db, const struct config *cfg,
	    int64_t since, struct deliv_rates *out, diag *d);

/* Counts, then acts: a warning in the log and an event the first time the
 * issue passes a warn rate; a pause (issue_transition to paused, with an
 * event saying why) the first time an issue still sending passes a pause
 * rate. Runs in the caller's transaction if one is open, else in its own. */
int	deliverability_check_issue(struct db *db, const struct config *cfg,
	    int64_t issue_id, struct deliv_rates *out, diag *d);
/* The same for the issue of a delivery, called after each complaint or hard
 * bounce is recorded (bounce_apply; the sender after an SMTP 5.1.x failure
 * is committed); a delivery of no issue is not an error. Not throttled by
 * time: the counts of the issue's last full check are kept in memory with
 * the number of such calls and of bounces rows since, and the issue is
 * counted again only when those bounds say a limit could have been passed
 * (every call while the issue is small or near a limit; on a large issue
 * far from its limits, one indexed look-up). Thread-safe. */
int	deliverability_check_delivery(struct db *db, const struct config *cfg,
	    int64_t delivery_id, diag *d);
/* Every issue now sending (the scheduler's pass, every DELIV_CHECK_EVERY): a
 * backstop for changes the hooks do not see (deliveries queued again). */
#define DELIV_CHECK_EVERY	30	/* seconds */
int	deliverability_check_sending(struct db *db, const struct config *cfg, diag *d);

/* Prometheus gauges (text format): the complaint and hard bounce ratios of
 * the last 30 days and of each issue sent within them. */
int	deliverability_metrics(struct db *db, const struct config *cfg, int64_t now,
	    buf *out, diag *d);

/* "0.25%" */
void	deliverability_format_ppm(int64_t ppm, char *out, size_t n);
/* One line: "complaints 0.25% (5 of 2000), hard bounces 1.20% (24 of 2000)". */
void	deliverability_describe(const struct deliv_rates *r, buf *out);
/* The warnings of r, each one sentence, into out[0..]; returns how many
 * (0, 1 or 2). */
#define DELIV_WARNING_MAX	200
size_t	deliverability_warnings(const struct deliv_rates *r, const struct config *cfg,
	    char out[2][DELIV_WARNING_MAX]);

#endif
