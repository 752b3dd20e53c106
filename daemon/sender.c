/* sender - the worker threads that send: a pool of connections per relay. */
#include "sender.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "db.h"
#include "deliverability.h"
#include "issues.h"
#include "log.h"
#include "metrics.h"
#include "queue.h"
#include "relay.h"
#include "render.h"
#include "smtp.h"
#include "smtp_policy.h"
#include "xalloc.h"

#define GATHER_MS	20	/* outcomes wait at most this long to be batched */
#define IDLE_MS		250	/* nothing due: look again after this long */

struct compiled {
	int64_t		 issue_id;
	struct issue	 is;
	struct render	*r;		/* NULL: could not be compiled */
};

struct worker {
	struct sender	*s;
	struct relay	*relay;
	pthread_t	 th;
	int		 started;
	char		 owner[160];
	struct db	*db;
	struct queue_batch batch;
	struct smtp_msg	*msgs;
	size_t		*item_of;
	buf		*bufs;
	char		**mids;
	size_t		 cap;
	int		 relay_fault;
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
	atomic_llong	 sent_total;

	pthread_mutex_t	 mu;		/* the outbox, idle waits, workers running */
	pthread_cond_t	 idle_cv, out_cv, done_cv;
	size_t		 running;
	struct queue_outcome *out;
	size_t		 nout, capout;
	int		 writer_quit;
	pthread_t	 writer;
	int		 writer_started;
	struct db	*wdb;

	pthread_mutex_t	 rmu;		/* compiled issues */
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

/* Sleeps up to ms, or until the sender stops. */
static void
idle_wait(struct sender *s, int64_t ms)
{
	struct timespec ts;

	clock_deadline(ms, &ts);
	pthread_mutex_lock(&s->mu);
	if (!atomic_load(&s->stopping))
		pthread_cond_timedwait(&s->idle_cv, &s->mu, &ts);
	pthread_mutex_unlock(&s->mu);
}

static void
outbox_push(struct sender *s, struct queue_outcome *o)
{
	pthread_mutex_lock(&s->mu);
	s->out = xgrow(s->out, &s->capout, s->nout + 1, sizeof *s->out);
	s->out[s->nout++] = *o;
	pthread_cond_signal(&s->out_cv);
	pthread_mutex_unlock(&s->mu);
}

/* The one writer: commits outcomes in batches, each within ~GATHER_MS of
 * the reply, so that a crash can only re-send what was in flight. */
static void *
writer_main(void *arg)
{
	struct sender *s = arg;
	struct queue_outcome *batch = NULL;
	size_t n, cap = 0;

	for (;;) {
		pthread_mutex_lock(&s->mu);
		while (s->nout == 0 && !s->writer_quit)
			pthread_cond_wait(&s->out_cv, &s->mu);
		if (s->nout == 0 && s->writer_quit) {
			pthread_mutex_unlock(&s->mu);
			break;
		}
		pthread_mutex_unlock(&s->mu);
		sleep_ms(GATHER_MS);

		pthread_mutex_lock(&s->mu);
		{
			struct queue_outcome *t = s->out;
			size_t tc = s->capout;
			s->out = batch;
			s->capout = cap;
			batch = t;
			cap = tc;
			n = s->nout;
			s->nout = 0;
		}
		pthread_mutex_unlock(&s->mu);

		for (int tries = 0;; tries++) {
			diag d = DIAG_INIT;
			if (queue_complete(s->wdb, batch, n, &d) == 0)
				break;
			if (tries == 100) {
				log_err("giving up recording %zu outcomes: %s", n, d.msg);
				break;
			}
			if (tries == 0)
				log_warn("recording outcomes: %s; retrying", d.msg);
			sleep_ms(100);
		}
		for (size_t i = 0; i < n; i++) {
			diag d = DIAG_INIT;
			if (batch[i].result == QR_SENT)
				atomic_fetch_add(&s->sent_total, 1);
			/* A dead address (5.1.x) is a hard bounce: the issue's rate. */
			if (batch[i].result == QR_FAILED && strncmp(batch[i].status, "5.1.", 4) == 0 &&
			    deliverability_check_delivery(s->wdb, s->cfg, batch[i].delivery_id, &d) < 0)
				log_warn("deliverability: %s", d.msg);
			queue_outcome_free(&batch[i]);
		}
	}
	free(batch);
	return NULL;
}

/* The compiled render of an issue, shared by every thread; NULL (and a
 * paused issue) when it cannot be compiled. */
static struct render *
render_for(struct worker *w, int64_t issue_id)
{
	struct sender *s = w->s;
	struct compiled *c;
	struct render *r = NULL;
	diag d = DIAG_INIT;

	pthread_mutex_lock(&s->rmu);
	for (size_t i = 0; i < s->ncompiled; i++) {
		if (s->compiled[i].issue_id == issue_id) {
			r = s->compiled[i].r;
			pthread_mutex_unlock(&s->rmu);
			return r;
		}
	}
	s->compiled = xgrow(s->compiled, &s->capcompiled, s->ncompiled + 1,
	    sizeof *s->compiled);
	c = &s->compiled[s->ncompiled];
	memset(c, 0, sizeof *c);
	c->issue_id = issue_id;
	if (issue_get(w->db, issue_id, &c->is, &d) == 0) {
		s->ncompiled++;
		if (render_compile(s->cfg, s->sec, &c->is, &c->r, &d) < 0) {
			c->r = NULL;
			log_err("issue %lld: cannot be rendered: %s; pausing it",
			    (long long)issue_id, d.msg);
			if (db_begin(w->db, &d) == 0) {
				if (issue_transition(w->db, issue_id, ISSUE_PAUSED, &d) == 0)
					db_commit(w->db, &d);
				else
					db_rollback(w->db);
			}
		}
		r = c->r;
	} else {
		log_err("issue %lld: %s", (long long)issue_id, d.msg);
	}
	pthread_mutex_unlock(&s->rmu);
	return r;
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
outcome_init(struct queue_outcome *o, const struct queue_item *it, struct worker *w)
{
	memset(o, 0, sizeof *o);
	o->delivery_id = it->delivery_id;
	o->subscriber_id = it->subscriber_id;
	o->at = clock_now();
	o->relay = xstrdup(relay_name(w->relay));
}

static void
on_message_done(struct smtp_msg *m, void *arg)
{
	struct worker *w = arg;
	struct sender *s = w->s;
	size_t k = (size_t)(m - w->msgs);
	const struct queue_item *it = &w->batch.items[w->item_of[k]];
	struct smtp_retry rt = { s->cfg->retry.min_backoff, s->cfg->retry.max_backoff,
	    s->cfg->retry.max_age };
	struct smtp_decision dec;
	struct queue_outcome o;

	outcome_init(&o, it, w);
	smtp_policy_decide(&m->outcome, &rt, it->attempts, it->first_attempt_at, o.at,
	    (uint32_t)rand_r(&w->seed), &dec);
	o.code = m->outcome.code;
	memcpy(o.status, m->outcome.status, sizeof o.status);
	o.text = xstrdup(*m->text ? m->text : dec.why ? dec.why : "");
	switch (dec.verdict) {
	case VERDICT_SENT:
		metrics_relay_inc(relay_index(w->relay), RELAY_SENT);
		o.result = QR_SENT;
		o.message_id = w->mids[k];
		w->mids[k] = NULL;
		break;
	case VERDICT_DEFER:
		metrics_relay_inc(relay_index(w->relay), RELAY_DEFERRED);
		o.result = QR_DEFERRED;
		o.next_attempt_at = dec.next_attempt_at;
		break;
	case VERDICT_FAIL:
		metrics_relay_inc(relay_index(w->relay), RELAY_FAILED);
		o.result = QR_FAILED;
		o.suppress = dec.suppress;
		break;
	case VERDICT_RELAY:
		o.result = QR_RELEASE;
		if (!w->relay_fault)
			snprintf(w->fault_why, sizeof w->fault_why, "%s at %s%s%s",
			    m->outcome.code ? "reply" : "no reply",
			    smtp_stage_name(m->outcome.stage), *m->text ? ": " : "", m->text);
		w->relay_fault = 1;
		break;
	}
	log_debug("delivery %lld to %s via %s: %s %d %s %s", (long long)it->delivery_id,
	    it->email, relay_name(w->relay), smtp_stage_name(m->outcome.stage),
	    m->outcome.code, m->outcome.status, m->text);
	outbox_push(s, &o);
}

static void
rate_wait(void *arg)
{
	struct worker *w = arg;
	int64_t ms;

	while ((ms = relay_rate_take(w->relay, clock_mono_ms())) > 0)
		sleep_ms(ms < 100 ? ms : 100);
}

static void
send_batch(struct worker *w)
{
	struct sender *s = w->s;
	size_t n = w->batch.n, k = 0;
	struct smtp_job job;
	char err[256];
	int64_t now = clock_now();
	int rc;

	if (n > w->cap) {
		size_t old = w->cap;
		w->msgs = xrealloc(w->msgs, n * sizeof *w->msgs);
		w->item_of = xrealloc(w->item_of, n * sizeof *w->item_of);
		w->bufs = xrealloc(w->bufs, n * sizeof *w->bufs);
		w->mids = xrealloc(w->mids, n * sizeof *w->mids);
		for (size_t i = old; i < n; i++) {
			buf_init(&w->bufs[i]);
			w->mids[i] = NULL;
		}
		w->cap = n;
	}
	for (size_t i = 0; i < n; i++) {
		const struct queue_item *it = &w->batch.items[i];
		struct render *r = render_for(w, it->issue_id);
		struct render_to to = { it->delivery_id, it->subscriber_id, it->email,
		    it->name, it->tier };
		struct queue_outcome o;
		diag d = DIAG_INIT;

		if (r == NULL) {
			outcome_init(&o, it, w);
			o.result = QR_RELEASE;
			outbox_push(s, &o);
			continue;
		}
		buf_reset(&w->bufs[k]);
		if (render_message(r, &to, now, &w->bufs[k], &d) < 0) {
			/* Only an address that cannot be written in a header:
			 * no later attempt would do better. */
			outcome_init(&o, it, w);
			o.result = QR_FAILED;
			o.text = xstrdup(d.msg);
			outbox_push(s, &o);
			continue;
		}
		metrics_inc(METRIC_RENDERED);
		memset(&w->msgs[k], 0, sizeof w->msgs[k]);
		w->msgs[k].delivery_id = it->delivery_id;
		w->msgs[k].rcpt = it->email;
		w->msgs[k].data = w->bufs[k].data;
		w->msgs[k].len = w->bufs[k].len;
		free(w->mids[k]);
		w->mids[k] = message_id_of(w->bufs[k].data, w->bufs[k].len);
		w->item_of[k] = i;
		k++;
	}
	if (k == 0)
		return;
	memset(&job, 0, sizeof job);
	job.relay = w->relay;
	job.sec = s->sec;
	job.bounce_address = s->cfg->bounces.address;
	job.msgs = w->msgs;
	job.n = k;
	job.done = on_message_done;
	job.before_data = rate_wait;
	job.arg = w;
	w->relay_fault = 0;
	metrics_relay_inc(relay_index(w->relay), RELAY_SESSIONS);
	rc = smtp_send(&job, err, sizeof err);
	if (w->relay_fault)
		relay_failed(w->relay, clock_mono_ms(), rc < 0 && *err ? err : w->fault_why);
	else if (rc == 0)
		relay_succeeded(w->relay);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct sender *s = w->s;
	const struct relay_conf *rc = relay_conf(w->relay);
	size_t limit = (size_t)rc->per_session;
	int64_t dropped;

	/* Sending is bulk work. A session waits on the relay three times a
	 * message, and as SCHED_BATCH a thread that a reply wakes does not
	 * preempt what is running: a relay on this host, the HTTP threads
	 * answering an unsubscribe. On two cores this alone sent ~5-15 %
	 * more per second into a local smtp-sink (make bench). */
	{
		struct sched_param sp = { 0 };
		pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
	}

	/* A rate-limited relay gets batches of about two seconds' worth per
	 * connection, so that a stop never waits long for a batch. */
	if (rc->rate > 0) {
		size_t cap = (size_t)(rc->rate * 2 / rc->connections) + 1;
		if (cap < limit)
			limit = cap;
	}
	while (!atomic_load(&s->stopping)) {
		int64_t wait = relay_wait_ms(w->relay, clock_mono_ms());
		diag d = DIAG_INIT;

		if (wait > 0) {
			idle_wait(s, wait < 500 ? wait : 500);
			continue;
		}
		queue_batch_reset(&w->batch);
		dropped = 0;
		if (queue_claim(w->db, w->owner, limit, clock_now(),
		    &w->batch, &dropped, &d) < 0) {
			log_warn("relay %s: claiming deliveries: %s", relay_name(w->relay), d.msg);
			idle_wait(s, 500);
			continue;
		}
		if (dropped)
			log_debug("%lld deliveries dropped at claim time", (long long)dropped);
		if (w->batch.n == 0) {
			idle_wait(s, IDLE_MS);
			continue;
		}
		send_batch(w);
	}
	queue_batch_reset(&w->batch);
	pthread_mutex_lock(&s->mu);
	s->running--;
	pthread_cond_broadcast(&s->done_cv);
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

int
sender_start(const struct config *cfg, const struct secret *sec, struct sender **out,
    diag *d)
{
	struct sender *s = xcalloc(1, sizeof *s);
	char host[64] = "localhost";
	size_t wi = 0;

	smtp_global_init();
	gethostname(host, sizeof host - 1);
	s->cfg = cfg;
	s->sec = sec;
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->rmu, NULL);
	pthread_cond_init(&s->idle_cv, NULL);
	pthread_cond_init(&s->out_cv, NULL);
	pthread_cond_init(&s->done_cv, NULL);
	s->nrelays = cfg->nrelays;
	s->relays = xcalloc(s->nrelays, sizeof *s->relays);
	for (size_t i = 0; i < cfg->nrelays; i++) {
		s->relays[i] = relay_new(&cfg->relays[i], i, cfg->retry.relay_min_backoff,
		    cfg->retry.relay_max_backoff);
		s->nworkers += (size_t)cfg->relays[i].connections;
	}
	s->workers = xcalloc(s->nworkers, sizeof *s->workers);
	for (size_t i = 0; i < cfg->nrelays; i++) {
		for (int64_t c = 0; c < cfg->relays[i].connections; c++, wi++) {
			struct worker *w = &s->workers[wi];
			w->s = s;
			w->relay = s->relays[i];
			w->seed = (unsigned int)(getpid() * 7919 + wi * 104729 + (size_t)clock_now());
			snprintf(w->owner, sizeof w->owner, "%s:%d:%s#%lld", host, (int)getpid(),
			    relay_name(w->relay), (long long)c);
		}
	}
	if (db_open(cfg->database, DB_OPEN_EXISTING, &s->wdb, d) < 0)
		goto fail;
	for (size_t i = 0; i < s->nworkers; i++)
		if (db_open(cfg->database, DB_OPEN_EXISTING, &s->workers[i].db, d) < 0)
			goto fail;
	if (pthread_create(&s->writer, NULL, writer_main, s) != 0) {
		diag_set(d, 71, "cannot start the writer thread");
		goto fail;
	}
	s->writer_started = 1;
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
	pthread_cond_broadcast(&s->idle_cv);
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
		s->writer_quit = 1;
		pthread_cond_signal(&s->out_cv);
		pthread_mutex_unlock(&s->mu);
		if (s->writer_started)
			pthread_join(s->writer, NULL);
		s->writer_started = 0;
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
	s->writer_quit = 1;
	pthread_cond_signal(&s->out_cv);
	pthread_mutex_unlock(&s->mu);
	if (s->writer_started)
		pthread_join(s->writer, NULL);
	s->writer_started = 0;
	return 0;
}

void
sender_free(struct sender *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nworkers; i++) {
		struct worker *w = &s->workers[i];
		for (size_t k = 0; k < w->cap; k++) {
			buf_free(&w->bufs[k]);
			free(w->mids[k]);
		}
		free(w->msgs);
		free(w->item_of);
		free(w->bufs);
		free(w->mids);
		queue_batch_free(&w->batch);
		db_close(w->db);
	}
	for (size_t i = 0; i < s->ncompiled; i++) {
		if (s->compiled[i].r)
			render_free(s->compiled[i].r);
		issue_free(&s->compiled[i].is);
	}
	for (size_t i = 0; i < s->nrelays; i++)
		relay_free(s->relays[i]);
	db_close(s->wdb);
	free(s->compiled);
	free(s->relays);
	free(s->workers);
	free(s->out);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->rmu);
	pthread_cond_destroy(&s->idle_cv);
	pthread_cond_destroy(&s->out_cv);
	pthread_cond_destroy(&s->done_cv);
	free(s);
}

void
sender_wake(void *arg)
{
	struct sender *s = arg;

	pthread_mutex_lock(&s->mu);
	pthread_cond_broadcast(&s->idle_cv);
	pthread_mutex_unlock(&s->mu);
}

int64_t
sender_sent_total(struct sender *s)
{
	return s ? atomic_load(&s->sent_total) : 0;
}
