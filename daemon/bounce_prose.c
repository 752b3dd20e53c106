/* bounce_prose - bounces written in prose by non-standard MTAs, and delay notices. */
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
 * Is it a bounce? An auto-reply?
 */

int
bounce_sender(const char *from_addr, const char *from_raw)
{
	char *n;
	int r;

	if (is_system_address(from_addr) || addr_local_is(from_addr, "mail-delivery") ||
	    addr_local_is(from_addr, "maildelivery"))
		return 1;
	n = norm_text(from_raw ? from_raw : "", from_raw ? strlen(from_raw) : 0);
	r = has(n, "mailer-daemon") || has(n, "mail delivery") || has(n, "postmaster") ||
	    has(n, "mail administrator") || has(n, "mailer daemon") ||
	    has(n, "delivery subsystem") || has(n, "mail system") ||
	    has(n, "system administrator") || has(n, "mail-daemon");
	free(n);
	return r;
}

int
bounce_subject(const char *subj)
{
	static const char *const pats[] = { "undeliver", "undelivered",
	    "delivery status notification", "failure notice", "returned mail",
	    "mail delivery failed", "delivery failure", "delivery failed",
	    "non-delivery", "nondeliverable", "non delivery", "could not be delivered",
	    "delivery problem", "failed delivery", "mail failure", "not delivered",
	    "returned to sender", "delivery has failed", "message delivery failure",
	    "mail system error", "delivery notification", "warning: could not send",
	    "undeliverable", "permanent error", "delivery error", "rejected",
	    "mail could not be delivered", "bounce", "failed mail",
	    "message status", "delivery report", "unzustellbar",
	    "returned message", "delivery final failure", "delivery incomplete",
	    "not be delivered", "error sending", "failure delivery", NULL };
	char *n = norm_text(subj ? subj : "", subj ? strlen(subj) : 0);
	int r = has_any(n, pats);
	free(n);
	return r;
}

int
autoreply_headers(GMimeObject *top, const char *subject)
{
	static const char *const subj[] = { "out of office", "out of the office",
	    "auto:", "automatic reply", "autoreply", "auto reply", "auto-reply",
	    "vacation", "away from", "abwesenheit", "autoresponse",
	    "auto response", "automated response", "on leave", "absence", NULL };
	const char *v;
	char *n;
	int r;

	v = g_mime_object_get_header(top, "Auto-Submitted");
	if (v && starts_ci(v, "auto-replied"))
		return 1;
	if (g_mime_object_get_header(top, "X-Autoreply") ||
	    g_mime_object_get_header(top, "X-Autorespond") ||
	    g_mime_object_get_header(top, "X-Auto-Response-Suppress-Reply") ||
	    g_mime_object_get_header(top, "X-Vacation"))
		return 1;
	v = g_mime_object_get_header(top, "Precedence");
	if (v && starts_ci(v, "auto_reply"))
		return 1;
	n = norm_text(subject ? subject : "", subject ? strlen(subject) : 0);
	r = has_any(n, subj);
	free(n);
	return r;
}

/* ---------------------------------------------------------------------
 * Reading verdicts
 */

/* The text near addr in the human text: from its first occurrence's line
 * to the next failed recipient's line (or the end). */
void
text_near(const char *h, size_t hlen, const char *addr, const char *next,
    const char **seg, size_t *seglen)
{
	const char *p = addr && addr[0] ? strcasestr(h, addr) : NULL;
	const char *e;

	*seg = NULL;
	*seglen = 0;
	if (p == NULL || p >= h + hlen)
		return;
	while (p > h && p[-1] != '\n')
		p--;
	e = h + hlen;
	if (next && next[0]) {
		const char *q = strcasestr(p + 1, next);
		if (q && q < e) {
			while (q > p && q[-1] != '\n')
				q--;
			if (q > p)
				e = q;
		}
	}
	if (e - p > 4000)
		e = p + 4000;
	*seg = p;
	*seglen = (size_t)(e - p);
}

int
has_code_or_reason(const char *s, size_t n)
{
	char *t = xstrndup(s, n);
	char st[16], rp[4];
	char *norm;
	int r = 0;

	find_status(t, st);
	find_reply(t, rp);
	if ((st[0] && st[0] != '2') || rp[0])
		r = 1;
	if (!r) {
		norm = norm_text(t, n);
		r = reason_words(norm);
		free(norm);
	}
	free(t);
	return r;
}

/* The words about failed recipient rc[i] in a prose bounce: from a line
 * naming it to the next line naming another failed recipient; the first
 * such stretch that holds a reply code or a reason. */
void
text_segment(const char *h, size_t hlen, char **rc, size_t nrc, size_t i,
    const char **seg, size_t *seglen)
{
	const char *end = h + hlen, *from = h, *first = NULL;
	size_t firstlen = 0;

	*seg = NULL;
	*seglen = 0;
	for (int tries = 0; tries < 8 && from < end; tries++) {
		const char *p = strcasestr(from, rc[i]), *e = end;
		if (p == NULL || p >= end)
			break;
		from = p + strlen(rc[i]);
		while (p > h && p[-1] != '\n')
			p--;
		for (size_t j = 0; j < nrc; j++) {
			const char *q;
			if (j == i || rc[j][0] == '\0' || strcasecmp(rc[j], rc[i]) == 0)
				continue;
			q = strcasestr(from, rc[j]);
			if (q == NULL || q >= e)
				continue;
			while (q > from && q[-1] != '\n')
				q--;
			if (q > p)
				e = q;
		}
		/* Sendmail's "550 host (smtp)... 550 Host unknown" line is about
		 * the recipients that follow it, not the one before. */
		{
			const char *nl = memchr(p, '\n', (size_t)(e - p)), *q;
			q = nl ? memmem(nl, (size_t)(e - nl), " (smtp)... ", 11) : NULL;
			if (q) {
				while (q > nl + 1 && q[-1] != '\n')
					q--;
				e = q;
			}
		}
		if (e - p > 4000)
			e = p + 4000;
		if (first == NULL) {
			first = p;
			firstlen = (size_t)(e - p);
		}
		if (has_code_or_reason(p, (size_t)(e - p))) {
			*seg = p;
			*seglen = (size_t)(e - p);
			return;
		}
	}
	*seg = first;
	*seglen = firstlen;
}

/* Status class from the words when no code is given. */
char
class_from_words(const char *h)
{
	static const char *const temp[] = { "temporary", "temporarily",
	    "will retry", "will be retried", "still trying", "delayed",
	    "will keep trying", "warning: message", "not yet been delivered",
	    "has not been delivered yet", "retry", NULL };
	static const char *const perm[] = { "permanent", "fatal", "given up",
	    "giving up", "gave up", "failed permanently", "could not be delivered",
	    NULL };
	char *n = norm_text(h, strlen(h));
	char c = '5';

	if (!has_any(n, perm) && has_any(n, temp))
		c = '4';
	free(n);
	return c;
}

/* One verdict from a recipient's text segment (or the whole report text). */
void
text_verdict(struct bounce_report *r, const char *rcpt, const char *seg, size_t seglen,
    const char *whole, const char *action, const char *status_in)
{
	struct bounce_verdict *v = verdict_add(r);
	char *t = xstrndup(seg, seglen);
	char st[16], rp[4];

	if (status_in && status_in[0])
		snprintf(st, sizeof st, "%s", status_in);
	else
		find_status(t, st);
	find_reply(t, rp);
	if (st[0] == '\0' && rp[0] == '\0') {
		/* Nothing in the segment: the words of the whole report. */
		find_status(whole, st);
		find_reply(whole, rp);
	}
	if (st[0] == '\0')
		snprintf(st, sizeof st, "%c.0.0", rp[0] ? rp[0] : class_from_words(whole));
	verdict_fill(v, rcpt, st, rp, action, seg, seglen,
	    has_code_or_reason(seg, seglen) ? t : whole, t);
	free(t);
}

static int
same_addr(const char *a, const char *b)
{
	return a && b && a[0] && strcasecmp(a, b) == 0;
}

/* How an address stands in a prose bounce: 0 dropped (a header of the
 * returned message, a sender, a URL), 1 mentioned, 2 named the way
 * failed recipients are ("<a@b>:", "RCPT TO:<a@b>", a line of its own,
 * "a@b on <date>", "to <a@b>"). */
static int
address_role(const char *h, size_t at, size_t alen)
{
	size_t ls = at, k;
	char pre[64];
	size_t pn = 0;
	const char *after = h + at + alen;

	while (ls > 0 && h[ls - 1] != '\n')
		ls--;
	/* the line's start, past quoting ("> ") and list marks */
	k = ls;
	while (k < at && (h[k] == ' ' || h[k] == '\t' || h[k] == '>' || h[k] == '*' ||
	    h[k] == '-' || h[k] == '"'))
		k++;
	static const char *const hdrs[] = { "message-id", "from:", "reply-to:", "sender:",
	    "return-path:", "received:", "references:", "in-reply-to:", "mail from:",
	    "cc:", "date:", "subject:", "x-", "envelope-from", "in: mail from", NULL };
	for (const char *const *hd = hdrs; *hd; hd++)
		if (strncasecmp(h + k, *hd, strlen(*hd)) == 0)
			return 0;
	if (at > 0 && (h[at - 1] == '=' || h[at - 1] == '/'))
		return 0;	/* "...?id=x@y", URLs */
	/* the words just before the address, lowercased */
	for (size_t q = at > 40 && at - 40 > ls ? at - 40 : ls; q < at && pn < sizeof pre - 1; q++)
		pre[pn++] = (char)tolower((unsigned char)h[q]);
	pre[pn] = '\0';
	if (strstr(pre, "mail from:") || strstr(pre, "envelope-from") || strstr(pre, "sender"))
		return 0;
	/* Exim: "a <b>: malformed address: <b> may not follow a" is one
	 * badly written address, the first on the line. */
	if (memchr(h + ls, '@', at - ls)) {
		const char *le = strchr(h + at, '\n');
		size_t ll = le ? (size_t)(le - (h + ls)) : strlen(h + ls);
		if (memmem(h + ls, ll, "malformed address:", 18))
			return 0;
	}
	if (k == at || (k + 1 == at && h[k] == '<'))
		return 2;	/* the address opens the line */
	if (strstr(pre, "rcpt to:") || strstr(pre, "recipient:") || strstr(pre, " to <") ||
	    strstr(pre, " to: <") || strstr(pre, "to:<") || strstr(pre, "mail to <") ||
	    strstr(pre, "delivering your mail to") || strstr(pre, "addresses:"))
		return 2;
	if (*after == '>' && after[1] == ':')
		return 2;	/* "<a@b>:" */
	if (strncmp(after, ">...", 4) == 0 || strncmp(after, "...", 3) == 0)
		return 2;	/* Sendmail: "550 <a@b>... User unknown" */
	if (at - k >= 4 && at - k <= 5 && (h[k] == '4' || h[k] == '5') &&
	    isdigit((unsigned char)h[k + 1]) && isdigit((unsigned char)h[k + 2]))
		return 2;	/* "554 <a@b>" */
	if (*after == ':' && (after[1] == ' ' || after[1] == '\n'))
		return 2;
	return 1;
}

/* Collects the failed recipients named in the text, in order: those named
 * the way failed recipients are when there are any, else every address
 * that is not the report's own or a header of the returned message. */
size_t
text_recipients(const struct bounce_report *r, const char *h, size_t hlen,
    char **skip, size_t nskip, char ***out)
{
	char **list = NULL;
	int *strong = NULL;
	size_t n = 0, pos = 0, at, alen, nstrong = 0;

	while (pos < hlen && next_address(h, hlen, pos, &at, &alen)) {
		char *a = xstrndup(h + at, alen);
		int drop = is_system_address(a) || same_addr(a, r->from);
		int role;

		pos = at + alen;
		for (size_t i = 0; i < nskip && !drop; i++)
			if (same_addr(a, skip[i]))
				drop = 1;
		role = drop ? 0 : address_role(h, at, alen);
		if (role == 0) {
			free(a);
			continue;
		}
		for (size_t i = 0; i < n && !drop; i++)
			if (strcasecmp(list[i], a) == 0) {
				if (role == 2 && !strong[i]) {
					strong[i] = 1;
					nstrong++;
				}
				drop = 1;
			}
		if (drop || n >= MAX_RCPTS) {
			free(a);
			continue;
		}
		list = xrealloc(list, (n + 1) * sizeof *list);
		strong = xrealloc(strong, (n + 1) * sizeof *strong);
		strong[n] = role == 2;
		nstrong += role == 2;
		list[n++] = a;
	}
	if (nstrong && nstrong < n) {
		size_t k = 0;
		for (size_t i = 0; i < n; i++) {
			if (strong[i])
				list[k++] = list[i];
			else
				free(list[i]);
		}
		n = k;
	}
	free(strong);
	*out = list;
	return n;
}

/* ---------------------------------------------------------------------
 * What is known of particular mail systems
 */

static int
domain_is(const char *addr, const char *const *domains)
{
	const char *at = strrchr(addr, '@');

	if (at == NULL)
		return 0;
	at++;
	for (; *domains; domains++) {
		size_t al = strlen(at), dl = strlen(*domains);
		if (al >= dl && strcasecmp(at + al - dl, *domains) == 0 &&
		    (al == dl || at[al - dl - 1] == '.'))
			return 1;
	}
	return 0;
}

/* A "user unknown" that classify() could not place (no X.1.1 code, no
 * known SMTP command) is a dead address after all when the mail system
 * that said it is known to say it only of names it does not have:
 *  - gateways that check every recipient against their directory before
 *    accepting mail: McAfee Email Gateway (X-NAI-Header), Ipswitch iMail
 *    (X-Mailer: <SMTP32 ...>);
 *  - providers whose wording is fixed: au by KDDI (ezweb.ne.jp, au.com)
 *    answers "550 <addr>: User unknown" for a mailbox that does not exist
 *    (and "550 : User unknown" for its reception filter, see fixed_rules);
 *    Verizon's SMS/MMS gateways (vtext.com, vzwpix.com) for numbers that
 *    are not theirs; Outlook.com/Hotmail's "mailbox unavailable" (for its
 *    own domains, or in a report Hotmail wrote itself). */
void
provider_knowledge(struct bounce_report *r, GMimeObject *top)
{
	static const char *const au[] = { "ezweb.ne.jp", "au.com", NULL };
	static const char *const verizon[] = { "vtext.com", "vzwpix.com", NULL };
	static const char *const msn[] = { "hotmail.com", "outlook.com", "live.com",
	    "msn.com", "hotmail.co.jp", "hotmail.co.uk", "hotmail.fr", "live.jp", NULL };
	const char *nai = g_mime_object_get_header(top, "X-NAI-Header");
	const char *xm = g_mime_object_get_header(top, "X-Mailer");
	int gateway = (nai && strcasestr(nai, "mcafee")) || (xm && strcasestr(xm, "<SMTP32 "));
	int from_msn = domain_is(r->from, msn);

	for (size_t i = 0; i < r->n; i++) {
		struct bounce_verdict *v = &r->v[i];
		char *n;
		int dead;

		if (!reason_unsure(v->reason))
			continue;
		n = norm_text(v->diagnostic, strlen(v->diagnostic));
		dead = gateway ||
		    (domain_is(v->recipient, au) && has(n, ">: user unknown")) ||
		    domain_is(v->recipient, verizon) ||
		    ((domain_is(v->recipient, msn) || from_msn) && has(n, "mailbox unavailable"));
		free(n);
		if (dead) {
			v->reason = "userunknown";
			v->kind = kind_of(v->reason, v->status, v->status[0] ? v->status[0] - '0' : 5);
		}
	}
}

/* The fml list manager (X-MLServer: fml) answers a post it will not
 * distribute with a mail of its own, From the list's admin address: the
 * sender is not a member, or the message looped. For a newsletter sent to
 * such a list address that is a failed delivery to the list (soft): the
 * list's address is the one in angle brackets in the text. Ordinary list
 * posts carry the same header, so only fml's refusal subjects count. */
void
list_manager_refusal(struct bounce_report *r, GMimeObject *top, const char *h, size_t hlen)
{
	const char *ml = g_mime_object_get_header(top, "X-MLServer");
	const char *reason = NULL;
	char *subj, *list = NULL;
	struct bounce_verdict *v;
	const char *lt, *gt;

	if (ml == NULL || !starts_ci(ml, "fml"))
		return;
	subj = norm_text(r->subject, strlen(r->subject));
	if (has(subj, "are not member") || has(subj, "not a member"))
		reason = "rejected";
	else if (has(subj, "loop alert"))
		reason = "systemerror";
	free(subj);
	if (reason == NULL)
		return;
	for (lt = memchr(h, '<', hlen); lt && list == NULL;
	    lt = memchr(lt + 1, '<', hlen - (size_t)(lt + 1 - h))) {
		gt = memchr(lt, '>', hlen - (size_t)(lt - h));
		if (gt && gt - lt < 256 && memchr(lt, '@', (size_t)(gt - lt)))
			list = xstrndup(lt + 1, (size_t)(gt - lt - 1));
		if (lt + 1 >= h + hlen)
			break;
	}
	r->format = BOUNCE_FMT_TEXT;
	v = verdict_add(r);
	v->recipient = list ? list : xstrdup(r->orig_to);
	snprintf(v->status, sizeof v->status, "5.0.0");
	v->action = xstrdup("failed");
	v->diagnostic = one_line(r->subject, strlen(r->subject), DIAG_CAP);
	v->feedback = xstrdup("");
	v->reason = reason;
	v->kind = BOUNCE_SOFT;
}

/* A delay notice in prose ("Warning: message ... delayed 24 hours",
 * "Delivery Status Notification (Delay)", "will keep trying"): the MTA
 * still retries, so it is not a bounce. Final expirations ("gave up",
 * "permanent", 5.x.x) are. Every verdict that is not a permanent failure
 * becomes ignore/delayed. */
void
delay_notice(struct bounce_report *r, const char *h, size_t hlen)
{
	static const char *const delay[] = { "delayed", "delay)", "(delay",
	    "warning: message", "will keep trying", "will continue to try",
	    "still trying", "still being retried", "not yet been delivered",
	    "has not been delivered yet", "no action is required", "will be retried",
	    "will retry", "delivery attempts will continue", "this is a warning",
	    "warning: could not send", "delivery delay", NULL };
	static const char *const final[] = { "gave up", "giving up", "given up",
	    "permanent", "fatal", "failed permanently", "could not be delivered",
	    "couldn't be delivered", "undeliverable", "expired", "too long",
	    "retry time exceeded", "retry timeout exceeded", "bounced", NULL };
	char *subj, *body;
	int is_delay, is_final;

	if (r->format != BOUNCE_FMT_TEXT || r->n == 0)
		return;
	subj = norm_text(r->subject, strlen(r->subject));
	body = norm_text(h, hlen);
	/* The subject says what the notice is; the body may quote words of
	 * both (Exim's warning explains when it will give up). */
	is_delay = has_any(subj, delay) || (has_any(body, delay) && !has_any(subj, final));
	is_final = has_any(subj, final) || (!has_any(subj, delay) && has_any(body, final) &&
	    !has(body, "not yet been delivered") && !has(body, "will keep trying") &&
	    !has(body, "will continue to try"));
	free(subj);
	free(body);
	if (!is_delay || is_final)
		return;
	for (size_t i = 0; i < r->n; i++) {
		struct bounce_verdict *v = &r->v[i];
		/* A 5.x.x the remote server said is permanent; "5.0.0" read
		 * from the words alone ("could not be delivered for more
		 * than 4 hours") is not. */
		int said5 = v->reply[0] == '5' || (v->status[0] == '5' &&
		    strcmp(v->status, "5.0.0") != 0);
		if (v->kind == BOUNCE_IGNORE || v->kind == BOUNCE_COMPLAINT || said5)
			continue;
		if (v->status[0] == '5')
			v->status[0] = '4';
		v->kind = BOUNCE_IGNORE;
		v->reason = "delayed";
		free(v->action);
		v->action = xstrdup("delayed");
	}
}

/* A message with no report part (or a DSN part that gave no recipient):
 * a bounce in prose when its sender, subject, X-Failed-Recipients or a
 * report format says so, its failed recipients found in the text (or the
 * returned copy's To) and each read from the words around it; an
 * auto-reply gives one ignore verdict; anything else gives none. */
void
read_prose(struct bounce_report *r, struct walk *w, GMimeObject *top, const char *fromh,
    const char *h, size_t hlen)
{
	if (r->n != 0 || r->format == BOUNCE_FMT_ARF)
		return;
	const char *xfr = g_mime_object_get_header(top, "X-Failed-Recipients");
	int bs = bounce_sender(r->from, fromh), bsub = bounce_subject(r->subject);
	int is_bounce = xfr != NULL || bs || bsub || r->format == BOUNCE_FMT_DSN;
	char **rc = NULL;
	size_t nrc = 0;

	if (!is_bounce || (!bs && !xfr && autoreply_headers(top, r->subject) &&
	    w->dsn.len == 0)) {
		if (autoreply_headers(top, r->subject)) {
			struct bounce_verdict *v;
			r->format = BOUNCE_FMT_AUTOREPLY;
			v = verdict_add(r);
			v->recipient = xstrdup(r->from);
			v->kind = BOUNCE_IGNORE;
			v->reason = "vacation";
			v->action = xstrdup("");
			v->diagnostic = one_line(r->subject, strlen(r->subject), DIAG_CAP);
			v->feedback = xstrdup("");
		}
		return;
	}
	r->format = BOUNCE_FMT_TEXT;
	if (xfr) {
		size_t at, alen, pos = 0, xl = strlen(xfr);
		while (next_address(xfr, xl, pos, &at, &alen) && nrc < MAX_RCPTS) {
			rc = xrealloc(rc, (nrc + 1) * sizeof *rc);
			rc[nrc++] = xstrndup(xfr + at, alen);
			pos = at + alen;
		}
	}
	if (nrc == 0) {
		skip_add(w, g_mime_object_get_header(top, "To"));
		skip_add(w, g_mime_object_get_header(top, "Delivered-To"));
		nrc = text_recipients(r, h, hlen, w->skip, w->nskip, &rc);
	}
	if (nrc == 0 && r->orig_to[0]) {
		rc = xmalloc(sizeof *rc);
		rc[nrc++] = xstrdup(r->orig_to);
	}
	if (nrc == 0) {
		text_verdict(r, "", h, hlen, h, "failed", NULL);
	}
	for (size_t i = 0; i < nrc; i++) {
		const char *seg;
		size_t seglen;
		text_segment(h, hlen, rc, nrc, i, &seg, &seglen);
		if (seg == NULL || !has_code_or_reason(seg, seglen)) {
			seg = h;
			seglen = hlen;
		}
		text_verdict(r, rc[i], seg, seglen, h, "failed", NULL);
	}
	for (size_t i = 0; i < nrc; i++)
		free(rc[i]);
	free(rc);
}
