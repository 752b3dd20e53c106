/* bounce_int - what the parts of the bounce parser share (not for other modules).
 *
 * bounce_parse.c is the entry point; bounce_scan.c the string, address and
 * status-code scanning every reader uses; bounce_reason.c the wording ->
 * reason table; bounce_mime.c the MIME walk, the returned message and the
 * envelope; bounce_dsn.c the machine-readable reports (RFC 3464, RFC 5965,
 * JMRP, Amazon SES JSON); bounce_prose.c the bounces written in prose;
 * bounce_json.c the report as JSON.
 */
#ifndef BROADSIDE_BOUNCE_INT_H
#define BROADSIDE_BOUNCE_INT_H

#include <stddef.h>

#include <gmime/gmime.h>

#include "bounce_parse.h"
#include "buf.h"

#define TEXT_CAP	(512 * 1024)	/* bytes of text kept per kind */
#define DIAG_CAP	480		/* bytes of diagnostic kept per verdict */
#define MAX_DEPTH	24		/* MIME nesting we follow */
#define MAX_NESTING	200		/* multipart/message headers tolerated */
#define MAX_RCPTS	200		/* verdicts per message */

struct walk {
	buf		 human;		/* text of the report itself */
	buf		 dsn;		/* message/delivery-status */
	buf		 arf;		/* message/feedback-report */
	buf		 rheaders;	/* text/rfc822-headers */
	GMimeMessage	*returned;	/* message/rfc822, first found */
	/* Addresses that are not failed recipients: the report's To and
	 * Delivered-To, the returned message's sender. */
	char		*skip[40];
	size_t		 nskip;
};


/* bounce_dsn.c */
void read_dsn(struct bounce_report *r, const char *dsn, size_t dlen, const char *h, size_t hlen);
void read_arf(struct bounce_report *r, const char *arf, size_t alen);
int read_ses_json(struct bounce_report *r, const char *h, size_t hlen);
size_t inline_dsn(const char *h, size_t hlen);
int jmrp_complaint(struct bounce_report *r, GMimeObject *top, GMimeMessage *ret);

/* bounce_mime.c */
void skip_add(struct walk *w, const char *hval);
void walk(struct walk *w, GMimeObject *obj, int depth);
size_t find_returned(const char *s, size_t len, size_t *mark);
GMimeMessage *parse_headers_text(const char *s, size_t len);
void take_returned(struct bounce_report *r, struct walk *w, GMimeMessage *m);
void take_envelope(struct bounce_report *r, GMimeObject *top);

/* bounce_parse.c */
void env_add(struct bounce_report *r, const char *addr);
struct bounce_verdict *verdict_add(struct bounce_report *r);
void verdict_fill(struct bounce_verdict *v, const char *rcpt, const char *status, const char *reply, const char *action, const char *diagtext, size_t diaglen, const char *classify_text, const char *context);

/* bounce_prose.c */
int bounce_sender(const char *from_addr, const char *from_raw);
int bounce_subject(const char *subj);
int autoreply_headers(GMimeObject *top, const char *subject);
void text_near(const char *h, size_t hlen, const char *addr, const char *next, const char **seg, size_t *seglen);
int has_code_or_reason(const char *s, size_t n);
void text_segment(const char *h, size_t hlen, char **rc, size_t nrc, size_t i, const char **seg, size_t *seglen);
char class_from_words(const char *h);
void text_verdict(struct bounce_report *r, const char *rcpt, const char *seg, size_t seglen, const char *whole, const char *action, const char *status_in);
size_t text_recipients(const struct bounce_report *r, const char *h, size_t hlen, char **skip, size_t nskip, char ***out);
void provider_knowledge(struct bounce_report *r, GMimeObject *top);
void list_manager_refusal(struct bounce_report *r, GMimeObject *top, const char *h, size_t hlen);
void delay_notice(struct bounce_report *r, const char *h, size_t hlen);
void read_prose(struct bounce_report *r, struct walk *w, GMimeObject *top, const char *fromh, const char *h, size_t hlen);

/* bounce_reason.c */
int hard_reason(const char *reason);
enum bounce_kind kind_of(const char *reason, const char *st, int klass);
const char *powermta_reason(const char *cat);
const char *classify(const char *text, const char *context, const char *status, const char *reply, enum bounce_kind *kind);

/* bounce_scan.c */
int is_space(int c);
char *norm_text(const char *s, size_t n);
char *one_line(const char *s, size_t n, size_t cap);
int has(const char *norm, const char *pat);
int has_any(const char *norm, const char *const *pats);
int starts_ci(const char *s, const char *prefix);
int next_address(const char *s, size_t n, size_t from, size_t *at, size_t *alen);
char *first_address(const char *s);
int addr_local_is(const char *addr, const char *local);
int is_system_address(const char *addr);
void find_status(const char *s, char out[16]);
void find_reply(const char *s, char out[4]);

/* Does the normalised text (norm_text) use the words of a failure reason
 * (any rule of the table but the catch-all)? */
int reason_words(const char *norm);
/* Is it classify()'s "filtered" that the words could not settle (a
 * "user unknown" outside RCPT), for provider knowledge to decide? */
int reason_unsure(const char *reason);

#endif
