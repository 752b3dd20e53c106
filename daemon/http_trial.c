/* http_trial - the trial page a free reader's call to action opens:
 * /trial/TOKEN (readerlink.h). GET shows what the trial is and a Start
 * button and changes nothing (mail scanners fetch every link); POST starts
 * it (subscriber_start_trial): tier paid for list.trial_days, once per
 * reader ever. A reader who is paid already, had a trial, or is not an
 * active subscriber gets a page saying so, and nothing changes. */
#include <pthread.h>
#include <stdio.h>
#include <sysexits.h>

#include "archive.h"
#include "clock.h"
#include "http_int.h"
#include "log.h"
#include "readerlink.h"
#include "subscribers.h"
#include "unsubscribe.h"

/* The page for a reader the trial cannot start for (st not TRIAL_OK). */
static enum MHD_Result
refused(struct http *h, struct MHD_Connection *c, struct req *r, unsigned code,
    const struct subscriber *s, enum trial_state st, const char *masked)
{
	const struct config *cfg = &h->site.cfg;
	buf msg = BUF_INIT, link = BUF_INIT, base = BUF_INIT;
	const char *heading, *link_text;
	char when[64];
	enum MHD_Result rc;

	archive_base(cfg, &base);
	switch (st) {
	case TRIAL_PAID:
		heading = "You already read it in full";
		if (s->paid_until) {
			archive_date(s->paid_until, when, sizeof when);
			buf_printf(&msg, "%s is a paid subscriber of %s%s until %s. Nothing was "
			    "changed.", masked, cfg->list.name, s->on_trial ? " on a free trial" :
			    "", when);
		} else {
			buf_printf(&msg, "%s is a paid subscriber of %s. Nothing was changed.",
			    masked, cfg->list.name);
		}
		readerlink(&link, LINK_FEED, base.data, &h->sec, cfg->list.id, 0, s->id);
		link_text = "Your private feed (for a feed reader)";
		break;
	case TRIAL_USED:
		heading = "You have had your free trial";
		archive_date(s->trial_at, when, sizeof when);
		buf_printf(&msg, "The free trial is once per reader, and the one for %s started "
		    "on %s. Nothing was changed.", masked, when);
		/* The operator's payment page when there is one. */
		if (cfg->list.upgrade_url && *cfg->list.upgrade_url) {
			buf_puts(&link, cfg->list.upgrade_url);
			link_text = "Subscribe";
		} else {
			buf_printf(&link, "%s/archive", base.data);
			link_text = "Read the archive";
		}
		break;
	default:
		heading = "This address is not subscribed";
		buf_printf(&msg, "%s does not get %s now, so a trial cannot start for it. "
		    "Nothing was changed.", masked, cfg->list.name);
		buf_printf(&link, "%s/subscribe", base.data);
		link_text = "Subscribe";
		break;
	}
	rc = http_send_message(h, c, r, code, heading, msg.data, link.data, link_text);
	buf_free(&msg);
	buf_free(&link);
	buf_free(&base);
	return rc;
}

/* Starts the trial in its own short transaction; *st says what happened. */
static int
start(struct http *h, struct db *db, int64_t id, int64_t now, int64_t until,
    enum trial_state *st, diag *d)
{
	int rc;

	pthread_mutex_lock(&h->write_lock);
	rc = db_begin(db, d);
	if (rc == 0 && (subscriber_start_trial(db, id, now, until, st, d) < 0 ||
	    db_commit(db, d) < 0)) {
		db_rollback(db);
		rc = -1;
	}
	pthread_mutex_unlock(&h->write_lock);
	return rc;
}

enum MHD_Result
http_trial(struct http *h, struct MHD_Connection *c, struct req *r, struct db *db)
{
	const struct config *cfg = &h->site.cfg;
	const char *v[S_COUNT] = { 0 };
	struct subscriber s;
	enum trial_state st;
	diag d = DIAG_INIT, nd = DIAG_INIT;
	buf masked = BUF_INIT, msg = BUF_INIT, feed = BUF_INIT, base = BUF_INIT;
	int64_t id, now = clock_now(), until = now + cfg->list.trial_days * 86400;
	char when[64];
	enum MHD_Result rc;

	if (token_trial_verify(&h->sec, cfg->keys.grace, now, cfg->list.id, r->token, &id) < 0)
		return http_send_notfound(h, c, r);
	if (subscriber_get(db, id, &s, &nd) < 0)
		return nd.code == EX_NOUSER ? http_send_notfound(h, c, r) :
		    http_send_failure(h, c, r, &nd);
	unsubscribe_mask_email(s.email, &masked);
	st = subscriber_trial_state(&s);
	if (r->method == M_POST && st == TRIAL_OK) {
		if (start(h, db, id, now, until, &st, &d) < 0) {
			rc = http_send_failure(h, c, r, &d);
			goto out;
		}
		if (st == TRIAL_OK) {
			log_info("http: subscriber %lld started a trial", (long long)id);
			archive_base(cfg, &base);
			archive_date(until, when, sizeof when);
			buf_printf(&msg, "%s reads %s in full until %s: the next issue comes whole, "
			    "and every issue's \"View online\" link shows all of it. After that you "
			    "are back on the free edition by yourself.", masked.data,
			    cfg->list.name, when);
			readerlink(&feed, LINK_FEED, base.data, &h->sec, cfg->list.id, 0, id);
			rc = http_send_message(h, c, r, MHD_HTTP_OK, "Your free trial has started",
			    msg.data, feed.data, "Your private feed (for a feed reader)");
			goto out;
		}
		/* Someone else's POST came first: as it reads now. */
		subscriber_free(&s);
		if (subscriber_get(db, id, &s, &d) < 0) {
			rc = http_send_failure(h, c, r, &d);
			goto out_nos;
		}
	}
	if (st != TRIAL_OK) {
		/* A POST that changed nothing is a conflict; a GET just shows. */
		rc = refused(h, c, r, r->method == M_POST ? MHD_HTTP_CONFLICT : MHD_HTTP_OK,
		    &s, st, masked.data);
		goto out;
	}
	archive_date(until, when, sizeof when);
	v[S_EMAIL] = masked.data;
	v[S_DATE] = when;
	rc = http_send_framed(h, c, r, MHD_HTTP_OK, PG_TRIAL, "Start your free trial", v);
out:
	subscriber_free(&s);
out_nos:
	buf_free(&masked);
	buf_free(&msg);
	buf_free(&feed);
	buf_free(&base);
	return rc;
}
