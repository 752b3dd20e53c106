/* http_guard - a deadline for each request, which libmicrohttpd lacks. */
#include "http_guard.h"

#include <errno.h>
#include <string.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "xalloc.h"

/* One open connection. */
struct conn {
	struct conn		*prev, *next;
	struct http_guard	*g;
	int			 fd;
	int64_t			 deadline;	/* monotonic ms; 0: being answered */
	int			 closed;	/* shut down by us */
};

struct http_guard {
	pthread_mutex_t	 lock;
	pthread_cond_t	 wake;
	pthread_t	 thread;
	int		 stop;
	int64_t		 request_ms;
	struct conn	 all;		/* the list's head (a sentinel) */
};

static void *
watch(void *arg)
{
	struct http_guard *g = arg;
	struct timespec ts;

	pthread_mutex_lock(&g->lock);
	while (!g->stop) {
		int64_t now = clock_mono_ms();

		for (struct conn *k = g->all.next; k != &g->all; k = k->next) {
			if (k->deadline == 0 || k->deadline > now || k->closed)
				continue;
			/* The fd is still the connection's: the record goes
			 * (under this lock) before libmicrohttpd closes it. */
			shutdown(k->fd, SHUT_RDWR);
			k->closed = 1;
			metrics_inc(METRIC_HTTP_DEADLINE);
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += GUARD_TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&g->wake, &g->lock, &ts);
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

struct http_guard *
http_guard_start(int64_t request_ms)
{
	struct http_guard *g = xcalloc(1, sizeof *g);
	int e;

	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->wake, NULL);
	g->request_ms = request_ms;
	g->all.next = g->all.prev = &g->all;
	if ((e = pthread_create(&g->thread, NULL, watch, g)) != 0) {
		log_err("http: cannot start the request deadline thread: %s", strerror(e));
		pthread_mutex_destroy(&g->lock);
		pthread_cond_destroy(&g->wake);
		free(g);
		return NULL;
	}
	return g;
}

void
http_guard_stop(struct http_guard *g)
{
	if (g == NULL)
		return;
	pthread_mutex_lock(&g->lock);
	g->stop = 1;
	pthread_cond_signal(&g->wake);
	pthread_mutex_unlock(&g->lock);
	pthread_join(g->thread, NULL);
	/* Connections still listed (none after MHD_stop_daemon) are freed. */
	while (g->all.next != &g->all) {
		struct conn *k = g->all.next;
		g->all.next = k->next;
		free(k);
	}
	pthread_mutex_destroy(&g->lock);
	pthread_cond_destroy(&g->wake);
	free(g);
}

void
http_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
    enum MHD_ConnectionNotificationCode code)
{
	struct http_guard *g = cls;
	struct conn *k;
	const union MHD_ConnectionInfo *ci;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci == NULL)
			return;
		k = xcalloc(1, sizeof *k);
		k->g = g;
		k->fd = ci->connect_fd;
		pthread_mutex_lock(&g->lock);
		k->deadline = clock_mono_ms() + g->request_ms;
		k->next = g->all.next;
		k->prev = &g->all;
		g->all.next->prev = k;
		g->all.next = k;
		pthread_mutex_unlock(&g->lock);
		*socket_context = k;
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED && (k = *socket_context) != NULL) {
		pthread_mutex_lock(&g->lock);
		k->prev->next = k->next;
		k->next->prev = k->prev;
		pthread_mutex_unlock(&g->lock);
		free(k);
		*socket_context = NULL;
	}
}

static struct conn *
conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

void
http_guard_answered(struct MHD_Connection *c)
{
	struct conn *k = conn_of(c);

	if (k == NULL)
		return;
	pthread_mutex_lock(&k->g->lock);
	k->deadline = 0;
	pthread_mutex_unlock(&k->g->lock);
}

void
http_guard_next(struct http_guard *g, struct MHD_Connection *c)
{
	struct conn *k = conn_of(c);

	if (k == NULL)
		return;
	pthread_mutex_lock(&g->lock);
	k->deadline = clock_mono_ms() + g->request_ms;
	pthread_mutex_unlock(&g->lock);
}
