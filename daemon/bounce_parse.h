/* bounce_parse - reads a returned mail message and says what it means.
 *
 * Input: the bytes of one message as it arrived at the bounce address.
 * Output: a report with one verdict per failed recipient (hard, soft,
 * complaint or ignore, with the enhanced status, SMTP reply code, a reason
 * name and the diagnostic text), plus what identifies the mail it is about:
 * the envelope addresses it was sent to (VERP candidates), the returned
 * message's Message-ID and headers, and an unsubscribe+TOKEN address when
 * the message was a mailto unsubscribe.
 *
 * GMime does the MIME structure (parts, transfer encodings, charsets);
 * this module holds only the bounce knowledge, which no library offers:
 * RFC 3464 delivery status notifications (every recipient block), RFC 5965
 * feedback reports, RFC 3834 auto-replies, and the human-readable bounces
 * of qmail, Exim, Sendmail, Exchange, Office 365, Gmail, Yahoo, Amazon SES
 * and others, whose SMTP reply and enhanced code are read from the text.
 *
 * Pure: no database, no I/O; thread-safe.
 */
#ifndef BROADSIDE_BOUNCE_PARSE_H
#define BROADSIDE_BOUNCE_PARSE_H

#include <stddef.h>

#include "buf.h"
#include "diag.h"

/* What a failed recipient means for the subscriber. */
enum bounce_kind {
	BOUNCE_IGNORE,		/* not a bounce: delayed, delivered, vacation */
	BOUNCE_SOFT,		/* count towards the bounce score */
	BOUNCE_HARD,		/* the address is dead: suppress now */
	BOUNCE_COMPLAINT,	/* spam complaint (ARF): unsubscribe now */
};

/* What kind of message it was. */
enum bounce_format {
	BOUNCE_FMT_NONE,	/* ordinary mail: no verdict */
	BOUNCE_FMT_DSN,		/* RFC 3464 report */
	BOUNCE_FMT_ARF,		/* RFC 5965 feedback report */
	BOUNCE_FMT_AUTOREPLY,	/* RFC 3834 auto-reply, vacation */
	BOUNCE_FMT_TEXT,	/* a bounce in prose: read from the text */
};

struct bounce_verdict {
	enum bounce_kind kind;
	char	*recipient;	/* the failed address, "" when not found */
	char	 status[16];	/* RFC 3463 enhanced status "5.1.1", or "" */
	char	 reply[4];	/* SMTP reply code "550", or "" */
	const char *reason;	/* static: userunknown, mailboxfull, ... */
	char	*action;	/* RFC 3464 Action, "" when none */
	char	*diagnostic;	/* the remote server's words, one line */
	char	*feedback;	/* ARF Feedback-Type, "" when none */
};

struct bounce_report {
	enum bounce_format format;
	struct bounce_verdict *v;
	size_t	 n;
	/* Addresses the message was delivered to (To, Delivered-To,
	 * X-Original-To, Envelope-To, ...) and the Return-Path of the returned
	 * message: where a VERP address of ours may be. */
	char	**envelope;
	size_t	 nenvelope;
	char	*message_id;	/* of the returned message, without <>; "" */
	char	*orig_headers;	/* the returned message's header block; "" */
	char	*orig_to;	/* the returned message's To address; "" */
	char	*from;		/* the report's From address */
	char	*subject;	/* the report's Subject (decoded) */
	/* A mailto unsubscribe (RFC 2369/8058): the message was sent to
	 * unsubscribe+TOKEN@...; both "" otherwise. */
	char	*unsub_address;
	char	*unsub_token;
};

/* Parses one message. -1 with EX_DATAERR when the input is not a mail
 * message at all (empty, no header, nested beyond reason); any message that
 * is mail, however strange, gives a report (possibly with no verdict). */
int	bounce_parse(const void *data, size_t len, struct bounce_report **out, diag *d);
void	bounce_report_free(struct bounce_report *r);

const char *bounce_kind_name(enum bounce_kind k);
const char *bounce_format_name(enum bounce_format f);

/* Classifies a diagnostic text with its status and reply code (either may
 * be ""): the reason name, and whether it is hard. Exposed for tests and
 * for the sender, which reads the same kind of SMTP replies. "User
 * unknown" in words is hard only with an X.1.1 code or when the text says
 * it answered RCPT TO ("(in reply to RCPT TO command)"): a caller that
 * knows the command should say so in the text. */
const char *bounce_reason(const char *text, const char *status, const char *reply,
	    enum bounce_kind *kind);

/* 1 when an enhanced status says by itself that the address is dead
 * (5.1.1, 5.1.2, 5.1.3, 5.1.6, 5.1.10): the one list, which smtp_policy
 * uses for the sender's replies too. */
int	bounce_status_dead(const char *status);

/* The report as one JSON object (for `broadside bounce check`); `file`,
 * when not NULL, is its first member. */
void	bounce_report_json(const struct bounce_report *r, const char *file, buf *out);

#endif
