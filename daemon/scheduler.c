/* scheduler - the thread that starts and finishes issues. */
#include "scheduler.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "db.h"
#include "deliverability.h"
#include "log.h"
#include "queue.h"
#include "subscribers.h"
#include "xalloc.h"

#define TICK_MS	50	/* a round is a few indexed reads when nothing changes */
/* Fan-out: a small first chunk so that the senders start at once, then
 * bigger ones (each a short write transaction the senders' writes wait
 * behind), for at most FANOUT_BUDGET_MS per round so that the rest of
 * the round (finishing, deliverability, the watchdog) still runs. */
#define FANOUT_FIRST	2000
#define FANOUT_BUDGET_MS 200
/* Retention: a pass every RETIRE_EVERY seconds (and at start), walking
 * RETIRE_CHUNK deliveries a transaction, one transaction a round, only
 * while no fan-out is under way: a few milliseconds of write lock at a
 * time, never the senders' wait for long. */
#define RETIRE_EVERY	600
#define RETIRE_CHUNK	2000
/* Paid periods that ended (trials above all): looked for once a second
 * (an indexed read), ended PAID_CHUNK readers a transaction, so that a
 * reader is free again within about a second of the end and the writes
 * stay short. */
#define PAID_EVERY_MS	1000
#define PAID_CHUNK	200

/* A fan-out this thread is carrying on (for its log lines only: the
 * progress that matters is the cursor in the database). */
struct fan {
	int64_t	id, count, t0;
};

struct seen {
	int64_t	id;
	char	status[16];
};

struct scheduler {
	const struct config *cfg;
	void		(*fanned_out)(void *arg);
	void		*arg;
	struct db	*db;
	pthread_t	 th;
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	int		 stop;
	atomic_llong	 heartbeat;
	struct seen	*seen;
	size_t		 nseen, capseen;
	struct fan	*fans;
	size_t		 nfans, capfans;
	int64_t		 deliv_at;	/* last deliverability pass */
	int64_t		 retire_at;	/* next retention pass (clock_now) */
	int64_t		 retire_cursor, retired;	/* the pass under way */
	int64_t		 paid_at;	/* last paid-period pass (clock_mono_ms) */
};

static void
on_finished(int64_t issue_id, const struct queue_counts *c, void *arg)
{
	(void)arg;
	log_notice("issue %lld: sent: %lld sent, %lld failed, %lld dropped, %lld bounced "
	    "(%.1f messages/s)", (long long)issue_id, (long long)c->sent,
	    (long long)c->failed, (long long)c->dropped, (long long)c->bounced,
	    c->rate_average);
}

/* Logs the status changes made by others (the CLI): paused, resumed,
 * cancelled. */
static void
watch_statuses(struct scheduler *s, int first)
{
	sqlite3_stmt *st = db_stmt(s->db, "SELECT id, status FROM issues "
	    "WHERE status IN ('sending', 'paused', 'cancelled') AND "
	    "(status <> 'cancelled' OR finished_at >= ?1)");
	int rc;

	sqlite3_bind_int64(st, 1, clock_now() - 60);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		const char *status = (const char *)sqlite3_column_text(st, 1);
		struct seen *e = NULL;

		for (size_t i = 0; i < s->nseen; i++)
			if (s->seen[i].id == id)
				e = &s->seen[i];
		if (!e) {
			s->seen = xgrow(s->seen, &s->capseen, s->nseen + 1, sizeof *s->seen);
			e = &s->seen[s->nseen++];
			e->id = id;
			e->status[0] = '\0';
			if (first || strcmp(status, "sending") == 0)
				snprintf(e->status, sizeof e->status, "%s", status);
		}
		if (strcmp(e->status, status) == 0)
			continue;
		if (strcmp(status, "paused") == 0)
			log_notice("issue %lld: paused", (long long)id);
		else if (strcmp(status, "sending") == 0)
			log_notice("issue %lld: resumed", (long long)id);
		else if (strcmp(status, "cancelled") == 0)
			log_notice("issue %lld: cancelled; its waiting copies are dropped",
			    (long long)id);
		snprintf(e->status, sizeof e->status, "%s", status);
	}
	sqlite3_reset(st);
}

static struct fan *
fan_of(struct scheduler *s, int64_t id, int *fresh)
{
	for (size_t i = 0; i < s->nfans; i++)
		if (s->fans[i].id == id) {
			*fresh = 0;
			return &s->fans[i];
		}
	s->fans = xgrow(s->fans, &s->capfans, s->nfans + 1, sizeof *s->fans);
	s->fans[s->nfans] = (struct fan){ id, 0, clock_mono_ms() };
	*fresh = 1;
	return &s->fans[s->nfans++];
}

static void
fan_done(struct scheduler *s, struct fan *f)
{
	*f = s->fans[--s->nfans];
}

/* Fans out chunks of the issues due; 1 when fan-out work is left. */
static int
fan_out(struct scheduler *s, int64_t now)
{
	int64_t *ids = NULL, start = clock_mono_ms();
	size_t n = 0;
	diag d = DIAG_INIT;
	int more = 0;

	if (queue_due_issues(s->db, now, &ids, &n, &d) < 0)
		log_warn("scheduler: %s", d.msg);
	for (size_t i = 0; i < n; i++) {
		int fresh, done = 0;
		struct fan *f = fan_of(s, ids[i], &fresh);

		while (!done) {
			int64_t count = 0;
			if (queue_fanout_step(s->db, ids[i], now, fresh ? FANOUT_FIRST :
			    QUEUE_FANOUT_CHUNK, &count, &done, &d) < 0) {
				log_err("issue %lld: fan-out failed: %s", (long long)ids[i], d.msg);
				fan_done(s, f);
				break;
			}
			f->count += count;
			if (fresh) {
				log_notice("issue %lld: sending (fan-out under way)", (long long)ids[i]);
				s->seen = xgrow(s->seen, &s->capseen, s->nseen + 1, sizeof *s->seen);
				s->seen[s->nseen].id = ids[i];
				snprintf(s->seen[s->nseen].status, sizeof s->seen[0].status, "sending");
				s->nseen++;
				fresh = 0;
			}
			if (s->fanned_out && count > 0)
				s->fanned_out(s->arg);
			if (done) {
				log_notice("issue %lld: sending to %lld subscribers (fanned out in "
				    "%lld ms)", (long long)ids[i], (long long)f->count,
				    (long long)(clock_mono_ms() - f->t0));
				fan_done(s, f);
			} else if (clock_mono_ms() - start >= FANOUT_BUDGET_MS) {
				more = 1;
				break;
			}
		}
		if (more)
			break;
	}
	free(ids);
	return more;
}

/* One step of the retention pass (queue_retire). */
static void
retire(struct scheduler *s, int64_t now)
{
	diag d = DIAG_INIT;
	int64_t n = 0;
	int done = 0;

	if (now < s->retire_at)
		return;
	if (queue_retire(s->db, now - s->cfg->retention.deliveries, &s->retire_cursor,
	    RETIRE_CHUNK, &n, &done, &d) < 0) {
		log_warn("scheduler: retention: %s", d.msg);
		done = 1;
	}
	s->retired += n;
	if (!done)
		return;
	if (s->retired > 0) {
		char keep[32];
		clock_format_duration(s->cfg->retention.deliveries, keep, sizeof keep);
		log_notice("retention: %lld deliveries older than %s folded into their "
		    "issues' counts", (long long)s->retired, keep);
	}
	s->retired = 0;
	s->retire_cursor = 0;
	s->retire_at = now + RETIRE_EVERY;
}

/* Readers whose paid period (a trial, or one set from outside) is over
 * become free again (subscribers.c does the write); 1 when more are left. */
static int
end_paid(struct scheduler *s, int64_t now)
{
	diag d = DIAG_INIT;
	int64_t n = 0;

	if (clock_mono_ms() - s->paid_at < PAID_EVERY_MS)
		return 0;
	if (db_begin(s->db, &d) < 0 ||
	    subscriber_expire_paid(s->db, now, PAID_CHUNK, &n, &d) < 0 ||
	    db_commit(s->db, &d) < 0) {
		db_rollback(s->db);
		log_warn("scheduler: ending paid periods: %s", d.msg);
		s->paid_at = clock_mono_ms();
		return 0;
	}
	if (n > 0)
		log_notice("%lld paid period%s ended (trials and paid-until dates): "
		    "free again", (long long)n, n == 1 ? "" : "s");
	if (n < PAID_CHUNK)
		s->paid_at = clock_mono_ms();
	return n == PAID_CHUNK;
}

/* One round; 1 when work is left for the next one at once. */
static int
round_once(struct scheduler *s, int first)
{
	int64_t now = clock_now();
	diag d = DIAG_INIT;
	/* Before the fan-out: a reader whose trial is over gets the free cut. */
	int more = end_paid(s, now);

	more |= fan_out(s, now);
	if (!more)
		retire(s, now);

	watch_statuses(s, first);
	/* Complaint and bounce rates of the issues sending: pause past the limits. */
	if (now - s->deliv_at >= DELIV_CHECK_EVERY) {
		s->deliv_at = now;
		if (deliverability_check_sending(s->db, s->cfg, &d) < 0)
			log_warn("scheduler: deliverability: %s", d.msg);
	}
	if (queue_finish_issues(s->db, now, on_finished, s, &d) < 0)
		log_warn("scheduler: %s", d.msg);
	atomic_store(&s->heartbeat, clock_mono_ms());
	return more;
}

static void *
scheduler_main(void *arg)
{
	struct scheduler *s = arg;
	int first = 1;

	pthread_mutex_lock(&s->mu);
	while (!s->stop) {
		struct timespec ts;

		pthread_mutex_unlock(&s->mu);
		int more = round_once(s, first);
		first = 0;
		pthread_mutex_lock(&s->mu);
		clock_deadline(TICK_MS, &ts);
		if (!s->stop && !more)
			pthread_cond_timedwait(&s->cv, &s->mu, &ts);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

int
scheduler_start(const struct config *cfg, void (*fanned_out)(void *arg), void *arg,
    struct scheduler **out, diag *d)
{
	struct scheduler *s = xcalloc(1, sizeof *s);

	s->cfg = cfg;
	s->fanned_out = fanned_out;
	s->arg = arg;
	if (db_open(cfg->database, DB_OPEN_EXISTING, &s->db, d) < 0) {
		free(s);
		return -1;
	}
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	atomic_store(&s->heartbeat, clock_mono_ms());
	if (pthread_create(&s->th, NULL, scheduler_main, s) != 0) {
		db_close(s->db);
		free(s);
		return diag_set(d, 71, "cannot start the scheduler thread");
	}
	*out = s;
	return 0;
}

void
scheduler_stop(struct scheduler *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->th, NULL);
	db_close(s->db);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s->seen);
	free(s->fans);
	free(s);
}

int64_t
scheduler_heartbeat(struct scheduler *s)
{
	return atomic_load(&s->heartbeat);
}
