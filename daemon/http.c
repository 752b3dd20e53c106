/* http - the daemon's HTTP endpoint (libmicrohttpd): the server, its
 * routing and request intake, and the helpers the handlers answer with
 * (http_int.h); the pages themselves live in http_*.c by concept. */
#include "http.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include <openssl/sha.h>
#include <time.h>

#include "archive.h"
#include "buf.h"
#include "db.h"
#include "http_guard.h"
#include "http_int.h"
#include "log.h"
#include "metrics.h"
#include "page.h"
#include "token.h"
#include "xalloc.h"

#define LISTEN_BACKLOG	511
#define DRAIN_MAX	(1024 * 1024)	/* bytes over max_body read before closing */

static const char *const page_files[PG_COUNT] = {
	"unsubscribe.html", "unsubscribed.html", "resubscribed.html", "notfound.html",
	"status.html",
	/* The readers' pages: fragments inside one frame. */
	"page-frame.html", "page-subscribe.html", "page-message.html", "page-confirm.html",
	"page-archive.html", "page-issue.html", "page-cta.html", "page-trial.html",
};
static const char *const slot_names[S_COUNT + 1] = {
	"list_name", "email", "resubscribe_action", "unsubscribe_action", "heading",
	"message", "title", "body_html", "home_url", "archive_url", "subscribe_url",
	"feed_url", "list_address", "action", "form_token", "name", "link_url", "link_text",
	"items_html", "subject", "date", "date_iso", "content_html", "upgrade_url",
	"trial_days", NULL,
};


/* --- database connections: one per request in flight, kept for reuse --- */

static struct db *
pool_get(struct http *h, diag *d)
{
	struct db *db = NULL;

	pthread_mutex_lock(&h->pool_lock);
	if (h->npool > 0)
		db = h->pool[--h->npool];
	pthread_mutex_unlock(&h->pool_lock);
	if (db == NULL && db_open(h->database, DB_OPEN_EXISTING, &db, d) < 0)
		return NULL;
	return db;
}

static void
pool_put(struct http *h, struct db *db)
{
	pthread_mutex_lock(&h->pool_lock);
	h->pool = xgrow(h->pool, &h->cappool, h->npool + 1, sizeof *h->pool);
	h->pool[h->npool++] = db;
	pthread_mutex_unlock(&h->pool_lock);
}

/* --- site: config copy and pages --- */

static void
site_free(struct site *s)
{
	for (int i = 0; i < PG_COUNT; i++)
		page_free(s->pages[i]);
	config_free(&s->cfg);
	memset(s, 0, sizeof *s);
}

static int
site_load(struct site *s, const struct config *cfg, diag *d)
{
	memset(s, 0, sizeof *s);
	config_copy(&s->cfg, cfg);
	for (int i = 0; i < PG_COUNT; i++)
		if (page_load(cfg->templates, page_files[i], slot_names, &s->pages[i], d) < 0) {
			site_free(s);
			return -1;
		}
	return 0;
}

/* Re-reads the key file when it is not the one last read (a rotation
 * writes a new file and renames it over the old). Called before a token is
 * checked: a stat costs far less than the transaction that follows. */
static void
refresh_keys(struct http *h)
{
	struct stat sb;
	struct secret fresh;
	diag d = DIAG_INIT;
	char *path;
	int same;

	pthread_rwlock_rdlock(&h->rw);
	path = xstrdup(h->site.cfg.key_file);
	same = stat(path, &sb) < 0 || (sb.st_ino == h->key_st.st_ino &&
	    sb.st_dev == h->key_st.st_dev && sb.st_size == h->key_st.st_size &&
	    sb.st_mtim.tv_sec == h->key_st.st_mtim.tv_sec &&
	    sb.st_mtim.tv_nsec == h->key_st.st_mtim.tv_nsec);
	pthread_rwlock_unlock(&h->rw);
	if (!same) {
		int rc = secret_load(path, &fresh, &d);
		pthread_rwlock_wrlock(&h->rw);
		h->key_st = sb;		/* a bad file is reported once */
		if (rc == 0)
			h->sec = fresh;
		pthread_rwlock_unlock(&h->rw);
		if (rc == 0)
			log_notice("http: key file %s re-read (%zu key%s)", path,
			    fresh.nkeys, fresh.nkeys == 1 ? "" : "s");
		else
			log_err("http: %s; keeping the keys read before", d.msg);
	}
	free(path);
}

/* --- responses --- */

/* RFC 9110 IMF-fixdate: "Fri, 04 Dec 2026 21:40:11 GMT". */
static void
http_date(int64_t t, char *out, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, n, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static void
count(unsigned code)
{
	if (code < 300)
		metrics_inc(METRIC_HTTP_2XX);
	else if (code >= 500)
		metrics_inc(METRIC_HTTP_5XX);
	else if (code >= 400)
		metrics_inc(METRIC_HTTP_4XX);
}

enum MHD_Result
http_respond(struct MHD_Connection *c, struct req *r, unsigned code, const char *type,
    buf *body, const char *allow)
{
	struct MHD_Response *resp;
	enum MHD_Result rc;
	size_t len = body->len;

	resp = MHD_create_response_from_buffer(len, buf_detach(body), MHD_RESPMEM_MUST_FREE);
	if (resp == NULL)
		return MHD_NO;
	if (type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	    !r->cacheable ? "no-store" : r->personal ? "private, no-cache" : "no-cache");
	if (r->etag[0])
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, r->etag);
	if (r->last_modified > 0) {
		char date[64];
		http_date(r->last_modified, date, sizeof date);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_LAST_MODIFIED, date);
	}
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (type && strncmp(type, "text/html", 9) == 0) {
		/* The token is in the URL: never hand it on as a Referer. */
		MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
		MHD_add_response_header(resp, "Content-Security-Policy",
		    "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
		    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
		if (!r->cacheable || r->personal)
			MHD_add_response_header(resp, "X-Robots-Tag", "noindex, nofollow");
	}
	if (allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	if (r->location)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, r->location);
	if (code == MHD_HTTP_SERVICE_UNAVAILABLE)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "5");
	if (code == MHD_HTTP_CONTENT_TOO_LARGE)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	rc = MHD_queue_response(c, code, resp);
	MHD_destroy_response(resp);
	count(code);
	r->answered = 1;
	http_guard_answered(c);	/* its writing has no deadline */
	return rc;
}

enum MHD_Result
http_send_text(struct MHD_Connection *c, struct req *r, unsigned code, const char *text,
    const char *allow)
{
	buf b = BUF_INIT;

	buf_puts(&b, text);
	buf_putc(&b, '\n');
	return http_respond(c, r, code, "text/plain; charset=utf-8", &b, allow);
}

void
http_links(const struct http *h, const char **v, struct links *l)
{
	const struct config *cfg = &h->site.cfg;

	memset(l, 0, sizeof *l);
	archive_base(cfg, &l->base);
	buf_printf(&l->archive, "%s/archive", l->base.data);
	buf_printf(&l->subscribe, "%s/subscribe", l->base.data);
	buf_printf(&l->feed, "%s/feed.xml", l->base.data);
	v[S_LIST] = cfg->list.name;
	v[S_HOME_URL] = v[S_ARCHIVE_URL] = l->archive.data;
	v[S_SUBSCRIBE_URL] = l->subscribe.data;
	v[S_FEED_URL] = l->feed.data;
	v[S_LIST_ADDRESS] = cfg->list.address;
	archive_upgrade_url(cfg, &l->upgrade);
	v[S_UPGRADE_URL] = l->upgrade.data;
	snprintf(l->trial_days, sizeof l->trial_days, "%lld", (long long)cfg->list.trial_days);
	v[S_TRIAL_DAYS] = l->trial_days;
}

void
http_links_free(struct links *l)
{
	buf_free(&l->base);
	buf_free(&l->archive);
	buf_free(&l->subscribe);
	buf_free(&l->feed);
	buf_free(&l->upgrade);
}

void
http_frame(const struct http *h, enum page_id id, const char *title, const char **v,
    buf *out)
{
	struct links l;
	buf body = BUF_INIT;

	http_links(h, v, &l);
	page_fill(h->site.pages[id], v, &body);
	v[S_TITLE] = title && *title ? title : h->site.cfg.list.name;
	v[S_BODY_HTML] = body.data;
	page_fill(h->site.pages[PG_FRAME], v, out);
	buf_free(&body);
	http_links_free(&l);
}

enum MHD_Result
http_send_framed(struct http *h, struct MHD_Connection *c, struct req *r, unsigned code,
    enum page_id id, const char *title, const char **v)
{
	const char *list = h->site.cfg.list.name;
	buf out = BUF_INIT, t = BUF_INIT;

	if (title && *title && strstr(title, list) == NULL &&
	    (id == PG_SUBSCRIBE || id == PG_MESSAGE || id == PG_SIGNUP_CONFIRM ||
	    id == PG_TRIAL))
		buf_printf(&t, "%s - %s", title, list);
	else
		buf_puts(&t, title && *title ? title : list);
	http_frame(h, id, t.data, v, &out);
	buf_free(&t);
	return http_respond(c, r, code, "text/html; charset=utf-8", &out, NULL);
}

/* The unsubscribe pages' titles. */
enum MHD_Result
http_send_page(struct http *h, struct MHD_Connection *c, struct req *r, unsigned code,
    enum page_id id, const char **values)
{
	const char *list = h->site.cfg.list.name;
	buf t = BUF_INIT;
	enum MHD_Result rc;

	switch (id) {
	case PG_CONFIRM: buf_printf(&t, "Unsubscribe from %s", list); break;
	case PG_DONE: buf_printf(&t, "Unsubscribed from %s", list); break;
	case PG_NOTFOUND: buf_puts(&t, "Link not found"); break;
	default: buf_printf(&t, "%s - %s", values[S_HEADING] ? values[S_HEADING] : "", list);
	}
	rc = http_send_framed(h, c, r, code, id, buf_cstr(&t), values);
	buf_free(&t);
	return rc;
}

enum MHD_Result
http_send_notfound(struct http *h, struct MHD_Connection *c, struct req *r)
{
	const char *v[S_COUNT] = { 0 };

	return http_send_page(h, c, r, MHD_HTTP_NOT_FOUND, PG_NOTFOUND, v);
}

enum MHD_Result
http_send_failure(struct http *h, struct MHD_Connection *c, struct req *r, const diag *d)
{
	switch (d->code) {
	case EX_DATAERR:	/* forged, truncated, stale token */
	case EX_NOUSER:		/* genuine, but the subscriber is gone */
		log_debug("http: %s", d->msg);
		return http_send_notfound(h, c, r);
	case EX_TEMPFAIL:
		log_warn("http: %s", d->msg);
		return http_send_text(c, r, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "Busy; nothing was changed. Try again in a few seconds.", NULL);
	default:
		log_err("http: %s", d->msg);
		return http_send_text(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR,
		    "Something went wrong on our side; nothing was changed.", NULL);
	}
}

enum MHD_Result
http_send_message(struct http *h, struct MHD_Connection *c, struct req *r, unsigned code,
    const char *heading, const char *message, const char *link_url, const char *link_text)
{
	const char *v[S_COUNT] = { 0 };

	v[S_HEADING] = heading;
	v[S_MESSAGE] = message;
	v[S_LINK_URL] = link_url;
	v[S_LINK_TEXT] = link_text;
	return http_send_framed(h, c, r, code, PG_MESSAGE, heading, v);
}

static void
etag_of(const buf *body, char out[48])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)(body->data ? body->data : ""), body->len, md);
	out[0] = '"';
	for (int i = 0; i < 16; i++)
		snprintf(out + 1 + 2 * i, 3, "%02x", md[i]);
	out[33] = '"';
	out[34] = '\0';
}

/* 1 when the client's copy is current (RFC 9110 13.1.2, 13.1.3):
 * If-None-Match decides when present, else If-Modified-Since. */
static int
not_modified(struct MHD_Connection *c, const struct req *r)
{
	const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_IF_NONE_MATCH);
	const char *ims = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_IF_MODIFIED_SINCE);

	if (inm) {
		size_t el = strlen(r->etag);
		for (const char *p = inm; *p; ) {
			while (*p == ' ' || *p == ',' || *p == '\t')
				p++;
			if (*p == '*')
				return 1;
			if (strncmp(p, "W/", 2) == 0)
				p += 2;
			if (el && strncmp(p, r->etag, el) == 0)
				return 1;
			while (*p && *p != ',')
				p++;
		}
		return 0;
	}
	if (ims && r->last_modified > 0) {
		struct tm tm;
		const char *end;
		memset(&tm, 0, sizeof tm);
		end = strptime(ims, "%a, %d %b %Y %H:%M:%S GMT", &tm);
		if (end && *end == '\0' && (int64_t)timegm(&tm) >= r->last_modified)
			return 1;
	}
	return 0;
}

enum MHD_Result
http_send_public(struct MHD_Connection *c, struct req *r, const char *type, buf *body)
{
	r->cacheable = 1;
	etag_of(body, r->etag);
	if (not_modified(c, r)) {
		buf empty = BUF_INIT;
		buf_free(body);
		return http_respond(c, r, MHD_HTTP_NOT_MODIFIED, NULL, &empty, NULL);
	}
	return http_respond(c, r, MHD_HTTP_OK, type, body, NULL);
}

static enum MHD_Result
dispatch(struct http *h, struct MHD_Connection *c, struct req *r)
{
	diag d = DIAG_INIT;
	struct db *db;
	enum MHD_Result rc;

	if (r->route == R_UNSUB || r->route == R_RESUB || r->route == R_SUBSCRIBE ||
	    r->route == R_CONFIRM || r->route == R_TRIAL || r->route == R_VIEW ||
	    r->route == R_READER_FEED)
		refresh_keys(h);
	db = pool_get(h, &d);
	pthread_rwlock_rdlock(&h->rw);
	if (r->route == R_HEALTHZ)
		rc = http_healthz(h, c, r, db, &d);
	else if (db == NULL)
		rc = http_send_failure(h, c, r, &d);
	else if ((r->route == R_SUBSCRIBE || r->route == R_CONFIRM) &&
	    !h->site.cfg.signup.enabled)
		rc = http_send_notfound(h, c, r);
	else switch (r->route) {
	case R_METRICS:		rc = http_metrics(h, c, r, db); break;
	case R_RESUB:		rc = http_resub(h, c, r, db); break;
	case R_SUBSCRIBE:	rc = http_subscribe(h, c, r, db); break;
	case R_CONFIRM:		rc = http_confirm(h, c, r, db); break;
	case R_ARCHIVE:		rc = http_archive(h, c, r, db); break;
	case R_ISSUE:		rc = http_issue(h, c, r, db); break;
	case R_FEED:		rc = http_feed(h, c, r, db); break;
	case R_TRIAL:		rc = http_trial(h, c, r, db); break;
	case R_VIEW:		rc = http_view(h, c, r, db); break;
	case R_READER_FEED:	rc = http_reader_feed(h, c, r, db); break;
	default:		rc = http_unsub(h, c, r, db); break;
	}
	pthread_rwlock_unlock(&h->rw);
	if (db)
		pool_put(h, db);
	return rc;
}

/* --- request intake --- */

/* The n bytes at p as a token: token characters only, no "..". */
static int
token_at(const char *p, size_t n, char token[TOKEN_MAX])
{
	static const char tokchars[] = "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_";

	if (n == 0 || n >= TOKEN_MAX || strspn(p, tokchars) < n)
		return -1;
	memcpy(token, p, n);
	token[n] = '\0';
	return strstr(token, "..") ? -1 : 0;
}

static enum route
route(const char *url, struct req *r)
{
	const char *p;
	size_t n;

	if (strcmp(url, "/healthz") == 0)
		return R_HEALTHZ;
	if (strcmp(url, "/metrics") == 0)
		return R_METRICS;
	if (strcmp(url, "/subscribe") == 0)
		return R_SUBSCRIBE;
	if (strcmp(url, "/archive") == 0)
		return R_ARCHIVE;
	if (strcmp(url, "/feed.xml") == 0)
		return R_FEED;
	if (strncmp(url, "/p/", 3) == 0) {
		p = url + 3;
		n = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789-");
		if (n == 0 || n > SLUG_MAX || p[n] != '\0')
			return R_NONE;
		memcpy(r->slug, p, n + 1);
		return R_ISSUE;
	}
	if (strncmp(url, "/confirm/", 9) == 0)
		return token_at(url + 9, strlen(url + 9), r->token) < 0 ? R_NONE : R_CONFIRM;
	if (strncmp(url, "/trial/", 7) == 0)
		return token_at(url + 7, strlen(url + 7), r->token) < 0 ? R_NONE : R_TRIAL;
	if (strncmp(url, "/feed/", 6) == 0) {
		/* /feed/TOKEN.xml: the token has dots of its own. */
		p = url + 6;
		n = strlen(p);
		if (n < 5 || strcmp(p + n - 4, ".xml") != 0 || token_at(p, n - 4, r->token) < 0)
			return R_NONE;
		return R_READER_FEED;
	}
	if (strncmp(url, "/i/", 3) == 0) {
		/* /i/ISSUE/TOKEN */
		p = url + 3;
		n = strspn(p, "0123456789");
		if (n == 0 || n > 15 || p[0] == '0' || p[n] != '/' ||
		    token_at(p + n + 1, strlen(p + n + 1), r->token) < 0)
			return R_NONE;
		r->issue_id = strtoll(p, NULL, 10);
		return R_VIEW;
	}
	if (strncmp(url, "/u/", 3) != 0)
		return R_NONE;
	p = url + 3;
	n = strcspn(p, "/");
	if (token_at(p, n, r->token) < 0)
		return R_NONE;
	if (p[n] == '\0')
		return R_UNSUB;
	if (strcmp(p + n, "/resubscribe") == 0)
		return R_RESUB;
	return R_NONE;
}

/* The largest body a request may send: a form far less than http.max_body. */
static int64_t
body_limit(const struct http *h, const struct req *r)
{
	if ((r->route == R_SUBSCRIBE || r->route == R_CONFIRM || r->route == R_TRIAL) &&
	    h->max_body > FORM_BODY_MAX)
		return FORM_BODY_MAX;
	return h->max_body;
}

static enum method
method_of(const char *m)
{
	if (strcmp(m, MHD_HTTP_METHOD_GET) == 0)
		return M_GET;
	if (strcmp(m, MHD_HTTP_METHOD_HEAD) == 0)
		return M_HEAD;
	if (strcmp(m, MHD_HTTP_METHOD_POST) == 0)
		return M_POST;
	return M_OTHER;
}

/* Counts a request's Content-Length headers, and those that differ from
 * the first: libmicrohttpd reads the body by one of them and says nothing. */
struct lengths {
	int		 n, differ;
	const char	*first;
};

static enum MHD_Result
count_length(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct lengths *l = cls;

	(void)kind;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) != 0)
		return MHD_YES;
	if (l->n++ == 0)
		l->first = value;
	else if (strcmp(value ? value : "", l->first ? l->first : "") != 0)
		l->differ++;
	return MHD_YES;
}

/* The first call for a request (headers read): 0 to go on reading the
 * body, or the answer queued at once (bad path, method, framing, size). */
static int
intake(struct http *h, struct MHD_Connection *c, struct req *r, const char *url,
    const char *method, enum MHD_Result *rc)
{
	const char *cl;

	r->method = method_of(method);
	if (r->method == M_OTHER) {
		*rc = http_send_text(c, r, MHD_HTTP_METHOD_NOT_ALLOWED, "Method not allowed.",
		    "GET, HEAD, POST");
		return 1;
	}
	r->route = route(url, r);
	if (r->route == R_NONE) {
		pthread_rwlock_rdlock(&h->rw);
		*rc = http_send_notfound(h, c, r);
		pthread_rwlock_unlock(&h->rw);
		return 1;
	}
	if ((r->route == R_HEALTHZ || r->route == R_METRICS || r->route == R_ARCHIVE ||
	    r->route == R_ISSUE || r->route == R_FEED || r->route == R_VIEW ||
	    r->route == R_READER_FEED) && r->method == M_POST) {
		*rc = http_send_text(c, r, MHD_HTTP_METHOD_NOT_ALLOWED, "Method not allowed.",
		    "GET, HEAD");
		return 1;
	}
	if (r->route == R_RESUB && r->method != M_POST) {
		*rc = http_send_text(c, r, MHD_HTTP_METHOD_NOT_ALLOWED,
		    "Resubscribing takes a POST (the button on the page).", "POST");
		return 1;
	}
	/* Two lengths that disagree, or a length beside chunked coding, is
	 * how a request is smuggled past a proxy that reads the other one
	 * (RFC 9112 6.3): refused, before any of the body is read. */
	{
		struct lengths l = { 0, 0, NULL };
		MHD_get_connection_values(c, MHD_HEADER_KIND, count_length, &l);
		if (l.differ || (l.n && MHD_lookup_connection_value(c, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_TRANSFER_ENCODING))) {
			*rc = http_send_text(c, r, MHD_HTTP_BAD_REQUEST, l.differ ?
			    "Bad request: Content-Length headers that disagree." :
			    "Bad request: both Content-Length and Transfer-Encoding.", NULL);
			return 1;
		}
	}
	cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl && strtoull(cl, NULL, 10) > (unsigned long long)body_limit(h, r)) {
		*rc = http_send_text(c, r, MHD_HTTP_CONTENT_TOO_LARGE, "Request body too large.", NULL);
		return 1;
	}
	return 0;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
    const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct http *h = cls;
	struct req *r = *con_cls;
	enum MHD_Result rc = MHD_YES;

	(void)version;
	if (r == NULL) {
		r = xcalloc(1, sizeof *r);
		*con_cls = r;
		if (intake(h, c, r, url, method, &rc))
			return rc;
		return MHD_YES;
	}
	if (r->answered) {	/* answered at once (404, 405, 413): drop the rest */
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		size_t n = *upload_size;
		r->body_len += n;
		*upload_size = 0;
		/* libmicrohttpd answers only before or after the body: a body
		 * without Content-Length that grows too large is read and dropped
		 * to its end for the 413, or cut off when it goes on and on. */
		if (r->body_len > (uint64_t)body_limit(h, r)) {
			r->too_big = 1;
			return r->body_len > (uint64_t)body_limit(h, r) + DRAIN_MAX ?
			    MHD_NO : MHD_YES;
		}
		if (r->body.len < BODY_KEEP)
			buf_append(&r->body, upload, n < BODY_KEEP - r->body.len ?
			    n : BODY_KEEP - r->body.len);
		return MHD_YES;
	}
	if (r->too_big)
		return http_send_text(c, r, MHD_HTTP_CONTENT_TOO_LARGE, "Request body too large.", NULL);
	return dispatch(h, c, r);
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode why)
{
	struct http *h = cls;
	struct req *r = *con_cls;

	(void)why;
	http_guard_next(h->guard, c);	/* the next request on the connection */
	if (r) {
		buf_free(&r->body);
		free(r);
		*con_cls = NULL;
	}
}

/* Paths are taken as sent, never percent-decoded: a token needs no
 * escaping, so "%2e%2e" or "%00" is simply not a token (404). */
static size_t
no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls; (void)c;
	return strlen(s);
}

static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof msg, fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_debug("http: %s", msg);	/* a flood of bad requests must not flood the log */
}

/* "127.0.0.1:8025", "[::1]:8025", "localhost:8025", ":8025" -> a bound,
 * listening socket. Bound here rather than by libmicrohttpd so that a busy
 * port gets a clear message. */
static int
listen_on(const char *spec, int *fd_out, int *v6, diag *d)
{
	const char *colon = strrchr(spec, ':');
	struct addrinfo hints, *ai = NULL;
	char host[256];
	size_t hl;
	int fd, one = 1, e;

	if (colon == NULL || colon[1] == '\0')
		return diag_set(d, EX_CONFIG, "http.listen: \"%s\" is not address:port", spec);
	hl = (size_t)(colon - spec);
	if (hl >= 2 && spec[0] == '[' && spec[hl - 1] == ']') {
		spec++;
		hl -= 2;
	}
	if (hl >= sizeof host)
		return diag_set(d, EX_CONFIG, "http.listen: address too long");
	memcpy(host, spec, hl);
	host[hl] = '\0';
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((e = getaddrinfo(hl ? host : NULL, colon + 1, &hints, &ai)) != 0)
		return diag_set(d, EX_CONFIG, "http.listen: \"%s\": %s", spec, gai_strerror(e));
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
		e = errno;
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return diag_set(d, e == EACCES ? EX_NOPERM : EX_UNAVAILABLE,
		    "http.listen %s: cannot listen: %s", spec, strerror(e));
	}
	*v6 = ai->ai_family == AF_INET6;
	freeaddrinfo(ai);
	*fd_out = fd;
	return 0;
}

int
http_start(const struct config *cfg, const struct secret *sec, struct http **out,
    diag *d)
{
	struct http *h;
	struct db *db;
	int fd, v6;
	unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;

	*out = NULL;
	h = xcalloc(1, sizeof *h);
	if (site_load(&h->site, cfg, d) < 0) {
		free(h);
		return -1;
	}
	h->sec = *sec;
	stat(cfg->key_file, &h->key_st);
	h->database = xstrdup(cfg->database);
	h->max_body = cfg->http.max_body;
	metrics_relays_configure(cfg);
	pthread_rwlock_init(&h->rw, NULL);
	pthread_mutex_init(&h->pool_lock, NULL);
	pthread_mutex_init(&h->write_lock, NULL);
	/* One connection now: a database that cannot be opened stops the start. */
	if ((db = pool_get(h, d)) == NULL || listen_on(cfg->http.listen, &fd, &v6, d) < 0) {
		if (db)
			pool_put(h, db);
		http_stop(h);
		return -1;
	}
	pool_put(h, db);
	if ((h->guard = http_guard_start(cfg->http.request_timeout * 1000)) == NULL) {
		close(fd);
		http_stop(h);
		return diag_set(d, EX_OSERR, "http: cannot start the request deadline thread");
	}
	if (v6)
		flags |= MHD_USE_IPv6;
	h->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h,
	    MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h,	/* first, or it is ignored */
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->http.threads,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->http.max_connections,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->http.per_ip_connections,
	    MHD_OPTION_NOTIFY_CONNECTION, http_guard_notify, h->guard,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->http.timeout,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg->http.max_header,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
	    MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, h,
	    MHD_OPTION_END);
	if (h->mhd == NULL) {
		close(fd);
		http_stop(h);
		return diag_set(d, EX_SOFTWARE, "http.listen %s: libmicrohttpd did not start",
		    cfg->http.listen);
	}
	log_notice("http: listening on %s (%lld thread%s, %lld connections, %lld per client, "
	    "%llds a request)", cfg->http.listen, (long long)cfg->http.threads,
	    cfg->http.threads == 1 ? "" : "s", (long long)cfg->http.max_connections,
	    (long long)cfg->http.per_ip_connections, (long long)cfg->http.request_timeout);
	*out = h;
	return 0;
}

int
http_reload(struct http *h, const struct config *cfg, diag *d)
{
	struct site fresh, old;

	if (site_load(&fresh, cfg, d) < 0)
		return -1;
	pthread_rwlock_wrlock(&h->rw);
	old = h->site;
	h->site = fresh;
	memset(&h->key_st, 0, sizeof h->key_st);	/* re-read the key file */
	pthread_rwlock_unlock(&h->rw);
	site_free(&old);
	refresh_keys(h);
	return 0;
}

void
http_stop(struct http *h)
{
	if (h == NULL)
		return;
	if (h->mhd)
		MHD_stop_daemon(h->mhd);
	http_guard_stop(h->guard);	/* every connection is closed now */
	for (size_t i = 0; i < h->npool; i++)
		db_close(h->pool[i]);
	free(h->pool);
	site_free(&h->site);
	free(h->database);
	pthread_rwlock_destroy(&h->rw);
	pthread_mutex_destroy(&h->pool_lock);
	pthread_mutex_destroy(&h->write_lock);
	free(h);
}
