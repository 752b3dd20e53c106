/* archive - what the public sees of the issues that went out. */
#include "archive.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "markdown.h"
#include "page.h"
#include "xalloc.h"

void
archive_base(const struct config *cfg, buf *out)
{
	size_t start = out->len;

	buf_puts(out, cfg->list.base_url ? cfg->list.base_url : "");
	while (out->len > start && out->data[out->len - 1] == '/')
		buf_truncate(out, out->len - 1);
}

void
archive_issue_base(const struct config *cfg, buf *out)
{
	archive_base(cfg, out);
	buf_puts(out, "/p/");
}

void
archive_date(int64_t t, char *out, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, n, "%-d %B %Y", &tm);
}

struct list_ctx {
	buf		*out;
	size_t		 n;
};

static int
list_one(const struct issue_public *p, void *arg)
{
	struct list_ctx *c = arg;
	char date[64], iso[40];

	if (c->n++ == 0)
		buf_puts(c->out, "<ul class=\"issues\">\n");
	archive_date(p->published, date, sizeof date);
	clock_format_rfc3339(p->published, iso, sizeof iso);
	buf_puts(c->out, "<li><a href=\"p/");
	page_escape(c->out, p->slug);
	buf_puts(c->out, "\">");
	page_escape(c->out, p->subject);
	buf_puts(c->out, "</a><br><span class=\"date\"><time datetime=\"");
	page_escape(c->out, iso);
	buf_puts(c->out, "\">");
	page_escape(c->out, date);
	buf_puts(c->out, "</time></span>");
	if (p->preheader && *p->preheader) {
		buf_puts(c->out, "<br><span class=\"quiet\">");
		page_escape(c->out, p->preheader);
		buf_puts(c->out, "</span>");
	}
	buf_puts(c->out, "</li>\n");
	return 0;
}

int
archive_list_html(struct db *db, const struct config *cfg, buf *out, diag *d)
{
	struct list_ctx c = { out, 0 };

	(void)cfg;
	if (issue_public_list(db, 0, list_one, &c, d) < 0)
		return -1;
	if (c.n)
		buf_puts(out, "</ul>\n");
	else
		buf_puts(out, "<p>Nothing here yet: the first issue will be.</p>\n");
	return 0;
}

/* The Markdown a tier may read: all of it less the mark line (full), or
 * the public's: before the mark, nothing of an issue for paid readers
 * only that has no mark. */
static void
edition_md(const struct issue *is, int full, buf *out, int *cut)
{
	const char *src = is->source ? is->source : "";
	const char *after, *mark = issue_paywall(src, &after, NULL);

	*cut = !full && (mark != NULL || is->audience == AUD_PAID);
	if (mark) {
		buf_append(out, src, (size_t)(mark - src));
		if (full)
			buf_puts(out, after);
	} else if (full || is->audience != AUD_PAID) {
		buf_puts(out, src);
	}
}

int
archive_edition(const struct config *cfg, const struct issue *is, int full, buf *html,
    int *cut, diag *d)
{
	buf md = BUF_INIT, text = BUF_INIT, links = BUF_INIT;
	int rc;

	edition_md(is, full, &md, cut);
	archive_issue_base(cfg, &links);
	rc = markdown_render_site(buf_cstr(&md), md.len, (int)cfg->list.allow_html,
	    buf_cstr(&links), html, &text, d);
	buf_free(&links);
	buf_free(&md);
	buf_free(&text);
	return rc;
}

void
archive_upgrade_url(const struct config *cfg, buf *out)
{
	if (cfg->list.upgrade_url && *cfg->list.upgrade_url) {
		buf_puts(out, cfg->list.upgrade_url);
	} else {
		archive_base(cfg, out);
		buf_puts(out, "/subscribe");
	}
}

int
archive_issue(struct db *db, const struct config *cfg, const char *slug, struct issue *is,
    buf *html, int *cut, diag *d)
{
	int rc = issue_public_get(db, slug, is, d);

	if (rc <= 0)
		return rc;
	if (archive_edition(cfg, is, 0, html, cut, d) < 0) {
		issue_free(is);
		return -1;
	}
	return 1;
}

/* XML text: & < > " escaped, and the characters XML 1.0 forbids dropped. */
static void
xml_escape(buf *out, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		if (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
			continue;
		switch (*p) {
		case '&': buf_puts(out, "&amp;"); break;
		case '<': buf_puts(out, "&lt;"); break;
		case '>': buf_puts(out, "&gt;"); break;
		case '"': buf_puts(out, "&quot;"); break;
		default: buf_putc(out, (char)*p);
		}
	}
}

struct feed_ctx {
	struct db		*db;
	const struct config	*cfg;
	const struct archive_feed_for *f;	/* NULL: the public feed */
	const char		*base;
	buf			*entries;
	int64_t			 updated;
	int			 failed;
	diag			*d;
};

static int
feed_one(const struct issue_public *p, void *arg)
{
	struct feed_ctx *c = arg;
	struct issue is;
	buf html = BUF_INIT, url = BUF_INIT;
	char iso[40], day[16];
	time_t tt;
	struct tm tm;
	int cut;

	if (issue_get(c->db, p->id, &is, c->d) < 0 ||
	    archive_edition(c->cfg, &is, c->f != NULL, &html, &cut, c->d) < 0) {
		issue_free(&is);
		c->failed = 1;
		return 1;
	}
	if (c->f)
		c->f->link(p->id, c->f->arg, &url);
	else
		buf_printf(&url, "%s/p/%s", c->base, p->slug);
	if (cut) {
		buf up = BUF_INIT;
		archive_upgrade_url(c->cfg, &up);
		buf_printf(&html, "<p><strong>Keep reading with a %lld-day free trial.</strong> "
		    "<a href=\"", (long long)c->cfg->list.trial_days);
		page_escape(&html, up.data);
		buf_free(&up);
		buf_puts(&html, "\">Subscribe to ");
		page_escape(&html, c->cfg->list.name);
		buf_puts(&html, "</a></p>\n");
	}
	if (p->published > c->updated)
		c->updated = p->published;
	tt = (time_t)is.created_at;
	gmtime_r(&tt, &tm);
	strftime(day, sizeof day, "%Y-%m-%d", &tm);
	buf_puts(c->entries, "<entry>\n<title>");
	xml_escape(c->entries, p->subject);
	buf_puts(c->entries, "</title>\n<id>tag:");
	xml_escape(c->entries, c->cfg->list.id);
	buf_printf(c->entries, ",%s:issue/%lld</id>\n<link rel=\"alternate\" type=\"text/html\" "
	    "href=\"", day, (long long)p->id);
	xml_escape(c->entries, url.data);
	clock_format_rfc3339(p->published, iso, sizeof iso);
	buf_printf(c->entries, "\"/>\n<published>%s</published>\n<updated>%s</updated>\n",
	    iso, iso);
	if (p->preheader && *p->preheader) {
		buf_puts(c->entries, "<summary>");
		xml_escape(c->entries, p->preheader);
		buf_puts(c->entries, "</summary>\n");
	}
	buf_puts(c->entries, "<content type=\"html\">");
	xml_escape(c->entries, html.data);
	buf_puts(c->entries, "</content>\n</entry>\n");
	issue_free(&is);
	buf_free(&html);
	buf_free(&url);
	return 0;
}

int
archive_feed(struct db *db, const struct config *cfg, const struct archive_feed_for *f,
    buf *out, diag *d)
{
	buf base = BUF_INIT, entries = BUF_INIT, self = BUF_INIT;
	struct feed_ctx c = { db, cfg, f, NULL, &entries, 0, 0, d };
	char iso[40];
	int rc = -1;

	archive_base(cfg, &base);
	c.base = buf_cstr(&base);
	if (issue_public_list(db, ARCHIVE_FEED_MAX, feed_one, &c, d) < 0 || c.failed)
		goto done;
	clock_format_rfc3339(c.updated, iso, sizeof iso);
	buf_puts(out, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
	    "<feed xmlns=\"http://www.w3.org/2005/Atom\">\n<title>");
	xml_escape(out, cfg->list.name);
	buf_puts(out, "</title>\n<id>tag:");
	xml_escape(out, cfg->list.id);
	/* The private feeds' id differs from the public one's, and from each
	 * other's (the subscriber's id: no secret, the token is). */
	if (f)
		buf_printf(out, ",2024:feed/full/%lld</id>\n<updated>", (long long)f->subscriber_id);
	else
		buf_puts(out, ",2024:feed</id>\n<updated>");
	buf_puts(out, iso);
	buf_puts(out, "</updated>\n<link rel=\"self\" type=\"application/atom+xml\" href=\"");
	if (f)
		buf_puts(&self, f->self);
	else
		buf_printf(&self, "%s/feed.xml", c.base);
	xml_escape(out, self.data);
	buf_puts(out, "\"/>\n<link rel=\"alternate\" type=\"text/html\" href=\"");
	xml_escape(out, c.base);
	buf_puts(out, "/archive\"/>\n<author><name>");
	xml_escape(out, cfg->list.name);
	buf_puts(out, "</name></author>\n");
	buf_append(out, entries.data ? entries.data : "", entries.len);
	buf_puts(out, "</feed>\n");
	rc = 0;
done:
	buf_free(&base);
	buf_free(&entries);
	buf_free(&self);
	return rc;
}
