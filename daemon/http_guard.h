/* http_guard - a deadline for each request, which libmicrohttpd lacks.
 *
 * libmicrohttpd's own timeout (http.timeout) closes a connection only
 * when it is idle: a client that trickles a byte every few seconds keeps
 * its connection, and a few hundred such clients hold every slot, so that
 * nobody else is answered (a one-click unsubscribe included). The guard
 * gives each request http.request_timeout, from the connection's opening
 * (or the previous answer on a kept-alive connection) until it is
 * answered: the request line, the headers and the body must all have come
 * by then. A connection past its deadline is shut down (shutdown(2); the
 * server sees the end and closes it as usual). A watcher thread looks
 * every GUARD_TICK_MS.
 *
 * Wiring (http.c): http_guard_notify is libmicrohttpd's
 * MHD_OPTION_NOTIFY_CONNECTION callback (it keeps a record per connection
 * in the socket context); http_guard_answered() when a response is queued
 * (no deadline while it is written, whatever its size); http_guard_next()
 * when a request is completed (the next one on the connection gets a new
 * deadline). Each connection closed is counted (METRIC_HTTP_DEADLINE). The per-client cap (http.per_ip_connections) and the
 * connection limit are libmicrohttpd's.
 */
#ifndef BROADSIDE_HTTP_GUARD_H
#define BROADSIDE_HTTP_GUARD_H

#include <microhttpd.h>
#include <stdint.h>

#define GUARD_TICK_MS	100

struct http_guard;

/* request_ms: the deadline of each request. NULL when the thread cannot
 * be started. */
struct http_guard *http_guard_start(int64_t request_ms);
/* Stops the watcher; after MHD_stop_daemon (every connection closed). */
void	http_guard_stop(struct http_guard *g);
void	http_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
	    enum MHD_ConnectionNotificationCode code);
void	http_guard_answered(struct MHD_Connection *c);
void	http_guard_next(struct http_guard *g, struct MHD_Connection *c);

#endif
