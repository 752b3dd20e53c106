/* http - the daemon's HTTP endpoint (libmicrohttpd): unsubscribe, health, metrics. */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include <openssl/sha.h>
#include <time.h>

#include "archive.h"
#include "buf.h"
#include "clock.h"
#include "db.h"
#include "form.h"
#include "log.h"
#include "metrics.h"
#include "page.h"
#include "signup.h"
#include "token.h"
#include "unsubscribe.h"
#include "xalloc.h"

#define BODY_KEEP	4096	/* bytes of a body looked at ("One-Click") */
#define LISTEN_BACKLOG	511
#define DRAIN_MAX	(1024 * 1024)	/* bytes over max_body read before closing */

enum page_id { PG_CONFIRM, PG_DONE, PG_RESUB, PG_NOTFOUND, PG_STATUS,
	PG_FRAME, PG_SUBSCRIBE, PG_MESSAGE, PG_SIGNUP_CONFIRM, PG_ARCHIVE, PG_ISSUE, PG_CTA,
	PG_COUNT };
static const char *const page_files[PG_COUNT] = {
	"unsubscribe.html", "unsubscribed.html", "resubscribed.html", "notfound.html",
	"status.html",
	/* The readers' pages: fragments inside one frame. */
	"page-frame.html", "page-subscribe.html", "page-message.html", "page-confirm.html",
	"page-archive.html", "page-issue.html", "page-cta.html",
};
enum slot { S_LIST, S_EMAIL, S_RESUB_ACTION, S_UNSUB_ACTION, S_HEADING, S_MESSAGE,
	S_TITLE, S_BODY_HTML, S_HOME_URL, S_ARCHIVE_URL, S_SUBSCRIBE_URL, S_FEED_URL,
	S_LIST_ADDRESS, S_ACTION, S_FORM_TOKEN, S_NAME, S_LINK_URL, S_LINK_TEXT,
	S_ITEMS_HTML, S_SUBJECT, S_DATE, S_DATE_ISO, S_CONTENT_HTML, S_UPGRADE_URL,
	S_COUNT };
static const char *const slot_names[S_COUNT + 1] = {
	"list_name", "email", "resubscribe_action", "unsubscribe_action", "heading",
	"message", "title", "body_html", "home_url", "archive_url", "subscribe_url",
	"feed_url", "list_address", "action", "form_token", "name", "link_url", "link_text",
	"items_html", "subject", "date", "date_iso", "content_html", "upgrade_url", NULL,
};

/* What a reload replaces. */
struct site {
	struct config	 cfg;
	struct page	*pages[PG_COUNT];
};

struct http {
	struct MHD_Daemon *mhd;
	pthread_rwlock_t  rw;		/* site and secret: read per request */
	struct site	  site;
	struct secret	  sec;
	struct stat	  key_st;	/* the key file as last read */
	char		 *database;	/* fixed at start */
	int64_t		  max_body;
	pthread_mutex_t	  pool_lock;	/* idle database connections */
	struct db	**pool;
	size_t		  npool, cappool;
	pthread_mutex_t	  write_lock;	/* our threads write one at a time */
};

enum route { R_NONE, R_UNSUB, R_RESUB, R_HEALTHZ, R_METRICS, R_SUBSCRIBE, R_CONFIRM,
	R_ARCHIVE, R_ISSUE, R_FEED };

#define SLUG_MAX	80
#define FORM_BODY_MAX	BODY_KEEP	/* a signup form is a few hundred bytes */
enum method { M_OTHER, M_GET, M_HEAD, M_POST };

struct req {
	enum route	 route;
	enum method	 method;
	char		 token[TOKEN_MAX];
	char		 slug[SLUG_MAX + 1];
	uint64_t	 body_len;
	buf		 body;		/* its first BODY_KEEP bytes */
	int		 answered;
	int		 too_big;	/* over max_body: 413 once it has all come */
	/* Set by a handler before respond(): */
	int		 cacheable;	/* public page: no-cache (revalidate), indexable */
	char		 etag[48];	/* "" or a quoted strong ETag */
	int64_t		 last_modified;	/* 0: none */
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

static enum MHD_Result
respond(struct MHD_Connection *c, struct req *r, unsigned code, const char *type,
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
	    r->cacheable ? "no-cache" : "no-store");
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
		if (!r->cacheable)
			MHD_add_response_header(resp, "X-Robots-Tag", "noindex, nofollow");
	}
	if (allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	if (code == MHD_HTTP_SERVICE_UNAVAILABLE)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "5");
	if (code == MHD_HTTP_CONTENT_TOO_LARGE)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	rc = MHD_queue_response(c, code, resp);
	MHD_destroy_response(resp);
	count(code);
	r->answered = 1;
	return rc;
}

static enum MHD_Result
send_text(struct MHD_Connection *c, struct req *r, unsigned code, const char *text,
    const char *allow)
{
	buf b = BUF_INIT;

	buf_puts(&b, text);
	buf_putc(&b, '\n');
	return respond(c, r, code, "text/plain; charset=utf-8", &b, allow);
}

static enum MHD_Result send_framed(struct http *h, struct MHD_Connection *c,
    struct req *r, unsigned code, enum page_id id, const char *title, const char **v);

/* Fills page `id` (values indexed by enum slot; the list name is added)
 * inside the shared frame. */
static enum MHD_Result
send_page(struct http *h, struct MHD_Connection *c, struct req *r, unsigned code,
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
	rc = send_framed(h, c, r, code, id, buf_cstr(&t), values);
	buf_free(&t);
	return rc;
}

static enum MHD_Result
send_notfound(struct http *h, struct MHD_Connection *c, struct req *r)
{
	const char *v[S_COUNT] = { 0 };

	return send_page(h, c, r, MHD_HTTP_NOT_FOUND, PG_NOTFOUND, v);
}

/* A failure of the state layer, as HTTP. */
static enum MHD_Result
send_failure(struct http *h, struct MHD_Connection *c, struct req *r, const diag *d)
{
	switch (d->code) {
	case EX_DATAERR:	/* forged, truncated, stale token */
	case EX_NOUSER:		/* genuine, but the subscriber is gone */
		log_debug("http: %s", d->msg);
		return send_notfound(h, c, r);
	case EX_TEMPFAIL:
		log_warn("http: %s", d->msg);
		return send_text(c, r, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "Busy; nothing was changed. Try again in a few seconds.", NULL);
	default:
		log_err("http: %s", d->msg);
		return send_text(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR,
		    "Something went wrong on our side; nothing was changed.", NULL);
	}
}

/* --- handlers; called with h->rw held for reading --- */

static enum MHD_Result
unsub_page(struct http *h, struct MHD_Connection *c, struct req *r, struct db *db)
{
	const struct config *cfg = &h->site.cfg;
	const char *v[S_COUNT] = { 0 };
	struct subscriber s;
	diag d = DIAG_INIT;
	buf masked = BUF_INIT, action = BUF_INIT, msg = BUF_INIT;
	enum MHD_Result rc;

	if (r->method == M_POST) {
		/* Any POST unsubscribes (RFC 8058); the body only tells who asked. */
		const char *how = strstr(buf_cstr(&r->body), "One-Click") ? "one-click" : "web";
		pthread_mutex_lock(&h->write_lock);
		int u = unsubscribe_token(db, cfg, &h->sec, r->token, how, &d);
		pthread_mutex_unlock(&h->write_lock);
		if (u < 0)
			return send_failure(h, c, r, &d);
	}
	if (unsubscribe_lookup(db, cfg, &h->sec, r->token, &s, &d) < 0)
		return send_failure(h, c, r, &d);
	unsubscribe_mask_email(s.email, &masked);
	v[S_EMAIL] = buf_cstr(&masked);
	/* The page tells the reader's state as it is now. A GET never changes
	 * it: opened again after unsubscribing, the link says so and offers
	 * the resubscribe button (a POST) instead of asking again. */
	switch (s.status) {
	case SUB_ACTIVE:
	case SUB_PENDING:
		rc = send_page(h, c, r, MHD_HTTP_OK, PG_CONFIRM, v);
		break;
	case SUB_UNSUBSCRIBED:
		/* Relative to /u/TOKEN: works behind a proxy's path prefix too. */
		buf_printf(&action, "%s/resubscribe", r->token);
		v[S_RESUB_ACTION] = buf_cstr(&action);
		rc = send_page(h, c, r, MHD_HTTP_OK, PG_DONE, v);
		break;
	default:
		/* Bounced or complained: nothing to confirm, nothing the reader
		 * can undo from here. */
		v[S_HEADING] = "You are not getting these emails";
		buf_printf(&msg, "%s gets no more %s emails: mail to it %s. Reply to an "
		    "email from %s to ask for it to be restored.", buf_cstr(&masked),
		    cfg->list.name, s.status == SUB_BOUNCED ? "bounced" :
		    "was reported as spam", cfg->list.name);
		v[S_MESSAGE] = buf_cstr(&msg);
		rc = send_page(h, c, r, MHD_HTTP_OK, PG_STATUS, v);
		break;
	}
	subscriber_free(&s);
	buf_free(&masked);
	buf_free(&action);
	buf_free(&msg);
	return rc;
}

static enum MHD_Result
resub_page(struct http *h, struct MHD_Connection *c, struct req *r, struct db *db)
{
	const struct config *cfg = &h->site.cfg;
	const char *v[S_COUNT] = { 0 };
	struct subscriber s;
	diag d = DIAG_INIT;
	buf masked = BUF_INIT, action = BUF_INIT, msg = BUF_INIT;
	enum MHD_Result rc;
	int done, u;

	pthread_mutex_lock(&h->write_lock);
	u = resubscribe_token(db, cfg, &h->sec, r->token, "web", &done, &d);
	pthread_mutex_unlock(&h->write_lock);
	if (u < 0)
		return send_failure(h, c, r, &d);
	if (unsubscribe_lookup(db, cfg, &h->sec, r->token, &s, &d) < 0)
		return send_failure(h, c, r, &d);
	unsubscribe_mask_email(s.email, &masked);
	v[S_EMAIL] = buf_cstr(&masked);
	/* Relative to /u/TOKEN/resubscribe. */
	buf_printf(&action, "../%s", r->token);
	v[S_UNSUB_ACTION] = buf_cstr(&action);
	if (s.status == SUB_ACTIVE) {
		v[S_HEADING] = "You are subscribed again";
		buf_printf(&msg, "%s will get %s again.", buf_cstr(&masked), cfg->list.name);
	} else {
		/* Bounced or complained: only the publisher can undo that. */
		v[S_HEADING] = "Not resubscribed";
		buf_printf(&msg, "Mail to %s bounced or was reported as spam, so it cannot "
		    "be resubscribed from here. Reply to an email from %s to ask.",
		    buf_cstr(&masked), cfg->list.name);
	}
	v[S_MESSAGE] = buf_cstr(&msg);
	rc = send_page(h, c, r, MHD_HTTP_OK, PG_RESUB, v);
	subscriber_free(&s);
	buf_free(&masked);
	buf_free(&action);
	buf_free(&msg);
	return rc;
}

/* --- the readers' pages: one frame around each --- */

/* Fills fragment `id` with v (list name and the frame's links added), puts
 * it in the frame titled "`title` - list name" (`title` alone when it
 * already names the list, or the list name when NULL), and answers. */
static enum MHD_Result
send_framed(struct http *h, struct MHD_Connection *c, struct req *r, unsigned code,
    enum page_id id, const char *title, const char **v)
{
	const struct config *cfg = &h->site.cfg;
	buf base = BUF_INIT, body = BUF_INIT, out = BUF_INIT, t = BUF_INIT;
	buf archive = BUF_INIT, subscribe = BUF_INIT, feed = BUF_INIT;
	enum MHD_Result rc;

	archive_base(cfg, &base);
	buf_printf(&archive, "%s/archive", base.data);
	buf_printf(&subscribe, "%s/subscribe", base.data);
	buf_printf(&feed, "%s/feed.xml", base.data);
	v[S_LIST] = cfg->list.name;
	v[S_HOME_URL] = v[S_ARCHIVE_URL] = archive.data;
	v[S_SUBSCRIBE_URL] = subscribe.data;
	v[S_FEED_URL] = feed.data;
	v[S_LIST_ADDRESS] = cfg->list.address;
	v[S_UPGRADE_URL] = cfg->list.upgrade_url;
	page_fill(h->site.pages[id], v, &body);
	if (title && *title && strstr(title, cfg->list.name) == NULL &&
	    (id == PG_SUBSCRIBE || id == PG_MESSAGE || id == PG_SIGNUP_CONFIRM))
		buf_printf(&t, "%s - %s", title, cfg->list.name);
	else
		buf_puts(&t, title && *title ? title : cfg->list.name);
	v[S_TITLE] = t.data;
	v[S_BODY_HTML] = body.data;
	page_fill(h->site.pages[PG_FRAME], v, &out);
	rc = respond(c, r, code, "text/html; charset=utf-8", &out, NULL);
	buf_free(&base);
	buf_free(&body);
	buf_free(&out);
	buf_free(&t);
	buf_free(&archive);
	buf_free(&subscribe);
	buf_free(&feed);
	return rc;
}

static enum MHD_Result
send_message(struct http *h, struct MHD_Connection *c, struct req *r, unsigned code,
    const char *heading, const char *message, const char *link_url, const char *link_text)
{
	const char *v[S_COUNT] = { 0 };

	v[S_HEADING] = heading;
	v[S_MESSAGE] = message;
	v[S_LINK_URL] = link_url;
	v[S_LINK_TEXT] = link_text;
	return send_framed(h, c, r, code, PG_MESSAGE, heading, v);
}

/* An IPv6 client is counted by its /64 (one subscriber line holds a whole
 * /64 and may hop around in it); an IPv4-mapped one as IPv4. */
static void
ip_key(int family, const void *addr, char *out, size_t n)
{
	struct in6_addr a6;

	if (family == AF_INET) {
		inet_ntop(AF_INET, addr, out, (socklen_t)n);
		return;
	}
	memcpy(&a6, addr, sizeof a6);
	if (IN6_IS_ADDR_V4MAPPED(&a6)) {
		inet_ntop(AF_INET, &a6.s6_addr[12], out, (socklen_t)n);
		return;
	}
	memset(&a6.s6_addr[8], 0, 8);
	inet_ntop(AF_INET6, &a6, out, (socklen_t)n);
	if (strlen(out) + 4 < n)
		strcat(out, "/64");
}

/* The client's address for the signup limits: the peer's, or with
 * signup.trust_forwarded_for the last X-Forwarded-For entry (the one our
 * own proxy added) when it is an address. */
static void
client_ip(struct http *h, struct MHD_Connection *c, char *out, size_t n)
{
	const union MHD_ConnectionInfo *ci;
	const char *xff;

	snprintf(out, n, "unknown");
	if (h->site.cfg.signup.trust_forwarded_for &&
	    (xff = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-For")) != NULL) {
		const char *last = strrchr(xff, ',');
		char tmp[INET6_ADDRSTRLEN + 8];
		unsigned char bin[sizeof(struct in6_addr)];
		size_t len;

		last = last ? last + 1 : xff;
		while (*last == ' ' || *last == '\t')
			last++;
		len = strcspn(last, " \t");
		if (len < sizeof tmp) {
			memcpy(tmp, last, len);
			tmp[len] = '\0';
			if (inet_pton(AF_INET, tmp, bin) == 1) {
				ip_key(AF_INET, bin, out, n);
				return;
			}
			if (inet_pton(AF_INET6, tmp, bin) == 1) {
				ip_key(AF_INET6, bin, out, n);
				return;
			}
		}
	}
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr) {
		const struct sockaddr *sa = ci->client_addr;
		if (sa->sa_family == AF_INET)
			ip_key(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
			    out, n);
		else if (sa->sa_family == AF_INET6)
			ip_key(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
			    out, n);
	}
}

/* The signup form, with a message and the values sent back (escaped by
 * the page), and a fresh signed load time. */
static enum MHD_Result
send_form(struct http *h, struct MHD_Connection *c, struct req *r, unsigned code,
    const char *message, const char *email, const char *name)
{
	const char *v[S_COUNT] = { 0 };
	char tok[TOKEN_MAX];
	buf e = BUF_INIT, n = BUF_INIT;
	enum MHD_Result rc;

	/* Sent back as typed, less control characters (CR, LF, NUL...). */
	signup_clean(email, 320, &e);
	signup_clean_name(name, &n);
	token_form_make(&h->sec, h->site.cfg.list.id, clock_now_ms(), tok);
	v[S_MESSAGE] = message;
	v[S_EMAIL] = buf_cstr(&e);
	v[S_NAME] = buf_cstr(&n);
	v[S_FORM_TOKEN] = tok;
	v[S_ACTION] = "subscribe";
	rc = send_framed(h, c, r, code, PG_SUBSCRIBE, "Subscribe", v);
	buf_free(&e);
	buf_free(&n);
	return rc;
}

static enum MHD_Result
subscribe_page(struct http *h, struct MHD_Connection *c, struct req *r, struct db *db)
{
	const struct config *cfg = &h->site.cfg;
	const char *ct, *what = "";
	buf email = BUF_INIT, name = BUF_INIT, hp = BUF_INIT, form = BUF_INIT, msg = BUF_INIT;
	struct signup_form f;
	enum signup_result res;
	diag d = DIAG_INIT;
	char ip[INET6_ADDRSTRLEN + 8], life[32];
	enum MHD_Result rc;
	int e, s;

	if (r->method != M_POST) {
		/* ?email=... (a form embedded elsewhere, method="get") fills the
		 * field in; the reader still presses Subscribe here. */
		const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "email");
		buf raw = BUF_INIT;
		if (q && strlen(q) < 1024) {
			buf_puts(&raw, "email=");
			buf_puts(&raw, q);
			if (form_field(raw.data, raw.len, "email", &email) < 0)
				buf_reset(&email);
		}
		buf_free(&raw);
		rc = send_form(h, c, r, MHD_HTTP_OK, "", buf_cstr(&email), "");
		buf_free(&email);
		return rc;
	}
	ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (ct == NULL || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0 ||
	    (ct[33] != '\0' && ct[33] != ';' && ct[33] != ' '))
		return send_text(c, r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
		    "Send the form as application/x-www-form-urlencoded.", NULL);
	e = form_field(r->body.data ? r->body.data : "", r->body.len, "email", &email);
	s = e < 0 ? -1 : form_field(r->body.data, r->body.len, "name", &name);
	if (s >= 0)
		s = form_field(r->body.data, r->body.len, "website", &hp);
	if (s >= 0)
		s = form_field(r->body.data, r->body.len, "form", &form);
	if (e < 0 || s < 0) {
		rc = send_form(h, c, r, MHD_HTTP_BAD_REQUEST,
		    "The form could not be read; please fill it in again.", "", "");
		goto out;
	}
	client_ip(h, c, ip, sizeof ip);
	f.email = e > 0 ? buf_cstr(&email) : NULL;
	f.name = buf_cstr(&name);
	f.honeypot = buf_cstr(&hp);
	f.form = form.len ? buf_cstr(&form) : NULL;
	f.ip = ip;
	pthread_mutex_lock(&h->write_lock);
	s = signup_submit(db, cfg, &h->sec, &f, clock_now_ms(), &res, &what, &d);
	pthread_mutex_unlock(&h->write_lock);
	if (s < 0) {
		rc = send_failure(h, c, r, &d);
		goto out;
	}
	log_info("http: signup from %s: %s", ip, what);
	/* The address is written back only into the form's value (escaped),
	 * never said to be known or not. */
	switch (res) {
	case SIGNUP_DONE:
		clock_format_duration(cfg->signup.pending_expiry, life, sizeof life);
		buf_printf(&msg, "If that address can get %s, an email is on its way to it "
		    "with a link to confirm. Nothing is sent until you press Confirm on the "
		    "page it opens; the link works for %s.", cfg->list.name, life);
		rc = send_message(h, c, r, MHD_HTTP_OK, "Check your inbox", buf_cstr(&msg),
		    "archive", "Read the archive meanwhile");
		break;
	case SIGNUP_INVALID:
		rc = send_form(h, c, r, MHD_HTTP_BAD_REQUEST,
		    "That does not look like an email address (name@example.com).",
		    buf_cstr(&email), buf_cstr(&name));
		break;
	case SIGNUP_STALE:
		rc = send_form(h, c, r, MHD_HTTP_BAD_REQUEST,
		    "This form is too old or was not ours; please send it again.",
		    buf_cstr(&email), buf_cstr(&name));
		break;
	case SIGNUP_TOO_FAST:
		rc = send_form(h, c, r, MHD_HTTP_BAD_REQUEST,
		    "That was very quick. Please check the form and send it again.",
		    buf_cstr(&email), buf_cstr(&name));
		break;
	default:
		rc = send_message(h, c, r, MHD_HTTP_TOO_MANY_REQUESTS, "Too many signups",
		    "Too many signups came from your network just now. Please try again "
		    "in an hour.", "archive", "Read the archive");
		break;
	}
out:
	buf_free(&email);
	buf_free(&name);
	buf_free(&hp);
	buf_free(&form);
	buf_free(&msg);
	return rc;
}

static enum MHD_Result
confirm_page(struct http *h, struct MHD_Connection *c, struct req *r, struct db *db)
{
	const struct config *cfg = &h->site.cfg;
	const char *v[S_COUNT] = { 0 };
	enum confirm_state st;
	diag d = DIAG_INIT;
	char *email = NULL;
	buf masked = BUF_INIT, msg = BUF_INIT;
	enum MHD_Result rc;
	int u;

	if (r->method == M_POST) {
		pthread_mutex_lock(&h->write_lock);
		u = signup_confirm(db, cfg, &h->sec, r->token, clock_now(), &st, &email, &d);
		pthread_mutex_unlock(&h->write_lock);
	} else {
		u = signup_confirm_state(db, cfg, &h->sec, r->token, clock_now(), &st, &email, &d);
	}
	if (u < 0)
		return send_failure(h, c, r, &d);
	if (email)
		unsubscribe_mask_email(email, &masked);
	switch (st) {
	case CONFIRM_PENDING:
		v[S_EMAIL] = buf_cstr(&masked);
		rc = send_framed(h, c, r, MHD_HTTP_OK, PG_SIGNUP_CONFIRM,
		    "Confirm your subscription", v);
		break;
	case CONFIRM_DONE:
		buf_printf(&msg, "%s will get %s. Every email has a link to leave.",
		    buf_cstr(&masked), cfg->list.name);
		rc = send_message(h, c, r, MHD_HTTP_OK, "You are subscribed", buf_cstr(&msg),
		    "../archive", "Read the archive");
		break;
	default:
		rc = send_message(h, c, r, MHD_HTTP_NOT_FOUND, "This link does not work",
		    "It is not a confirmation link of ours, or it has expired, or the address "
		    "left the list. Nothing was changed. You can sign up again.",
		    "../subscribe", "Sign up");
		break;
	}
	free(email);
	buf_free(&masked);
	buf_free(&msg);
	return rc;
}

/* A strong ETag of the body. */
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

/* Answers a public document: 304 when the client has it, else 200. */
static enum MHD_Result
send_public(struct MHD_Connection *c, struct req *r, const char *type, buf *body)
{
	r->cacheable = 1;
	etag_of(body, r->etag);
	if (not_modified(c, r)) {
		buf empty = BUF_INIT;
		buf_free(body);
		return respond(c, r, MHD_HTTP_NOT_MODIFIED, NULL, &empty, NULL);
	}
	return respond(c, r, MHD_HTTP_OK, type, body, NULL);
}

static enum MHD_Result
archive_page(struct http *h, struct MHD_Connection *c, struct req *r, struct db *db)
{
	const char *v[S_COUNT] = { 0 };
	buf items = BUF_INIT, body = BUF_INIT, frame = BUF_INIT, t = BUF_INIT, base = BUF_INIT;
	buf feed = BUF_INIT, archive = BUF_INIT, subscribe = BUF_INIT;
	int64_t n, latest;
	diag d = DIAG_INIT;
	enum MHD_Result rc;

	if (issue_public_stamp(db, &n, &latest, &d) < 0 ||
	    archive_list_html(db, &h->site.cfg, &items, &d) < 0) {
		buf_free(&items);
		return send_failure(h, c, r, &d);
	}
	r->last_modified = latest;
	archive_base(&h->site.cfg, &base);
	buf_printf(&feed, "%s/feed.xml", base.data);
	buf_printf(&archive, "%s/archive", base.data);
	buf_printf(&subscribe, "%s/subscribe", base.data);
	v[S_LIST] = h->site.cfg.list.name;
	v[S_ITEMS_HTML] = items.data;
	v[S_FEED_URL] = feed.data;
	v[S_HOME_URL] = v[S_ARCHIVE_URL] = archive.data;
	v[S_SUBSCRIBE_URL] = subscribe.data;
	v[S_LIST_ADDRESS] = h->site.cfg.list.address;
	page_fill(h->site.pages[PG_ARCHIVE], v, &body);
	buf_printf(&t, "Archive - %s", h->site.cfg.list.name);
	v[S_TITLE] = t.data;
	v[S_BODY_HTML] = body.data;
	page_fill(h->site.pages[PG_FRAME], v, &frame);
	rc = send_public(c, r, "text/html; charset=utf-8", &frame);
	buf_free(&items);
	buf_free(&body);
	buf_free(&frame);
	buf_free(&t);
	buf_free(&base);
	buf_free(&feed);
	buf_free(&archive);
	buf_free(&subscribe);
	return rc;
}

static enum MHD_Result
issue_page(struct http *h, struct MHD_Connection *c, struct req *r, struct db *db)
{
	const struct config *cfg = &h->site.cfg;
	const char *v[S_COUNT] = { 0 };
	struct issue is;
	buf html = BUF_INIT, body = BUF_INIT, frame = BUF_INIT, t = BUF_INIT, base = BUF_INIT;
	buf feed = BUF_INIT, archive = BUF_INIT, subscribe = BUF_INIT;
	char date[64], iso[40];
	diag d = DIAG_INIT;
	enum MHD_Result rc;
	int cut = 0, found;

	found = archive_issue(db, cfg, r->slug, &is, &html, &cut, &d);
	if (found < 0) {
		buf_free(&html);
		return send_failure(h, c, r, &d);
	}
	if (found == 0) {
		buf_free(&html);
		return send_message(h, c, r, MHD_HTTP_NOT_FOUND, "No such issue",
		    "There is no published issue at this address.", "../archive",
		    "See the archive");
	}
	archive_base(cfg, &base);
	buf_printf(&feed, "%s/feed.xml", base.data);
	buf_printf(&archive, "%s/archive", base.data);
	buf_printf(&subscribe, "%s/subscribe", base.data);
	v[S_LIST] = cfg->list.name;
	v[S_FEED_URL] = feed.data;
	v[S_HOME_URL] = v[S_ARCHIVE_URL] = archive.data;
	v[S_SUBSCRIBE_URL] = subscribe.data;
	v[S_LIST_ADDRESS] = cfg->list.address;
	v[S_UPGRADE_URL] = cfg->list.upgrade_url;
	if (cut)
		page_fill(h->site.pages[PG_CTA], v, &html);
	archive_date(is.started_at, date, sizeof date);
	clock_format_rfc3339(is.started_at, iso, sizeof iso);
	v[S_SUBJECT] = is.subject;
	v[S_DATE] = date;
	v[S_DATE_ISO] = iso;
	v[S_CONTENT_HTML] = html.data;
	page_fill(h->site.pages[PG_ISSUE], v, &body);
	buf_printf(&t, "%s - %s", is.subject, cfg->list.name);
	v[S_TITLE] = t.data;
	v[S_BODY_HTML] = body.data;
	page_fill(h->site.pages[PG_FRAME], v, &frame);
	r->last_modified = is.updated_at > is.started_at ? is.updated_at : is.started_at;
	rc = send_public(c, r, "text/html; charset=utf-8", &frame);
	issue_free(&is);
	buf_free(&html);
	buf_free(&body);
	buf_free(&frame);
	buf_free(&t);
	buf_free(&base);
	buf_free(&feed);
	buf_free(&archive);
	buf_free(&subscribe);
	return rc;
}

static enum MHD_Result
feed_page(struct http *h, struct MHD_Connection *c, struct req *r, struct db *db)
{
	buf out = BUF_INIT;
	int64_t n, latest;
	diag d = DIAG_INIT;

	if (issue_public_stamp(db, &n, &latest, &d) < 0 ||
	    archive_feed(db, &h->site.cfg, &out, &d) < 0) {
		buf_free(&out);
		return send_failure(h, c, r, &d);
	}
	r->last_modified = latest;
	return send_public(c, r, "application/atom+xml; charset=utf-8", &out);
}

static enum MHD_Result
healthz(struct http *h, struct MHD_Connection *c, struct req *r, struct db *db,
    const diag *open_err)
{
	diag d = DIAG_INIT;
	buf b = BUF_INIT;
	int db_ok = 0, known = 0, open = 0;
	/* The relays of the running config, by their current names. */
	size_t slots[METRICS_MAX_RELAYS];
	size_t nslots = metrics_relays_current(&h->site.cfg, slots, METRICS_MAX_RELAYS);

	if (db) {
		sqlite3_stmt *st = db_stmt(db, "SELECT count(*) FROM sqlite_master");
		db_ok = st && sqlite3_step(st) == SQLITE_ROW;
		if (st)
			sqlite3_reset(st);
		if (!db_ok)
			db_fail(db, &d, "health check");
	} else {
		d = *open_err;
	}
	for (size_t i = 0; i < nslots; i++) {
		enum relay_circuit st;
		if (metrics_relay_circuit_get(slots[i], &st) == 0) {
			known++;
			open += st == CIRCUIT_OPEN;
		}
	}
	buf_printf(&b, "{\"status\":\"%s\",\"database\":",
	    !db_ok ? "fail" : known && open == known ? "degraded" : "ok");
	/* The reason goes to the log; an outsider learns no path. */
	buf_json_string(&b, db_ok ? "ok" : "database unavailable");
	if (known) {
		buf_puts(&b, ",\"relays\":[");
		for (size_t i = 0, n = 0; i < nslots; i++) {
			enum relay_circuit st;
			if (metrics_relay_circuit_get(slots[i], &st) < 0)
				continue;
			buf_printf(&b, "%s{\"relay\":", n++ ? "," : "");
			buf_json_string(&b, metrics_relay_name(slots[i]));
			buf_printf(&b, ",\"circuit\":\"%s\"}", metrics_circuit_name(st));
		}
		buf_putc(&b, ']');
	}
	buf_puts(&b, "}\n");
	if (!db_ok)
		log_warn("http: /healthz: %s", d.msg);
	return respond(c, r, db_ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
	    "application/json", &b, NULL);
}

static enum MHD_Result
metrics_page(struct http *h, struct MHD_Connection *c, struct req *r, struct db *db)
{
	diag d = DIAG_INIT;
	buf b = BUF_INIT;

	if (metrics_scrape(db, &h->site.cfg, &b, &d) < 0) {
		buf_free(&b);
		return send_failure(h, c, r, &d);
	}
	return respond(c, r, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", &b, NULL);
}

static enum MHD_Result
dispatch(struct http *h, struct MHD_Connection *c, struct req *r)
{
	diag d = DIAG_INIT;
	struct db *db;
	enum MHD_Result rc;

	if (r->route == R_UNSUB || r->route == R_RESUB || r->route == R_SUBSCRIBE ||
	    r->route == R_CONFIRM)
		refresh_keys(h);
	db = pool_get(h, &d);
	pthread_rwlock_rdlock(&h->rw);
	if (r->route == R_HEALTHZ)
		rc = healthz(h, c, r, db, &d);
	else if (db == NULL)
		rc = send_failure(h, c, r, &d);
	else if (r->route == R_METRICS)
		rc = metrics_page(h, c, r, db);
	else if (r->route == R_RESUB)
		rc = resub_page(h, c, r, db);
	else if ((r->route == R_SUBSCRIBE || r->route == R_CONFIRM) &&
	    !h->site.cfg.signup.enabled)
		rc = send_notfound(h, c, r);
	else if (r->route == R_SUBSCRIBE)
		rc = subscribe_page(h, c, r, db);
	else if (r->route == R_CONFIRM)
		rc = confirm_page(h, c, r, db);
	else if (r->route == R_ARCHIVE)
		rc = archive_page(h, c, r, db);
	else if (r->route == R_ISSUE)
		rc = issue_page(h, c, r, db);
	else if (r->route == R_FEED)
		rc = feed_page(h, c, r, db);
	else
		rc = unsub_page(h, c, r, db);
	pthread_rwlock_unlock(&h->rw);
	if (db)
		pool_put(h, db);
	return rc;
}

/* --- request intake --- */

static enum route
route(const char *url, char token[TOKEN_MAX], char slug[SLUG_MAX + 1])
{
	static const char tokchars[] = "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_";
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
		memcpy(slug, p, n + 1);
		return R_ISSUE;
	}
	if (strncmp(url, "/confirm/", 9) == 0) {
		p = url + 9;
		n = strspn(p, tokchars);
		if (n == 0 || n >= TOKEN_MAX || p[n] != '\0' || strstr(p, ".."))
			return R_NONE;
		memcpy(token, p, n + 1);
		return R_CONFIRM;
	}
	if (strncmp(url, "/u/", 3) != 0)
		return R_NONE;
	p = url + 3;
	n = strspn(p, tokchars);
	if (n == 0 || n >= TOKEN_MAX || strstr(p, ".."))
		return R_NONE;
	memcpy(token, p, n);
	token[n] = '\0';
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
	if ((r->route == R_SUBSCRIBE || r->route == R_CONFIRM) && h->max_body > FORM_BODY_MAX)
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

/* The first call for a request (headers read): 0 to go on reading the
 * body, or the answer queued at once (bad path, method, size). */
static int
intake(struct http *h, struct MHD_Connection *c, struct req *r, const char *url,
    const char *method, enum MHD_Result *rc)
{
	const char *cl;

	r->method = method_of(method);
	if (r->method == M_OTHER) {
		*rc = send_text(c, r, MHD_HTTP_METHOD_NOT_ALLOWED, "Method not allowed.",
		    "GET, HEAD, POST");
		return 1;
	}
	r->route = route(url, r->token, r->slug);
	if (r->route == R_NONE) {
		pthread_rwlock_rdlock(&h->rw);
		*rc = send_notfound(h, c, r);
		pthread_rwlock_unlock(&h->rw);
		return 1;
	}
	if ((r->route == R_HEALTHZ || r->route == R_METRICS || r->route == R_ARCHIVE ||
	    r->route == R_ISSUE || r->route == R_FEED) && r->method == M_POST) {
		*rc = send_text(c, r, MHD_HTTP_METHOD_NOT_ALLOWED, "Method not allowed.",
		    "GET, HEAD");
		return 1;
	}
	if (r->route == R_RESUB && r->method != M_POST) {
		*rc = send_text(c, r, MHD_HTTP_METHOD_NOT_ALLOWED,
		    "Resubscribing takes a POST (the button on the page).", "POST");
		return 1;
	}
	cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl && strtoull(cl, NULL, 10) > (unsigned long long)body_limit(h, r)) {
		*rc = send_text(c, r, MHD_HTTP_CONTENT_TOO_LARGE, "Request body too large.", NULL);
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
		return send_text(c, r, MHD_HTTP_CONTENT_TOO_LARGE, "Request body too large.", NULL);
	return dispatch(h, c, r);
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode why)
{
	struct req *r = *con_cls;

	(void)cls; (void)c; (void)why;
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
	if (v6)
		flags |= MHD_USE_IPv6;
	h->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h,
	    MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h,	/* first, or it is ignored */
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->http.threads,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->http.max_connections,
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
	log_notice("http: listening on %s (%lld thread%s)", cfg->http.listen,
	    (long long)cfg->http.threads, cfg->http.threads == 1 ? "" : "s");
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
