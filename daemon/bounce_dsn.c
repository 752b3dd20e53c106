/* bounce_dsn - machine-readable reports: RFC 3464 DSNs, RFC 5965 ARF, JMRP, Amazon SES JSON. */
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
 * Header fields of a DSN or ARF part: "Name: value" blocks
 */

struct field {
	char	*name;
	char	*value;
};

struct block {
	struct field	*f;
	size_t		 n;
};

static void
block_free(struct block *b)
{
	for (size_t i = 0; i < b->n; i++) {
		free(b->f[i].name);
		free(b->f[i].value);
	}
	free(b->f);
	b->f = NULL;
	b->n = 0;
}

static const char *
block_get(const struct block *b, const char *name)
{
	for (size_t i = 0; i < b->n; i++)
		if (strcasecmp(b->f[i].name, name) == 0)
			return b->f[i].value;
	return NULL;
}

/* Splits a DSN body into blocks (blank-line separated; a second
 * Final-Recipient also starts a block, for senders that forget the blank
 * line). Continuation lines are unfolded. */
static struct block *
parse_blocks(const char *s, size_t len, size_t *nblocks)
{
	struct block *blocks = NULL, *cur = NULL;
	size_t nb = 0;
	size_t i = 0;

	while (i < len) {
		size_t e = i, colon;
		while (e < len && s[e] != '\n')
			e++;
		size_t le = e;
		if (le > i && s[le - 1] == '\r')
			le--;
		/* blank line: end of block */
		size_t k = i;
		while (k < le && (s[k] == ' ' || s[k] == '\t'))
			k++;
		if (k == le) {
			cur = NULL;
		} else if ((s[i] == ' ' || s[i] == '\t') && cur && cur->n) {
			struct field *f = &cur->f[cur->n - 1];
			size_t old = strlen(f->value);
			f->value = xrealloc(f->value, old + (le - k) + 2);
			f->value[old] = ' ';
			memcpy(f->value + old + 1, s + k, le - k);
			f->value[old + 1 + le - k] = '\0';
		} else {
			for (colon = i; colon < le && s[colon] != ':' && s[colon] != ' '; colon++)
				;
			if (colon < le && s[colon] == ':' && colon > i) {
				char *name = xstrndup(s + i, colon - i);
				size_t v = colon + 1;
				int recip = strcasecmp(name, "Final-Recipient") == 0 ||
				    strcasecmp(name, "Original-Recipient") == 0;
				while (v < le && (s[v] == ' ' || s[v] == '\t'))
					v++;
				if (cur && recip && block_get(cur, name))
					cur = NULL;
				if (cur == NULL) {
					if (nb >= 1000) {
						free(name);
						break;
					}
					blocks = xrealloc(blocks, (nb + 1) * sizeof *blocks);
					cur = &blocks[nb++];
					cur->f = NULL;
					cur->n = 0;
				}
				cur->f = xrealloc(cur->f, (cur->n + 1) * sizeof *cur->f);
				cur->f[cur->n].name = name;
				cur->f[cur->n].value = xstrndup(s + v, le - v);
				cur->n++;
			}
		}
		i = e + 1;
	}
	*nblocks = nb;
	return blocks;
}

/* "rfc822; <a@b>" -> "a@b" */
static char *
typed_address(const char *v)
{
	const char *semi;

	if (v == NULL)
		return xstrdup("");
	semi = strchr(v, ';');
	return first_address(semi ? semi + 1 : v);
}

void
read_dsn(struct bounce_report *r, const char *dsn, size_t dlen, const char *h, size_t hlen)
{
	size_t nb, nall = 0;
	struct block *b = parse_blocks(dsn, dlen, &nb);
	char **all = xcalloc(nb + 1, sizeof *all);
	const char *rmta = NULL;
	int ses_inbound;

	for (size_t i = 0; i < nb && rmta == NULL; i++)
		rmta = block_get(&b[i], "Reporting-MTA");
	/* Amazon SES receiving answers with a receipt rule's Bounce action:
	 * its code and words ("5.1.1 Mailbox does not exist", "5.2.2 Mailbox
	 * full", ...) are presets the domain's owner picked for a rule, not
	 * the result of looking the mailbox up. Not proof of a dead address. */
	ses_inbound = rmta && strcasestr(rmta, "inbound-smtp.") &&
	    strcasestr(rmta, ".amazonaws.com");

	/* Every recipient of the report: the prose about one ends where a
	 * line names another. */
	for (size_t i = 0; i < nb; i++) {
		const char *fr = block_get(&b[i], "Final-Recipient");
		const char *orc = block_get(&b[i], "Original-Recipient");
		if (fr || orc)
			all[nall++] = typed_address(orc ? orc : fr);
	}
	for (size_t i = 0, k = 0; i < nb && r->n < MAX_RCPTS; i++) {
		const char *fr = block_get(&b[i], "Final-Recipient");
		const char *orc = block_get(&b[i], "Original-Recipient");
		const char *act = block_get(&b[i], "Action");
		const char *st = block_get(&b[i], "Status");
		const char *dc = block_get(&b[i], "Diagnostic-Code");
		char *rcpt, *action, status[16] = "", reply[4] = "";
		struct bounce_verdict *v;
		const char *seg = NULL, *cls, *pmta;
		size_t seglen = 0;
		int xunix = 0;
		buf text = BUF_INIT, ctx = BUF_INIT;

		if (fr == NULL && orc == NULL)
			continue;
		k++;
		/* The address we sent to: Original-Recipient when given. */
		rcpt = typed_address(orc ? orc : fr);
		if (rcpt[0] == '\0' && fr) {
			free(rcpt);
			rcpt = typed_address(fr);
		}
		action = norm_text(act ? act : "", act ? strlen(act) : 0);
		if (st)
			find_status(st, status);
		if (dc) {
			const char *semi = strchr(dc, ';');	/* "smtp; 550 ..." */
			xunix = semi && semi - dc == 6 && strncasecmp(dc, "x-unix", 6) == 0;
			dc = semi ? semi + 1 : dc;
			while (*dc == ' ')
				dc++;
			find_reply(dc, reply);
			/* The remote server's own code beats the reporting
			 * MTA's summary of it (same class only). */
			{
				char ds[16];
				find_status(dc, ds);
				if (ds[0] && (status[0] == '\0' || ds[0] == status[0]))
					memcpy(status, ds, sizeof status);
			}
		}
		text_near(h, hlen, rcpt, NULL, &seg, &seglen);
		if (seg && seglen > 1500)
			seglen = 1500;
		if (seg)
			buf_append(&ctx, seg, seglen);
		seg = NULL;
		if (dc && dc[0])
			buf_puts(&text, dc);
		else {
			char ts[16];
			if (rcpt[0] && all[k - 1][0])
				text_segment(h, hlen, all, nall, k - 1, &seg, &seglen);
			if (seg && seglen > 1500)
				seglen = 1500;
			if (seg)
				buf_append(&text, seg, seglen);
			if (reply[0] == '\0' && text.len)
				find_reply(buf_cstr(&text), reply);
			/* The text's own code beats a bare X.0.0 of the same class. */
			ts[0] = '\0';
			if (text.len)
				find_status(buf_cstr(&text), ts);
			if (ts[0] && (status[0] == '\0' || (ts[0] == status[0] &&
			    strcmp(status + 1, ".0.0") == 0)))
				memcpy(status, ts, sizeof status);
		}
		v = verdict_add(r);
		cls = buf_cstr(&text);
		if (status[0] == '\0')
			snprintf(status, sizeof status, "%c.0.0", reply[0] ? reply[0] :
			    (strcmp(action, "delayed") == 0 ? '4' : class_from_words(h)));
		verdict_fill(v, rcpt, status, reply, action, cls, strlen(cls), cls,
		    buf_cstr(&ctx));
		/* "Diagnostic-Code: X-Unix; ..." is the exit of a local delivery
		 * program (procmail, a pipe), not a server's word on the
		 * address: a mailer error, never a dead address. */
		if (xunix && hard_reason(v->reason)) {
			v->reason = "mailererror";
			v->kind = kind_of(v->reason, v->status, v->status[0] - '0');
		}
		if (ses_inbound && hard_reason(v->reason)) {
			v->reason = "filtered";
			v->kind = kind_of(v->reason, v->status, v->status[0] - '0');
		}
		pmta = block_get(&b[i], "X-PowerMTA-BounceCategory");
		if (pmta && powermta_reason(pmta)) {
			v->reason = powermta_reason(pmta);
			v->kind = kind_of(v->reason, v->status, v->status[0] - '0');
		}
		if (strcmp(action, "delayed") == 0) {
			v->kind = BOUNCE_IGNORE;
			v->reason = "delayed";
		} else if (strcmp(action, "delivered") == 0 || strcmp(action, "relayed") == 0 ||
		    strcmp(action, "expanded") == 0) {
			v->kind = BOUNCE_IGNORE;
			v->reason = "delivered";
		}
		buf_free(&text);
		buf_free(&ctx);
		free(action);
		free(rcpt);
	}
	for (size_t i = 0; i < nb; i++)
		block_free(&b[i]);
	free(b);
	for (size_t i = 0; i < nall; i++)
		free(all[i]);
	free(all);
}

void
read_arf(struct bounce_report *r, const char *arf, size_t alen)
{
	size_t nb;
	struct block *b = parse_blocks(arf, alen, &nb);
	const char *type = NULL;
	char *ftype;
	size_t before = r->n;

	for (size_t i = 0; i < nb && !type; i++)
		type = block_get(&b[i], "Feedback-Type");
	ftype = norm_text(type ? type : "abuse", strlen(type ? type : "abuse"));
	for (size_t i = 0; i < nb; i++)
		for (size_t j = 0; j < b[i].n && r->n < MAX_RCPTS; j++) {
			if (strcasecmp(b[i].f[j].name, "Original-Rcpt-To") != 0 &&
			    strcasecmp(b[i].f[j].name, "Removal-Recipient") != 0)
				continue;
			char *a = first_address(b[i].f[j].value);
			int dup = 0;
			for (size_t k = before; k < r->n; k++)
				if (strcasecmp(r->v[k].recipient, a) == 0)
					dup = 1;
			if (!dup) {
				struct bounce_verdict *v = verdict_add(r);
				v->recipient = a;
				a = NULL;
			}
			free(a);
		}
	if (r->n == before) {
		struct bounce_verdict *v = verdict_add(r);
		v->recipient = xstrdup(r->orig_to);
	}
	for (size_t k = before; k < r->n; k++) {
		struct bounce_verdict *v = &r->v[k];
		v->kind = strcmp(ftype, "not-spam") == 0 ? BOUNCE_IGNORE : BOUNCE_COMPLAINT;
		v->reason = "feedback";
		v->action = xstrdup("");
		v->diagnostic = xstrdup("");
		v->feedback = xstrdup(ftype);
	}
	free(ftype);
	for (size_t i = 0; i < nb; i++)
		block_free(&b[i]);
	free(b);
}

/* ---------------------------------------------------------------------
 * Amazon SES notifications (JSON, often inside an SNS envelope that
 * escapes it once more). Read with a scanner for the few keys needed: a
 * JSON library for three fields of a provider format is not worth a
 * dependency, and any malformed text simply yields nothing.
 */

/* The string value of "key":"value" at or after p, into out. */
static const char *
json_value(const char *p, const char *end, const char *key, char *out, size_t outsz)
{
	size_t kl = strlen(key);

	out[0] = '\0';
	for (; p && p + kl + 3 < end; p++) {
		const char *q;
		size_t n = 0;
		if (*p != '"' || strncmp(p + 1, key, kl) != 0 || p[kl + 1] != '"')
			continue;
		q = p + kl + 2;
		while (q < end && (*q == ' ' || *q == ':'))
			q++;
		if (q >= end || *q != '"')
			continue;
		for (q++; q < end && *q != '"' && n + 1 < outsz; q++)
			out[n++] = *q;
		out[n] = '\0';
		return q;
	}
	return NULL;
}

/* What SES returns of the mail itself: "mail": {"source": our envelope
 * sender (the VERP address), "commonHeaders": {"messageId": our
 * Message-ID}, "headers": [{"name": "List-Unsubscribe", "value": ...}]}:
 * the proof bounce_apply looks for. */
static void
ses_proof(struct bounce_report *r, const char *t, const char *end)
{
	const char *mail = strstr(t, "\"mail\""), *p;
	char val[512];

	if (mail == NULL)
		return;
	if (json_value(mail, end, "source", val, sizeof val) && strchr(val, '@'))
		env_add(r, val);
	if ((p = strstr(mail, "\"commonHeaders\"")) &&
	    json_value(p, end, "messageId", val, sizeof val) && r->message_id[0] == '\0') {
		char *a = val, *z;
		while (*a == '<' || *a == ' ')
			a++;
		if ((z = strchr(a, '>')) != NULL)
			*z = '\0';
		free(r->message_id);
		r->message_id = xstrdup(a);
	}
	for (p = mail; (p = strstr(p, "\"name\"")) != NULL; p++) {
		char name[64];
		const char *q = json_value(p, end, "name", name, sizeof name);
		if (q == NULL)
			break;
		if (strcasecmp(name, "List-Unsubscribe") != 0)
			continue;
		if (json_value(q, end, "value", val, sizeof val) == NULL)
			break;
		buf h = BUF_INIT;
		buf_puts(&h, r->orig_headers);
		buf_printf(&h, "List-Unsubscribe: %s\n", val);
		free(r->orig_headers);
		r->orig_headers = buf_detach(&h);
		break;
	}
}

int
read_ses_json(struct bounce_report *r, const char *h, size_t hlen)
{
	char *t = xmalloc(hlen + 1), *o = t, type[32], val[512];
	const char *end, *p, *sect;
	int found = 0;

	/* Undo one level of \" escaping (the SNS envelope). */
	for (size_t i = 0; i < hlen; i++) {
		if (h[i] == '\\' && i + 1 < hlen && (h[i + 1] == '"' || h[i + 1] == '\\'))
			i++;
		*o++ = h[i];
	}
	*o = '\0';
	end = o;
	if (json_value(t, end, "notificationType", type, sizeof type) == NULL &&
	    json_value(t, end, "eventType", type, sizeof type) == NULL) {
		free(t);
		return 0;
	}
	if (strcmp(type, "Bounce") == 0 && (sect = strstr(t, "\"bouncedRecipients\""))) {
		char btype[32];
		json_value(t, end, "bounceType", btype, sizeof btype);
		for (p = sect; r->n < MAX_RCPTS &&
		    (p = json_value(p, end, "emailAddress", val, sizeof val)); ) {
			struct bounce_verdict *v = verdict_add(r);
			const char *close = strchr(p, '}');
			char st[32] = "", dc[512] = "", rp[4];
			if (close) {
				json_value(p, close, "status", st, sizeof st);
				json_value(p, close, "diagnosticCode", dc, sizeof dc);
			}
			find_reply(dc, rp);
			if (st[0] == '\0')
				snprintf(st, sizeof st, "%s", strcmp(btype, "Transient") == 0 ?
				    "4.0.0" : "5.0.0");
			verdict_fill(v, val, st, rp, "failed", dc, strlen(dc), dc, NULL);
			if (strcmp(btype, "Transient") == 0 && v->kind == BOUNCE_HARD)
				v->kind = BOUNCE_SOFT;
			found = 1;
		}
	} else if (strcmp(type, "Complaint") == 0 &&
	    (sect = strstr(t, "\"complainedRecipients\""))) {
		char fb[64];
		json_value(t, end, "complaintFeedbackType", fb, sizeof fb);
		for (p = sect; r->n < MAX_RCPTS &&
		    (p = json_value(p, end, "emailAddress", val, sizeof val)); ) {
			struct bounce_verdict *v = verdict_add(r);
			v->recipient = xstrdup(val);
			v->kind = BOUNCE_COMPLAINT;
			v->reason = "feedback";
			v->action = xstrdup("");
			v->diagnostic = xstrdup("");
			v->feedback = xstrdup(fb[0] ? fb : "abuse");
			found = 2;
			/* stop at the end of the complainedRecipients array */
			const char *close = strchr(p, ']');
			const char *next = strstr(p, "\"emailAddress\"");
			if (close && next && next > close)
				break;
		}
	} else if (strcmp(type, "Delivery") == 0 && (sect = strstr(t, "\"recipients\""))) {
		char resp[256];
		const char *close = strchr(sect, ']');
		json_value(t, end, "smtpResponse", resp, sizeof resp);
		for (p = sect + 12; close && p < close && r->n < MAX_RCPTS; ) {
			size_t at, alen;
			if (!next_address(p, (size_t)(close - p), 0, &at, &alen))
				break;
			char *a = xstrndup(p + at, alen);
			struct bounce_verdict *v = verdict_add(r);
			char st[16], rp[4];
			find_status(resp, st);
			find_reply(resp, rp);
			verdict_fill(v, a, st[0] ? st : "2.0.0", rp, "delivered", resp,
			    strlen(resp), resp, NULL);
			v->kind = BOUNCE_IGNORE;
			v->reason = "delivered";
			free(a);
			p += at + alen;
			found = 1;
		}
	}
	if (found)
		ses_proof(r, t, end);
	free(t);
	return found;
}

/* Offset of an inline delivery-status block ("Final-Recipient:" at the
 * start of a line) in text that carried no message/delivery-status part,
 * or (size_t)-1. */
size_t
inline_dsn(const char *h, size_t hlen)
{
	for (size_t i = 0; i + 16 < hlen; i++) {
		if (i > 0 && h[i - 1] != '\n')
			continue;
		if (strncasecmp(h + i, "Final-Recipient:", 16) == 0 ||
		    (i + 19 < hlen && strncasecmp(h + i, "Original-Recipient:", 19) == 0)) {
			/* start at the block's first line (Reporting-MTA etc.) */
			size_t b = i;
			while (b > 1 && !(h[b - 1] == '\n' && h[b - 2] == '\n'))
				b--;
			return b;
		}
	}
	return (size_t)-1;
}

/* Hotmail/Outlook.com's JMRP complaints: not ARF, a message/rfc822 of
 * the complained-about mail with X-HmXmrOriginalRecipient. */
int
jmrp_complaint(struct bounce_report *r, GMimeObject *top, GMimeMessage *ret)
{
	const char *orig = g_mime_object_get_header((GMimeObject *)ret,
	    "X-HmXmrOriginalRecipient");
	const char *subj = g_mime_object_get_header(top, "Subject");
	struct bounce_verdict *v;

	if (orig == NULL && !(subj && strcasestr(subj, "complaint about message")))
		return 0;
	v = verdict_add(r);
	v->recipient = orig ? first_address(orig) : xstrdup(r->orig_to);
	v->kind = BOUNCE_COMPLAINT;
	v->reason = "feedback";
	v->action = xstrdup("");
	v->diagnostic = xstrdup("");
	v->feedback = xstrdup("abuse");
	return 1;
}
