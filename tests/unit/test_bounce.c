/* test_bounce - bounce_parse details, Mailman scoring over simulated days,
 * hostile input, and bounce_apply against a real database: VERP matching
 * (genuine and forged), hard/soft/complaint effects, queued deliveries
 * dropped, the mailto unsubscribe.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "bounce_apply.h"
#include "bounce_parse.h"
#include "buf.h"
#include "check.h"
#include "config.h"
#include "db.h"
#include "secret.h"
#include "smtp_policy.h"
#include "token.h"
#include "xalloc.h"

#define DAY 86400

static struct bounce_report *
parse(const char *msg, diag *d)
{
	struct bounce_report *r = NULL;
	if (bounce_parse(msg, strlen(msg), &r, d) < 0)
		return NULL;
	return r;
}

/* A Postfix-style DSN to `to` (the VERP address) about `rcpt`. */
static void
dsn(buf *b, const char *to, const char *rcpt, const char *action, const char *status,
    const char *diagtext)
{
	buf_printf(b, "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\n"
	    "To: %s\nSubject: Undelivered Mail Returned to Sender\n"
	    "MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status;"
	    " boundary=\"BB\"\n\n--BB\nContent-Type: text/plain\n\nI'm sorry.\n\n"
	    "--BB\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
	    "Final-Recipient: rfc822; %s\nAction: %s\nStatus: %s\nDiagnostic-Code: smtp; %s\n\n"
	    "--BB\nContent-Type: text/rfc822-headers\n\nFrom: news@example.com\nTo: %s\n"
	    "Message-ID: <m1.x@example.com>\nSubject: Issue 1\n\n--BB--\n",
	    to, rcpt, action, status, diagtext, rcpt);
}

static void
test_parse(void)
{
	diag d = DIAG_INIT;
	buf b = BUF_INIT;
	struct bounce_report *r;
	enum bounce_kind k;

	dsn(&b, "bounces+12.abcdef0123@example.com", "a@example.org", "failed", "5.1.1",
	    "550 5.1.1 <a@example.org>: Recipient address rejected: User unknown");
	r = parse(b.data, &d);
	CHECK(r && r->format == BOUNCE_FMT_DSN && r->n == 1, "DSN: one recipient block");
	if (r && r->n == 1) {
		CHECK(r->v[0].kind == BOUNCE_HARD, "5.1.1 user unknown is hard");
		CHECK_STR(r->v[0].status, "5.1.1", "status read");
		CHECK_STR(r->v[0].reply, "550", "reply code read from Diagnostic-Code");
		CHECK_STR(r->v[0].recipient, "a@example.org", "Final-Recipient read");
		CHECK_STR(r->message_id, "m1.x@example.com", "returned Message-ID read");
		CHECK(r->nenvelope >= 1 && strcmp(r->envelope[0],
		    "bounces+12.abcdef0123@example.com") == 0, "VERP address among the envelope");
	}
	bounce_report_free(r);

	buf_reset(&b);
	dsn(&b, "x@example.com", "a@example.org", "delayed", "4.4.7", "451 try later");
	r = parse(b.data, &d);
	CHECK(r && r->n == 1 && r->v[0].kind == BOUNCE_IGNORE, "Action: delayed is ignored");
	bounce_report_free(r);

	buf_reset(&b);
	dsn(&b, "x@example.com", "a@example.org", "failed", "5.7.1",
	    "550 5.7.1 Message rejected as spam by Content Filtering");
	r = parse(b.data, &d);
	CHECK(r && r->n == 1 && r->v[0].kind == BOUNCE_SOFT, "5.7.1 spam block is soft");
	bounce_report_free(r);

	buf_reset(&b);
	dsn(&b, "x@example.com", "a@example.org", "failed", "5.2.2",
	    "552 5.2.2 Mailbox full");
	r = parse(b.data, &d);
	CHECK(r && r->n == 1 && r->v[0].kind == BOUNCE_SOFT &&
	    strcmp(r->v[0].reason, "mailboxfull") == 0, "5.2.2 mailbox full is soft");
	bounce_report_free(r);

	/* qmail, no report part */
	r = parse("From: MAILER-DAEMON@mx.example.net\nTo: bounces+3.0011223344@example.com\n"
	    "Subject: failure notice\n\nHi. This is the qmail-send program at mx.example.net.\n"
	    "I'm afraid I wasn't able to deliver your message to the following addresses.\n\n"
	    "<c@example.org>:\n192.0.2.1 does not like recipient.\nRemote host said: "
	    "550 5.1.1 No such user\nGiving up on 192.0.2.1.\n\n"
	    "--- Below this line is a copy of the message.\n\nReturn-Path: <bounces+3.0011223344@example.com>\n"
	    "Message-ID: <q.1@example.com>\nTo: c@example.org\n\nhello\n", &d);
	CHECK(r && r->format == BOUNCE_FMT_TEXT && r->n == 1 &&
	    strcmp(r->v[0].recipient, "c@example.org") == 0 && r->v[0].kind == BOUNCE_HARD,
	    "qmail text bounce: recipient and hard verdict from prose");
	CHECK(r && strcmp(r->message_id, "q.1@example.com") == 0,
	    "qmail: Message-ID of the copy below the line");
	bounce_report_free(r);

	/* ARF */
	r = parse("From: fbl@isp.example\nTo: bounces@example.com\nSubject: FW: report\n"
	    "MIME-Version: 1.0\nContent-Type: multipart/report; report-type=feedback-report; "
	    "boundary=\"F\"\n\n--F\nContent-Type: text/plain\n\nA complaint.\n--F\n"
	    "Content-Type: message/feedback-report\n\nFeedback-Type: abuse\nUser-Agent: x/1\n"
	    "Version: 1\nOriginal-Rcpt-To: d@example.org\n\n--F\nContent-Type: message/rfc822\n\n"
	    "From: news@example.com\nTo: d@example.org\nMessage-ID: <f.1@example.com>\n\nhi\n--F--\n", &d);
	CHECK(r && r->format == BOUNCE_FMT_ARF && r->n == 1 && r->v[0].kind == BOUNCE_COMPLAINT &&
	    strcmp(r->v[0].feedback, "abuse") == 0 && strcmp(r->v[0].recipient, "d@example.org") == 0,
	    "ARF abuse report is a complaint for Original-Rcpt-To");
	bounce_report_free(r);

	/* auto-reply */
	r = parse("From: e@example.org\nTo: news@example.com\nSubject: Out of office\n"
	    "Auto-Submitted: auto-replied\n\nI am away until Monday.\n", &d);
	CHECK(r && r->format == BOUNCE_FMT_AUTOREPLY && r->n == 1 &&
	    r->v[0].kind == BOUNCE_IGNORE, "vacation reply is ignored");
	bounce_report_free(r);

	/* ordinary mail */
	r = parse("From: f@example.org\nTo: news@example.com\nSubject: Great issue\n\n"
	    "Loved it, thanks!\n", &d);
	CHECK(r && r->format == BOUNCE_FMT_NONE && r->n == 0, "ordinary mail: no verdict");
	bounce_report_free(r);

	/* mailto unsubscribe */
	r = parse("From: g@example.org\nTo: unsubscribe+5.AbCd_-x@example.com\n"
	    "Subject: unsubscribe\n\nunsubscribe\n", &d);
	CHECK(r && strcmp(r->unsub_token, "5.AbCd_-x") == 0 &&
	    strcmp(r->unsub_address, "unsubscribe+5.AbCd_-x@example.com") == 0,
	    "unsubscribe+TOKEN@ address exposed");
	bounce_report_free(r);

	CHECK(strcmp(bounce_reason("550 5.1.1 User unknown", "5.1.1", "550", &k), "userunknown")
	    == 0 && k == BOUNCE_HARD, "bounce_reason: 5.1.1");
	CHECK(bounce_reason("421 4.7.0 Try again later", "4.7.0", "421", &k) && k == BOUNCE_SOFT,
	    "bounce_reason: 4.x.x soft");
	/* An mbox of two reports: both read. */
	buf_reset(&b);
	buf_puts(&b, "From MAILER-DAEMON Thu Apr 29 23:34:45 2015\n");
	dsn(&b, "n@example.com", "a@example.org", "failed", "5.1.1", "550 5.1.1 User unknown");
	buf_puts(&b, "\nFrom MAILER-DAEMON Thu Apr 29 23:35:45 2015\n");
	dsn(&b, "n@example.com", "b@example.org", "failed", "5.2.2", "552 5.2.2 Mailbox full");
	r = parse(b.data, &d);
	CHECK(r && r->n == 2 && r->v[0].kind == BOUNCE_HARD && r->v[1].kind == BOUNCE_SOFT &&
	    strcmp(r->v[1].recipient, "b@example.org") == 0, "mbox of two reports: both read");
	bounce_report_free(r);

	/* A bounce quoting the returned mail with its "From " line is one
	 * message, not an mbox of two. */
	r = parse("From MAILER-DAEMON Sat Oct  4 08:00:09 2025\nFrom: postmaster@example.de\n"
	    "To: n@example.com\nSubject: email bounce notification\n\n"
	    "reject reason: Mailbox full\ntarget mail address: a@example.org\n\nbounced E-Mail:\n\n"
	    "From n@example.com  Sat Oct  4 08:00:07 2025\nFrom: n@example.com\n"
	    "To: a@example.org\nMessage-ID: <i9.x@example.com>\nSubject: Issue 9\n\nHello\n", &d);
	CHECK(r && r->n == 1 && strcmp(r->v[0].recipient, "a@example.org") == 0 &&
	    r->v[0].kind == BOUNCE_SOFT && strcmp(r->message_id, "i9.x@example.com") == 0,
	    "quoted From_ line inside a bounce: one message, the returned Message-ID found");
	bounce_report_free(r);

	/* A DSN without Diagnostic-Code: each recipient's own lines. */
	r = parse("From: MAILER-DAEMON@mx.example.net\nTo: n@example.com\n"
	    "Subject: Delivery status notification\nMIME-Version: 1.0\n"
	    "Content-Type: multipart/report; report-type=delivery-status; boundary=\"BB\"\n\n"
	    "--BB\nContent-Type: text/plain\n\n"
	    "a@example.org: 550 5.1.1 <a@example.org>: Recipient address rejected: User unknown\n"
	    "b@example.org: 552 5.2.2 <b@example.org>: Recipient address rejected: Mailbox full\n\n"
	    "--BB\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
	    "Final-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.0.0\n\n"
	    "Final-Recipient: rfc822; b@example.org\nAction: failed\nStatus: 5.0.0\n\n--BB--\n", &d);
	CHECK(r && r->n == 2 && r->v[0].kind == BOUNCE_HARD && strcmp(r->v[0].status, "5.1.1") == 0 &&
	    r->v[1].kind == BOUNCE_SOFT && strcmp(r->v[1].reason, "mailboxfull") == 0,
	    "DSN without diagnostics: each recipient's line, its code over 5.0.0");
	bounce_report_free(r);

	/* A local delivery program's exit (X-Unix) and an Amazon SES receipt
	 * rule's preset answer are no dead address, whatever their words. */
	{
		static const char *const rmta[] = { "mx.example.net",
		    "inbound-smtp.us-west-2.amazonaws.com", "mx.example.net" };
		static const char *const dtype[] = { "x-unix; procmail: No such user",
		    "smtp; 550 5.1.1 Mailbox does not exist",
		    "smtp; 550 5.1.1 Mailbox does not exist" };
		static const int hard[] = { 0, 0, 1 };
		for (int i = 0; i < 3; i++) {
			buf_reset(&b);
			buf_printf(&b, "From: MAILER-DAEMON@mx.example.net\nTo: n@example.com\n"
			    "Subject: Undelivered Mail\nMIME-Version: 1.0\nContent-Type: "
			    "multipart/report; report-type=delivery-status; boundary=\"BB\"\n\n"
			    "--BB\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; %s\n\n"
			    "Final-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.1.1\n"
			    "Diagnostic-Code: %s\n\n--BB--\n", rmta[i], dtype[i]);
			r = parse(b.data, &d);
			CHECK(r && r->n == 1 && (r->v[0].kind == BOUNCE_HARD) == hard[i],
			    "5.1.1 from %s, %s: %s", rmta[i], dtype[i], hard[i] ? "hard" : "soft");
			bounce_report_free(r);
		}
	}

	/* fml refuses a post from a non-member: soft, for the list address. */
	r = parse("From: neko-admin@example.org\nTo: news@example.com\n"
	    "Subject: You news@example.com are not member (neko ML)\n"
	    "X-MLServer: fml [fml 4.0.3 release (20011202/4.0.3)]\n\n"
	    "You are not a member of this mailing list <neko@example.org>.\n", &d);
	CHECK(r && r->n == 1 && r->v[0].kind == BOUNCE_SOFT &&
	    strcmp(r->v[0].recipient, "neko@example.org") == 0,
	    "fml non-member refusal: soft for the list address");
	bounce_report_free(r);
	r = parse("From: neko-admin@example.org\nTo: news@example.com\nSubject: Issue 4\n"
	    "X-MLServer: fml [fml 4.0.3 release (20011202/4.0.3)]\n\nA list post.\n", &d);
	CHECK(r && r->n == 0, "fml list post: no verdict");
	bounce_report_free(r);

	/* "User unknown" in words needs RCPT TO (or an X.1.1 code) to be a
	 * dead address; a provider's fixed wording decides either way. */
	CHECK(strcmp(bounce_reason("550 User unknown (in reply to RCPT TO command)", "5.0.0",
	    "550", &k), "userunknown") == 0 && k == BOUNCE_HARD,
	    "bounce_reason: user unknown at RCPT TO is hard");
	CHECK(strcmp(bounce_reason("550 User unknown", "5.0.0", "550", &k), "filtered") == 0 &&
	    k == BOUNCE_SOFT, "bounce_reason: user unknown, command not known: filtered, soft");
	CHECK(strcmp(bounce_reason("550 Unknown user (in reply to end of DATA command)", "5.0.0",
	    "550", &k), "filtered") == 0 && k == BOUNCE_SOFT,
	    "bounce_reason: user unknown after DATA: filtered, soft");
	CHECK(strcmp(bounce_reason("550 : User unknown (in reply to RCPT TO command)", "5.0.0",
	    "550", &k), "filtered") == 0 && k == BOUNCE_SOFT,
	    "bounce_reason: au's reception filter (550 : User unknown) is soft");
	CHECK(strcmp(bounce_reason("554 delivery error: dd This user doesn't have a yahoo.com "
	    "account (x@yahoo.com) [0]", "5.0.0", "554", &k), "userunknown") == 0 &&
	    k == BOUNCE_HARD, "bounce_reason: Yahoo's unknown user after DATA is hard");
	CHECK(strcmp(bounce_reason("550 5.5.0 Adresse destinataire invalide. Invalid recipient. "
	    "LPN007_416", "5.5.0", "550", &k), "userunknown") == 0 && k == BOUNCE_HARD,
	    "bounce_reason: La Poste's invalid recipient is hard");
	CHECK(strcmp(bounce_reason("an MX or SRV record indicated no SMTP service", "5.0.0", "", &k),
	    "notaccept") == 0 && k == BOUNCE_HARD, "bounce_reason: null MX (Exim) is hard");
	CHECK(strcmp(bounce_reason("mail.local: unknown user: kijitora", "5.0.0", "", &k),
	    "userunknown") == 0 && k == BOUNCE_HARD,
	    "bounce_reason: local delivery agent's unknown user is hard");
	CHECK(strcmp(bounce_reason("550 5.7.1 <a@example.org>: Recipient address rejected: "
	    "User unknown (in reply to RCPT TO command)", "5.7.1", "550", &k), "userunknown") == 0 &&
	    k == BOUNCE_SOFT, "bounce_reason: a 5.7.x code never suppresses");

	/* JSON */
	buf_reset(&b);
	r = parse("From: MAILER-DAEMON@x.example\nTo: a@example.com\nSubject: Undeliverable\n\n"
	    "<q\"x@example.org>: 550 5.1.1 user \"unknown\"\n", &d);
	if (r) {
		bounce_report_json(r, "f.eml", &b);
		CHECK(strstr(b.data, "\"file\":\"f.eml\"") != NULL && strstr(b.data, "\\\"unknown\\\""),
		    "JSON output escapes quotes");
	} else
		CHECK(0, "JSON output (parse failed: %s)", d.msg);
	bounce_report_free(r);
	buf_free(&b);
}

static void
test_scoring(void)
{
	struct bounce_score_rules rules = { 5, DAY, 7 * DAY };
	int64_t score = 0, last = 0, at, t0 = 1700000000;
	int reached = 0, day;

	/* One bounce a day: bounced on the 5th day. */
	for (day = 0; day < 10; day++) {
		score = bounce_score_next(&rules, score, last, t0 + day * DAY, &at, &reached);
		last = at;
		if (reached)
			break;
	}
	CHECK(reached && day == 4 && score == 5, "daily soft bounces reach 5 on day 5 (day %d)", day + 1);

	/* Many bounces on one day count once. */
	score = 0, last = 0;
	for (int i = 0; i < 20; i++) {
		score = bounce_score_next(&rules, score, last, t0 + i * 60, &at, &reached);
		last = at;
	}
	CHECK(score == 1 && !reached, "20 bounces within a day count 1 (score %lld)", (long long)score);

	/* A score older than 7 days starts over. */
	score = bounce_score_next(&rules, 4, t0, t0 + 8 * DAY, &at, &reached);
	CHECK(score == 1 && at == t0 + 8 * DAY && !reached, "stale score of 4 restarts at 1");
	score = bounce_score_next(&rules, 4, t0, t0 + 6 * DAY, &at, &reached);
	CHECK(score == 5 && reached, "score of 4 within 7 days reaches 5");

	/* Every 3 days: 1,2,3,4,5 on days 0,3,6,9,12 */
	score = 0, last = 0;
	for (day = 0; day <= 12; day += 3) {
		score = bounce_score_next(&rules, score, last, t0 + day * DAY, &at, &reached);
		last = at;
	}
	CHECK(score == 5 && reached, "a bounce every 3 days reaches 5 after 12 days");

	/* Every 8 days: never more than 1 */
	score = 0, last = 0;
	for (day = 0; day <= 80; day += 8) {
		score = bounce_score_next(&rules, score, last, t0 + day * DAY, &at, &reached);
		last = at;
	}
	CHECK(score == 1 && !reached, "a bounce every 8 days never builds up");

	/* Configurable: threshold 2, interval 1h */
	struct bounce_score_rules fast = { 2, 3600, DAY };
	score = bounce_score_next(&fast, 0, 0, t0, &at, &reached);
	score = bounce_score_next(&fast, score, at, t0 + 3600, &at, &reached);
	CHECK(score == 2 && reached, "threshold 2 and 1h interval reached in an hour");
}

static void
test_hostile(void)
{
	diag d = DIAG_INIT;
	struct bounce_report *r = NULL;
	buf b = BUF_INIT;
	int rc;

	rc = bounce_parse("", 0, &r, &d);
	CHECK(rc < 0 && d.code == EX_DATAERR && strstr(d.msg, "empty"), "empty input: EX_DATAERR");
	d.code = 0;
	rc = bounce_parse("\x01\x02garbage without header", 24, &r, &d);
	CHECK(rc < 0 && d.code == EX_DATAERR, "no header: EX_DATAERR (%s)", d.msg);

	/* truncated MIME: boundary never closed, part cut mid-header */
	d.code = 0;
	r = parse("From: MAILER-DAEMON@x.example\nTo: a@example.com\nSubject: Undelivered\n"
	    "Content-Type: multipart/report; boundary=\"Z\"\n\n--Z\nContent-Type: message/delivery-status\n\n"
	    "Final-Recipient: rfc822; t@example.org\nAction: failed\nStatus: 5.1.1\nDiagn", &d);
	CHECK(r && r->n == 1 && r->v[0].kind == BOUNCE_HARD, "truncated MIME still read");
	bounce_report_free(r);

	/* NUL bytes in header and body */
	{
		static const char m[] = "From: MAILER-DAEMON@x.example\nTo: a@exa\0mple.com\n"
		    "Subject: failure notice\n\n<u@example.org>:\n550 5.1.1 \0no such user\0\n";
		rc = bounce_parse(m, sizeof m - 1, &r, &d);
		CHECK(rc == 0 && r != NULL, "NUL bytes: parsed, no crash");
		bounce_report_free(r);
	}

	/* bad base64 */
	r = parse("From: MAILER-DAEMON@x.example\nTo: a@example.com\nSubject: Undelivered\n"
	    "Content-Type: multipart/report; boundary=\"Z\"\n\n--Z\nContent-Type: message/delivery-status\n"
	    "Content-Transfer-Encoding: base64\n\n!!!!****%%%%====////\x80\x81\n--Z--\n", &d);
	CHECK(r != NULL, "bad base64: no crash");
	bounce_report_free(r);

	/* deep nesting beyond what is followed */
	buf_puts(&b, "From: MAILER-DAEMON@x.example\nTo: a@example.com\nSubject: Undelivered\n");
	for (int i = 0; i < 5000; i++)
		buf_printf(&b, "Content-Type: multipart/mixed; boundary=\"b%d\"\n\n--b%d\n", i, i);
	buf_puts(&b, "Content-Type: text/plain\n\nhi\n");
	d.code = 0;
	rc = bounce_parse(b.data, b.len, &r, &d);
	CHECK(rc < 0 && d.code == EX_DATAERR && strstr(d.msg, "nested"),
	    "5000 nested multiparts refused: %s", d.msg);
	buf_reset(&b);
	buf_puts(&b, "From: MAILER-DAEMON@x.example\nTo: a@example.com\nSubject: Undelivered\n");
	for (int i = 0; i < 150; i++)
		buf_printf(&b, "Content-Type: multipart/mixed; boundary=\"b%d\"\n\n--b%d\n", i, i);
	buf_puts(&b, "Content-Type: text/plain\n\n<v@example.org>: 550 5.1.1 unknown\n");
	rc = bounce_parse(b.data, b.len, &r, &d);
	CHECK(rc == 0, "150 nested multiparts parsed");
	bounce_report_free(r);

	/* a 10 MB message */
	buf_reset(&b);
	buf_puts(&b, "From: MAILER-DAEMON@x.example\nTo: a@example.com\nSubject: Undelivered\n\n"
	    "<w@example.org>: 550 5.1.1 user unknown\n\n");
	while (b.len < 10 * 1024 * 1024)
		buf_puts(&b, "filler filler filler filler filler filler filler filler filler x@y.z\n");
	rc = bounce_parse(b.data, b.len, &r, &d);
	CHECK(rc == 0 && r && r->n >= 1 && strcmp(r->v[0].recipient, "w@example.org") == 0,
	    "10 MB message parsed");
	bounce_report_free(r);
	buf_free(&b);
}

/* ---- apply, against a real database */

static int64_t
ins(struct db *db, const char *sql)
{
	diag d = DIAG_INIT;
	if (db_exec(db, sql, &d) < 0) {
		printf("# %s: %s\n", sql, d.msg);
		return -1;
	}
	return sqlite3_last_insert_rowid(db_handle(db));
}

static const char *
one(struct db *db, const char *sql)
{
	static char out[256];
	sqlite3_stmt *st;

	out[0] = '\0';
	if (sqlite3_prepare_v2(db_handle(db), sql, -1, &st, NULL) != SQLITE_OK)
		return "(bad sql)";
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(out, sizeof out, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return out;
}

static int
apply_text(struct db *db, struct config *cfg, const char *msg, int64_t now,
    struct bounce_outcome *oc)
{
	struct bounce_report *r;
	diag d = DIAG_INIT;
	int rc;

	if (bounce_parse(msg, strlen(msg), &r, &d) < 0) {
		printf("# parse: %s\n", d.msg);
		return -1;
	}
	rc = bounce_apply(db, cfg, r, now, oc, &d);
	if (rc < 0)
		printf("# apply: %s\n", d.msg);
	bounce_report_free(r);
	return rc;
}

static void
test_apply(void)
{
	char dir[] = "/tmp/broadside-bounce.XXXXXX";
	char dbpath[256], keypath[256], q[512];
	struct config cfg;
	struct db *db;
	struct secret sec;
	diag d = DIAG_INIT;
	struct bounce_outcome oc;
	buf verp = BUF_INIT, msg = BUF_INIT;
	int created;
	int64_t t0 = 1700000000;

	if (mkdtemp(dir) == NULL) {
		CHECK(0, "temp dir");
		return;
	}
	snprintf(dbpath, sizeof dbpath, "%s/b.db", dir);
	snprintf(keypath, sizeof keypath, "%s/b.key", dir);
	config_defaults(&cfg);
	free(cfg.key_file);
	cfg.key_file = xstrdup(keypath);
	CHECK(db_open(dbpath, DB_OPEN_CREATE, &db, &d) == 0, "database created");
	CHECK(secret_init(keypath, &created, &d) == 0 && secret_load(keypath, &sec, &d) == 0,
	    "key file");
	ins(db, "INSERT INTO subscribers (email, email_key, created_at, updated_at) VALUES "
	    "('hard@example.org', 'hard@example.org', 1, 1), "
	    "('soft@example.org', 'soft@example.org', 1, 1), "
	    "('fbl@example.org', 'fbl@example.org', 1, 1), "
	    "('plain@example.org', 'plain@example.org', 1, 1)");
	ins(db, "INSERT INTO issues (subject, source, created_at, updated_at) VALUES "
	    "('one', 'x', 1, 1), ('two', 'y', 1, 1)");
	/* issue 1 sent to all, issue 2 still queued for all */
	ins(db, "INSERT INTO deliveries (issue_id, subscriber_id, state, message_id, created_at, "
	    "updated_at) VALUES (1, 1, 'sent', '<d1@example.com>', 1, 1), (1, 2, 'sent', '<d2@example.com>', 1, 1), "
	    "(1, 3, 'sent', '<d3@example.com>', 1, 1), (1, 4, 'sent', '<d4@example.com>', 1, 1), "
	    "(2, 1, 'queued', NULL, 1, 1), (2, 2, 'queued', NULL, 1, 1), "
	    "(2, 3, 'queued', NULL, 1, 1), (2, 4, 'queued', NULL, 1, 1)");

	/* hard, by VERP */
	token_verp_make(&sec, cfg.bounces.address, 1, &verp);
	dsn(&msg, buf_cstr(&verp), "hard@example.org", "failed", "5.1.1", "550 5.1.1 User unknown");
	CHECK(apply_text(db, &cfg, msg.data, t0, &oc) == 0 && oc.recorded == 1,
	    "hard bounce applied: %s", oc.summary);
	CHECK_STR(one(db, "SELECT status FROM subscribers WHERE id = 1"), "bounced",
	    "hard bounce: subscriber bounced at once");
	CHECK_STR(one(db, "SELECT state FROM deliveries WHERE id = 1"), "bounced",
	    "hard bounce: delivery marked bounced");
	CHECK_STR(one(db, "SELECT state FROM deliveries WHERE id = 5"), "dropped",
	    "hard bounce: queued delivery of issue 2 dropped");
	CHECK_STR(one(db, "SELECT kind || ' ' || status || ' ' || reason FROM bounces WHERE delivery_id = 1"),
	    "hard 5.1.1 userunknown", "bounces row recorded");
	CHECK(atoi(one(db, "SELECT count(*) FROM events WHERE kind = 'subscriber' AND ref_id = 1")) >= 2,
	    "events recorded for the hard bounce");

	/* forged VERP: same shape, wrong MAC */
	buf_reset(&msg);
	dsn(&msg, "bounces+4.0000000000@example.com", "plain@example.org", "failed", "5.1.1",
	    "550 5.1.1 User unknown");
	CHECK(apply_text(db, &cfg, msg.data, t0, &oc) == 0 && oc.ignored && oc.recorded == 0,
	    "forged VERP ignored: %s", oc.summary);
	CHECK_STR(one(db, "SELECT status FROM subscribers WHERE id = 4"), "active",
	    "forged VERP changes nothing");

	/* soft, by VERP, over simulated days */
	buf_reset(&verp);
	token_verp_make(&sec, cfg.bounces.address, 2, &verp);
	buf_reset(&msg);
	dsn(&msg, buf_cstr(&verp), "soft@example.org", "failed", "5.2.2", "552 5.2.2 Mailbox full");
	for (int day = 0; day < 4; day++) {
		apply_text(db, &cfg, msg.data, t0 + day * DAY, &oc);
		apply_text(db, &cfg, msg.data, t0 + day * DAY + 3600, &oc);	/* same day */
	}
	CHECK_STR(one(db, "SELECT bounce_score || ' ' || status FROM subscribers WHERE id = 2"),
	    "4 active", "4 days of mailbox-full: score 4, still active");
	CHECK_STR(one(db, "SELECT state FROM deliveries WHERE id = 6"), "queued",
	    "soft bounces below the threshold keep queued mail");
	apply_text(db, &cfg, msg.data, t0 + 4 * DAY, &oc);
	CHECK_STR(one(db, "SELECT bounce_score || ' ' || status FROM subscribers WHERE id = 2"),
	    "5 bounced", "5th day: score 5, bounced");
	CHECK_STR(one(db, "SELECT state FROM deliveries WHERE id = 6"), "dropped",
	    "threshold reached: queued mail dropped");

	/* complaint, no VERP: only our MAC-bearing Message-ID proves it. An
	 * address, a Message-ID without MAC or with a wrong one: unverified. */
#define ARF(mid) "From: fbl@isp.example\nTo: abuse@example.com\nSubject: report\n" \
	    "MIME-Version: 1.0\nContent-Type: multipart/report; report-type=feedback-report; " \
	    "boundary=\"F\"\n\n--F\nContent-Type: text/plain\n\nA complaint.\n--F\n" \
	    "Content-Type: message/feedback-report\n\nFeedback-Type: abuse\n" \
	    "Original-Rcpt-To: fbl@example.org\n\n--F\nContent-Type: message/rfc822\n\n" \
	    "From: news@example.com\nTo: fbl@example.org\nMessage-ID: <%s@example.com>\n\nhi\n--F--\n"
	{
		char mid[TOKEN_MAX], bad[TOKEN_MAX];
		const char *forged[] = { "d3", "3.0123456789abcdef", NULL, NULL };

		token_msgid_make(&sec, 3, 3, 0x123456, mid);
		token_msgid_make(&sec, 3, 2, 0x123456, bad);	/* another subscriber's MAC */
		forged[2] = bad;
		for (int i = 0; forged[i]; i++) {
			buf_reset(&msg);
			buf_printf(&msg, ARF(%s), forged[i]);
			CHECK(apply_text(db, &cfg, msg.data, t0, &oc) == 0 && oc.suppressed == 0 &&
			    oc.recorded == 0 && oc.unverified == 1, "complaint with Message-ID %s "
			    "unverified: %s", forged[i], oc.summary);
			CHECK_STR(one(db, "SELECT status FROM subscribers WHERE id = 3"), "active",
			    "forged complaint changes nothing");
		}
		CHECK_STR(one(db, "SELECT count(*) FROM events WHERE event = 'bounce-unverified' "
		    "AND detail LIKE 'arf complaint%'"), "3", "each unverified complaint is an event");
		buf_reset(&msg);
		buf_printf(&msg, ARF(%s), mid);
		CHECK(apply_text(db, &cfg, msg.data, t0, &oc) == 0 && oc.suppressed == 1 &&
		    oc.proof == PROOF_MESSAGE_ID, "complaint applied: %s", oc.summary);
	}
	CHECK_STR(one(db, "SELECT status FROM subscribers WHERE id = 3"), "complained",
	    "complaint: subscriber complained");
	CHECK_STR(one(db, "SELECT state FROM deliveries WHERE id = 7"), "dropped",
	    "complaint: queued delivery dropped");

	/* a policy block never suppresses */
	buf_reset(&msg);
	dsn(&msg, "someone@example.com", "plain@example.org", "failed", "5.7.1",
	    "550 5.7.1 Service unavailable; client host blocked using Spamhaus");
	for (int day = 0; day < 10; day++)
		apply_text(db, &cfg, msg.data, t0 + day * 3600, &oc);
	CHECK_STR(one(db, "SELECT status FROM subscribers WHERE id = 4"), "active",
	    "5.7.1 blocks within a day leave the subscriber active");

	/* unknown recipient: unverified, nobody changed */
	buf_reset(&msg);
	dsn(&msg, "someone@example.com", "stranger@example.org", "failed", "5.1.1", "550 5.1.1 unknown");
	CHECK(apply_text(db, &cfg, msg.data, t0, &oc) == 0 && oc.unverified == 1 &&
	    oc.recorded == 0 && oc.suppressed == 0,
	    "bounce for a stranger: unverified: %s", oc.summary);

	/* a subscriber's address alone proves nothing */
	buf_reset(&msg);
	dsn(&msg, "bounces@example.com", "plain@example.org", "failed", "5.1.1", "550 5.1.1 unknown");
	CHECK(apply_text(db, &cfg, msg.data, t0, &oc) == 0 && oc.unverified == 1 &&
	    oc.recorded == 0 && oc.suppressed == 0,
	    "address-only hard bounce: unverified: %s", oc.summary);
	CHECK_STR(one(db, "SELECT status || ' ' || bounce_score FROM subscribers WHERE id = 4"),
	    "active 0", "address-only hard bounce changes nothing");

	/* vacation: nothing written */
	snprintf(q, sizeof q, "%s", one(db, "SELECT count(*) FROM events"));
	CHECK(apply_text(db, &cfg, "From: plain@example.org\nTo: news@example.com\n"
	    "Subject: Out of office\nAuto-Submitted: auto-replied\n\nAway.\n", t0, &oc) == 0 &&
	    oc.ignored, "auto-reply ignored");
	CHECK_STR(one(db, "SELECT count(*) FROM events"), q, "auto-reply writes nothing");

	/* mailto unsubscribe: genuine, then forged */
	{
		char tok[TOKEN_MAX];
		token_unsub_make(&sec, cfg.list.id, 4, tok);
		buf_reset(&msg);
		buf_printf(&msg, "From: plain@example.org\nTo: unsubscribe+%s@example.com\n"
		    "Subject: unsubscribe\n\n", tok);
		apply_text(db, &cfg, "From: x@example.org\nTo: unsubscribe+4.forgedforgedforged@example.com\n"
		    "Subject: unsubscribe\n\n", t0, &oc);
		CHECK_STR(one(db, "SELECT status FROM subscribers WHERE id = 4"), "active",
		    "forged unsubscribe token changes nothing");
		CHECK(apply_text(db, &cfg, msg.data, t0, &oc) == 0, "mailto unsubscribe: %s", oc.summary);
		CHECK_STR(one(db, "SELECT status FROM subscribers WHERE id = 4"), "unsubscribed",
		    "mailto unsubscribe+TOKEN@ unsubscribes");
	}

	db_close(db);
	config_free(&cfg);
	buf_free(&verp);
	buf_free(&msg);
	snprintf(q, sizeof q, "rm -rf '%s'", dir);
	if (system(q) != 0)
		printf("# could not remove %s\n", dir);
}

/* One list of dead-address codes for the sender's replies and for bounces. */
static void
test_dead_codes(void)
{
	const char *dead[] = { "5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10" };
	const char *alive[] = { "5.1.7", "5.1.8", "5.1.0", "5.7.1", "4.1.1", "5.1.11", "" };

	for (size_t i = 0; i < sizeof dead / sizeof dead[0]; i++)
		CHECK(bounce_status_dead(dead[i]) && smtp_policy_dead_address(dead[i]),
		    "%s is a dead address for bounces and the sender alike", dead[i]);
	for (size_t i = 0; i < sizeof alive / sizeof alive[0]; i++)
		CHECK(!bounce_status_dead(alive[i]) && !smtp_policy_dead_address(alive[i]),
		    "'%s' is not (5.1.7/5.1.8 are the sender's own address)", alive[i]);
}

int
main(void)
{
	test_dead_codes();
	test_parse();
	test_scoring();
	test_hostile();
	test_apply();
	return check_exit();
}
