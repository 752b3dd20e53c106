/* markdown - an issue's Markdown as email HTML and as plain text (cmark-gfm). */
#include "markdown.h"

#include <cmark-gfm.h>
#include <cmark-gfm-core-extensions.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include "xalloc.h"

static pthread_once_t ext_once = PTHREAD_ONCE_INIT;

static void
ext_register(void)
{
	cmark_gfm_core_extensions_ensure_registered();
}

/* ---- HTML: inline styles on the elements cmark-gfm emits ---- */

static const struct {
	const char *tag, *style;
} styles[] = {
	{ "p", "margin:0 0 16px;font-size:17px;line-height:1.6" },
	{ "h1", "margin:28px 0 12px;font-size:26px;line-height:1.3;font-weight:bold" },
	{ "h2", "margin:26px 0 10px;font-size:22px;line-height:1.3;font-weight:bold" },
	{ "h3", "margin:22px 0 8px;font-size:19px;line-height:1.35;font-weight:bold" },
	{ "h4", "margin:20px 0 8px;font-size:17px;line-height:1.4;font-weight:bold" },
	{ "h5", "margin:18px 0 8px;font-size:16px;line-height:1.4;font-weight:bold" },
	{ "h6", "margin:18px 0 8px;font-size:15px;line-height:1.4;font-weight:bold" },
	{ "ul", "margin:0 0 16px;padding:0 0 0 26px" },
	{ "ol", "margin:0 0 16px;padding:0 0 0 26px" },
	{ "li", "margin:0 0 6px;font-size:17px;line-height:1.6" },
	{ "blockquote", "margin:0 0 16px;padding:0 0 0 16px;border-left:3px solid #d0d0d0;color:#555555" },
	{ "pre", "margin:0 0 16px;padding:12px;background-color:#f3f4f6;font-size:14px;line-height:1.45;white-space:pre-wrap;word-wrap:break-word" },
	{ "code", "font-family:Menlo,Consolas,'Courier New',monospace;font-size:14px" },
	{ "a", "color:#1a73e8;text-decoration:underline" },
	{ "img", "max-width:100%;height:auto;border:0;display:block" },
	{ "table", "border-collapse:collapse;width:100%;margin:0 0 16px" },
	{ "th", "border:1px solid #d0d0d0;padding:6px 10px;font-weight:bold" },
	{ "td", "border:1px solid #d0d0d0;padding:6px 10px" },
	{ "hr", "border:0;border-top:1px solid #d0d0d0;margin:24px 0" },
};

static void
add_styles(const char *h, buf *out)
{
	const char *p = h;

	buf_reserve(out, strlen(h) + strlen(h) / 4);
	buf_append(out, "", 0);	/* terminated even when h is empty */
	while (*p) {
		const char *lt = strchr(p, '<');
		if (lt == NULL) {
			buf_puts(out, p);
			break;
		}
		buf_append(out, p, (size_t)(lt - p));
		const char *name = lt + 1, *e = name;
		while ((*e >= 'a' && *e <= 'z') || (*e >= '0' && *e <= '9'))
			e++;
		size_t n = (size_t)(e - name);
		const char *gt = strchr(e, '>');
		const char *style = NULL;
		if (n > 0 && (*e == '>' || *e == ' ' || *e == '/') && gt) {
			for (size_t i = 0; i < sizeof styles / sizeof styles[0]; i++)
				if (strlen(styles[i].tag) == n &&
				    memcmp(styles[i].tag, name, n) == 0)
					style = styles[i].style;
			/* Raw HTML (when allowed) keeps a style of its own. */
			if (style && memmem(e, (size_t)(gt - e), "style=", 6))
				style = NULL;
		}
		buf_append(out, lt, (size_t)(e - lt));
		if (style)
			buf_printf(out, " style=\"%s\"", style);
		p = e;
	}
}

/* Without allow_html, raw HTML becomes text: shown, never interpreted. */
static void
escape_raw_html(cmark_node *root)
{
	cmark_iter *it = cmark_iter_new(root);
	cmark_node **nodes = NULL;
	size_t n = 0, cap = 0;
	cmark_event_type ev;

	while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		cmark_node *node = cmark_iter_get_node(it);
		cmark_node_type t = cmark_node_get_type(node);
		if (ev == CMARK_EVENT_ENTER &&
		    (t == CMARK_NODE_HTML_INLINE || t == CMARK_NODE_HTML_BLOCK)) {
			nodes = xgrow(nodes, &cap, n + 1, sizeof *nodes);
			nodes[n++] = node;
		}
	}
	cmark_iter_free(it);
	for (size_t i = 0; i < n; i++) {
		cmark_node *node = nodes[i];
		const char *lit = cmark_node_get_literal(node);
		cmark_node *text = cmark_node_new(CMARK_NODE_TEXT);
		if (cmark_node_get_type(node) == CMARK_NODE_HTML_BLOCK) {
			char *s = xstrdup(lit ? lit : "");
			size_t l = strlen(s);
			while (l > 0 && (s[l - 1] == '\n' || s[l - 1] == '\r'))
				s[--l] = '\0';
			cmark_node_set_literal(text, s);
			free(s);
			cmark_node *para = cmark_node_new(CMARK_NODE_PARAGRAPH);
			cmark_node_append_child(para, text);
			cmark_node_insert_before(node, para);
		} else {
			cmark_node_set_literal(text, lit ? lit : "");
			cmark_node_insert_before(node, text);
		}
		cmark_node_free(node);
	}
	free(nodes);
}

/* ---- plain text: a walk of the tree ---- */

struct tw {
	buf	*out;
	int	 allow_html;
	buf	 prefix;		/* continuation prefix of the current block */
	buf	 marker;		/* first-line prefix of a list item */
	int	 has_marker;
	size_t	*plens;			/* saved prefix lengths */
	size_t	 nplens, cplens;
	long	*counters;		/* ordered list numbers */
	size_t	 ncounters, ccounters;
	size_t	*links;			/* inl offsets where links start */
	size_t	 nlinks, clinks;
	buf	 inl;			/* inline text of the current leaf */
	buf	 row;			/* table row being built */
	int	 ncells;
	int	 blank;			/* a blank line is due before the next block */
	int	 started;
};

static size_t
cps(const char *s, size_t n)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			c++;
	return c;
}

static void
emit_line(struct tw *w, const char *s, size_t n)
{
	size_t start = w->out->len;
	buf *p = w->has_marker ? &w->marker : &w->prefix;

	buf_append(w->out, p->data ? p->data : "", p->len);
	buf_append(w->out, s, n);
	while (w->out->len > start && w->out->data[w->out->len - 1] == ' ')
		w->out->len--;
	buf_putc(w->out, '\n');
	w->has_marker = 0;
	w->started = 1;
}

static void
emit_blank(struct tw *w)
{
	size_t start = w->out->len;

	buf_append(w->out, w->prefix.data ? w->prefix.data : "", w->prefix.len);
	while (w->out->len > start && w->out->data[w->out->len - 1] == ' ')
		w->out->len--;
	buf_putc(w->out, '\n');
}

static void
block_start(struct tw *w)
{
	if (w->started && w->blank)
		emit_blank(w);
	w->blank = 0;
}

static void
push_prefix(struct tw *w, const char *add)
{
	w->plens = xgrow(w->plens, &w->cplens, w->nplens + 1, sizeof *w->plens);
	w->plens[w->nplens++] = w->prefix.len;
	buf_puts(&w->prefix, add);
}

static void
pop_prefix(struct tw *w)
{
	if (w->nplens > 0)
		buf_truncate(&w->prefix, w->plens[--w->nplens]);
}

/* Wraps text at MARKDOWN_TEXT_WIDTH; "\n" in it is a hard break. */
static void
wrap(struct tw *w, const char *s, size_t n)
{
	size_t pw = cps(w->prefix.data ? w->prefix.data : "", w->prefix.len);
	size_t avail = pw + 20 > MARKDOWN_TEXT_WIDTH ? 20 : MARKDOWN_TEXT_WIDTH - pw;
	buf ln = BUF_INIT;
	size_t i = 0;

	while (i <= n) {
		size_t e = i;
		while (e < n && s[e] != '\n')
			e++;
		size_t cur = 0, j = i;
		buf_reset(&ln);
		while (j < e) {
			while (j < e && s[j] == ' ')
				j++;
			size_t ws = j;
			while (j < e && s[j] != ' ')
				j++;
			if (j == ws)
				break;
			size_t wl = cps(s + ws, j - ws);
			if (ln.len > 0 && cur + 1 + wl > avail) {
				emit_line(w, ln.data, ln.len);
				buf_reset(&ln);
				cur = 0;
			}
			if (ln.len > 0) {
				buf_putc(&ln, ' ');
				cur++;
			}
			buf_append(&ln, s + ws, j - ws);
			cur += wl;
		}
		if (ln.len > 0 || (e < n))
			emit_line(w, ln.data ? ln.data : "", ln.len);
		i = e + 1;
	}
	buf_free(&ln);
}

static void
strip_tags(const char *s, buf *out)
{
	int in = 0;

	for (; *s; s++) {
		if (*s == '<')
			in = 1;
		else if (*s == '>' && in)
			in = 0;
		else if (!in)
			buf_putc(out, *s == '\n' ? ' ' : *s);
	}
}

static int
is_type(cmark_node *node, const char *name)
{
	const char *t = cmark_node_get_type_string(node);
	return t && strcmp(t, name) == 0;
}

static int
in_tight_item(cmark_node *node)
{
	cmark_node *item = cmark_node_parent(node);
	cmark_node *list = item ? cmark_node_parent(item) : NULL;
	return item && list && cmark_node_get_type(item) == CMARK_NODE_ITEM &&
	    cmark_node_get_list_tight(list);
}

static void
text_enter(struct tw *w, cmark_node *node)
{
	const char *lit;

	switch (cmark_node_get_type(node)) {
	case CMARK_NODE_PARAGRAPH:
	case CMARK_NODE_HEADING:
		buf_reset(&w->inl);
		break;
	case CMARK_NODE_BLOCK_QUOTE:
		if (w->started && w->blank)
			emit_blank(w);
		w->blank = 0;
		push_prefix(w, "> ");
		break;
	case CMARK_NODE_LIST:
		if (w->started && w->blank)
			emit_blank(w);
		w->blank = 0;
		w->counters = xgrow(w->counters, &w->ccounters, w->ncounters + 1,
		    sizeof *w->counters);
		w->counters[w->ncounters++] = cmark_node_get_list_start(node);
		break;
	case CMARK_NODE_ITEM: {
		cmark_node *list = cmark_node_parent(node);
		char m[32];
		if (cmark_node_get_list_type(list) == CMARK_ORDERED_LIST) {
			long k = w->ncounters ? w->counters[w->ncounters - 1]++ : 1;
			snprintf(m, sizeof m, "%ld%c ", k,
			    cmark_node_get_list_delim(list) == CMARK_PAREN_DELIM ? ')' : '.');
		} else {
			snprintf(m, sizeof m, "- ");
		}
		if (w->has_marker)	/* an empty item before this one */
			emit_line(w, "", 0);
		buf_reset(&w->marker);
		buf_append(&w->marker, w->prefix.data ? w->prefix.data : "", w->prefix.len);
		buf_puts(&w->marker, m);
		w->has_marker = 1;
		char sp[32];
		size_t ml = strlen(m);
		memset(sp, ' ', ml);
		sp[ml] = '\0';
		push_prefix(w, sp);
		break;
	}
	case CMARK_NODE_CODE_BLOCK: {
		lit = cmark_node_get_literal(node);
		block_start(w);
		const char *p = lit ? lit : "";
		while (*p) {
			const char *nl = strchr(p, '\n');
			size_t l = nl ? (size_t)(nl - p) : strlen(p);
			buf line = BUF_INIT;
			buf_puts(&line, "    ");
			buf_append(&line, p, l);
			emit_line(w, line.data, line.len);
			buf_free(&line);
			p += l + (nl ? 1 : 0);
		}
		w->blank = 1;
		break;
	}
	case CMARK_NODE_HTML_BLOCK: {
		buf t = BUF_INIT;
		strip_tags(cmark_node_get_literal(node) ? cmark_node_get_literal(node) : "", &t);
		size_t k = 0;
		while (k < t.len && t.data[k] == ' ')
			k++;
		if (k < t.len) {
			block_start(w);
			wrap(w, t.data, t.len);
			w->blank = 1;
		}
		buf_free(&t);
		break;
	}
	case CMARK_NODE_THEMATIC_BREAK:
		block_start(w);
		emit_line(w, "----------------------------------------", 40);
		w->blank = 1;
		break;
	case CMARK_NODE_TEXT:
	case CMARK_NODE_CODE:
		lit = cmark_node_get_literal(node);
		buf_puts(&w->inl, lit ? lit : "");
		break;
	case CMARK_NODE_SOFTBREAK:
		buf_putc(&w->inl, ' ');
		break;
	case CMARK_NODE_LINEBREAK:
		buf_putc(&w->inl, '\n');
		break;
	case CMARK_NODE_HTML_INLINE:
		break;		/* only here with allow_html: a tag, no text */
	case CMARK_NODE_LINK:
	case CMARK_NODE_IMAGE:
		w->links = xgrow(w->links, &w->clinks, w->nlinks + 1, sizeof *w->links);
		w->links[w->nlinks++] = w->inl.len;
		break;
	default:
		if (is_type(node, "table")) {
			block_start(w);
		} else if (is_type(node, "table_row") || is_type(node, "table_header")) {
			buf_reset(&w->row);
			w->ncells = 0;
		} else if (is_type(node, "table_cell")) {
			buf_reset(&w->inl);
		}
		break;
	}
}

static void
text_exit(struct tw *w, cmark_node *node)
{
	switch (cmark_node_get_type(node)) {
	case CMARK_NODE_PARAGRAPH:
		block_start(w);
		wrap(w, buf_cstr(&w->inl), w->inl.len);
		w->blank = !in_tight_item(node);
		break;
	case CMARK_NODE_HEADING: {
		block_start(w);
		wrap(w, buf_cstr(&w->inl), w->inl.len);
		int level = cmark_node_get_heading_level(node);
		if (level <= 2) {
			size_t pw = cps(buf_cstr(&w->prefix), w->prefix.len);
			size_t n = cps(buf_cstr(&w->inl), w->inl.len);
			if (n + pw > MARKDOWN_TEXT_WIDTH)
				n = pw + 20 > MARKDOWN_TEXT_WIDTH ? 20 : MARKDOWN_TEXT_WIDTH - pw;
			buf u = BUF_INIT;
			for (size_t i = 0; i < n; i++)
				buf_putc(&u, level == 1 ? '=' : '-');
			emit_line(w, buf_cstr(&u), u.len);
			buf_free(&u);
		}
		w->blank = 1;
		break;
	}
	case CMARK_NODE_BLOCK_QUOTE:
		pop_prefix(w);
		w->blank = 1;
		break;
	case CMARK_NODE_LIST:
		if (w->ncounters > 0)
			w->ncounters--;
		w->blank = 1;
		break;
	case CMARK_NODE_ITEM:
		if (w->has_marker)
			emit_line(w, "", 0);
		pop_prefix(w);
		break;
	case CMARK_NODE_LINK:
	case CMARK_NODE_IMAGE: {
		size_t start = w->nlinks ? w->links[--w->nlinks] : w->inl.len;
		const char *url = cmark_node_get_url(node);
		if (url == NULL || *url == '\0')
			break;
		const char *text = buf_cstr(&w->inl) + start;
		size_t tl = w->inl.len - start;
		int same = (strlen(url) == tl && memcmp(url, text, tl) == 0) ||
		    (strncmp(url, "mailto:", 7) == 0 && strlen(url + 7) == tl &&
		    memcmp(url + 7, text, tl) == 0);
		if (same)
			break;
		if (tl > 0)
			buf_putc(&w->inl, ' ');
		buf_printf(&w->inl, "<%s>", url);
		break;
	}
	default:
		if (is_type(node, "table")) {
			w->blank = 1;
		} else if (is_type(node, "table_row") || is_type(node, "table_header")) {
			emit_line(w, buf_cstr(&w->row), w->row.len);
			if (cmark_gfm_extensions_get_table_row_is_header(node)) {
				size_t n = cps(buf_cstr(&w->row), w->row.len);
				buf u = BUF_INIT;
				for (size_t i = 0; i < n && i < MARKDOWN_TEXT_WIDTH; i++)
					buf_putc(&u, '-');
				emit_line(w, buf_cstr(&u), u.len);
				buf_free(&u);
			}
		} else if (is_type(node, "table_cell")) {
			if (w->ncells++ > 0)
				buf_puts(&w->row, " | ");
			for (size_t i = 0; i < w->inl.len; i++)
				buf_putc(&w->row, w->inl.data[i] == '\n' ? ' ' : w->inl.data[i]);
		}
		break;
	}
}

static void
render_text(cmark_node *root, int allow_html, buf *out)
{
	struct tw w;
	cmark_iter *it = cmark_iter_new(root);
	cmark_event_type ev;

	memset(&w, 0, sizeof w);
	w.out = out;
	w.allow_html = allow_html;
	while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		cmark_node *node = cmark_iter_get_node(it);
		if (ev == CMARK_EVENT_ENTER)
			text_enter(&w, node);
		else if (ev == CMARK_EVENT_EXIT)
			text_exit(&w, node);
	}
	cmark_iter_free(it);
	buf_free(&w.prefix);
	buf_free(&w.marker);
	buf_free(&w.inl);
	buf_free(&w.row);
	free(w.plens);
	free(w.counters);
	free(w.links);
}

/* The line of a node: its own, or its nearest block's (cmark gives every
 * link one, but keep a line for any node). */
static int
node_line(cmark_node *n)
{
	for (; n; n = cmark_node_parent(n))
		if (cmark_node_get_start_line(n) > 0)
			return cmark_node_get_start_line(n);
	return 0;
}

/* Calls each(slug, line) for every [title](issue:SLUG) link of the tree;
 * with issue_base, the link is made issue_base + SLUG. */
static int
walk_issue_links(cmark_node *root, const char *issue_base,
    int (*each)(const char *slug, int line, void *arg), void *arg)
{
	cmark_iter *it = cmark_iter_new(root);
	cmark_event_type ev;
	size_t k = strlen(MARKDOWN_ISSUE_SCHEME);
	int rc = 0;
	buf u = BUF_INIT;

	while (rc == 0 && (ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		cmark_node *node = cmark_iter_get_node(it);
		const char *url;

		if (ev != CMARK_EVENT_ENTER || cmark_node_get_type(node) != CMARK_NODE_LINK)
			continue;
		url = cmark_node_get_url(node);
		if (url == NULL || strncasecmp(url, MARKDOWN_ISSUE_SCHEME, k) != 0)
			continue;
		if (each)
			rc = each(url + k, node_line(node), arg);
		if (issue_base) {
			buf_reset(&u);
			buf_puts(&u, issue_base);
			buf_puts(&u, url + k);
			cmark_node_set_url(node, buf_cstr(&u));
		}
	}
	cmark_iter_free(it);
	buf_free(&u);
	return rc;
}

/* The parsed tree of a source (free it and *pp with cmark). */
static int
parse(const char *src, size_t len, cmark_parser **pp, cmark_node **rootp, diag *d)
{
	static const char *const exts[] = { "table", "strikethrough", "autolink" };
	cmark_parser *p;

	pthread_once(&ext_once, ext_register);
	p = cmark_parser_new(CMARK_OPT_VALIDATE_UTF8);
	for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
		cmark_syntax_extension *e = cmark_find_syntax_extension(exts[i]);
		if (e == NULL) {
			cmark_parser_free(p);
			return diag_set(d, EX_SOFTWARE, "cmark-gfm has no '%s' extension",
			    exts[i]);
		}
		cmark_parser_attach_syntax_extension(p, e);
	}
	cmark_parser_feed(p, src, len);
	*rootp = cmark_parser_finish(p);
	if (*rootp == NULL) {
		cmark_parser_free(p);
		return diag_set(d, EX_SOFTWARE, "cmark-gfm could not parse the Markdown");
	}
	*pp = p;
	return 0;
}

int
markdown_render(const char *src, size_t len, int allow_html, buf *html,
    buf *text, diag *d)
{
	return markdown_render_site(src, len, allow_html, NULL, html, text, d);
}

int
markdown_render_site(const char *src, size_t len, int allow_html, const char *issue_base,
    buf *html, buf *text, diag *d)
{
	int ropts = allow_html ? CMARK_OPT_UNSAFE : CMARK_OPT_DEFAULT;
	cmark_parser *p;
	cmark_node *root;

	if (parse(src, len, &p, &root, d) < 0)
		return -1;
	if (!allow_html)
		escape_raw_html(root);
	if (issue_base)
		walk_issue_links(root, issue_base, NULL, NULL);
	if (html) {
		char *h = cmark_render_html(root, ropts, cmark_parser_get_syntax_extensions(p));
		add_styles(h, html);
		cmark_get_default_mem_allocator()->free(h);
	}
	if (text)
		render_text(root, allow_html, text);
	cmark_node_free(root);
	cmark_parser_free(p);
	return 0;
}

int
markdown_issue_links(const char *src, size_t len,
    int (*each)(const char *slug, int line, void *arg), void *arg, diag *d)
{
	cmark_parser *p;
	cmark_node *root;
	int rc;

	if (parse(src, len, &p, &root, d) < 0)
		return -1;
	rc = walk_issue_links(root, NULL, each, arg);
	cmark_node_free(root);
	cmark_parser_free(p);
	return rc;
}
