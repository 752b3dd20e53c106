/* bounce_mime - the MIME walk of a returned message, the returned copy and the envelope. */
#include "bounce_int.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include <gmime/gmime.h>

#include "xalloc.h"

/* ---------------------------------------------------------------------
 * Walking the MIME tree
 */


void
skip_add(struct walk *w, const char *hval)
{
	size_t at, alen, pos = 0, len;

	if (hval == NULL)
		return;
	len = strlen(hval);
	while (w->nskip < 40 && next_address(hval, len, pos, &at, &alen)) {
		w->skip[w->nskip++] = xstrndup(hval + at, alen);
		pos = at + alen;
	}
}

/* Appends the decoded content of a leaf part (UTF-8 where a charset is
 * given) to out, at most `cap` bytes in all, NULs made spaces. */
static void
part_content(GMimeObject *obj, buf *out, size_t cap)
{
	GMimePart *part = (GMimePart *)obj;
	GMimeDataWrapper *w = g_mime_part_get_content(part);
	GMimeStream *mem, *filt;
	const char *cs;
	GByteArray *ba;

	if (w == NULL || out->len >= cap)
		return;
	mem = g_mime_stream_mem_new();
	filt = g_mime_stream_filter_new(mem);
	cs = g_mime_object_get_content_type_parameter(obj, "charset");
	if (cs && g_ascii_strcasecmp(cs, "utf-8") != 0 &&
	    g_ascii_strcasecmp(cs, "us-ascii") != 0) {
		GMimeFilter *f = g_mime_filter_charset_new(cs, "UTF-8");
		if (f) {
			g_mime_stream_filter_add(GMIME_STREAM_FILTER(filt), f);
			g_object_unref(f);
		}
	}
	if (g_mime_data_wrapper_write_to_stream(w, filt) >= 0)
		g_mime_stream_flush(filt);
	ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	if (ba && ba->len && cs == NULL && memmem(ba->data, ba->len, "\x1b$B", 3)) {
		/* Unlabelled ISO-2022-JP (Lotus Domino/Notes diagnostics). */
		gsize got = 0;
		gchar *u = g_convert((const gchar *)ba->data, (gssize)ba->len, "UTF-8",
		    "ISO-2022-JP", NULL, &got, NULL);
		if (u) {
			g_byte_array_set_size(ba, 0);
			g_byte_array_append(ba, (const guint8 *)u, (guint)got);
			g_free(u);
		}
	}
	if (ba && ba->len) {
		size_t n = ba->len, start = out->len;
		if (n > cap - out->len)
			n = cap - out->len;
		buf_append(out, ba->data, n);
		for (size_t i = start; i < out->len; i++)
			if (out->data[i] == '\0')
				out->data[i] = ' ';
		buf_putc(out, '\n');
	}
	g_object_unref(filt);
	g_object_unref(mem);
}

/* Crude HTML to text: drop tags, keep line structure at <br>/<p>/<div>. */
static void
html_to_text(const char *s, size_t n, buf *out)
{
	int in_tag = 0, skip = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '<') {
			in_tag = 1;
			if (i + 2 < n && (starts_ci(s + i + 1, "br") || starts_ci(s + i + 1, "p") ||
			    starts_ci(s + i + 1, "div") || starts_ci(s + i + 1, "/p") ||
			    starts_ci(s + i + 1, "tr") || starts_ci(s + i + 1, "/div")))
				buf_putc(out, '\n');
			if (n - i > 7 && (starts_ci(s + i + 1, "style") || starts_ci(s + i + 1, "script")))
				skip = 1;
			if (n - i > 8 && (starts_ci(s + i + 1, "/style") || starts_ci(s + i + 1, "/script")))
				skip = 0;
			continue;
		}
		if (in_tag) {
			if (c == '>')
				in_tag = 0;
			continue;
		}
		if (skip)
			continue;
		if (c == '&') {
			if (n - i >= 4 && strncmp(s + i, "&lt;", 4) == 0) { buf_putc(out, '<'); i += 3; continue; }
			if (n - i >= 4 && strncmp(s + i, "&gt;", 4) == 0) { buf_putc(out, '>'); i += 3; continue; }
			if (n - i >= 6 && strncmp(s + i, "&nbsp;", 6) == 0) { buf_putc(out, ' '); i += 5; continue; }
			if (n - i >= 5 && strncmp(s + i, "&amp;", 5) == 0) { buf_putc(out, '&'); i += 4; continue; }
		}
		buf_putc(out, c);
	}
	buf_putc(out, '\n');
}

void
walk(struct walk *w, GMimeObject *obj, int depth)
{
	GMimeContentType *ct;
	const char *type, *sub;

	if (obj == NULL || depth > MAX_DEPTH)
		return;
	if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = (GMimeMultipart *)obj;
		int n = g_mime_multipart_get_count(mp);
		const char *pro = g_mime_multipart_get_prologue(mp);
		const char *epi = g_mime_multipart_get_epilogue(mp);

		/* A wrong boundary leaves the whole body in the prologue. */
		if (pro && w->human.len < TEXT_CAP) {
			buf_append(&w->human, pro, strnlen(pro, TEXT_CAP - w->human.len));
			buf_putc(&w->human, '\n');
		}
		if (n == 0 && epi && w->human.len < TEXT_CAP) {
			buf_append(&w->human, epi, strnlen(epi, TEXT_CAP - w->human.len));
			buf_putc(&w->human, '\n');
		}
		for (int i = 0; i < n && i < 64; i++)
			walk(w, g_mime_multipart_get_part(mp, i), depth + 1);
		return;
	}
	if (GMIME_IS_MESSAGE_PART(obj)) {
		GMimeMessage *m = g_mime_message_part_get_message((GMimeMessagePart *)obj);
		GMimeObject *inner = m ? g_mime_message_get_mime_part(m) : NULL;
		GMimeContentType *ict = inner ? g_mime_object_get_content_type(inner) : NULL;

		/* A report forwarded as an attachment: read the report. */
		if (ict && w->dsn.len == 0 && w->arf.len == 0 &&
		    g_mime_content_type_is_type(ict, "multipart", "report")) {
			walk(w, inner, depth + 1);
			return;
		}
		if (m && w->returned == NULL) {
			w->returned = m;
			g_object_ref(m);
		}
		return;
	}
	if (!GMIME_IS_PART(obj))
		return;
	ct = g_mime_object_get_content_type(obj);
	type = ct ? g_mime_content_type_get_media_type(ct) : "text";
	sub = ct ? g_mime_content_type_get_media_subtype(ct) : "plain";
	if (type == NULL)
		type = "text";
	if (sub == NULL)
		sub = "plain";
	if (g_ascii_strcasecmp(type, "message") == 0) {
		if (g_ascii_strcasecmp(sub, "delivery-status") == 0 ||
		    g_ascii_strcasecmp(sub, "global-delivery-status") == 0)
			part_content(obj, &w->dsn, TEXT_CAP);
		else if (g_ascii_strcasecmp(sub, "feedback-report") == 0)
			part_content(obj, &w->arf, TEXT_CAP);
		else if (g_ascii_strcasecmp(sub, "rfc822-headers") == 0 ||
		    g_ascii_strcasecmp(sub, "rfc822") == 0 ||
		    g_ascii_strcasecmp(sub, "global-headers") == 0)
			part_content(obj, &w->rheaders, TEXT_CAP);
		return;
	}
	if (g_ascii_strcasecmp(type, "text") == 0) {
		if (g_ascii_strcasecmp(sub, "rfc822-headers") == 0) {
			part_content(obj, &w->rheaders, TEXT_CAP);
		} else if (g_ascii_strcasecmp(sub, "html") == 0) {
			buf raw = BUF_INIT;
			part_content(obj, &raw, TEXT_CAP);
			if (raw.len)
				html_to_text(raw.data, raw.len, &w->human);
			buf_free(&raw);
		} else if (g_ascii_strcasecmp(sub, "delivery-status") == 0) {
			part_content(obj, &w->dsn, TEXT_CAP);
		} else {
			part_content(obj, &w->human, TEXT_CAP);
		}
	}
}

/* ---------------------------------------------------------------------
 * Locating the returned message in the text
 */

static const char *const returned_markers[] = {
	"below this line is a copy of the message",
	"this is a copy of the message",
	"original message follows",
	"----- original message -----",
	"-----original message-----",
	"unsent message follows",
	"returned message follows",
	"message header follows",
	"--- original message header",
	"original message header",
	"the header of the original message",
	"included is a copy of the message",
	"this is a copy of the original message",
	"headers of the original message",
	"------ original message",
	"content-type: message/rfc822",
	"original message headers",
	"your message reads",
	"copy of the original message",
	"message text follows",
	"--- the message was",
	"-- returned mail follows",
	"------- returned message",
	"---- returned message",
	"message headers follow",
	"bounced e-mail:", "bounced email:",
	NULL };

/* Offset in the human text where the returned copy starts (the line
 * after the marker), or len when none. *mark gets the marker line start. */
size_t
find_returned(const char *s, size_t len, size_t *mark)
{
	size_t best = len, bestmark = len;
	char *lc = xmalloc(len + 1);

	for (size_t i = 0; i < len; i++)
		lc[i] = (char)tolower((unsigned char)s[i]);
	lc[len] = '\0';
	for (const char *const *m = returned_markers; *m; m++) {
		size_t ml = strlen(*m);
		const char *f = best >= ml ? memmem(lc, best, *m, ml) : NULL;
		size_t i, ls, e;

		if (f == NULL)
			continue;
		i = (size_t)(f - lc);
		ls = i;
		while (ls > 0 && s[ls - 1] != '\n')
			ls--;
		e = i + ml;
		while (e < len && s[e] != '\n')
			e++;
		if (ls < best) {
			best = e < len ? e + 1 : len;
			bestmark = ls;
		}
	}
	free(lc);
	*mark = bestmark;
	return best;
}

/* Parses a header block found in text (after skipping non-header lines). */
GMimeMessage *
parse_headers_text(const char *s, size_t len)
{
	GMimeStream *st;
	GMimeParser *p;
	GMimeMessage *m;
	size_t i = 0;

	/* skip lines until one that looks like "Name: value" */
	while (i < len) {
		size_t e = i, c = i;
		while (e < len && s[e] != '\n')
			e++;
		while (c < e && (isalnum((unsigned char)s[c]) || s[c] == '-'))
			c++;
		if (c > i && c < e && s[c] == ':')
			break;
		i = e + 1;
		if (i > 4096)
			return NULL;
	}
	if (i >= len)
		return NULL;
	st = g_mime_stream_mem_new_with_buffer(s + i, len - i);
	p = g_mime_parser_new_with_stream(st);
	m = g_mime_parser_construct_message(p, NULL);
	g_object_unref(p);
	g_object_unref(st);
	return m;
}

/* ---------------------------------------------------------------------
 * The returned message and the envelope addresses
 */

void
take_returned(struct bounce_report *r, struct walk *w, GMimeMessage *m)
{
	GMimeObject *o = (GMimeObject *)m;
	GMimeHeaderList *hl = g_mime_object_get_header_list(o);
	const char *v;

	if (r->message_id[0] == '\0') {
		v = g_mime_message_get_message_id(m);
		if (v) {
			free(r->message_id);
			r->message_id = xstrdup(v);
		}
	}
	if (r->orig_headers[0] == '\0' && hl) {
		char *s = g_mime_header_list_to_string(hl, NULL);
		if (s) {
			free(r->orig_headers);
			r->orig_headers = xstrdup(s);
			g_free(s);
		}
	}
	if (r->orig_to[0] == '\0') {
		v = g_mime_object_get_header(o, "To");
		if (v) {
			free(r->orig_to);
			r->orig_to = first_address(v);
		}
	}
	v = g_mime_object_get_header(o, "Return-Path");
	if (v) {
		char *a = first_address(v);
		env_add(r, a);
		free(a);
	}
	skip_add(w, v);
	skip_add(w, g_mime_object_get_header(o, "From"));
	skip_add(w, g_mime_object_get_header(o, "Sender"));
}

void
take_envelope(struct bounce_report *r, GMimeObject *top)
{
	static const char *const names[] = { "To", "Delivered-To", "X-Original-To",
	    "Envelope-To", "X-Envelope-To", "X-Rcpt-To", "X-Apparently-To",
	    "Original-Recipient", NULL };
	GMimeHeaderList *hl = g_mime_object_get_header_list(top);
	int n = hl ? g_mime_header_list_get_count(hl) : 0;

	for (int i = 0; i < n; i++) {
		GMimeHeader *hd = g_mime_header_list_get_header_at(hl, i);
		const char *name = g_mime_header_get_name(hd);
		const char *val = g_mime_header_get_value(hd);
		for (const char *const *nm = names; *nm; nm++) {
			if (strcasecmp(name, *nm) != 0 || val == NULL)
				continue;
			/* every address of the header */
			size_t at, alen, pos = 0, len = strlen(val);
			while (next_address(val, len, pos, &at, &alen)) {
				char *a = xstrndup(val + at, alen);
				env_add(r, a);
				free(a);
				pos = at + alen;
			}
		}
	}
	/* A mailto unsubscribe: unsubscribe+TOKEN@domain. */
	for (size_t i = 0; i < r->nenvelope; i++) {
		const char *a = r->envelope[i];
		if (strncasecmp(a, "unsubscribe+", 12) == 0 && r->unsub_address[0] == '\0') {
			const char *atp = strrchr(a, '@');
			if (atp && atp > a + 12) {
				free(r->unsub_address);
				free(r->unsub_token);
				r->unsub_address = xstrdup(a);
				r->unsub_token = xstrndup(a + 12, (size_t)(atp - a - 12));
			}
		}
	}
}
