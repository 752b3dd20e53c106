/* http_int - what the parts of the HTTP endpoint share (not for other modules).
 *
 * http.c is the server: libmicrohttpd setup, database connections, the
 * site (config copy and pages), routing, request and body intake, and the
 * helpers every handler answers with. The handlers live by concept:
 * http_unsub.c (unsubscribe, resubscribe), http_signup.c (signup form,
 * confirm), http_reader.c (archive, issue, feed; a reader's own view of an
 * issue and private feed), http_trial.c (the trial page), http_ops.c
 * (health, metrics). A handler is called with h->rw held for reading and with a
 * database connection of its own; it takes h->write_lock around a write.
 */
#ifndef BROADSIDE_HTTP_INT_H
#define BROADSIDE_HTTP_INT_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>

#include "buf.h"
#include "config.h"
#include "db.h"
#include "diag.h"
#include "page.h"
#include "secret.h"
#include "token.h"

#define BODY_KEEP	4096	/* bytes of a body looked at ("One-Click") */
#define SLUG_MAX	80
#define FORM_BODY_MAX	BODY_KEEP	/* a signup form is a few hundred bytes */

enum page_id { PG_CONFIRM, PG_DONE, PG_RESUB, PG_NOTFOUND, PG_STATUS,
	PG_FRAME, PG_SUBSCRIBE, PG_MESSAGE, PG_SIGNUP_CONFIRM, PG_ARCHIVE, PG_ISSUE, PG_CTA,
	PG_TRIAL, PG_COUNT };
enum slot { S_LIST, S_EMAIL, S_RESUB_ACTION, S_UNSUB_ACTION, S_HEADING, S_MESSAGE,
	S_TITLE, S_BODY_HTML, S_HOME_URL, S_ARCHIVE_URL, S_SUBSCRIBE_URL, S_FEED_URL,
	S_LIST_ADDRESS, S_ACTION, S_FORM_TOKEN, S_NAME, S_LINK_URL, S_LINK_TEXT,
	S_ITEMS_HTML, S_SUBJECT, S_DATE, S_DATE_ISO, S_CONTENT_HTML, S_UPGRADE_URL,
	S_TRIAL_DAYS, S_COUNT };

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
	struct http_guard *guard;	/* each request's deadline */
};

enum route { R_NONE, R_UNSUB, R_RESUB, R_HEALTHZ, R_METRICS, R_SUBSCRIBE, R_CONFIRM,
	R_ARCHIVE, R_ISSUE, R_FEED, R_TRIAL, R_VIEW, R_READER_FEED };

enum method { M_OTHER, M_GET, M_HEAD, M_POST };

struct req {
	enum route	 route;
	enum method	 method;
	char		 token[TOKEN_MAX];
	char		 slug[SLUG_MAX + 1];
	int64_t		 issue_id;	/* R_VIEW */
	uint64_t	 body_len;
	buf		 body;		/* its first BODY_KEEP bytes */
	int		 answered;
	int		 too_big;	/* over max_body: 413 once it has all come */
	/* Set by a handler before answering: */
	int		 cacheable;	/* public page: no-cache (revalidate), indexable */
	int		 personal;	/* with cacheable: one reader's (private, noindex) */
	char		 etag[48];	/* "" or a quoted strong ETag */
	int64_t		 last_modified;	/* 0: none */
	const char	*location;	/* a redirect's Location, or NULL */
};

/* The links every page's frame carries; freed by http_links_free. */
struct links {
	buf	 base, archive, subscribe, feed, upgrade;
	char	 trial_days[24];
};

/* --- http.c: answers --- */

/* Queues body (taken) with status `code`; `allow` is an Allow header or NULL. */
enum MHD_Result http_respond(struct MHD_Connection *c, struct req *r, unsigned code,
	    const char *type, buf *body, const char *allow);
enum MHD_Result http_send_text(struct MHD_Connection *c, struct req *r, unsigned code,
	    const char *text, const char *allow);
/* Fills the list name and the frame's links into v (indexed by enum slot). */
void	http_links(const struct http *h, const char **v, struct links *l);
void	http_links_free(struct links *l);
/* Fills fragment `id` with v (list name and the frame's links added) and
 * puts it in the frame titled `title` (the list name when NULL or empty). */
void	http_frame(const struct http *h, enum page_id id, const char *title,
	    const char **v, buf *out);
/* http_frame, answered; a title of a signup page gets " - list name". */
enum MHD_Result http_send_framed(struct http *h, struct MHD_Connection *c,
	    struct req *r, unsigned code, enum page_id id, const char *title, const char **v);
/* An unsubscribe page, titled for what it is. */
enum MHD_Result http_send_page(struct http *h, struct MHD_Connection *c, struct req *r,
	    unsigned code, enum page_id id, const char **values);
/* A heading, a message and one link, in the frame. */
enum MHD_Result http_send_message(struct http *h, struct MHD_Connection *c,
	    struct req *r, unsigned code, const char *heading, const char *message,
	    const char *link_url, const char *link_text);
enum MHD_Result http_send_notfound(struct http *h, struct MHD_Connection *c,
	    struct req *r);
/* A failure of the state layer, as HTTP: a bad token 404, busy 503, else 500. */
enum MHD_Result http_send_failure(struct http *h, struct MHD_Connection *c,
	    struct req *r, const diag *d);
/* A document with a strong ETag: 304 when the client has it, else 200;
 * public (cacheable) unless r->personal is set. */
enum MHD_Result http_send_public(struct MHD_Connection *c, struct req *r,
	    const char *type, buf *body);

/* --- the handlers --- */

/* http_unsub.c */
enum MHD_Result http_unsub(struct http *h, struct MHD_Connection *c, struct req *r,
	    struct db *db);
enum MHD_Result http_resub(struct http *h, struct MHD_Connection *c, struct req *r,
	    struct db *db);
/* http_signup.c */
enum MHD_Result http_subscribe(struct http *h, struct MHD_Connection *c, struct req *r,
	    struct db *db);
enum MHD_Result http_confirm(struct http *h, struct MHD_Connection *c, struct req *r,
	    struct db *db);
/* http_reader.c */
enum MHD_Result http_archive(struct http *h, struct MHD_Connection *c, struct req *r,
	    struct db *db);
enum MHD_Result http_issue(struct http *h, struct MHD_Connection *c, struct req *r,
	    struct db *db);
enum MHD_Result http_feed(struct http *h, struct MHD_Connection *c, struct req *r,
	    struct db *db);
enum MHD_Result http_view(struct http *h, struct MHD_Connection *c, struct req *r,
	    struct db *db);
enum MHD_Result http_reader_feed(struct http *h, struct MHD_Connection *c, struct req *r,
	    struct db *db);
/* http_trial.c */
enum MHD_Result http_trial(struct http *h, struct MHD_Connection *c, struct req *r,
	    struct db *db);
/* http_ops.c; db is NULL when none could be opened (open_err says why) */
enum MHD_Result http_healthz(struct http *h, struct MHD_Connection *c, struct req *r,
	    struct db *db, const diag *open_err);
enum MHD_Result http_metrics(struct http *h, struct MHD_Connection *c, struct req *r,
	    struct db *db);

#endif
