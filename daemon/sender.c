/* sender - the worker threads that send: a pool of connections per relay. */
#include "sender.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "db.h"
#include "issue_links.h"
#include "issues.h"
#include "log.h"
#include "metrics.h"
#include "outbox.h"
#include "queue.h"
#include "relay.h"
#include "render.h"
#include "smtp.h"
#include "smtp_policy.h"
#include "token.h"
#include "xalloc.h"

#define GATHER_MS	20	/* outcomes wait at most this long to be batched */
#define IDLE_MS		250	/* nothing due: look again after this long */
#define BEHIND_MS	10	/* the queue thread is behind when a worker waits
				 * this long for a batch, or an outcome GATHER_MS
				 * plus 3 times this to be recorded */
#define RAISED_MS	1000	/* and then stays raised at least this long */

struct compiled {
	int64_t		 issue_id;
	struct issue	 is;
	struct render	*r;		/* NULL: could not be compiled */
};


/* One session's worth: the claimed deliveries, rendered. */
struct batch {
	struct queue_batch q;
	struct smtp_msg	*msgs;		/* nmsgs of them: the rendered ones */
	size_t		*item_of;	/* msgs[k] is q.items[item_of[k]] */
	buf		*bufs;
	buf		*froms;		/* envelope senders (VERP) */
	char		**mids;		/* Message-IDs, without brackets */
	const struct render **rs;	/* what rendered msgs[k] (and signs it) */
	size_t		 nmsgs, cap;
};

/* A worker's next batch, prepared by the queue thread while the worker
 * sends the current one. Guarded by sender.mu. */
enum next_state { NEXT_EMPTY, NEXT_FILLING, NEXT_READY };

struct worker {
	struct sender	*s;
	struct relay	*relay;
	pthread_t	 th;
	int		 started;
	char		 owner[160];
	size_t		 limit;		/* deliveries per batch */
	struct batch	 cur, next;
	enum next_state	 next_state;
	int		 waiting;	/* the worker waits for next */
	int64_t		 waiting_since_ms;
	int		 prefetch;	/* fill next while cur is sent (no rate) */
	int		 near_end;	/* ... now: a quarter of cur is left */
	size_t		 ndone;		/* messages of cur done */
	int64_t		 next_try_ms;	/* nothing was due: not before this */
	int		 relay_fault;
	size_t		 nsent;		/* copies this session got accepted */
	int		 said_421;	/* the relay closed with a 421 */
	int		 poisoned;	/* ...because of a copy judged poison */
	char		 fault_why[320];
	unsigned int	 seed;
};

struct sender {
	const struct config *cfg;
	const struct secret *sec;
	struct relay	**relays;
	size_t		 nrelays;
	struct worker	*workers;
	size_t		 nworkers;
	atomic_int	 stopping;

	pthread_mutex_t	 mu;		/* outbox_add/take, next batches, waits, running */
	pthread_cond_t	 out_cv, fill_cv, done_cv;
	size_t		 running;
	struct outbox	*ob;		/* the single writer */
	int		 queue_quit;
	pthread_t	 queue_th;
	int		 queue_started;
	int		 idle_ok;	/* the queue thread may run as SCHED_IDLE */
	int		 boosted;	/* ... and runs as SCHED_OTHER, being behind */
	int64_t		 boosted_until_ms;

	/* Compiled issues: only the queue thread renders. */
	struct compiled	*compiled;
	size_t		 ncompiled, capcompiled;
};

static void
sleep_ms(int64_t ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0)
		;
}

/* The queue thread's work (SQLite, rendering) runs at SCHED_IDLE: on the
 * CPU time nothing else wants, so that it never delays a sender woken by a
 * reply, nor a relay on this host (on two cores: ~5 % more messages per
 * second into a local smtp-sink, make bench). Lest a busy machine starve
 * it, it is raised to SCHED_OTHER whenever it falls behind (boost) and goes
 * back once it has caught up. An unprivileged process may only leave
 * SCHED_IDLE with RLIMIT_NICE >= 20 (the unit's LimitNICE=20): without it
 * the thread stays SCHED_OTHER throughout. A throwaway thread finds out. */
static void *
idle_probe(void *arg)
{
	struct sched_param sp = { 0 };
	int *ok = arg;

	*ok = pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) == 0 &&
	    pthread_setschedparam(pthread_self(), SCHED_OTHER, &sp) == 0;
	return NULL;
}

/* With s->mu held. */
static void
boost(struct sender *s)
{
	struct sched_param sp = { 0 };

	if (!s->idle_ok || s->boosted || !s->queue_started)
		return;
	s->boosted = 1;
	s->boosted_until_ms = clock_mono_ms() + RAISED_MS;
	metrics_inc(METRIC_QUEUE_BEHIND);
	if (pthread_setschedparam(s->queue_th, SCHED_OTHER, &sp) != 0) {
		log_warn("cannot raise the queue thread's priority; it stays SCHED_OTHER");
		s->idle_ok = 0;
	}
}

/* With s->mu held: w has no next batch, and one is due (being claimed, or
 * to be claimed as soon as the queue thread gets to it). */
static int
next_due(const struct worker *w, int64_t now_ms)
{
	return w->next_state != NEXT_READY && now_ms >= w->next_try_ms;
}

/* With s->mu held, in the queue thread after a pass: back to SCHED_IDLE
 * once RAISED_MS have passed, unless a worker still waits for a batch that
 * is due. */
static void
unboost(struct sender *s)
{
	struct sched_param sp = { 0 };
	int64_t now_ms = clock_mono_ms();

	if (!s->boosted || !s->idle_ok || now_ms < s->boosted_until_ms)
		return;
	for (size_t i = 0; i < s->nworkers; i++) {
		const struct worker *w = &s->workers[i];
		if (w->waiting && next_due(w, now_ms) && !atomic_load(&s->stopping))
			return;
	}
	s->boosted = 0;
	pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
}

/* With s->mu held. The queue thread is only signalled for the first
 * outcome: while it gathers it waits with a deadline anyway, and a signal
 * per message would cost a wake-up per message. */
static void
hand_in(struct sender *s, struct queue_outcome *o)
{
	int64_t since;

	if (outbox_add(s->ob, o) == 1)
		pthread_cond_signal(&s->out_cv);
	else if (outbox_waiting(s->ob, &since) &&
	    clock_mono_ms() - since > GATHER_MS + 3 * BEHIND_MS)
		boost(s);
}

static void
hand_in_locked(struct sender *s, struct queue_outcome *o)
{
	pthread_mutex_lock(&s->mu);
	hand_in(s, o);
	pthread_mutex_unlock(&s->mu);
}

static void
outcome_init(struct queue_outcome *o, const struct queue_item *it, const struct worker *w)
{
	memset(o, 0, sizeof *o);
	o->delivery_id = it->delivery_id;
	o->subscriber_id = it->subscriber_id;
	o->owner = xstrdup(w->owner);
	o->token = it->token;
	o->at = clock_now();
	o->relay = xstrdup(relay_name(w->relay));
}

/* With s->mu held: w's next batch will not be sent. It goes back to the
 * queue untouched (the queue thread records it) and next is empty again. */
static void
release_next(struct sender *s, struct worker *w)
{
	struct batch *b = &w->next;

	for (size_t i = 0; i < b->q.n; i++) {
		struct queue_outcome o;
		outcome_init(&o, &b->q.items[i], w);
		o.result = QR_RELEASE;
		hand_in(s, &o);
	}
	queue_batch_reset(&b->q);
	b->nmsgs = 0;
	w->next_state = NEXT_EMPTY;
}

/* A copy of w's that will not be sent: its outcome (QR_RELEASE, or
 * QR_FAILED and why) goes to the queue thread. */
static void
push_unsent(struct worker *w, const struct queue_item *it, enum queue_result res,
    const char *why)
{
	struct queue_outcome o;

	outcome_init(&o, it, w);
	o.result = res;
	if (why)
		o.text = xstrdup(why);
	hand_in_locked(w->s, &o);
}

static void
batch_free(struct batch *b)
{
	for (size_t k = 0; k < b->cap; k++) {
		buf_free(&b->bufs[k]);
		buf_free(&b->froms[k]);
		free(b->mids[k]);
	}
	free(b->msgs);
	free(b->item_of);
	free(b->bufs);
	free(b->froms);
	free(b->mids);
	free(b->rs);
	queue_batch_free(&b->q);
}

/* The compiled render of an issue; NULL when it cannot be compiled: the
 * issue is then paused with the reason, and compiled afresh the next time
 * it is asked for (after 'issue resume'). Queue thread only. */
static struct render *
render_for(struct sender *s, int64_t issue_id)
{
	struct compiled *c;
	diag d = DIAG_INIT;

	if (outbox_pausing(s->ob, issue_id))
		return NULL;	/* failed in this pass already */
	for (size_t i = 0; i < s->ncompiled; i++)
		if (s->compiled[i].issue_id == issue_id)
			return s->compiled[i].r;
	s->compiled = xgrow(s->compiled, &s->capcompiled, s->ncompiled + 1,
	    sizeof *s->compiled);
	c = &s->compiled[s->ncompiled];
	memset(c, 0, sizeof *c);
	c->issue_id = issue_id;
	if (issue_get(outbox_db(s->ob), issue_id, &c->is, &d) < 0) {
		log_err("issue %lld: %s", (long long)issue_id, d.msg);
		return NULL;
	}
	/* A link to another issue that is not public (yet) would be a dead
	 * link in every copy: checked as at schedule, for a send now. */
	if (c->is.kind == ISSUE_KIND_ISSUE && c->is.status != ISSUE_SENT &&
	    issue_links_check(outbox_db(s->ob), &c->is, clock_now(), NULL, 1, &d) < 0 &&
	    d.code != EX_DATAERR) {
		log_err("issue %lld: %s", (long long)issue_id, d.msg);	/* tried again */
		issue_free(&c->is);
		return NULL;
	}
	if (d.code == EX_DATAERR || render_compile(s->cfg, s->sec, &c->is, &c->r, &d) < 0) {
		char why[300];
		snprintf(why, sizeof why, "cannot be rendered: %.270s", d.msg);
		log_err("issue %lld %s; pausing it ('broadside issue resume %lld' once fixed)",
		    (long long)issue_id, why, (long long)issue_id);
		issue_free(&c->is);
		outbox_pause(s->ob, issue_id, why);
		return NULL;
	}
	s->ncompiled++;
	return c->r;
}

/* The Message-ID of a rendered message, without its angle brackets. */
static char *
message_id_of(const char *msg, size_t len)
{
	const char *p = msg, *end = msg + len;

	while (p < end && !(p + 1 < end && p[0] == '\r' && p[1] == '\n')) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			break;
		if ((size_t)(eol - p) > 11 && strncasecmp(p, "Message-ID:", 11) == 0) {
			const char *a = p + 11, *b = eol;
			while (a < b && (*a == ' ' || *a == '\t' || *a == '<'))
				a++;
			while (b > a && (b[-1] == '\r' || b[-1] == ' ' || b[-1] == '>'))
				b--;
			return xstrndup(a, (size_t)(b - a));
		}
		p = eol + 1;
	}
	return NULL;
}

static void
on_message_done(struct smtp_msg *m, void *arg)
{
	struct worker *w = arg;
	struct sender *s = w->s;
	size_t k = (size_t)(m - w->cur.msgs);
	const struct queue_item *it = &w->cur.q.items[w->cur.item_of[k]];
	struct smtp_retry rt = { s->cfg->retry.min_backoff, s->cfg->retry.max_backoff,
	    s->cfg->retry.max_age };
	struct smtp_decision dec;
	struct queue_outcome o;

	outcome_init(&o, it, w);
	if (atomic_load(&s->stopping) && m->outcome.code == 0) {
		/* Ended unsent by our own stop: back to the queue untouched. */
		o.result = QR_RELEASE;
		pthread_mutex_lock(&s->mu);
		hand_in(s, &o);
		pthread_mutex_unlock(&s->mu);
		return;
	}
	smtp_policy_decide(&m->outcome, &rt, it->attempts, it->first_attempt_at, it->faults,
	    o.at, (uint32_t)rand_r(&w->seed), &dec);
	if (dec.verdict == VERDICT_SENT)
		relay_refusal(w->relay, 0, 0, "");
	else if (smtp_policy_refusal(&m->outcome, &dec)) {
		int64_t run = relay_refusal(w->relay, 1, m->outcome.code, m->outcome.status);
		if (smtp_policy_refusing(&dec, run, s->cfg->retry.relay_refusals) &&
		    run == s->cfg->retry.relay_refusals)
			log_warn("relay %s: %lld copies refused in a row with \"%d %s%s%.120s\": "
			    "taken as the relay refusing all mail, not as each reader's answer; "
			    "the rest wait for it, and `broadside issue retry ISSUE --state failed` "
			    "sends the %lld failed again once it is mended", relay_name(w->relay),
			    (long long)run, m->outcome.code, m->outcome.status,
			    *m->outcome.status ? " " : "", m->text, (long long)run - 1);
	}
	o.code = m->outcome.code;
	memcpy(o.status, m->outcome.status, sizeof o.status);
	if (dec.poison && *m->text) {	/* why it is the copy's, then the relay's words */
		buf t = BUF_INIT;
		buf_printf(&t, "%s (%s)", dec.why, m->text);
		o.text = buf_detach(&t);
	} else
		o.text = xstrdup(*m->text ? m->text : dec.why ? dec.why : "");
	switch (dec.verdict) {
	case VERDICT_SENT:
		metrics_relay_inc(relay_index(w->relay), RELAY_SENT);
		o.result = QR_SENT;
		w->nsent++;
		o.message_id = w->cur.mids[k];
		w->cur.mids[k] = NULL;
		break;
	case VERDICT_DEFER:
		metrics_relay_inc(relay_index(w->relay), RELAY_DEFERRED);
		o.result = QR_DEFERRED;
		o.next_attempt_at = dec.next_attempt_at;
		w->poisoned |= dec.poison;
		break;
	case VERDICT_FAIL:
		metrics_relay_inc(relay_index(w->relay), RELAY_FAILED);
		o.result = QR_FAILED;
		o.suppress = dec.suppress;
		break;
	case VERDICT_RELAY:
		o.result = QR_RELEASE;
		o.blamed = dec.blame;
		if (!w->relay_fault) {
			char reply[16] = "no reply";
			if (m->outcome.code)
				snprintf(reply, sizeof reply, "reply %d", m->outcome.code);
			snprintf(w->fault_why, sizeof w->fault_why, "%s at %s%s%s", reply,
			    smtp_stage_name(m->outcome.stage), *m->text ? ": " : "", m->text);
		}
		w->relay_fault = 1;
		w->said_421 |= m->outcome.code == 421;
		break;
	}
	log_debug("delivery %lld to %s via %s: %s %d %s %s", (long long)it->delivery_id,
	    it->email, relay_name(w->relay), smtp_stage_name(m->outcome.stage),
	    m->outcome.code, m->outcome.status, m->text);
	pthread_mutex_lock(&s->mu);
	hand_in(s, &o);
	/* The next batch is claimed when a quarter of this one is left:
	 * soon enough to be ready, late enough that an unsubscribe in the
	 * meantime is still seen at claim time. */
	if (w->prefetch && !w->near_end && ++w->ndone >= w->cur.nmsgs - w->cur.nmsgs / 4) {
		w->near_end = 1;
		pthread_cond_signal(&s->out_cv);
	}
	pthread_mutex_unlock(&s->mu);
}

static void
rate_wait(void *arg)
{
	struct worker *w = arg;
	int64_t ms;

	while ((ms = relay_rate_take(w->relay, clock_mono_ms())) > 0)
		sleep_ms(ms < 100 ? ms : 100);
}

/* Queue thread: renders a claimed batch, unsigned. A copy that cannot be rendered
 * gets its outcome here: released (the issue could not be compiled, and
 * is paused) or failed (an address no header can carry). */
static void
render_batch(struct sender *s, struct worker *w, struct batch *b)
{
	size_t n = b->q.n, k = 0;
	int64_t now = clock_now();

	if (n > b->cap) {
		size_t old = b->cap;
		b->msgs = xrealloc(b->msgs, n * sizeof *b->msgs);
		b->item_of = xrealloc(b->item_of, n * sizeof *b->item_of);
		b->bufs = xrealloc(b->bufs, n * sizeof *b->bufs);
		b->froms = xrealloc(b->froms, n * sizeof *b->froms);
		b->mids = xrealloc(b->mids, n * sizeof *b->mids);
		b->rs = xrealloc(b->rs, n * sizeof *b->rs);
		for (size_t i = old; i < n; i++) {
			buf_init(&b->bufs[i]);
			buf_init(&b->froms[i]);
			b->mids[i] = NULL;
		}
		b->cap = n;
	}
	for (size_t i = 0; i < n; i++) {
		const struct queue_item *it = &b->q.items[i];
		struct render *r = render_for(s, it->issue_id);
		struct render_to to = { it->delivery_id, it->subscriber_id, it->email,
		    it->name, it->tier };
		diag d = DIAG_INIT;

		if (r == NULL) {
			push_unsent(w, it, QR_RELEASE, NULL);
			continue;
		}
		buf_reset(&b->bufs[k]);
		if (render_message_unsigned(r, &to, now, &b->bufs[k], &d) < 0) {
			push_unsent(w, it, QR_FAILED, d.msg);
			continue;
		}
		metrics_inc(METRIC_RENDERED);
		memset(&b->msgs[k], 0, sizeof b->msgs[k]);
		b->msgs[k].delivery_id = it->delivery_id;
		buf_reset(&b->froms[k]);
		token_verp_make(s->sec, s->cfg->bounces.address, it->delivery_id, &b->froms[k]);
		b->msgs[k].from = buf_cstr(&b->froms[k]);
		b->msgs[k].rcpt = it->email;
		b->msgs[k].data = b->bufs[k].data;
		b->msgs[k].len = b->bufs[k].len;
		free(b->mids[k]);
		b->mids[k] = message_id_of(b->bufs[k].data, b->bufs[k].len);
		b->item_of[k] = i;
		b->rs[k] = r;
		k++;
	}
	b->nmsgs = k;
}

/* With s->mu held: may the queue thread claim a next batch for w now? */
static int
fillable(struct sender *s, struct worker *w, int64_t now_ms)
{
	return w->next_state == NEXT_EMPTY && (w->waiting || w->near_end) &&
	    !atomic_load(&s->stopping) && now_ms >= w->next_try_ms &&
	    relay_wait_ms(w->relay, now_ms) == 0;
}

/* With s->mu held: a next batch with a copy of an issue no longer being
 * sent (paused, cancelled) goes back to the queue whole. */
static void
release_stale(struct sender *s, const int64_t *sending, size_t nsending)
{
	for (size_t i = 0; i < s->nworkers; i++) {
		struct worker *w = &s->workers[i];
		size_t k, j;

		if (w->next_state != NEXT_READY)
			continue;
		for (k = 0; k < w->next.q.n; k++) {
			for (j = 0; j < nsending && sending[j] != w->next.q.items[k].issue_id; j++)
				;
			if (j == nsending)
				break;
		}
		if (k < w->next.q.n)
			release_next(s, w);
	}
}

/* The queue thread: the one writer of the queue. Each pass commits the
 * outcomes gathered (each within ~GATHER_MS of its reply, so that a crash
 * can only re-send what was in flight) and, in the same transaction,
 * claims the next batch of every worker that needs one; then renders
 * those batches. A worker of a relay without a rate needs one when a
 * quarter of its session is left, and finds it claimed and rendered when
 * the session ends: its connection does not wait on the database (a
 * rate-limited one asks when it needs one: its batches last seconds). */
static void *
queue_main(void *arg)
{
	struct sender *s = arg;
	struct worker **fill = xcalloc(s->nworkers, sizeof *fill);
	struct outbox_claim *claims = xcalloc(s->nworkers, sizeof *claims);
	int64_t sending[QUEUE_MAX_SENDING];
	size_t nfill, nsending = 0;
	int64_t last_pass_ms = 0;
	int fresh, quit;

	pthread_setname_np(pthread_self(), "bsd-queue");	/* top -H, perf */
	if (s->idle_ok) {
		struct sched_param sp = { 0 };
		pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
	}
	for (;;) {
		struct timespec until;
		int64_t now_ms, gather_until = -1;

		pthread_mutex_lock(&s->mu);
		for (;;) {
			int64_t wake = IDLE_MS, since, due;
			int ready = 0;
			nfill = 0;
			now_ms = clock_mono_ms();
			/* Outcomes not yet recorded: nothing new is claimed
			 * (sent) until they are. */
			for (size_t i = 0; i < s->nworkers && !outbox_unrecorded(s->ob); i++) {
				struct worker *w = &s->workers[i];
				if (fillable(s, w, now_ms))
					fill[nfill++] = w;
				else if (w->next_state == NEXT_EMPTY && w->next_try_ms > now_ms &&
				    w->next_try_ms - now_ms < wake)
					wake = w->next_try_ms - now_ms;
				ready |= w->next_state == NEXT_READY;
			}
			if (nfill > 0 || s->queue_quit || (due = outbox_due_ms(s->ob, now_ms)) == 0)
				break;
			if (due < wake)
				wake = due;
			/* A batch waits ready: look every IDLE_MS whether its
			 * issue is still being sent (release_stale). */
			if (ready) {
				if (now_ms - last_pass_ms >= IDLE_MS)
					break;
				if (last_pass_ms + IDLE_MS - now_ms < wake)
					wake = last_pass_ms + IDLE_MS - now_ms;
			}
			if (outbox_waiting(s->ob, &since) && !outbox_unrecorded(s->ob)) {
				if (gather_until < 0)
					gather_until = now_ms + GATHER_MS;
				if (now_ms >= gather_until)
					break;
				wake = gather_until - now_ms;
			}
			clock_deadline(wake, &until);
			pthread_cond_timedwait(&s->out_cv, &s->mu, &until);
		}
		quit = s->queue_quit;
		if (quit) {
			/* Workers stuck with a stalled relay take nothing more. */
			for (size_t i = 0; i < s->nworkers; i++)
				if (s->workers[i].next_state == NEXT_READY)
					release_next(s, &s->workers[i]);
			if (!outbox_waiting(s->ob, NULL) && !outbox_unrecorded(s->ob)) {
				pthread_mutex_unlock(&s->mu);
				break;
			}
			nfill = 0;
		}
		for (size_t i = 0; i < nfill; i++) {
			fill[i]->next_state = NEXT_FILLING;
			claims[i].owner = fill[i]->owner;
			claims[i].limit = fill[i]->limit;
			claims[i].into = &fill[i]->next.q;
		}
		outbox_take(s->ob);
		pthread_mutex_unlock(&s->mu);

		last_pass_ms = clock_mono_ms();
		fresh = outbox_pass(s->ob, claims, nfill, quit, sending, &nsending) == 0;
		if (quit && !fresh)
			break;	/* the journal keeps them */
		for (size_t i = 0; i < nfill; i++)
			render_batch(s, fill[i], &fill[i]->next);

		pthread_mutex_lock(&s->mu);
		now_ms = clock_mono_ms();
		for (size_t i = 0; i < nfill; i++) {
			struct worker *w = fill[i];
			w->next_state = NEXT_EMPTY;
			if (atomic_load(&s->stopping))
				release_next(s, w);
			else if (w->next.nmsgs > 0)
				w->next_state = NEXT_READY;
			else if (w->next.q.n == 0)
				w->next_try_ms = now_ms + IDLE_MS;	/* nothing due */
			else
				queue_batch_reset(&w->next.q);	/* none could be rendered */
		}
		if (fresh)
			release_stale(s, sending, nsending);
		unboost(s);
		if (nfill)
			pthread_cond_broadcast(&s->fill_cv);
		pthread_mutex_unlock(&s->mu);
	}
	free(claims);
	free(fill);
	return NULL;
}

/* DKIM-signs the batch (where keys are configured) where it is sent: with
 * RSA-2048 that is ~300 µs a copy, which every sender thread does at once
 * (the one queue thread would cap a send at ~3,300 copies/s). A copy that
 * cannot be signed fails, as one that cannot be rendered does. */
static void
sign_batch(struct worker *w)
{
	struct batch *b = &w->cur;
	int64_t now = clock_now();
	size_t j = 0;

	for (size_t k = 0; k < b->nmsgs; k++) {
		diag d = DIAG_INIT;

		if (render_sign(b->rs[k], &b->bufs[k], 0, now, &d) < 0) {
			push_unsent(w, &b->q.items[b->item_of[k]], QR_FAILED, d.msg);
			continue;
		}
		if (j != k) {
			buf tb = b->bufs[j], tf = b->froms[j];
			char *tm = b->mids[j];
			b->bufs[j] = b->bufs[k];
			b->bufs[k] = tb;
			b->froms[j] = b->froms[k];
			b->froms[k] = tf;
			b->mids[j] = b->mids[k];
			b->mids[k] = tm;
			b->item_of[j] = b->item_of[k];
			b->rs[j] = b->rs[k];
			b->msgs[j] = b->msgs[k];
		}
		b->msgs[j].data = b->bufs[j].data;
		b->msgs[j].len = b->bufs[j].len;
		b->msgs[j].from = buf_cstr(&b->froms[j]);
		j++;
	}
	b->nmsgs = j;
}

static void
send_batch(struct worker *w)
{
	struct sender *s = w->s;
	struct smtp_job job;
	char err[256];
	int rc;

	sign_batch(w);
	if (w->cur.nmsgs == 0)
		return;
	memset(&job, 0, sizeof job);
	job.relay = w->relay;
	job.timeouts = &s->cfg->smtp;
	job.msgs = w->cur.msgs;
	job.n = w->cur.nmsgs;
	job.done = on_message_done;
	job.stop = &s->stopping;
	job.before_data = rate_wait;
	job.arg = w;
	w->relay_fault = 0;
	w->nsent = 0;
	w->said_421 = 0;
	w->poisoned = 0;
	metrics_relay_inc(relay_index(w->relay), RELAY_SESSIONS);
	rc = smtp_send(&job, err, sizeof err);
	/* A relay that took copies and then closed the connection without a
	 * word (one that allows so many messages per connection) is not down:
	 * what is left goes back and the next session starts at once. A 421
	 * says it is going away: it is left alone a while. Not when the
	 * session ended on a copy judged poison: that copy is deferred, and
	 * the rest must not wait behind it. */
	if (w->relay_fault && !w->poisoned && (w->nsent == 0 || w->said_421))
		relay_failed(w->relay, clock_mono_ms(), rc < 0 && *err ? err : w->fault_why);
	else if (rc == 0 || w->nsent > 0)
		relay_succeeded(w->relay);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct sender *s = w->s;

	/* Sending is bulk work. A session waits on the relay three times a
	 * message, and as SCHED_BATCH a thread that a reply wakes does not
	 * preempt what is running: a relay on this host, the HTTP threads
	 * answering an unsubscribe. On two cores this alone sent ~5-15 %
	 * more per second into a local smtp-sink (make bench). */
	{
		struct sched_param sp = { 0 };
		pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
	}
	pthread_setname_np(pthread_self(), "bsd-sender");

	pthread_mutex_lock(&s->mu);
	while (!atomic_load(&s->stopping)) {
		int64_t wait = relay_wait_ms(w->relay, clock_mono_ms());
		struct timespec until;

		if (wait > 0) {
			/* The breaker is open: what this connection was given
			 * goes to the other relays meanwhile. */
			if (w->next_state == NEXT_READY)
				release_next(s, w);
			clock_deadline(wait < 500 ? wait : 500, &until);
			pthread_cond_timedwait(&s->fill_cv, &s->mu, &until);
			continue;
		}
		if (w->next_state != NEXT_READY) {
			/* Ask the queue thread, and wait for a batch (or for
			 * new work: sender_wake). Waiting for one that is due
			 * means the queue thread is behind. */
			int64_t now_ms = clock_mono_ms();
			int due = next_due(w, now_ms);
			if (!w->waiting) {
				w->waiting = 1;
				w->waiting_since_ms = now_ms;
				pthread_cond_signal(&s->out_cv);
			}
			if (!due)
				w->waiting_since_ms = now_ms;
			else if (now_ms - w->waiting_since_ms >= BEHIND_MS)
				boost(s);
			clock_deadline(due && !s->boosted ? BEHIND_MS : 500, &until);
			pthread_cond_timedwait(&s->fill_cv, &s->mu, &until);
			continue;
		}
		w->waiting = 0;
		{
			struct batch t = w->cur;
			w->cur = w->next;
			w->next = t;
		}
		queue_batch_reset(&w->next.q);
		w->next.nmsgs = 0;
		w->next_state = NEXT_EMPTY;
		w->near_end = 0;
		w->ndone = 0;
		pthread_mutex_unlock(&s->mu);
		send_batch(w);
		pthread_mutex_lock(&s->mu);
	}
	if (w->next_state == NEXT_READY)
		release_next(s, w);
	s->running--;
	pthread_cond_broadcast(&s->done_cv);
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

int
sender_start(const struct config *cfg, const struct secret *sec, unsigned gen,
    struct sender **out, diag *d)
{
	struct sender *s = xcalloc(1, sizeof *s);
	size_t wi = 0;

	smtp_global_init();
	s->cfg = cfg;
	s->sec = sec;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->out_cv, NULL);
	pthread_cond_init(&s->fill_cv, NULL);
	pthread_cond_init(&s->done_cv, NULL);
	s->nrelays = cfg->nrelays;
	s->relays = xcalloc(s->nrelays, sizeof *s->relays);
	for (size_t i = 0; i < cfg->nrelays; i++) {
		s->relays[i] = relay_new(&cfg->relays[i], i, cfg->retry.relay_min_backoff,
		    cfg->retry.relay_max_backoff);
		s->nworkers += (size_t)cfg->relays[i].connections;
	}
	s->workers = xcalloc(s->nworkers, sizeof *s->workers);
	if (outbox_open(cfg, gen, &s->ob, d) < 0)
		goto fail;
	for (size_t i = 0; i < cfg->nrelays; i++) {
		for (int64_t c = 0; c < cfg->relays[i].connections; c++, wi++) {
			struct worker *w = &s->workers[wi];
			const struct relay_conf *rc = &cfg->relays[i];
			w->s = s;
			w->relay = s->relays[i];
			/* A rate-limited relay gets batches of about two
			 * seconds' worth per connection, so that a stop never
			 * waits long for a batch. */
			w->limit = (size_t)rc->per_session;
			w->prefetch = rc->rate == 0;
			if (rc->rate > 0 && (size_t)(rc->rate * 2 / rc->connections) + 1 < w->limit)
				w->limit = (size_t)(rc->rate * 2 / rc->connections) + 1;
			w->seed = (unsigned int)(getpid() * 7919 + wi * 104729 + (size_t)clock_now());
			snprintf(w->owner, sizeof w->owner, "%s%s#%lld", outbox_prefix(s->ob),
			    relay_name(w->relay), (long long)c);
		}
	}

	{
		pthread_t probe;
		if (pthread_create(&probe, NULL, idle_probe, &s->idle_ok) == 0)
			pthread_join(probe, NULL);
	}
	if (pthread_create(&s->queue_th, NULL, queue_main, s) != 0) {
		diag_set(d, 71, "cannot start the queue thread");
		goto fail;
	}
	s->queue_started = 1;
	for (size_t i = 0; i < s->nworkers; i++) {
		pthread_mutex_lock(&s->mu);
		s->running++;
		pthread_mutex_unlock(&s->mu);
		if (pthread_create(&s->workers[i].th, NULL, worker_main, &s->workers[i]) != 0) {
			pthread_mutex_lock(&s->mu);
			s->running--;
			pthread_mutex_unlock(&s->mu);
			diag_set(d, 71, "cannot start sender threads");
			goto fail;
		}
		s->workers[i].started = 1;
	}
	for (size_t i = 0; i < s->nrelays; i++) {
		const struct relay_conf *rc = relay_conf(s->relays[i]);
		char rate[32] = "unlimited";
		if (rc->rate)
			snprintf(rate, sizeof rate, "%lld/s", (long long)rc->rate);
		log_info("relay %s: %lld connections, %lld messages per session, rate %s",
		    relay_name(s->relays[i]), (long long)rc->connections,
		    (long long)rc->per_session, rate);
	}
	*out = s;
	return 0;
fail:
	sender_stop(s, 0);
	sender_free(s);
	*out = NULL;
	return -1;
}

int
sender_stop(struct sender *s, int64_t wait_ms)
{
	struct timespec until;

	if (!s)
		return 0;
	clock_deadline(wait_ms, &until);
	pthread_mutex_lock(&s->mu);
	atomic_store(&s->stopping, 1);
	pthread_cond_broadcast(&s->fill_cv);
	while (s->running > 0) {
		if (wait_ms <= 0)
			pthread_cond_wait(&s->done_cv, &s->mu);
		else if (pthread_cond_timedwait(&s->done_cv, &s->mu, &until) != 0)
			break;
	}
	if (s->running > 0) {
		/* A relay that stalls mid-session: do not wait out its
		 * timeouts. What those sessions hold stays leased and is due
		 * again at the next start (at most their batches go twice). */
		size_t n = s->running;
		/* Commit what the other sessions got back before leaving. */
		s->queue_quit = 1;
		pthread_cond_signal(&s->out_cv);
		pthread_mutex_unlock(&s->mu);
		if (s->queue_started)
			pthread_join(s->queue_th, NULL);
		s->queue_started = 0;
		log_warn("stopping: %zu SMTP session%s still in flight after %lld s; "
		    "their deliveries are due again at the next start", n, n == 1 ? "" : "s",
		    (long long)(wait_ms / 1000));
		return -1;
	}
	pthread_mutex_unlock(&s->mu);
	for (size_t i = 0; i < s->nworkers; i++)
		if (s->workers[i].started)
			pthread_join(s->workers[i].th, NULL);
	pthread_mutex_lock(&s->mu);
	s->queue_quit = 1;
	pthread_cond_signal(&s->out_cv);
	pthread_mutex_unlock(&s->mu);
	if (s->queue_started)
		pthread_join(s->queue_th, NULL);
	s->queue_started = 0;
	return 0;
}

void
sender_free(struct sender *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nworkers; i++) {
		batch_free(&s->workers[i].cur);
		batch_free(&s->workers[i].next);
	}
	for (size_t i = 0; i < s->ncompiled; i++) {
		if (s->compiled[i].r)
			render_free(s->compiled[i].r);
		issue_free(&s->compiled[i].is);
	}
	for (size_t i = 0; i < s->nrelays; i++)
		relay_free(s->relays[i]);
	outbox_close(s->ob);
	free(s->compiled);
	free(s->relays);
	free(s->workers);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->out_cv);
	pthread_cond_destroy(&s->fill_cv);
	pthread_cond_destroy(&s->done_cv);
	free(s);
}

void
sender_retire(struct sender *s)
{
	pthread_mutex_lock(&s->mu);
	atomic_store(&s->stopping, 1);
	pthread_cond_broadcast(&s->fill_cv);
	pthread_cond_signal(&s->out_cv);
	pthread_mutex_unlock(&s->mu);
}

int
sender_done(struct sender *s)
{
	int done;

	pthread_mutex_lock(&s->mu);
	done = s->running == 0;
	pthread_mutex_unlock(&s->mu);
	return done;
}

void
sender_wake(void *arg)
{
	struct sender *s = arg;

	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < s->nworkers; i++)
		s->workers[i].next_try_ms = 0;
	pthread_cond_signal(&s->out_cv);
	pthread_cond_broadcast(&s->fill_cv);
	pthread_mutex_unlock(&s->mu);
}

int64_t
sender_sent_total(struct sender *s)
{
	return s && s->ob ? outbox_sent_total(s->ob) : 0;
}
