/* render - an issue compiled once per tier, then filled per subscriber. */
#include "render.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "archive.h"
#include "clock.h"
#include "dkim.h"
#include "markdown.h"
#include "mime.h"
#include "readerlink.h"
#include "template.h"
#include "token.h"
#include "xalloc.h"

/* How a slot's value is written into the body. */
enum esc { ESC_TEXT, ESC_HTML, ESC_URL_TEXT, ESC_URL_HTML };

struct op {
	enum tmpl_slot	 slot;		/* SLOT_NONE: static segment */
	enum esc	 esc;
	char		*raw;		/* static: decoded bytes */
	size_t		 rawlen;
	char		*qp;		/* static: quoted-printable, col 0 to col 0 */
	size_t		 qplen;
	char		*fallback;	/* slot: used when the value is empty */
};

struct prog {
	struct op	*ops;
	size_t		 n, cap;
};

enum { PART_TEXT, PART_HTML, NPARTS };

struct render {
	int64_t		 issue_id;
	struct secret	 sec;
	char		*list_id;
	struct prog	 body[2][NPARTS];	/* [enum sub_tier][part] */
	char		*h_from;		/* "From: ..." CRLF */
	char		*h_subject;		/* "Subject: ..." CRLF */
	char		*h_list;		/* MIME-Version, List-Id */
	char		*h_tail;		/* List-Unsubscribe-Post .. text part headers */
	char		*sep;			/* between the parts: html part headers */
	char		*end;			/* closing delimiter */
	char		*unsub_base;		/* "BASE_URL/u/" */
	char		*confirm_base;		/* "BASE_URL/confirm/": the
						 * confirmation issue only */
	char		*base;			/* BASE_URL, no trailing '/' */
	unsigned	 need[2];		/* [tier]: 1 << slot of the
						 * per-reader links its copy has */
	char		*mailto_domain;
	char		*msgid_domain;
	struct dkim	*dkim;			/* NULL: no keys, copies go unsigned */
};

/* ---- escaping (compile time and per subscriber alike) ---- */

typedef void (*sink_fn)(void *ctx, const char *s, size_t n);

static void
sink_buf(void *ctx, const char *s, size_t n)
{
	buf_append(ctx, s, n);
}

static void
sink_qp(void *ctx, const char *s, size_t n)
{
	mime_qp_put(ctx, s, n);
}

static int
url_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c && strchr("-._~:/?#[]@!$&*+,;=%", c));
}

/* Writes s[0..n) escaped for its place; runs of bytes that need nothing
 * go to the sink in one call. */
static void
escape(const char *s, size_t n, enum esc esc, sink_fn sink, void *ctx)
{
	size_t run = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *rep = NULL;
		char pct[4];

		if (esc == ESC_URL_TEXT || esc == ESC_URL_HTML) {
			if (!url_ok(c)) {
				static const char hx[] = "0123456789ABCDEF";
				pct[0] = '%';
				pct[1] = hx[c >> 4];
				pct[2] = hx[c & 15];
				pct[3] = '\0';
				rep = pct;
			} else if (esc == ESC_URL_HTML && c == '&') {
				rep = "&amp;";
			}
		} else if (esc == ESC_HTML) {
			switch (c) {
			case '&': rep = "&amp;"; break;
			case '<': rep = "&lt;"; break;
			case '>': rep = "&gt;"; break;
			case '"': rep = "&quot;"; break;
			case '\'': rep = "&#39;"; break;
			default: break;
			}
		}
		if (rep == NULL)
			continue;
		if (i > run)
			sink(ctx, s + run, i - run);
		sink(ctx, rep, strlen(rep));
		run = i + 1;
	}
	if (n > run)
		sink(ctx, s + run, n - run);
}

/* ---- compile ---- */

struct builder {
	struct prog	*p;
	buf		 raw;
	int		 html;
};

static struct op *
new_op(struct prog *p)
{
	p->ops = xgrow(p->ops, &p->cap, p->n + 1, sizeof *p->ops);
	memset(&p->ops[p->n], 0, sizeof p->ops[p->n]);
	return &p->ops[p->n++];
}

static void
b_flush(struct builder *b)
{
	buf qp = BUF_INIT;

	if (b->raw.len == 0)
		return;
	struct op *op = new_op(b->p);
	op->slot = SLOT_NONE;
	op->rawlen = b->raw.len;
	op->raw = buf_detach(&b->raw);
	mime_qp_encode(&qp, op->raw, op->rawlen);
	op->qplen = qp.len;
	op->qp = buf_detach(&qp);
}

static enum esc
esc_for(enum tmpl_slot s, int html)
{
	if (template_slot_is_url(s))
		return html ? ESC_URL_HTML : ESC_URL_TEXT;
	return html ? ESC_HTML : ESC_TEXT;
}

struct values {
	const char	*v[SLOT_COUNT];		/* per-issue values */
	const char	*content[NPARTS];
	/* After the content: the call to action (free cut), the paid
	 * readers' note (paid.*), or the confirmation's own text; or NULL. */
	const struct template *paywall[NPARTS];
	int		 view_per_reader;	/* an issue: its own view link */
	int		 trial_link;		/* no list.upgrade_url: the trial page */
};

/* Slots filled per copy; the rest are filled once at compile time. */
static int
per_subscriber(const struct values *vals, enum tmpl_slot s)
{
	return s == SLOT_NAME || s == SLOT_EMAIL || s == SLOT_UNSUBSCRIBE_URL ||
	    s == SLOT_CONFIRM_URL || s == SLOT_FEED_URL ||
	    (s == SLOT_VIEW_URL && vals->view_per_reader) ||
	    (s == SLOT_UPGRADE_URL && vals->trial_link);
}

static void
walk(struct builder *b, const struct template *t, const struct values *vals,
    int part, int in_paywall)
{
	for (size_t i = 0; i < t->npieces; i++) {
		const struct tmpl_piece *pc = &t->pieces[i];
		if (pc->slot == SLOT_NONE) {
			buf_append(&b->raw, pc->text, pc->len);
		} else if (per_subscriber(vals, pc->slot)) {
			b_flush(b);
			struct op *op = new_op(b->p);
			op->slot = pc->slot;
			op->esc = esc_for(pc->slot, b->html);
			op->fallback = xstrdup(pc->fallback);
		} else if (pc->slot == SLOT_CONTENT) {
			if (in_paywall)
				continue;
			buf_puts(&b->raw, vals->content[part]);
			if (vals->paywall[part])
				walk(b, vals->paywall[part], vals, part, 1);
		} else {
			const char *v = vals->v[pc->slot];
			if (v == NULL || *v == '\0')
				v = pc->fallback;
			buf clean = BUF_INIT;
			mime_clean(&clean, v);
			escape(buf_cstr(&clean), clean.len, esc_for(pc->slot, b->html),
			    sink_buf, &b->raw);
			buf_free(&clean);
		}
	}
}

static void
prog_free(struct prog *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->ops[i].raw);
		free(p->ops[i].qp);
		free(p->ops[i].fallback);
	}
	free(p->ops);
	memset(p, 0, sizeof *p);
}

void
render_free(struct render *r)
{
	if (r == NULL)
		return;
	for (int t = 0; t < 2; t++)
		for (int p = 0; p < NPARTS; p++)
			prog_free(&r->body[t][p]);
	free(r->list_id);
	free(r->h_from);
	free(r->h_subject);
	free(r->h_list);
	free(r->h_tail);
	free(r->sep);
	free(r->end);
	free(r->unsub_base);
	free(r->confirm_base);
	free(r->base);
	free(r->mailto_domain);
	free(r->msgid_domain);
	dkim_free(r->dkim);
	OPENSSL_cleanse(&r->sec, sizeof r->sec);
	free(r);
}

/* The cut: source before the mark line, and the whole source without it.
 * *found tells whether the mark was there. */
static void
split_paywall(const char *src, buf *free_part, buf *paid_part, int *found)
{
	const char *after, *cut = issue_paywall(src, &after, NULL);

	*found = cut != NULL;
	if (cut == NULL) {
		buf_puts(free_part, src);
		buf_puts(paid_part, src);
		return;
	}
	buf_append(free_part, src, (size_t)(cut - src));
	buf_append(paid_part, src, (size_t)(cut - src));
	buf_puts(paid_part, after);
}

static int
safe_token(const char *s, const char *extra)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr(extra, c)))
			return 0;
	}
	return 1;
}

static const char *
domain_of(const char *addr)
{
	const char *at = strrchr(addr, '@');
	return at ? at + 1 : "";
}

int
render_compile(const struct config *cfg, const struct secret *sec,
    const struct issue *is, struct render **out, diag *d)
{
	/* An issue: the layout around the Markdown, the call to action at the
	 * cut. The confirmation and welcome emails: the layout around their
	 * own template (in the call to action's place, for every tier). */
	static const char *const files[3][4] = {
		{ "layout.txt", "layout.html", "paywall.txt", "paywall.html" },
		{ "layout.txt", "layout.html", "confirm.txt", "confirm.html" },
		{ "layout.txt", "layout.html", "welcome.txt", "welcome.html" },
	};
	/* What a paid reader's copy of an issue has after the content. */
	static const char *const paid_files[2] = { "paid.txt", "paid.html" };
	int confirm = is->kind == ISSUE_KIND_CONFIRMATION;
	int issue = is->kind == ISSUE_KIND_ISSUE;
	int own = !issue;	/* a body of its own template */
	int kind = confirm ? 1 : own ? 2 : 0;
	buf subject = BUF_INIT;
	struct template *tp[6] = { NULL, NULL, NULL, NULL, NULL, NULL };
	char days[24];
	struct render *r = xcalloc(1, sizeof *r);
	buf from_name = BUF_INIT, from_addr = BUF_INIT, b = BUF_INIT;
	buf cut[2] = { BUF_INIT, BUF_INIT };
	buf content[2][NPARTS] = { { BUF_INIT, BUF_INIT }, { BUF_INIT, BUF_INIT } };
	buf view = BUF_INIT;
	int found, rc = -1;

	*out = NULL;
	r->issue_id = is->id;
	r->sec = *sec;

	/* The config parts that go into headers must be header-safe. */
	if (mime_addr_parse(cfg->list.from, &from_name, &from_addr) < 0) {
		diag_set(d, EX_CONFIG, "list.from '%s': not a valid address "
		    "(write \"Name <local@domain>\")", cfg->list.from);
		goto done;
	}
	if (!safe_token(cfg->list.id, ".-_") || strlen(cfg->list.id) > 200) {
		diag_set(d, EX_CONFIG, "list.id '%.200s': use letters, digits, '.', '-', "
		    "at most 200 (like news.example.com)", cfg->list.id);
		goto done;
	}
	/* 400: List-Unsubscribe must fit a header line (998) even unfolded. */
	if (!safe_token(cfg->list.base_url, "-._~:/?#[]@!$&*+,;=%") ||
	    strlen(cfg->list.base_url) > 400 ||
	    (strncmp(cfg->list.base_url, "https://", 8) != 0 &&
	    strncmp(cfg->list.base_url, "http://", 7) != 0)) {
		diag_set(d, EX_CONFIG, "list.base_url '%.400s': not an http(s) URL "
		    "of at most 400 characters", cfg->list.base_url);
		goto done;
	}
	const char *bounces = cfg->bounces.address ? cfg->bounces.address : "";
	if (*bounces && !mime_addr_ok(bounces)) {
		diag_set(d, EX_CONFIG, "bounces.address '%s': not a valid address", bounces);
		goto done;
	}
	r->list_id = xstrdup(cfg->list.id);
	r->msgid_domain = xstrdup(domain_of(from_addr.data));
	r->mailto_domain = xstrdup(*bounces ? domain_of(bounces) : r->msgid_domain);
	buf_puts(&b, cfg->list.base_url);
	while (b.len > 0 && b.data[b.len - 1] == '/')
		buf_truncate(&b, b.len - 1);
	r->base = xstrdup(b.data);
	/* An issue's view link is the reader's own (readerlink.h); the other
	 * emails are no issue to view: their link is the archive. */
	buf_printf(&view, "%s/archive", b.data);
	if (confirm)
		buf_printf(&subject, "Confirm your subscription to %s", cfg->list.name);
	else if (own && *cfg->welcome.subject)
		buf_puts(&subject, cfg->welcome.subject);
	else if (own)
		buf_printf(&subject, "Welcome to %s", cfg->list.name);
	else
		buf_puts(&subject, is->subject ? is->subject : "");
	if (confirm) {
		buf c = BUF_INIT;
		buf_printf(&c, "%s/confirm/", b.data);
		r->confirm_base = buf_detach(&c);
	}
	buf_puts(&b, "/u/");
	r->unsub_base = buf_detach(&b);

	for (int i = 0; i < 4; i++)
		if (template_load(cfg->templates, files[kind][i], &tp[i], d) < 0)
			goto done;
	for (int i = 2; confirm && i < 4; i++)
		if (template_require(tp[i], SLOT_CONFIRM_URL, d) < 0)
			goto done;
	for (int i = 0; issue && i < 2; i++)
		if (template_load(cfg->templates, paid_files[i], &tp[4 + i], d) < 0)
			goto done;
	snprintf(days, sizeof days, "%lld", (long long)cfg->list.trial_days);
	if (dkim_load(cfg, &r->dkim, d) < 0)	/* once per issue, not per copy */
		goto done;
	for (int i = 0; i < 2; i++)
		if (template_require(tp[i], SLOT_CONTENT, d) < 0 ||
		    template_require(tp[i], SLOT_UNSUBSCRIBE_URL, d) < 0)
			goto done;

	/* The Markdown, once per tier; issue:SLUG links become archive URLs. */
	split_paywall(is->source ? is->source : "", &cut[TIER_FREE], &cut[TIER_PAID], &found);
	buf_reset(&b);
	archive_issue_base(cfg, &b);
	for (int t = 0; t < 2; t++)
		if (markdown_render_site(buf_cstr(&cut[t]), cut[t].len, (int)cfg->list.allow_html,
		    buf_cstr(&b), &content[t][PART_HTML], &content[t][PART_TEXT], d) < 0) {
			diag_prefix(d, "issue %lld: ", (long long)is->id);
			goto done;
		}

	/* The static parts, slots filled, encoded. */
	for (int t = 0; t < 2; t++)
		for (int p = 0; p < NPARTS; p++) {
			struct values vals;
			struct builder bl = { &r->body[t][p], BUF_INIT, p == PART_HTML };
			memset(&vals, 0, sizeof vals);
			vals.v[SLOT_SUBJECT] = subject.data;
			vals.v[SLOT_PREHEADER] = confirm ? "One click and you are in." :
			    own ? "Thanks for joining." : is->preheader;
			vals.v[SLOT_LIST_NAME] = cfg->list.name;
			vals.v[SLOT_LIST_ADDRESS] = cfg->list.address;
			vals.v[SLOT_UPGRADE_URL] = cfg->list.upgrade_url;
			vals.v[SLOT_VIEW_URL] = view.data;
			vals.v[SLOT_TRIAL_DAYS] = days;
			vals.view_per_reader = issue;
			vals.trial_link = !cfg->list.upgrade_url || !*cfg->list.upgrade_url;
			vals.content[p] = buf_cstr(&content[t][p]);
			vals.paywall[p] = own || (t == TIER_FREE && found) ? tp[2 + p] :
			    t == TIER_PAID ? tp[4 + p] : NULL;
			walk(&bl, tp[p], &vals, p, 0);
			b_flush(&bl);
			buf_free(&bl.raw);
			for (size_t i = 0; i < r->body[t][p].n; i++)
				if (r->body[t][p].ops[i].slot != SLOT_NONE)
					r->need[t] |= 1u << r->body[t][p].ops[i].slot;
		}

	/* Headers that are the same in every copy, in their final order:
	 * From, To*, Subject, Date*, Message-ID*, MIME-Version, List-Id,
	 * List-Unsubscribe*, List-Unsubscribe-Post, Feedback-ID, Content-Type
	 * (* = per copy). */
	buf_reset(&b);
	buf mb = BUF_INIT;
	mime_mailbox(&mb, from_name.data, from_addr.data);
	mime_header_raw(&b, "From", mb.data);
	r->h_from = buf_detach(&b);
	mime_header_text(&b, "Subject", subject.data);
	r->h_subject = buf_detach(&b);
	buf_puts(&b, "MIME-Version: 1.0\r\n");
	buf_reset(&mb);
	mime_phrase_quoted(&mb, cfg->list.name);
	buf_printf(&mb, "%s<%s>", mb.len ? " " : "", cfg->list.id);
	mime_header_raw(&b, "List-Id", mb.data);
	r->h_list = buf_detach(&b);
	buf_puts(&b, "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n");
	buf_reset(&mb);
	if (cfg->list.feedback_id && *cfg->list.feedback_id)
		buf_puts(&mb, cfg->list.feedback_id);
	else
		buf_printf(&mb, "%lld:%s:broadside", (long long)is->id, cfg->list.id);
	mime_header_raw(&b, "Feedback-ID", mb.data);
	buf_free(&mb);
	/* "=_" cannot occur in quoted-printable text: a constant boundary is
	 * safe for every copy. */
	buf_printf(&b, "Content-Type: multipart/alternative;\r\n"
	    " boundary=\"=_broadside_%lld\"\r\n\r\n", (long long)is->id);
	buf_printf(&b, "--=_broadside_%lld\r\n"
	    "Content-Type: text/plain; charset=UTF-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n", (long long)is->id);
	r->h_tail = buf_detach(&b);
	buf_printf(&b, "\r\n--=_broadside_%lld\r\n"
	    "Content-Type: text/html; charset=UTF-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n", (long long)is->id);
	r->sep = buf_detach(&b);
	buf_printf(&b, "\r\n--=_broadside_%lld--\r\n", (long long)is->id);
	r->end = buf_detach(&b);

	*out = r;
	r = NULL;
	rc = 0;
done:
	for (int i = 0; i < 6; i++)
		template_free(tp[i]);
	for (int t = 0; t < 2; t++) {
		buf_free(&cut[t]);
		for (int p = 0; p < NPARTS; p++)
			buf_free(&content[t][p]);
	}
	buf_free(&from_name);
	buf_free(&from_addr);
	buf_free(&b);
	buf_free(&view);
	buf_free(&subject);
	render_free(r);
	return rc;
}

/* ---- per subscriber ---- */

/* The random part of a Message-ID: a per-thread splitmix64 seeded once
 * from RAND_bytes. It needs uniqueness, not secrecy (the delivery id in
 * front is unique already, and the MAC beside it is what cannot be
 * guessed), and RAND_bytes per copy costs as much as all the other headers
 * together. */
static _Thread_local uint64_t rng_state;
static _Thread_local int rng_seeded;

static int
rng_next(uint64_t *v)
{
	if (!rng_seeded) {
		if (RAND_bytes((unsigned char *)&rng_state, sizeof rng_state) != 1)
			return -1;
		rng_seeded = 1;
	}
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	*v = z ^ (z >> 31);
	return 0;
}

void
render_unsubscribe_url(const struct render *r, int64_t subscriber_id, buf *out)
{
	char tok[TOKEN_MAX];

	token_unsub_make(&r->sec, r->list_id, subscriber_id, tok);
	buf_puts(out, r->unsub_base);
	buf_puts(out, tok);
}

/* Per-thread scratch: the per-subscriber slot values and the header lines
 * being built. After a thread's first copy render_message allocates nothing
 * of its own (the token's HMAC still does, inside OpenSSL). Freed when the
 * thread ends. */
struct scratch {
	buf	name, email, unsub;	/* slot values, cleaned */
	buf	confirm;		/* the confirmation issue's link */
	buf	view, feed, trial;	/* the reader's own links (readerlink.h) */
	buf	line;			/* a header line before folding */
};

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void
scratch_free(void *p)
{
	struct scratch *s = p;

	buf_free(&s->name);
	buf_free(&s->email);
	buf_free(&s->unsub);
	buf_free(&s->confirm);
	buf_free(&s->view);
	buf_free(&s->feed);
	buf_free(&s->trial);
	buf_free(&s->line);
	free(s);
}

static void
scratch_key_make(void)
{
	pthread_key_create(&scratch_key, scratch_free);
}

static struct scratch *
scratch_get(void)
{
	struct scratch *s;

	pthread_once(&scratch_once, scratch_key_make);
	s = pthread_getspecific(scratch_key);
	if (s == NULL) {
		s = xcalloc(1, sizeof *s);
		pthread_setspecific(scratch_key, s);
	}
	return s;
}

static int
sub_vals(const struct render *r, const struct render_to *to,
    struct scratch *sv, diag *d)
{
	if (to->tier != TIER_FREE && to->tier != TIER_PAID)
		return diag_set(d, EX_SOFTWARE, "subscriber %lld: no such tier %d",
		    (long long)to->subscriber_id, (int)to->tier);
	if (to->email == NULL || !mime_addr_ok(to->email)) {
		buf c = BUF_INIT;
		mime_clean(&c, to->email ? to->email : "");
		diag_set(d, EX_DATAERR, "subscriber %lld: address '%.200s' cannot be "
		    "written in a message header", (long long)to->subscriber_id,
		    buf_cstr(&c));
		buf_free(&c);
		return -1;
	}
	buf_reset(&sv->name);
	buf_reset(&sv->email);
	buf_reset(&sv->unsub);
	mime_clean(&sv->name, to->name ? to->name : "");
	buf_puts(&sv->email, to->email);
	render_unsubscribe_url(r, to->subscriber_id, &sv->unsub);
	buf_reset(&sv->confirm);
	if (r->confirm_base) {
		char tok[TOKEN_MAX];
		token_confirm_make(&r->sec, r->list_id, to->subscriber_id, tok);
		buf_puts(&sv->confirm, r->confirm_base);
		buf_puts(&sv->confirm, tok);
	}
	/* An HMAC each, made only for the copies that show them. */
	buf_reset(&sv->view);
	buf_reset(&sv->feed);
	buf_reset(&sv->trial);
	if (r->need[to->tier] & 1u << SLOT_VIEW_URL)
		readerlink(&sv->view, LINK_VIEW, r->base, &r->sec, r->list_id, r->issue_id,
		    to->subscriber_id);
	if (r->need[to->tier] & 1u << SLOT_FEED_URL)
		readerlink(&sv->feed, LINK_FEED, r->base, &r->sec, r->list_id, 0,
		    to->subscriber_id);
	if (r->need[to->tier] & 1u << SLOT_UPGRADE_URL)
		readerlink(&sv->trial, LINK_TRIAL, r->base, &r->sec, r->list_id, 0,
		    to->subscriber_id);
	return 0;
}

static void
fill(const struct prog *p, const struct scratch *sv, int encoded, buf *out)
{
	struct mime_qp q;

	mime_qp_init(&q, out);
	for (size_t i = 0; i < p->n; i++) {
		const struct op *op = &p->ops[i];
		const buf *v;

		if (op->slot == SLOT_NONE) {
			if (encoded)
				buf_append(out, op->qp, op->qplen);
			else
				buf_append(out, op->raw, op->rawlen);
			continue;
		}
		switch (op->slot) {
		case SLOT_NAME:		v = &sv->name; break;
		case SLOT_EMAIL:	v = &sv->email; break;
		case SLOT_CONFIRM_URL:	v = &sv->confirm; break;
		case SLOT_VIEW_URL:	v = &sv->view; break;
		case SLOT_FEED_URL:	v = &sv->feed; break;
		case SLOT_UPGRADE_URL:	v = &sv->trial; break;
		default:		v = &sv->unsub; break;
		}
		const char *s = v->len ? v->data : op->fallback;
		size_t n = v->len ? v->len : strlen(op->fallback);
		if (encoded) {
			escape(s, n, op->esc, sink_qp, &q);
			mime_qp_end(&q);
		} else {
			escape(s, n, op->esc, sink_buf, out);
		}
	}
}

/* THE place for a signer: the complete message is out[start..len). The
 * DKIM-Signature fields (one per configured key, dkim.c) are computed over
 * it and put in front of it; the header order above is stable for h=. */
int
render_sign(const struct render *r, buf *out, size_t start, int64_t now, diag *d)
{
	buf sig = BUF_INIT;

	if (r->dkim == NULL)
		return 0;
	if (dkim_sign_fields(r->dkim, out->data + start, out->len - start, now, &sig, d) < 0) {
		buf_free(&sig);
		return -1;
	}
	buf_reserve(out, sig.len);
	memmove(out->data + start + sig.len, out->data + start, out->len - start);
	memcpy(out->data + start, sig.data, sig.len);
	out->len += sig.len;
	out->data[out->len] = '\0';
	buf_free(&sig);
	return 0;
}

int
render_message(const struct render *r, const struct render_to *to,
    int64_t now, buf *out, diag *d)
{
	size_t start = out->len;

	if (render_message_unsigned(r, to, now, out, d) < 0)
		return -1;
	if (render_sign(r, out, start, now, d) < 0) {
		buf_truncate(out, start);
		return -1;
	}
	return 0;
}

int
render_message_unsigned(const struct render *r, const struct render_to *to,
    int64_t now, buf *out, diag *d)
{
	struct scratch *sv = scratch_get();
	buf *h = &sv->line;
	uint64_t rnd;
	char date[64], mid[TOKEN_MAX];

	if (sub_vals(r, to, sv, d) < 0)
		return -1;
	if (rng_next(&rnd) < 0)
		return diag_set(d, EX_SOFTWARE, "OpenSSL RAND_bytes failed");
	buf_reserve(out, 4096 + r->body[to->tier][PART_TEXT].n * 64);

	/* The values are clean (control bytes gone, address checked, URL
	 * safe): the lines only need folding. */
	buf_puts(out, r->h_from);
	buf_reset(h);
	buf_puts(h, "To: ");
	mime_mailbox(h, sv->name.data, to->email);
	mime_fold(out, h->data, h->len, 2);
	buf_puts(out, r->h_subject);
	clock_format_rfc5322(now, date, sizeof date);
	buf_printf(out, "Date: %s\r\n", date);
	/* Random and MAC-bearing: a returned copy proves itself (token.h). */
	token_msgid_make(&r->sec, to->delivery_id, to->subscriber_id, (uint32_t)rnd, mid);
	buf_printf(out, "Message-ID: <%s@%s>\r\n", mid, r->msgid_domain);
	buf_puts(out, r->h_list);
	buf_reset(h);
	buf_printf(h, "List-Unsubscribe: <%s>, <mailto:unsubscribe+%s@%s>", sv->unsub.data,
	    sv->unsub.data + strlen(r->unsub_base), r->mailto_domain);
	mime_fold(out, h->data, h->len, 16);
	buf_puts(out, r->h_tail);
	fill(&r->body[to->tier][PART_TEXT], sv, 1, out);
	buf_puts(out, r->sep);
	fill(&r->body[to->tier][PART_HTML], sv, 1, out);
	buf_puts(out, r->end);
	return 0;
}

int
render_body(const struct render *r, const struct render_to *to,
    enum render_part part, buf *out, diag *d)
{
	struct scratch *sv = scratch_get();

	if (sub_vals(r, to, sv, d) < 0)
		return -1;
	fill(&r->body[to->tier][part == RENDER_PART_HTML ? PART_HTML : PART_TEXT],
	    sv, 0, out);
	return 0;
}
