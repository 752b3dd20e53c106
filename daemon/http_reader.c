/* http_reader - the public reader's pages: /archive, /p/SLUG and /feed.xml
 * (archive.c), with ETag/Last-Modified and 304. */
#include <string.h>

#include "archive.h"
#include "clock.h"
#include "http_int.h"
#include "issues.h"

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

enum MHD_Result
http_issue(struct http *h, struct MHD_Connection *c, struct req *r, struct db *db)
{
	const struct config *cfg = &h->site.cfg;
	const char *v[S_COUNT] = { 0 };
	struct issue is;
	struct links l;
	buf html = BUF_INIT, frame = BUF_INIT, t = BUF_INIT;
	char date[64], iso[40];
	diag d = DIAG_INIT;
	int cut = 0, found;

	found = archive_issue(db, cfg, r->slug, &is, &html, &cut, &d);
	if (found < 0) {
		buf_free(&html);
		return http_send_failure(h, c, r, &d);
	}
	if (found == 0) {
		buf_free(&html);
		return http_send_message(h, c, r, MHD_HTTP_NOT_FOUND, "No such issue",
		    "There is no published issue at this address.", "../archive",
		    "See the archive");
	}
	http_links(h, v, &l);
	if (cut)
		page_fill(h->site.pages[PG_CTA], v, &html);
	archive_date(is.started_at, date, sizeof date);
	clock_format_rfc3339(is.started_at, iso, sizeof iso);
	v[S_SUBJECT] = is.subject;
	v[S_DATE] = date;
	v[S_DATE_ISO] = iso;
	v[S_CONTENT_HTML] = html.data;
	buf_printf(&t, "%s - %s", is.subject, cfg->list.name);
	http_frame(h, PG_ISSUE, t.data, v, &frame);
	r->last_modified = is.updated_at > is.started_at ? is.updated_at : is.started_at;
	issue_free(&is);
	buf_free(&html);
	buf_free(&t);
	http_links_free(&l);
	return http_send_public(c, r, "text/html; charset=utf-8", &frame);
}

enum MHD_Result
http_feed(struct http *h, struct MHD_Connection *c, struct req *r, struct db *db)
{
	buf out = BUF_INIT;
	int64_t n, latest;
	diag d = DIAG_INIT;

	if (issue_public_stamp(db, &n, &latest, &d) < 0 ||
	    archive_feed(db, &h->site.cfg, &out, &d) < 0) {
		buf_free(&out);
		return http_send_failure(h, c, r, &d);
	}
	r->last_modified = latest;
	return http_send_public(c, r, "application/atom+xml; charset=utf-8", &out);
}
