/* deliverability - complaint and bounce rates, their warnings and the pause. */
#include "deliverability.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "issues.h"
#include "log.h"
#include "queue.h"
#include "stats.h"
#include "xalloc.h"

#define EV_COMPLAINT_WARN	"complaint-rate-warning"
#define EV_BOUNCE_WARN		"bounce-rate-warning"
#define EV_AUTO_PAUSED		"auto-paused"

void
deliverability_format_ppm(int64_t ppm, char *out, size_t n)
{
	snprintf(out, n, "%.2f%%", (double)ppm / 10000.0);
	/* "0.10%" -> "0.1%", "2.00%" -> "2%": as the settings are written. */
	char *pct = strchr(out, '%'), *p = pct;
	while (p > out && p[-1] == '0')
		p--;
	if (p > out && p[-1] == '.')
		p--;
	memmove(p, pct, strlen(pct) + 1);
}

static int64_t
ppm(int64_t part, int64_t whole)
{
	return whole > 0 ? (part * 1000000 + whole / 2) / whole : 0;
}

static void
judge(const struct config *cfg, struct deliv_rates *r)
{
	const int64_t min = cfg->deliverability.min_deliveries;
	const int64_t over = r->deliveries > min ? r->deliveries : min;

	r->complaint_ppm = ppm(r->complaints, r->deliveries);
	r->bounce_ppm = ppm(r->hard_bounces, r->deliveries);
	r->complaint_judged_ppm = ppm(r->complaints, over);
	r->bounce_judged_ppm = ppm(r->hard_bounces, over);
	r->judged = r->deliveries >= min || r->total >= min;
	r->complaint_warn = r->judged &&
	    r->complaint_judged_ppm > cfg->deliverability.warn_complaint;
	r->bounce_warn = r->judged && r->bounce_judged_ppm > cfg->deliverability.warn_bounce;
}

/* Adds the counts of one issue to r. Its deliveries in all states are
 * counted only up to `min` (enough to know whether it can be judged). */
static int
count_issue(struct db *db, int64_t issue_id, int64_t min, struct deliv_rates *r, diag *d)
{
	struct stats_issue si;

	if (stats_issue(db, issue_id, min, &si, d) < 0)
		return -1;
	r->deliveries += si.finished;
	r->hard_bounces += si.dead + si.hard_reports;
	r->total += si.total_upto;
	r->complaints += si.complaints;
	return 0;
}

int
deliverability_issue_rates(struct db *db, const struct config *cfg, int64_t issue_id,
    struct deliv_rates *out, diag *d)
{
	memset(out, 0, sizeof *out);
	out->issue_id = issue_id;
	if (count_issue(db, issue_id, cfg->deliverability.min_deliveries, out, d) < 0)
		return -1;
	judge(cfg, out);
	return 0;
}

/* Issues that sent within the window: started since, or still going. */
static int
issues_since(struct db *db, int64_t since, int sending_only, int64_t **ids, size_t *n,
    diag *d)
{
	sqlite3_stmt *st = sending_only
	    ? db_stmt(db, "SELECT id FROM issues WHERE status = 'sending' ORDER BY id")
	    : db_stmt(db, "SELECT id FROM issues WHERE status IN ('sending', 'paused') "
		"OR coalesce(finished_at, started_at, 0) >= ?1 ORDER BY id");
	size_t cap = 0;
	int rc;

	*ids = NULL;
	*n = 0;
	if (!sending_only)
		sqlite3_bind_int64(st, 1, since);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*ids = xgrow(*ids, &cap, *n + 1, sizeof **ids);
		(*ids)[(*n)++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		free(*ids);
		*ids = NULL;
		return db_fail(db, d, "listing issues");
	}
	return 0;
}

int
deliverability_window_rates(struct db *db, const struct config *cfg, int64_t since,
    struct deliv_rates *out, diag *d)
{
	int64_t *ids;
	size_t n;
	int rc = 0;

	memset(out, 0, sizeof *out);
	if (issues_since(db, since, 0, &ids, &n, d) < 0)
		return -1;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = count_issue(db, ids[i], cfg->deliverability.min_deliveries, out, d);
	free(ids);
	judge(cfg, out);
	return rc;
}

int
deliverability_metrics(struct db *db, const struct config *cfg, int64_t now, buf *out,
    diag *d)
{
	struct deliv_rates w, *per;
	int64_t *ids;
	size_t n;
	int rc = 0;

	if (issues_since(db, now - DELIV_WINDOW, 0, &ids, &n, d) < 0)
		return -1;
	per = xcalloc(n ? n : 1, sizeof *per);
	memset(&w, 0, sizeof w);
	for (size_t i = 0; i < n && rc == 0; i++) {
		per[i].issue_id = ids[i];
		rc = count_issue(db, ids[i], cfg->deliverability.min_deliveries, &per[i], d);
		judge(cfg, &per[i]);
		w.deliveries += per[i].deliveries;
		w.complaints += per[i].complaints;
		w.hard_bounces += per[i].hard_bounces;
		w.total += per[i].total;
	}
	judge(cfg, &w);
	if (rc == 0) {
		buf_printf(out, "# HELP broadside_complaint_ratio_30d Complaints (ARF) per finished "
		    "delivery, issues of the last 30 days. Gmail: keep under 0.001, never 0.003.\n"
		    "# TYPE broadside_complaint_ratio_30d gauge\n"
		    "broadside_complaint_ratio_30d %.6f\n"
		    "# HELP broadside_hard_bounce_ratio_30d Hard bounces per finished delivery, "
		    "issues of the last 30 days.\n"
		    "# TYPE broadside_hard_bounce_ratio_30d gauge\n"
		    "broadside_hard_bounce_ratio_30d %.6f\n",
		    (double)w.complaint_ppm / 1e6, (double)w.bounce_ppm / 1e6);
		buf_puts(out, "# HELP broadside_issue_complaint_ratio Complaints per finished "
		    "delivery of the issue.\n# TYPE broadside_issue_complaint_ratio gauge\n");
		for (size_t i = 0; i < n; i++)
			buf_printf(out, "broadside_issue_complaint_ratio{issue=\"%lld\"} %.6f\n",
			    (long long)per[i].issue_id, (double)per[i].complaint_ppm / 1e6);
		buf_puts(out, "# HELP broadside_issue_hard_bounce_ratio Hard bounces per finished "
		    "delivery of the issue.\n# TYPE broadside_issue_hard_bounce_ratio gauge\n");
		for (size_t i = 0; i < n; i++)
			buf_printf(out, "broadside_issue_hard_bounce_ratio{issue=\"%lld\"} %.6f\n",
			    (long long)per[i].issue_id, (double)per[i].bounce_ppm / 1e6);
	}
	free(per);
	free(ids);
	return rc;
}

void
deliverability_describe(const struct deliv_rates *r, buf *out)
{
	char c[32], b[32];

	deliverability_format_ppm(r->complaint_ppm, c, sizeof c);
	deliverability_format_ppm(r->bounce_ppm, b, sizeof b);
	buf_printf(out, "complaints %s (%lld of %lld), hard bounces %s (%lld of %lld)", c,
	    (long long)r->complaints, (long long)r->deliveries, b,
	    (long long)r->hard_bounces, (long long)r->deliveries);
}

size_t
deliverability_warnings(const struct deliv_rates *r, const struct config *cfg,
    char out[2][DELIV_WARNING_MAX])
{
	char have[32], lim[32];
	size_t n = 0;

	if (r->complaint_warn) {
		deliverability_format_ppm(r->complaint_judged_ppm, have, sizeof have);
		deliverability_format_ppm(cfg->deliverability.warn_complaint, lim, sizeof lim);
		snprintf(out[n++], DELIV_WARNING_MAX, "complaint rate %s is over %s: mailbox "
		    "providers send a sender past 0.3%% to spam", have, lim);
	}
	if (r->bounce_warn) {
		deliverability_format_ppm(r->bounce_judged_ppm, have, sizeof have);
		deliverability_format_ppm(cfg->deliverability.warn_bounce, lim, sizeof lim);
		snprintf(out[n++], DELIV_WARNING_MAX, "hard bounce rate %s is over %s: the "
		    "list holds dead addresses", have, lim);
	}
	return n;
}

static int
has_event(struct db *db, int64_t issue_id, const char *event, int *yes, diag *d)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT 1 FROM events WHERE kind = 'issue' AND "
	    "ref_id = ?1 AND event = ?2 LIMIT 1");
	int rc;

	sqlite3_bind_int64(st, 1, issue_id);
	sqlite3_bind_text(st, 2, event, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(db, d, "reading the events log");
	*yes = rc == SQLITE_ROW;
	return 0;
}

/* When fewer than min_deliveries are finished, the share judged is of that
 * many: say so after the figures. */
static void
judged_note(const struct config *cfg, const struct deliv_rates *r, buf *out)
{
	if (r->deliveries < cfg->deliverability.min_deliveries)
		buf_printf(out, "; judged over at least %lld deliveries "
		    "(deliverability.min_deliveries)",
		    (long long)cfg->deliverability.min_deliveries);
}

/* The first time: a log line and an event. */
static int
warn_once(struct db *db, const struct config *cfg, int64_t id, const char *event,
    const char *what, int64_t have, int64_t lim, const char *setting,
    const struct deliv_rates *r, diag *d)
{
	char h[32], l[32];
	buf msg = BUF_INIT;
	int seen, rc;

	if (has_event(db, id, event, &seen, d) < 0)
		return -1;
	if (seen)
		return 0;
	deliverability_format_ppm(have, h, sizeof h);
	deliverability_format_ppm(lim, l, sizeof l);
	buf_printf(&msg, "%s rate %s passed %s (%s): ", what, h, l, setting);
	deliverability_describe(r, &msg);
	judged_note(cfg, r, &msg);
	log_warn("issue %lld: %s", (long long)id, msg.data);
	rc = db_event(db, "issue", id, event, msg.data, d);
	buf_free(&msg);
	return rc;
}

static int
act(struct db *db, const struct config *cfg, struct deliv_rates *r, diag *d)
{
	const int64_t pc = cfg->deliverability.pause_complaint;
	const int64_t pb = cfg->deliverability.pause_bounce;
	int over_c = r->judged && pc > 0 && r->complaint_judged_ppm > pc;
	int over_b = r->judged && pb > 0 && r->bounce_judged_ppm > pb;
	int paused_before;
	struct issue is;

	if (r->complaint_warn && warn_once(db, cfg, r->issue_id, EV_COMPLAINT_WARN, "complaint",
	    r->complaint_judged_ppm, cfg->deliverability.warn_complaint,
	    "deliverability.warn_complaint_rate", r, d) < 0)
		return -1;
	if (r->bounce_warn && warn_once(db, cfg, r->issue_id, EV_BOUNCE_WARN, "hard bounce",
	    r->bounce_judged_ppm, cfg->deliverability.warn_bounce,
	    "deliverability.warn_bounce_rate", r, d) < 0)
		return -1;
	if (!over_c && !over_b)
		return 0;
	if (issue_get(db, r->issue_id, &is, d) < 0)
		return -1;
	issue_free(&is);
	if (is.status != ISSUE_SENDING)
		return 0;
	if (has_event(db, r->issue_id, EV_AUTO_PAUSED, &paused_before, d) < 0)
		return -1;
	if (paused_before)
		return 0;	/* resumed by hand after our pause: the operator decided */

	char h[32], l[32];
	buf why = BUF_INIT;
	deliverability_format_ppm(over_c ? r->complaint_judged_ppm : r->bounce_judged_ppm, h,
	    sizeof h);
	deliverability_format_ppm(over_c ? pc : pb, l, sizeof l);
	buf_printf(&why, "%s rate %s passed %s (deliverability.pause_%s_rate): ",
	    over_c ? "complaint" : "hard bounce", h, l, over_c ? "complaint" : "bounce");
	deliverability_describe(r, &why);
	judged_note(cfg, r, &why);
	if (issue_transition(db, r->issue_id, ISSUE_PAUSED, d) < 0 ||
	    db_event(db, "issue", r->issue_id, EV_AUTO_PAUSED, why.data, d) < 0) {
		buf_free(&why);
		return -1;
	}
	log_warn("issue %lld paused: %s; 'broadside issue resume %lld' sends on",
	    (long long)r->issue_id, why.data, (long long)r->issue_id);
	r->paused = 1;
	buf_free(&why);
	return 0;
}

int
deliverability_check_issue(struct db *db, const struct config *cfg, int64_t issue_id,
    struct deliv_rates *out, diag *d)
{
	struct deliv_rates mine;
	struct deliv_rates *r = out ? out : &mine;
	int own;

	if (deliverability_issue_rates(db, cfg, issue_id, r, d) < 0)
		return -1;
	if (!r->complaint_warn && !r->bounce_warn &&
	    !(r->judged && cfg->deliverability.pause_complaint > 0 &&
	      r->complaint_judged_ppm > cfg->deliverability.pause_complaint) &&
	    !(r->judged && cfg->deliverability.pause_bounce > 0 &&
	      r->bounce_judged_ppm > cfg->deliverability.pause_bounce))
		return 0;	/* nothing to write: no transaction */
	own = sqlite3_get_autocommit(db_handle(db)) != 0;
	if (own && db_begin(db, d) < 0)
		return -1;
	if (act(db, cfg, r, d) < 0) {
		if (own)
			db_rollback(db);
		r->paused = 0;
		return -1;
	}
	if (own && db_commit(db, d) < 0) {
		r->paused = 0;
		return -1;
	}
	return 0;
}

/* The hooks run after each complaint or hard bounce, and a full check reads
 * all of the issue's finished deliveries (a million rows: ~0.1 s). So per
 * issue the counts of its last full check are kept, with what could have
 * changed them since:
 *   - finished deliveries only grow (sent outcomes: no hook, and they can
 *     only lower a share), so the count then is a floor;
 *   - each hook adds at most one complaint or hard bounce (one delivery),
 *     and a bounces row recorded by another process (`broadside bounce`
 *     from the MTA) is counted by the rows with a higher id than the
 *     largest then; their sum bounds what was added.
 * A hook counts again only when, with all of those added, a limit not yet
 * acted on (a warning not given, a pause not made) could have been passed;
 * else it costs the delivery's look-up and the bounces id range. Every
 * crossing is therefore seen by the hook that causes it, whatever the
 * machine's load. What the bounds cannot see (deliveries queued again by
 * hand) is left to the scheduler's pass. The slots are per issue; an issue
 * without one is counted. A count made inside the caller's transaction
 * (bounce_apply) sees what that transaction wrote: it is kept as tentative,
 * and dropped as soon as any transaction of the process is rolled back. */
#define HOOK_SLOTS	32
static pthread_mutex_t hook_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t hook_epochs;
static struct hook_slot {
	uint64_t epoch;			/* which life of the slot */
	int64_t	 issue_id;
	int64_t	 hooks;			/* hooks for this issue, ever */
	int64_t	 hooks_at;		/* ... when it was last counted */
	int64_t	 bounce_id_at;		/* max(bounces.id) then */
	int64_t	 deliveries, complaints, hard_bounces, total;
	int	 counted;
	int	 tentative;		/* counted inside a transaction ... */
	unsigned long rollbacks_at;	/* ... good while db_rollback_count() is this */
	int	 warned_c, warned_b, paused;	/* done; not watched any more */
} hook_slot[HOOK_SLOTS];

static struct hook_slot *
slot_of(int64_t issue_id)
{
	struct hook_slot *free_one = NULL;

	for (size_t i = 0; i < HOOK_SLOTS; i++) {
		if (hook_slot[i].issue_id == issue_id)
			return &hook_slot[i];
		if (free_one == NULL && hook_slot[i].issue_id == 0)
			free_one = &hook_slot[i];
	}
	if (free_one == NULL)	/* all taken: replace one; it will be counted again */
		free_one = &hook_slot[(uint64_t)issue_id % HOOK_SLOTS];
	memset(free_one, 0, sizeof *free_one);
	free_one->issue_id = issue_id;
	free_one->epoch = ++hook_epochs;
	return free_one;
}

/* Could `part` (at most) of `whole` (at least) be past `limit` ppm as
 * ppm() rounds? A necessary condition, loose by one part per million. */
static int
could_pass(int64_t part, int64_t whole, int64_t limit)
{
	return part * 1000000 > (limit - 1) * whole;
}

/* With the slot's counts and `added` complaints or hard bounces at most
 * since, could a limit not yet acted on have been passed? */
static int
worth_counting(const struct hook_slot *h, const struct config *cfg, int64_t added)
{
	const int64_t min = cfg->deliverability.min_deliveries;
	const int64_t over = h->deliveries > min ? h->deliveries : min;
	const int64_t c = h->complaints + added, b = h->hard_bounces + added;
	const int64_t pc = cfg->deliverability.pause_complaint;
	const int64_t pb = cfg->deliverability.pause_bounce;

	if (!h->counted || (h->deliveries < min && h->total < min))
		return 1;	/* never counted, or too small to judge then */
	if (!h->warned_c && could_pass(c, over, cfg->deliverability.warn_complaint))
		return 1;
	if (!h->warned_b && could_pass(b, over, cfg->deliverability.warn_bounce))
		return 1;
	if (!h->paused && ((pc > 0 && could_pass(c, over, pc)) ||
	    (pb > 0 && could_pass(b, over, pb))))
		return 1;
	return 0;
}

/* After a full check: which of its limits are acted on for good. */
static int
acted_on(struct db *db, int64_t issue_id, int *warned_c, int *warned_b, int *paused,
    diag *d)
{
	if (has_event(db, issue_id, EV_COMPLAINT_WARN, warned_c, d) < 0 ||
	    has_event(db, issue_id, EV_BOUNCE_WARN, warned_b, d) < 0 ||
	    has_event(db, issue_id, EV_AUTO_PAUSED, paused, d) < 0)
		return -1;
	return 0;
}

int
deliverability_check_delivery(struct db *db, const struct config *cfg, int64_t delivery_id,
    diag *d)
{
	struct hook_slot h, *hs;
	struct deliv_rates r;
	int64_t issue_id = 0, added = 0, hooks_at, bounce_id_at = 0;
	int warned_c, warned_b, paused, in_tx;

	if (queue_delivery_issue(db, delivery_id, &issue_id, d) < 0)
		return -1;
	if (issue_id == 0)
		return 0;

	pthread_mutex_lock(&hook_mu);
	hs = slot_of(issue_id);
	hs->hooks++;
	if (hs->tentative && hs->rollbacks_at != db_rollback_count())
		hs->counted = 0;	/* what it saw may have been rolled back */
	h = *hs;
	pthread_mutex_unlock(&hook_mu);

	if (h.counted) {
		if (stats_bounces_after(db, h.bounce_id_at, &added, d) < 0)
			return -1;
		added += h.hooks - h.hooks_at;
		if (!worth_counting(&h, cfg, added))
			return 0;
	}
	/* Count. What happens from here on is in `added` next time: the hooks
	 * after this one, the bounces rows after the largest id now. */
	hooks_at = h.hooks;
	in_tx = sqlite3_get_autocommit(db_handle(db)) == 0;
	if (stats_bounces_last_id(db, &bounce_id_at, d) < 0 ||
	    deliverability_check_issue(db, cfg, issue_id, &r, d) < 0 ||
	    acted_on(db, issue_id, &warned_c, &warned_b, &paused, d) < 0)
		return -1;
	pthread_mutex_lock(&hook_mu);
	hs = slot_of(issue_id);
	/* The same life of the slot (not replaced meanwhile), and no later
	 * count stored by another thread. */
	if (hs->epoch == h.epoch && (!hs->counted || hs->hooks_at <= hooks_at)) {
		hs->hooks_at = hooks_at;
		hs->bounce_id_at = bounce_id_at;
		hs->deliveries = r.deliveries;
		hs->complaints = r.complaints;
		hs->hard_bounces = r.hard_bounces;
		hs->total = r.total;
		hs->warned_c = warned_c;
		hs->warned_b = warned_b;
		hs->paused = paused;
		hs->counted = 1;
		hs->tentative = in_tx;
		hs->rollbacks_at = db_rollback_count();
	}
	pthread_mutex_unlock(&hook_mu);
	return 0;
}

int
deliverability_check_sending(struct db *db, const struct config *cfg, diag *d)
{
	int64_t *ids;
	size_t n;
	int rc = 0;

	if (issues_since(db, 0, 1, &ids, &n, d) < 0)
		return -1;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = deliverability_check_issue(db, cfg, ids[i], NULL, d);
	free(ids);
	return rc;
}
