/* relay - one SMTP relay of the pool: its settings, circuit breaker and rate. */
#include "relay.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "buf.h"
#include "log.h"
#include "metrics.h"
#include "xalloc.h"

struct relay {
	struct relay_conf conf;
	char		*name;
	size_t		 index;
	int		 half_open;	/* reported trying again */
	int64_t		 min_backoff, max_backoff;	/* seconds */
	pthread_mutex_t	 mu;
	int		 failures;	/* consecutive; 0: breaker closed */
	int64_t		 open_until;	/* ms */
	double		 tokens;
	int64_t		 refilled;	/* ms */
	int64_t		 refusals;	/* the same refusal, copies in a row */
	int		 refused_code;
	char		 refused_status[16];
};

struct relay *
relay_new(const struct relay_conf *rc, size_t index, int64_t min_backoff,
    int64_t max_backoff)
{
	struct relay *r = xcalloc(1, sizeof *r);
	buf name = BUF_INIT;

	r->conf = *rc;
	r->conf.host = xstrdup(rc->host);
	r->conf.username = xstrdup(rc->username ? rc->username : "");
	r->conf.password = xstrdup(rc->password ? rc->password : "");
	buf_printf(&name, strchr(rc->host, ':') ? "[%s]:%lld" : "%s:%lld", rc->host,
	    (long long)rc->port);
	r->name = buf_detach(&name);
	r->min_backoff = min_backoff;
	r->max_backoff = max_backoff;
	r->tokens = (double)rc->rate;
	/* The metrics slot is the name's, not the config position's: after a
	 * reload that changes this relay's address, its figures and circuit
	 * are reported under the new name. */
	(void)index;
	r->index = metrics_relay_index(r->name);
	pthread_mutex_init(&r->mu, NULL);
	metrics_relay_circuit(r->index, CIRCUIT_CLOSED);
	return r;
}

size_t
relay_index(const struct relay *r)
{
	return r->index;
}

void
relay_free(struct relay *r)
{
	if (!r)
		return;
	pthread_mutex_destroy(&r->mu);
	free(r->conf.host);
	free(r->conf.username);
	free(r->conf.password);
	free(r->name);
	free(r);
}

const char *
relay_name(const struct relay *r)
{
	return r->name;
}

const struct relay_conf *
relay_conf(const struct relay *r)
{
	return &r->conf;
}

int64_t
relay_wait_ms(struct relay *r, int64_t now_ms)
{
	int64_t w;

	int trying = 0;

	pthread_mutex_lock(&r->mu);
	w = r->failures && r->open_until > now_ms ? r->open_until - now_ms : 0;
	if (r->failures && w == 0 && !r->half_open)
		trying = r->half_open = 1;
	pthread_mutex_unlock(&r->mu);
	if (trying)
		metrics_relay_circuit(r->index, CIRCUIT_HALF_OPEN);
	return w;
}

int
relay_is_down(struct relay *r, int64_t now_ms)
{
	return relay_wait_ms(r, now_ms) > 0;
}

void
relay_failed(struct relay *r, int64_t now_ms, const char *why)
{
	int64_t secs;

	pthread_mutex_lock(&r->mu);
	if (r->failures && r->open_until > now_ms) {
		/* Another connection of the same relay saw the same outage. */
		pthread_mutex_unlock(&r->mu);
		return;
	}
	r->failures++;
	secs = backoff_delay(r->failures, r->min_backoff, r->max_backoff,
	    (uint32_t)random());
	r->open_until = now_ms + secs * 1000;
	r->half_open = 0;
	pthread_mutex_unlock(&r->mu);
	metrics_relay_circuit(r->index, CIRCUIT_OPEN);
	log_warn("relay %s: down (%s); its mail waits, next try in %llds",
	    r->name, why, (long long)secs);
}

void
relay_succeeded(struct relay *r)
{
	int was;

	pthread_mutex_lock(&r->mu);
	was = r->failures;
	r->failures = 0;
	r->open_until = 0;
	r->half_open = 0;
	pthread_mutex_unlock(&r->mu);
	if (was)
		metrics_relay_circuit(r->index, CIRCUIT_CLOSED);
	if (was)
		log_notice("relay %s: up again", r->name);
}

int64_t
relay_refusal(struct relay *r, int refused, int code, const char *status)
{
	int64_t run = 0;

	pthread_mutex_lock(&r->mu);
	if (!refused)
		r->refusals = 0;
	else if (r->refusals && code == r->refused_code &&
	    strcmp(status, r->refused_status) == 0)
		run = ++r->refusals;
	else {
		run = r->refusals = 1;
		r->refused_code = code;
		snprintf(r->refused_status, sizeof r->refused_status, "%s", status);
	}
	pthread_mutex_unlock(&r->mu);
	return run;
}

int64_t
relay_rate_take(struct relay *r, int64_t now_ms)
{
	double rate = (double)r->conf.rate;
	int64_t wait = 0;

	if (r->conf.rate <= 0)
		return 0;
	pthread_mutex_lock(&r->mu);
	if (r->refilled == 0)
		r->refilled = now_ms;
	r->tokens += (double)(now_ms - r->refilled) * rate / 1000.0;
	r->refilled = now_ms;
	if (r->tokens > rate)
		r->tokens = rate;	/* burst: one second's worth */
	if (r->tokens >= 1.0)
		r->tokens -= 1.0;
	else
		wait = (int64_t)((1.0 - r->tokens) * 1000.0 / rate) + 1;
	pthread_mutex_unlock(&r->mu);
	return wait;
}
