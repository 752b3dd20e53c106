/* http_unsub - the unsubscribe pages: /u/TOKEN (GET shows, POST unsubscribes,
 * RFC 8058 one-click) and /u/TOKEN/resubscribe (POST). */
#include <pthread.h>
#include <string.h>

#include "http_int.h"
#include "subscribers.h"
#include "unsubscribe.h"

enum MHD_Result
http_unsub(struct http *h, struct MHD_Connection *c, struct req *r, struct db *db)
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
			return http_send_failure(h, c, r, &d);
	}
	if (unsubscribe_lookup(db, cfg, &h->sec, r->token, &s, &d) < 0)
		return http_send_failure(h, c, r, &d);
	unsubscribe_mask_email(s.email, &masked);
	v[S_EMAIL] = buf_cstr(&masked);
	/* The page tells the reader's state as it is now. A GET never changes
	 * it: opened again after unsubscribing, the link says so and offers
	 * the resubscribe button (a POST) instead of asking again. */
	switch (s.status) {
	case SUB_ACTIVE:
	case SUB_PENDING:
		rc = http_send_page(h, c, r, MHD_HTTP_OK, PG_CONFIRM, v);
		break;
	case SUB_UNSUBSCRIBED:
		/* Relative to /u/TOKEN: works behind a proxy's path prefix too. */
		buf_printf(&action, "%s/resubscribe", r->token);
		v[S_RESUB_ACTION] = buf_cstr(&action);
		rc = http_send_page(h, c, r, MHD_HTTP_OK, PG_DONE, v);
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
		rc = http_send_page(h, c, r, MHD_HTTP_OK, PG_STATUS, v);
		break;
	}
	subscriber_free(&s);
	buf_free(&masked);
	buf_free(&action);
	buf_free(&msg);
	return rc;
}

enum MHD_Result
http_resub(struct http *h, struct MHD_Connection *c, struct req *r, struct db *db)
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
		return http_send_failure(h, c, r, &d);
	if (unsubscribe_lookup(db, cfg, &h->sec, r->token, &s, &d) < 0)
		return http_send_failure(h, c, r, &d);
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
	rc = http_send_page(h, c, r, MHD_HTTP_OK, PG_RESUB, v);
	subscriber_free(&s);
	buf_free(&masked);
	buf_free(&action);
	buf_free(&msg);
	return rc;
}
