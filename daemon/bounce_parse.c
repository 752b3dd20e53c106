/* bounce_parse - reads a returned mail message and says what it means.
 *
 * How a message is read:
 *  1. GMime parses the MIME tree. The walk collects the human-readable text
 *     (text parts outside any returned message), the RFC 3464
 *     message/delivery-status content, the RFC 5965 message/feedback-report
 *     content, and the returned message (message/rfc822 or
 *     text/rfc822-headers, or the copy that follows a "below this line is a
 *     copy of the message" line in the text).
 *     A report forwarded as an attachment is read as the report.
 *  2. A feedback report gives one complaint per Original-Rcpt-To (or the
 *     returned message's To); so do Hotmail's JMRP reports and Amazon SES
 *     JSON complaint notifications. A delivery-status part (or such fields
 *     in the text, when the MIME structure is broken) gives one verdict per
 *     recipient block; Action delayed/delivered/relayed/expanded is ignored.
 *  3. Without a report part, a message that looks like a bounce (sender,
 *     subject, X-Failed-Recipients, wording) is read as text: the failed
 *     addresses are found in the prose (preferring those named the way
 *     failed recipients are), and the words next to each give its reply
 *     code, enhanced status, SMTP command and reason.
 *  4. Auto-replies (RFC 3834 Auto-Submitted, vacation headers and subjects)
 *     and ordinary mail give no bounce. A mail to unsubscribe+TOKEN@ is
 *     reported as such (the token is checked by bounce_apply).
 * The reason (Sisimai's vocabulary: userunknown, mailboxfull, ...) comes
 * from the wording first and the status code second; the kind follows from
 * the reason and the status class: a dead address (user or host unknown,
 * moved, accepts no mail) with a permanent status is hard, a complaint is a
 * complaint, everything else that failed is soft. 5.7.x policy blocks are
 * never hard: a sender's own reputation problem must not suppress anyone.
 *
 * Written by hand because no Debian library classifies bounces; the MIME
 * mechanics (parsing, transfer encodings, charsets, RFC 2047) are GMime's.
 *
 * The parts (bounce_int.h): this file is the entry point and the report
 * being built; bounce_mime.c walks the MIME tree and finds the returned
 * copy and the envelope; bounce_dsn.c reads RFC 3464, RFC 5965, JMRP and
 * Amazon SES JSON; bounce_prose.c the prose of non-standard MTAs and delay
 * notices; bounce_reason.c is the wording -> reason table; bounce_scan.c
 * the scanning they share; bounce_json.c writes the report as JSON.
 */
#include "bounce_parse.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include <gmime/gmime.h>

#include "bounce_int.h"
#include "xalloc.h"

static int parse_one(const char *s, size_t len, struct bounce_report **out, diag *d);

/* ---------------------------------------------------------------------
 * The report being built
 */

void
env_add(struct bounce_report *r, const char *addr)
{
	if (addr == NULL || addr[0] == '\0')
		return;
	for (size_t i = 0; i < r->nenvelope; i++)
		if (strcasecmp(r->envelope[i], addr) == 0)
			return;
	if (r->nenvelope >= 32)
		return;
	r->envelope = xrealloc(r->envelope, (r->nenvelope + 1) * sizeof *r->envelope);
	r->envelope[r->nenvelope++] = xstrdup(addr);
}

struct bounce_verdict *
verdict_add(struct bounce_report *r)
{
	struct bounce_verdict *v;

	r->v = xrealloc(r->v, (r->n + 1) * sizeof *r->v);
	v = &r->v[r->n++];
	memset(v, 0, sizeof *v);
	return v;
}

void
verdict_fill(struct bounce_verdict *v, const char *rcpt, const char *status,
    const char *reply, const char *action, const char *diagtext, size_t diaglen,
    const char *classify_text, const char *context)
{
	v->recipient = xstrdup(rcpt ? rcpt : "");
	snprintf(v->status, sizeof v->status, "%s", status ? status : "");
	snprintf(v->reply, sizeof v->reply, "%s", reply ? reply : "");
	v->action = xstrdup(action ? action : "");
	v->diagnostic = one_line(diagtext ? diagtext : "", diagtext ? diaglen : 0, DIAG_CAP);
	v->feedback = xstrdup("");
	v->reason = classify(classify_text ? classify_text : v->diagnostic, context,
	    v->status, v->reply, &v->kind);
}

void
bounce_report_free(struct bounce_report *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].recipient);
		free(r->v[i].action);
		free(r->v[i].diagnostic);
		free(r->v[i].feedback);
	}
	free(r->v);
	for (size_t i = 0; i < r->nenvelope; i++)
		free(r->envelope[i]);
	free(r->envelope);
	free(r->message_id);
	free(r->orig_headers);
	free(r->orig_to);
	free(r->from);
	free(r->subject);
	free(r->unsub_address);
	free(r->unsub_token);
	free(r);
}

const char *
bounce_kind_name(enum bounce_kind k)
{
	switch (k) {
	case BOUNCE_SOFT: return "soft";
	case BOUNCE_HARD: return "hard";
	case BOUNCE_COMPLAINT: return "complaint";
	default: return "ignore";
	}
}

const char *
bounce_format_name(enum bounce_format f)
{
	switch (f) {
	case BOUNCE_FMT_DSN: return "dsn";
	case BOUNCE_FMT_ARF: return "arf";
	case BOUNCE_FMT_AUTOREPLY: return "autoreply";
	case BOUNCE_FMT_TEXT: return "text";
	default: return "none";
	}
}

/* ---------------------------------------------------------------------
 * Entry point
 */

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;

static void
gmime_start(void)
{
	g_mime_init();
}

/* Cheap guard against hostile nesting: GMime's parser recurses once per
 * level, so a message of thousands of nested parts is refused up front. */
static int
too_nested(const char *s, size_t len)
{
	size_t count = 0;
	static const char key[] = "content-type:";

	for (size_t i = 0; i + 24 < len; i++) {
		if ((s[i] != 'c' && s[i] != 'C') || strncasecmp(s + i, key, 13) != 0)
			continue;
		size_t j = i + 13;
		while (j < len && (s[j] == ' ' || s[j] == '\t'))
			j++;
		if (j + 9 < len && (strncasecmp(s + j, "multipart", 9) == 0 ||
		    strncasecmp(s + j, "message/", 8) == 0))
			if (++count > MAX_NESTING)
				return 1;
	}
	return 0;
}

static int
looks_like_mail(const char *s, size_t len)
{
	size_t i = 0;

	/* mbox "From " line */
	if (len > 5 && strncmp(s, "From ", 5) == 0) {
		while (i < len && s[i] != '\n')
			i++;
		i++;
	}
	/* The first line must be a header field: "Name:" */
	size_t c = i;
	while (c < len && c - i < 200 && s[c] > 32 && s[c] < 127 && s[c] != ':')
		c++;
	return c < len && c > i && s[c] == ':';
}

/* A recipient as an address: no "rfc822;" or "smtp=" type, no quotes,
 * angle brackets, trailing dots or colons, nor white space around it. */
static void
clean_recipient(char *a)
{
	char *p = a, *e;
	static const char *const types[] = { "rfc822;", "rfc822:", "smtp;", "smtp=",
	    "smtp:", "x400;", "utf-8;", "mailto:", NULL };

	for (int again = 1; again; ) {
		again = 0;
		while (is_space((unsigned char)*p) || *p == '<' || *p == '"' || *p == '\'' ||
		    *p == '(' || *p == '[')
			p++, again = 1;
		for (const char *const *t = types; *t; t++)
			if (strncasecmp(p, *t, strlen(*t)) == 0)
				p += strlen(*t), again = 1;
	}
	e = p + strlen(p);
	while (e > p && (is_space((unsigned char)e[-1]) || e[-1] == '>' || e[-1] == '.' ||
	    e[-1] == '"' || e[-1] == '\'' || e[-1] == ':' || e[-1] == ',' || e[-1] == ';' ||
	    e[-1] == ')' || e[-1] == ']'))
		e--;
	/* "user@example.org> (expanded from ...)": the address ends at '>' */
	for (char *q = p; q < e; q++)
		if (*q == '>' || is_space((unsigned char)*q)) {
			if (memchr(p, '@', (size_t)(q - p)) != NULL) {
				e = q;
				while (e > p && e[-1] == '.')
					e--;
				break;
			}
		}
	memmove(a, p, (size_t)(e - p));
	a[e - p] = '\0';
}

/* The start of the next message in an mbox ("\n\nFrom " at a line start),
 * or len. Only for input that itself opens with a "From " line, and only
 * after a message that visibly ended: the closing "--boundary--" line of
 * a MIME message. A bounce quoting the returned mail with its own "From "
 * line (no ">From " escaping outside mbox files) is not cut apart. */
static size_t
mbox_next(const char *s, size_t from, size_t len)
{
	const char *p = s + from;

	while ((p = memmem(p, len - (size_t)(p - s), "\n\nFrom ", 7)) != NULL) {
		const char *le = memchr(p + 2, '\n', len - (size_t)(p + 2 - s));
		const char *e = p, *b;

		/* the last non-blank line before the blank line */
		while (e > s + from && (e[-1] == '\n' || e[-1] == '\r'))
			e--;
		b = e;
		while (b > s + from && b[-1] != '\n')
			b--;
		/* "From sender date": an address-ish word, then more words */
		if (le && memchr(p + 7, ' ', (size_t)(le - p - 7)) && e - b >= 5 &&
		    b[0] == '-' && b[1] == '-' && e[-1] == '-' && e[-2] == '-')
			return (size_t)(p + 2 - s);
		p += 2;
	}
	return len;
}

/* A message, or an mbox file of several (each read; the verdicts of all
 * in one report, the rest of the report from the first). */
int
bounce_parse(const void *data, size_t len, struct bounce_report **out, diag *d)
{
	const char *s = data;
	size_t end, start, nmsg = 1;

	if (len < 5 || strncmp(s, "From ", 5) != 0)
		return parse_one(s, len, out, d);
	end = mbox_next(s, 0, len);
	if (parse_one(s, end, out, d) < 0)
		return -1;
	for (start = end; start < len && nmsg < 100; start = end, nmsg++) {
		struct bounce_report *more = NULL;
		diag d2 = DIAG_INIT;

		end = mbox_next(s, start, len);
		if (parse_one(s + start, end - start, &more, &d2) < 0)
			continue;
		if ((*out)->format == BOUNCE_FMT_NONE)
			(*out)->format = more->format;
		for (size_t i = 0; i < more->n && (*out)->n < MAX_RCPTS; i++) {
			struct bounce_verdict *v = verdict_add(*out);
			*v = more->v[i];
			memset(&more->v[i], 0, sizeof more->v[i]);
		}
		bounce_report_free(more);
	}
	return 0;
}

/* The machine-readable reports, in order of trust: an ARF part, a DSN
 * part, Hotmail's JMRP, Amazon SES JSON, DSN fields inline in the text,
 * fml's refusals, and a one-click unsubscribe by mail. */
static void
read_reports(struct bounce_report *r, struct walk *w, GMimeObject *top, char *h, size_t hlen)
{
	if (w->arf.len) {
		r->format = BOUNCE_FMT_ARF;
		read_arf(r, w->arf.data, w->arf.len);
	} else if (w->dsn.len) {
		r->format = BOUNCE_FMT_DSN;
		read_dsn(r, w->dsn.data, w->dsn.len, h, hlen);
	} else if (w->returned && jmrp_complaint(r, top, w->returned)) {
		r->format = BOUNCE_FMT_ARF;
	} else if (strstr(h, "notificationType") || strstr(h, "\"eventType\"")) {
		int k = read_ses_json(r, h, hlen);
		if (k)
			r->format = k == 2 ? BOUNCE_FMT_ARF : BOUNCE_FMT_DSN;
	}
	if (r->n == 0 && r->format == BOUNCE_FMT_NONE) {
		size_t at = inline_dsn(h, hlen);
		if (at != (size_t)-1) {
			read_dsn(r, h + at, hlen - at, h, at);
			if (r->n)
				r->format = BOUNCE_FMT_DSN;
		}
	}
	if (r->n == 0 && r->format == BOUNCE_FMT_NONE)
		list_manager_refusal(r, top, h, hlen);
	if (r->n == 0 && r->format == BOUNCE_FMT_NONE) {
		/* A one-click unsubscribe by mail (Apple Mail, and others
		 * following RFC 8058's mailto): the reader opts out. */
		const char *xau = g_mime_object_get_header(top, "X-Apple-Unsubscribe");
		if (xau && starts_ci(xau, "true") && r->unsub_token[0] == '\0') {
			struct bounce_verdict *v = verdict_add(r);
			r->format = BOUNCE_FMT_ARF;
			v->recipient = xstrdup(r->from);
			v->kind = BOUNCE_COMPLAINT;
			v->reason = "feedback";
			v->action = xstrdup("");
			v->diagnostic = xstrdup(r->subject);
			v->feedback = xstrdup("opt-out");
		}
	}
}

static int
parse_one(const char *s, size_t len, struct bounce_report **out, diag *d)
{
	struct bounce_report *r;
	struct walk w;
	GMimeStream *st;
	GMimeParser *p;
	GMimeMessage *msg;
	GMimeObject *top;
	const char *subj, *fromh;
	size_t hlen, mark, rstart;
	char *h;

	*out = NULL;
	if (len == 0)
		return diag_set(d, EX_DATAERR, "empty message");
	if (!looks_like_mail(s, len))
		return diag_set(d, EX_DATAERR, "not a mail message: it does not start "
		    "with a header field");
	if (too_nested(s, len))
		return diag_set(d, EX_DATAERR, "message has more than %d nested "
		    "multipart/message parts; refused", MAX_NESTING);
	pthread_once(&gmime_once, gmime_start);

	st = g_mime_stream_mem_new_with_buffer(s, len);
	p = g_mime_parser_new_with_stream(st);
	g_mime_parser_set_format(p, GMIME_FORMAT_MESSAGE);
	msg = g_mime_parser_construct_message(p, NULL);
	g_object_unref(p);
	g_object_unref(st);
	if (msg == NULL)
		return diag_set(d, EX_DATAERR, "not a mail message: no header could be read");
	top = (GMimeObject *)msg;

	r = xcalloc(1, sizeof *r);
	r->message_id = xstrdup("");
	r->orig_headers = xstrdup("");
	r->orig_to = xstrdup("");
	r->unsub_address = xstrdup("");
	r->unsub_token = xstrdup("");
	subj = g_mime_message_get_subject(msg);
	r->subject = one_line(subj ? subj : "", subj ? strlen(subj) : 0, 998);
	fromh = g_mime_object_get_header(top, "From");
	r->from = first_address(fromh);
	take_envelope(r, top);

	memset(&w, 0, sizeof w);
	walk(&w, g_mime_message_get_mime_part(msg), 0);

	/* The human text, cut where a copy of the returned message starts. */
	h = w.human.data ? w.human.data : (char *)"";
	hlen = w.human.len;
	rstart = find_returned(h, hlen, &mark);
	if (w.returned)
		take_returned(r, &w, w.returned);
	if (w.rheaders.len) {
		GMimeMessage *hm = parse_headers_text(w.rheaders.data, w.rheaders.len);
		if (hm) {
			take_returned(r, &w, hm);
			g_object_unref(hm);
		}
	}
	if (rstart < hlen) {
		GMimeMessage *hm = parse_headers_text(h + rstart, hlen - rstart);
		if (hm) {
			take_returned(r, &w, hm);
			g_object_unref(hm);
		}
		hlen = mark;
		h[hlen] = '\0';
	}

	read_reports(r, &w, top, h, hlen);
	read_prose(r, &w, top, fromh, h, hlen);
	provider_knowledge(r, top);
	delay_notice(r, h, hlen);
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].recipient)
			clean_recipient(r->v[i].recipient);
	for (size_t i = 0; i < w.nskip; i++)
		free(w.skip[i]);
	buf_free(&w.human);
	buf_free(&w.dsn);
	buf_free(&w.arf);
	buf_free(&w.rheaders);
	if (w.returned)
		g_object_unref(w.returned);
	g_object_unref(msg);
	*out = r;
	return 0;
}
