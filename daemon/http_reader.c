/* http_reader - the reader's pages: the public /archive, /p/SLUG and
 * /feed.xml (archive.c), with ETag/Last-Modified and 304; and a reader's
 * own, behind a signed link (readerlink.h): /i/ISSUE/TOKEN (the issue as
 * their tier gets it) and /feed/TOKEN.xml (a paid reader's full feed). */
#include <string.h>
#include <sysexits.h>

#include "archive.h"
#include "clock.h"
#include "http_int.h"
#include "issues.h"
#include "readerlink.h"
#include "subscribers.h"

enum MHD_Result
http_archive(struct http *h, struct MHD_Connection *c, struct req *r, struct db *db)
{
	const char *v[S_COUNT] = { 0 };
	buf items = BUF_INIT, frame = BUF_INIT, t = BUF_INIT;
	int64_t n, latest;
	diag d = DIAG_INIT;

	if (issue_public_stamp(db, &n, &latest, &d) < 0 ||
	    archive_list_html(db, &h->site.cfg, &items, &d) < 0) {
		buf_free(&items);
		return http_send_failure(h, c, r, &d);
	}
	r->last_modified = latest;
	v[S_ITEMS_HTML] = items.data;
	buf_printf(&t, "Archive - %s", h->site.cfg.list.name);
	http_frame(h, PG_ARCHIVE, t.data, v, &frame);
	buf_free(&items);
	buf_free(&t);
	return http_send_public(c, r, "text/html; charset=utf-8", &frame);
}

/* The issue page: the edition's HTML, the call to action after a cut
 * (`upgrade`: the reader's own trial link, or NULL for the site's), in
 * the frame. */
static void
issue_page(const struct http *h, const struct issue *is, buf *html, int cut,
    const char *upgrade, buf *out)
{
	const char *v[S_COUNT] = { 0 };
	struct links l;
	buf t = BUF_INIT;
	char date[64], iso[40];

	http_links(h, v, &l);
	if (upgrade)
		v[S_UPGRADE_URL] = upgrade;
	if (cut)
		page_fill(h->site.pages[PG_CTA], v, html);
	archive_date(is->started_at, date, sizeof date);
	clock_format_rfc3339(is->started_at, iso, sizeof iso);
	v[S_SUBJECT] = is->subject;
	v[S_DATE] = date;
	v[S_DATE_ISO] = iso;
	v[S_CONTENT_HTML] = html->data;
	buf_printf(&t, "%s - %s", is->subject, h->site.cfg.list.name);
	http_frame(h, PG_ISSUE, t.data, v, out);
	buf_free(&t);
	http_links_free(&l);
}

/* /p/SLUG that no public issue has now: 301 to the page of the public
 * issue that had it before its subject was edited (issues.h), else the
 * 404 page. */
static enum MHD_Result
moved_or_missing(struct http *h, struct MHD_Connection *c, struct req *r, struct db *db)
{
	buf to = BUF_INIT, body = BUF_INIT;
	diag d = DIAG_INIT;
	enum MHD_Result rc;
	int found;

	archive_issue_base(&h->site.cfg, &to);
	found = issue_public_alias(db, r->slug, &to, &d);
	if (found < 0) {
		buf_free(&to);
		return http_send_failure(h, c, r, &d);
	}
	if (found == 0) {
		buf_free(&to);
		return http_send_message(h, c, r, MHD_HTTP_NOT_FOUND, "No such issue",
		    "There is no published issue at this address.", "../archive",
		    "See the archive");
	}
	buf_printf(&body, "Moved to %s\n", to.data);
	r->location = to.data;
	rc = http_respond(c, r, MHD_HTTP_MOVED_PERMANENTLY, "text/plain; charset=utf-8", &body,
	    NULL);
	r->location = NULL;
	buf_free(&to);
	return rc;
}

enum MHD_Result
http_issue(struct http *h, struct MHD_Connection *c, struct req *r, struct db *db)
{
	const struct config *cfg = &h->site.cfg;
	struct issue is;
	buf html = BUF_INIT, frame = BUF_INIT;
	diag d = DIAG_INIT;
	int cut = 0, found;

	found = archive_issue(db, cfg, r->slug, &is, &html, &cut, &d);
	if (found < 0) {
		buf_free(&html);
		return http_send_failure(h, c, r, &d);
	}
	if (found == 0) {
		buf_free(&html);
		return moved_or_missing(h, c, r, db);
	}
	issue_page(h, &is, &html, cut, NULL, &frame);
	r->last_modified = is.updated_at > is.started_at ? is.updated_at : is.started_at;
	issue_free(&is);
	buf_free(&html);
	return http_send_public(c, r, "text/html; charset=utf-8", &frame);
}

enum MHD_Result
http_feed(struct http *h, struct MHD_Connection *c, struct req *r, struct db *db)
{
	buf out = BUF_INIT;
	int64_t n, latest;
	diag d = DIAG_INIT;

	if (issue_public_stamp(db, &n, &latest, &d) < 0 ||
	    archive_feed(db, &h->site.cfg, NULL, &out, &d) < 0) {
		buf_free(&out);
		return http_send_failure(h, c, r, &d);
	}
	r->last_modified = latest;
	return http_send_public(c, r, "application/atom+xml; charset=utf-8", &out);
}

/* The subscriber a genuine token names: 1 and *s; 0 when they are gone
 * (removed: the 404 page is the answer); -1 on a database error. */
static int
reader_of(struct db *db, int64_t id, struct subscriber *s, diag *d)
{
	diag nd = DIAG_INIT;

	if (subscriber_get(db, id, s, &nd) == 0)
		return 1;
	if (nd.code == EX_NOUSER)
		return 0;
	*d = nd;
	return -1;
}

/* /i/ISSUE/TOKEN: the issue as this reader's tier gets it today (paid:
 * whole; free: the cut and the call to action, with their own trial link
 * unless list.upgrade_url is set). A draft, scheduled, paused or cancelled
 * issue, or a token for another issue, is the 404 page. */
enum MHD_Result
http_view(struct http *h, struct MHD_Connection *c, struct req *r, struct db *db)
{
	const struct config *cfg = &h->site.cfg;
	struct subscriber s;
	struct issue is;
	buf html = BUF_INIT, frame = BUF_INIT, trial = BUF_INIT, base = BUF_INIT;
	diag d = DIAG_INIT;
	int64_t id;
	int cut = 0, found;

	if (token_view_verify(&h->sec, cfg->keys.grace, clock_now(), cfg->list.id,
	    r->issue_id, r->token, &id) < 0)
		return http_send_notfound(h, c, r);
	if ((found = reader_of(db, id, &s, &d)) <= 0)
		return found < 0 ? http_send_failure(h, c, r, &d) : http_send_notfound(h, c, r);
	found = issue_public_by_id(db, r->issue_id, &is, &d);
	if (found <= 0 || archive_edition(cfg, &is, s.tier == TIER_PAID, &html, &cut, &d) < 0) {
		if (found > 0)
			issue_free(&is);
		subscriber_free(&s);
		buf_free(&html);
		return found < 0 || d.code ? http_send_failure(h, c, r, &d) :
		    http_send_notfound(h, c, r);
	}
	if (cut && (!cfg->list.upgrade_url || !*cfg->list.upgrade_url)) {
		archive_base(cfg, &base);
		readerlink(&trial, LINK_TRIAL, base.data, &h->sec, cfg->list.id, 0, s.id);
	}
	issue_page(h, &is, &html, cut, trial.len ? trial.data : NULL, &frame);
	issue_free(&is);
	subscriber_free(&s);
	buf_free(&html);
	buf_free(&trial);
	buf_free(&base);
	/* One reader's page: never stored by a cache, never indexed. */
	return http_respond(c, r, MHD_HTTP_OK, "text/html; charset=utf-8", &frame, NULL);
}

struct view_links {
	const struct http	*h;
	const char		*base;
	int64_t			 subscriber_id;
};

static void
view_link(int64_t issue_id, void *arg, buf *out)
{
	const struct view_links *vl = arg;

	readerlink(out, LINK_VIEW, vl->base, &vl->h->sec, vl->h->site.cfg.list.id, issue_id,
	    vl->subscriber_id);
}

/* /feed/TOKEN.xml: a paid reader's full-content Atom feed, with ETag and
 * Last-Modified like the public one; once the reader is no longer paid,
 * 403 and a page saying so. */
enum MHD_Result
http_reader_feed(struct http *h, struct MHD_Connection *c, struct req *r, struct db *db)
{
	const struct config *cfg = &h->site.cfg;
	struct subscriber s;
	struct archive_feed_for f;
	struct view_links vl;
	buf out = BUF_INIT, base = BUF_INIT, self = BUF_INIT, msg = BUF_INIT, pub = BUF_INIT;
	int64_t id, n, latest;
	diag d = DIAG_INIT;
	enum MHD_Result rc;
	int found;

	if (token_feed_verify(&h->sec, cfg->keys.grace, clock_now(), cfg->list.id, r->token,
	    &id) < 0)
		return http_send_notfound(h, c, r);
	if ((found = reader_of(db, id, &s, &d)) <= 0)
		return found < 0 ? http_send_failure(h, c, r, &d) : http_send_notfound(h, c, r);
	archive_base(cfg, &base);
	if (s.tier != TIER_PAID) {
		buf_printf(&msg, "This feed carried %s in full for a paid subscriber, and that "
		    "subscription has ended. The public feed has the free part of every issue.",
		    cfg->list.name);
		buf_printf(&pub, "%s/feed.xml", base.data);
		rc = http_send_message(h, c, r, MHD_HTTP_FORBIDDEN, "This private feed has stopped",
		    msg.data, pub.data, "The public feed");
		goto out;
	}
	readerlink(&self, LINK_FEED, base.data, &h->sec, cfg->list.id, 0, s.id);
	vl = (struct view_links){ h, base.data, s.id };
	f = (struct archive_feed_for){ s.id, self.data, view_link, &vl };
	if (issue_public_stamp(db, &n, &latest, &d) < 0 ||
	    archive_feed(db, cfg, &f, &out, &d) < 0) {
		buf_free(&out);
		rc = http_send_failure(h, c, r, &d);
		goto out;
	}
	r->last_modified = latest;
	r->personal = 1;
	rc = http_send_public(c, r, "application/atom+xml; charset=utf-8", &out);
out:
	subscriber_free(&s);
	buf_free(&base);
	buf_free(&self);
	buf_free(&msg);
	buf_free(&pub);
	return rc;
}
