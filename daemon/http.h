/* http - the daemon's HTTP endpoint (libmicrohttpd): unsubscribe, signup,
 * archive, feeds, trials, a reader's own view of an issue, health, metrics.
 *
 *   GET|HEAD /u/TOKEN          confirmation page (changes nothing)
 *   POST     /u/TOKEN          unsubscribes at once (RFC 8058 one-click, any
 *                              body), 200 with a page offering to resubscribe
 *   POST     /u/TOKEN/resubscribe  sets an unsubscribed subscriber active again
 *   GET|HEAD /subscribe        the signup form (?email= fills it in)
 *   POST     /subscribe        a signup (signup.c): the same answer for every
 *                              address; 400 bad form, 413, 415, 429 flood
 *   GET|HEAD /confirm/TOKEN    a Confirm button (changes nothing)
 *   POST     /confirm/TOKEN    confirms the signup
 *   GET|HEAD /archive, /p/SLUG, /feed.xml  the public archive (archive.c),
 *                              with ETag/Last-Modified and 304
 *   GET|HEAD /trial/TOKEN      the trial page (changes nothing)
 *   POST     /trial/TOKEN      starts the reader's one trial; 409 when it
 *                              cannot (paid already, had one, not active)
 *   GET|HEAD /i/ISSUE/TOKEN    an issue as that reader's tier gets it
 *   GET|HEAD /feed/TOKEN.xml   a paid reader's full Atom feed (304 as the
 *                              public one); 403 once not paid
 *   GET|HEAD /healthz          JSON: database reachable, relays' circuits
 *   GET|HEAD /metrics          Prometheus text format (see metrics.h)
 *
 * Every HTML page is a fragment of the templates folder inside one frame
 * (page-frame.html). The server is http.c; the pages live by concept in
 * http_unsub.c, http_signup.c, http_reader.c, http_trial.c and http_ops.c
 * (http_int.h).
 *
 * A forged, truncated or stale token gets the 404 page; other paths 404,
 * other methods 405, a body over http.max_body 413. It answers on
 * http.listen from its own threads (http.threads, a libmicrohttpd thread
 * pool) with its own database connections, so that a flood of requests
 * never slows sending. Slow clients cannot hold the slots: at most
 * http.per_ip_connections per client address, and each request must have
 * come whole within http.request_timeout (http_guard.h). Pages come from the templates folder
 * (unsubscribe.html, unsubscribed.html, resubscribed.html, notfound.html).
 * The key file is re-read whenever it changes on disk (after
 * `broadside key rotate`), and http_reload() takes a new configuration.
 */
#ifndef BROADSIDE_HTTP_H
#define BROADSIDE_HTTP_H

#include "config.h"
#include "diag.h"
#include "secret.h"

struct http;

/* Listens and starts the threads; cfg and sec are copied. */
int	http_start(const struct config *cfg, const struct secret *sec,
	    struct http **out, diag *d);
/* After SIGHUP: new list name and id, key grace, templates, key file. On
 * failure the running settings stay. (Listen address, threads and limits
 * need a restart.) */
int	http_reload(struct http *h, const struct config *cfg, diag *d);
/* Stops listening, finishes the requests in flight, frees everything. */
void	http_stop(struct http *h);

#endif
