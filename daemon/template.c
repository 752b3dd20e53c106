/* template - the small template language of the email layouts. */
#include "template.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "buf.h"
#include "xalloc.h"

static const char *const slot_names[SLOT_COUNT] = {
	[SLOT_NAME] = "name",
	[SLOT_EMAIL] = "email",
	[SLOT_UNSUBSCRIBE_URL] = "unsubscribe_url",
	[SLOT_VIEW_URL] = "view_url",
	[SLOT_SUBJECT] = "subject",
	[SLOT_PREHEADER] = "preheader",
	[SLOT_CONTENT] = "content",
	[SLOT_UPGRADE_URL] = "upgrade_url",
	[SLOT_LIST_NAME] = "list_name",
	[SLOT_LIST_ADDRESS] = "list_address",
	[SLOT_CONFIRM_URL] = "confirm_url",
	[SLOT_FEED_URL] = "feed_url",
	[SLOT_TRIAL_DAYS] = "trial_days",
};

enum tmpl_slot
template_slot_parse(const char *s, size_t n)
{
	for (int i = 0; i < SLOT_COUNT; i++)
		if (strlen(slot_names[i]) == n && memcmp(slot_names[i], s, n) == 0)
			return (enum tmpl_slot)i;
	return SLOT_NONE;
}

const char *
template_slot_name(enum tmpl_slot s)
{
	return s >= 0 && s < SLOT_COUNT ? slot_names[s] : "?";
}

int
template_slot_is_url(enum tmpl_slot s)
{
	return s == SLOT_UNSUBSCRIBE_URL || s == SLOT_VIEW_URL ||
	    s == SLOT_UPGRADE_URL || s == SLOT_CONFIRM_URL || s == SLOT_FEED_URL;
}

static void
add_piece(struct template *t, size_t *cap, struct tmpl_piece p)
{
	t->pieces = xgrow(t->pieces, cap, t->npieces + 1, sizeof *t->pieces);
	t->pieces[t->npieces++] = p;
}

/* Advances line/col over s[0..n); columns count characters, not bytes. */
static void
advance(const char *s, size_t n, int *line, int *col)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n') {
			(*line)++;
			*col = 1;
		} else if (((unsigned char)s[i] & 0xC0) != 0x80) {
			(*col)++;
		}
	}
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t';
}

int
template_parse(const char *file, const char *text, size_t len,
    struct template **out, diag *d)
{
	struct template *t = xcalloc(1, sizeof *t);
	size_t cap = 0, i = 0, flen = strlen(file);
	int line = 1, col = 1;

	t->file = xstrdup(file);
	t->html = flen >= 5 && strcmp(file + flen - 5, ".html") == 0;
	t->src = xmalloc(len + 1);
	memcpy(t->src, text, len);
	t->src[len] = '\0';
	/* Fallbacks are cut out of a second copy so that each can end in NUL. */
	char *fb = xmalloc(len + 1);
	memcpy(fb, text, len);
	fb[len] = '\0';
	t->fallbacks = fb;

	while (i < len) {
		const char *open = memmem(t->src + i, len - i, "{{", 2);
		size_t lit = open ? (size_t)(open - (t->src + i)) : len - i;
		if (lit > 0) {
			add_piece(t, &cap, (struct tmpl_piece){ SLOT_NONE,
			    t->src + i, lit, "", line, col });
			advance(t->src + i, lit, &line, &col);
			i += lit;
		}
		if (open == NULL)
			break;
		size_t start = i + 2, end = start;
		while (end + 1 < len && !(t->src[end] == '}' && t->src[end + 1] == '}') &&
		    t->src[end] != '\n' && !(t->src[end] == '{' && t->src[end + 1] == '{'))
			end++;
		if (end + 1 >= len || t->src[end] != '}' || t->src[end + 1] != '}') {
			diag_set(d, EX_CONFIG, "%s:%d:%d: '{{' without a closing '}}' on the same line",
			    file, line, col);
			goto fail;
		}
		size_t bar = start;
		while (bar < end && t->src[bar] != '|')
			bar++;
		size_t ns = start, ne = bar;
		while (ns < ne && is_space(t->src[ns]))
			ns++;
		while (ne > ns && is_space(t->src[ne - 1]))
			ne--;
		if (ns == ne) {
			diag_set(d, EX_CONFIG, "%s:%d:%d: empty slot '{{}}'", file, line, col);
			goto fail;
		}
		enum tmpl_slot s = template_slot_parse(t->src + ns, ne - ns);
		if (s == SLOT_NONE) {
			buf names = BUF_INIT;
			for (int k = 0; k < SLOT_COUNT; k++)
				buf_printf(&names, "%s%s", k ? ", " : "", slot_names[k]);
			diag_set(d, EX_CONFIG, "%s:%d:%d: unknown slot '%.*s' (known: %s)",
			    file, line, col, (int)(ne - ns), t->src + ns, names.data);
			buf_free(&names);
			goto fail;
		}
		const char *fallback = "";
		if (bar < end) {
			size_t fs = bar + 1, fe = end;
			while (fs < fe && is_space(fb[fs]))
				fs++;
			while (fe > fs && is_space(fb[fe - 1]))
				fe--;
			fb[fe] = '\0';
			fallback = fb + fs;
		}
		add_piece(t, &cap, (struct tmpl_piece){ s, t->src + i,
		    end + 2 - i, fallback, line, col });
		advance(t->src + i, end + 2 - i, &line, &col);
		i = end + 2;
	}
	*out = t;
	return 0;
fail:
	template_free(t);
	*out = NULL;
	return -1;
}

int
template_load(const char *dir, const char *name, struct template **out,
    diag *d)
{
	buf path = BUF_INIT, text = BUF_INIT;
	char chunk[65536];
	size_t n;
	FILE *fp;
	int rc;

	buf_printf(&path, "%s/%s", dir, name);
	fp = fopen(path.data, "rb");
	if (fp == NULL) {
		rc = diag_set(d, EX_NOINPUT, "%s: cannot read template: %s",
		    path.data, strerror(errno));
		buf_free(&path);
		return rc;
	}
	while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
		buf_append(&text, chunk, n);
	if (ferror(fp)) {
		rc = diag_set(d, EX_IOERR, "%s: read error: %s", path.data,
		    strerror(errno));
		fclose(fp);
		buf_free(&path);
		buf_free(&text);
		return rc;
	}
	fclose(fp);
	rc = template_parse(path.data, buf_cstr(&text), text.len, out, d);
	buf_free(&path);
	buf_free(&text);
	return rc;
}

int
template_require(const struct template *t, enum tmpl_slot slot, diag *d)
{
	for (size_t i = 0; i < t->npieces; i++)
		if (t->pieces[i].slot == slot)
			return 0;
	return diag_set(d, EX_CONFIG, "%s:1:1: the template has no {{%s}} slot; it needs one",
	    t->file, template_slot_name(slot));
}

void
template_free(struct template *t)
{
	if (t == NULL)
		return;
	free(t->fallbacks);
	free(t->pieces);
	free(t->src);
	free(t->file);
	free(t);
}
