/* bounce_reason - the wording -> reason table: what a failure's words and codes mean. */
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
 * Reasons: wording first, then the status code
 */

struct reason_rule {
	const char		*reason;
	const char *const	*pats;
};

static const char *const p_mailboxfull[] = {
	"mailbox full", "mailbox is full", "mailbox is over quota", "over quota",
	"overquota", "quota exceeded", "exceeded quota", "exceeds quota",
	"quota exceed", "is over the quota", "over the allowed quota",
	"mailbox size limit exceeded", "mail box full", "mailbox has exceeded",
	"mailbox exceeded", "not enough storage", "disk quota",
	"mailfolder is full", "account is full", "user's mailbox is full",
	"mailbox would exceed", "would exceed mailbox quota",
	"insufficient system storage for user", "too much mail data",
	"exceeded storage allocation", "exceeded its storage", "mailbox is full",
	"user is over quota", "the user has exceeded", "no space left for user",
	"recipient's mailbox is full", "mailbox full", "full mailbox",
	"is over its quota", "has exceeded their quota", "quota full",
	"out of storage", "exceeds the size limit of the mailbox", NULL };
static const char *const p_mesgtoobig[] = {
	"message too large", "message too big", "message is too large",
	"message is too big", "message size exceeds", "message exceeds",
	"exceeds size limit", "size limit exceeded", "message size limit",
	"exceeded maximum message size", "exceeds the maximum message size",
	"message length exceeds", "mail size limit", "too large for this",
	"message file too big", "size exceeds maximum", NULL };
static const char *const p_exceedlimit[] = {
	"message header size exceeds limit", "too many recipients",
	"message header too long", NULL };
static const char *const p_rejected[] = {
	"sender address rejected", "domain of sender address", "sender domain",
	"sender verify failed", "sender rejected", "after mail from",
	"in reply to mail from", "envelope sender", "sender address is not",
	"invalid sender", "sender is not allowed", "unverified address",
	"sender address must exist", "sender does not exist",
	"you may not have permission to post", NULL };
static const char *const p_data_phase[] = {
	"in reply to end of data", "in reply to data", "after end of data",
	"after data", "smtp command data", "during data",
	"in reply to the end of data", NULL };
static const char *const p_networkerror_strong[] = {
	"host not found, try again", "malformed or unexpected name server reply",
	NULL };
static const char *const p_networkerror[] = {
	"name service error", "connection reset", "remote protocol error",
	"lost connection", "connection timed out", "network error",
	"no route to host", NULL };
static const char *const p_blocked_strong[] = {
	"my name was rejected", "blacklisted", "spamhaus", "listed at",
	"blocked using", "rbl", "dnsbl", "poor reputation", "spam",
	"not accepting connections", NULL };
static const char *const p_suspend[] = {
	"account disabled", "account has been disabled", "account is disabled",
	"mailbox disabled", "mailbox has been disabled", "mailbox is disabled",
	"account is inactive", "account inactive", "inactive account",
	"mailbox is inactive", "mailbox inactive", "is not active",
	"account has been suspended", "account suspended", "account is suspended",
	"mailbox is suspended", "mailbox suspended", "account is locked",
	"account has been locked", "account expired", "account has expired",
	"temporarily disabled", "blocked for abuse", "recipient suspended",
	"recipient is suspended", "mailbox unavailable or access denied",
	"mailbox currently suspended", "mailbox is frozen", "is frozen",
	"account has been frozen", "deactivated", "disabled recipient",
	"user suspended", "this mailbox is disabled", "temporary locked",
	"temporarily locked", NULL };
static const char *const p_hasmoved[] = {
	"has been replaced by", "address has moved", "has moved to",
	"user has moved", "no longer at this address", NULL };
static const char *const p_notaccept[] = {
	"does not accept mail", "does not accept e-mail", "accepts no mail",
	"null mx", "mail is not accepted", "not accepting mail",
	"domain does not receive email", "refuses all mail",
	"does not receive mail",
	/* Exim for a null MX (RFC 7505) */
	"indicated no smtp service", NULL };
static const char *const p_hostunknown[] = {
	"host unknown", "unknown host", "host not found", "domain not found",
	"no such domain", "domain does not exist", "unrouteable mail domain",
	"host or domain name not found", "name or service not known",
	"unknown domain", "domain name not found", "no mx record",
	"all relevant mx records point to non-existent hosts",
	/* qmail: no MX or A record; Exim: no router could route the domain;
	 * Outlook.com: the domain cannot be reached */
	"couldn't find a mail exchanger", "unrouteable address",
	"dns lookup failure",
	"domain is not reachable",
	"domain is not valid", "invalid domain", "illegal host/domain",
	"nonexistent domain", "non-existent domain", "no valid mx",
	"no such host", "host name lookup failure", "recipient domain not found",
	"unable to resolve", "dns error: domain", "domain could not be found",
	"not a valid domain", "unknown mail domain", "domain name lookup failed",
	"unrouteable domain", "domain of the recipient address does not exist",
	NULL };
static const char *const p_userunknown[] = {
	"user unknown", "unknown user", "no such user", "no such mailbox",
	"mailbox not found", "user not found", "does not exist",
	"doesn't exist", "doesn't have a", "invalid recipient", "invalid mailbox",
	"unknown recipient", "recipient unknown", "recipient not found",
	"recipient address rejected: user", "no mailbox here by that name",
	"unknown address", "address unknown", "no such recipient",
	"not a valid mailbox", "unknown local part",
	"is not a valid user", "user doesn't exist", "bad destination mailbox",
	"mailbox unavailable", "mailbox does not exist", "no such account",
	"account does not exist", "address does not exist", "invalid address",
	"user invalid", "invalid user", "addressee unknown", "unknown or illegal alias",
	"no mailbox", "not our customer", "user is unknown", "unknown account",
	"undeliverable address",
	"not found in directory", "not listed in", "no account by that name",
	"account not found", "mailbox not available", "mailbox is unavailable",
	"recipient is not", "no user with that name", "user not exist",
	"unknown mailbox", "mailbox unknown", "recipient no longer",
	"destination mailbox address invalid", "no longer valid",
	"not a known user", "name is not recognized", "the email account that you tried to reach does not exist",
	"we do not relay", "invalid-recipient", "user does not exist",
	"address is not valid", "this user doesn't", "not a valid recipient",
	"no such person", "nosuchuser", "sorry, no mailbox", "unknown or illegal user",
	"no valid recipients", "user address required", "mailbox name not allowed",
	"mailbox unavailable", "unknown e-mail address", "email address could not be found",
	"address couldn't be found", "address not found",
	"not known here", "no such local user", "user_unknown", "no such user here",
	"there is no one at this address", "not exist",
	"recipient address rejected: access denied", "invalid final delivery userid",
	/* Lotus Domino/Notes in Japanese: "not found in the directory" */
	"\xe3\x83\x87\xe3\x82\xa3\xe3\x83\xac\xe3\x82\xaf\xe3\x83\x88\xe3\x83\xaa\xe3\x81\xab\xe3\x81\xaf\xe8\xa6\x8b\xe3\x81\xa4\xe3\x81\x8b\xe3\x82\x8a\xe3\x81\xbe\xe3\x81\x9b\xe3\x82\x93",
	"\xe3\x83\x87\xe3\x82\xa3\xe3\x83\xac\xe3\x82\xaf\xe3\x83\x88\xe3\x83\xaa\xe3\x81\xae\xe3\x83\xaa\xe3\x82\xb9\xe3\x83\x88\xe3\x81\xab\xe3\x81\x82\xe3\x82\x8a\xe3\x81\xbe\xe3\x81\x9b\xe3\x82\x93",
	NULL };
static const char *const p_expired[] = {
	"retry time exceeded", "retry timeout exceeded", "message expired",
	"delivery time expired", "queue time expired", "time expired",
	"too long in queue", "was not delivered within", "could not be delivered for",
	"have been failing for a long time", "message timed out", "timed out while",
	"giving up on", "delivery expired", "undeliverable for", "expired after",
	"max retry", "retry limit", "has expired", "couldn't be delivered in",
	"could not deliver for", "will not retry", "in the queue for", NULL };
static const char *const p_blocked[] = {
	"blocked", "blacklist", "block list", "blocklist", "listed at",
	"listed in", "spamhaus", "rbl", "dnsbl", "access denied", "denied by",
	"rejected due to", "connection refused", "not allowed to send",
	"poor reputation", "reputation", "client host rejected",
	"ip address", "your ip", "refused", "banned", "rejected by",
	"reverse dns", "ptr record", "reverse lookup", "spf", "dkim", "dmarc",
	"authentication", "unauthenticated", "policy", "spam", "junk",
	"virus", "malware", "relay access denied", "relaying denied",
	"relay not permitted", "not permitted to relay", "unable to relay",
	"relaying", "rate limit", "too many", "try again later", "throttl",
	"temporarily deferred", "content rejected", "message content",
	"not accepted", "security", "tls", "encryption", "suspicious",
	"greylist", "sender address rejected", "sender rejected",
	"sender verify failed", "rejected", "filtered", "filter", "denied",
	NULL };

/* Order matters: the most specific first. The dead-address reasons come
 * after the reasons whose wording often also contains "user"/"exist". */
static const struct reason_rule text_rules[] = {
	{ "mailboxfull", p_mailboxfull },
	{ "mesgtoobig", p_mesgtoobig },
	{ "exceedlimit", p_exceedlimit },
	{ "rejected", p_rejected },
	{ "blocked", p_blocked_strong },
	{ "networkerror", p_networkerror_strong },
	{ "suspend", p_suspend },
	{ "hasmoved", p_hasmoved },
	{ "notaccept", p_notaccept },
	{ "hostunknown", p_hostunknown },
	{ "userunknown", p_userunknown },
	{ "networkerror", p_networkerror },
	{ "expired", p_expired },
	{ "blocked", p_blocked },
};

/* The reason of an enhanced status code (RFC 3463 and the registry). */
static const char *
status_reason(const char *st)
{
	static const struct { const char *code, *reason; } map[] = {
		{ "5.1.1", "userunknown" }, { "5.1.2", "hostunknown" },
		{ "5.1.3", "userunknown" }, { "5.1.4", "filtered" },
		{ "5.1.6", "hasmoved" }, { "5.1.7", "rejected" },
		{ "5.1.8", "rejected" }, { "5.1.10", "notaccept" },
		{ "5.2.1", "suspend" }, { "5.2.2", "mailboxfull" },
		{ "5.2.3", "exceedlimit" }, { "5.2.4", "systemerror" },
		{ "5.3.1", "systemfull" }, { "5.3.2", "notaccept" },
		{ "5.3.4", "mesgtoobig" }, { "5.3.5", "systemerror" },
		{ "5.4.4", "hostunknown" }, { "5.4.6", "networkerror" },
		{ "5.4.7", "expired" }, { "4.4.7", "expired" },
		{ "4.2.2", "mailboxfull" }, { "5.7.1", "blocked" },
		{ "5.7.25", "requireptr" }, { "5.7.26", "authfailure" },
		{ "5.7.27", "notaccept" },
	};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (strcmp(map[i].code, st) == 0)
			return map[i].reason;
	if (st[0] && st[1] == '.') {
		if (strncmp(st + 2, "7.", 2) == 0)
			return "securityerror";
		if (strncmp(st + 2, "6.", 2) == 0)
			return "contenterror";
		if (strncmp(st + 2, "5.", 2) == 0)
			return "mailererror";
		if (strncmp(st + 2, "4.", 2) == 0)
			return "networkerror";
		if (strncmp(st + 2, "3.", 2) == 0)
			return "systemerror";
	}
	return NULL;
}

int
hard_reason(const char *reason)
{
	return strcmp(reason, "userunknown") == 0 || strcmp(reason, "hostunknown") == 0 ||
	    strcmp(reason, "hasmoved") == 0 || strcmp(reason, "notaccept") == 0;
}

/* The enhanced status codes that say "this address is dead" by
 * themselves (RFC 3463, RFC 7505). Not X.1.7/X.1.8, which are about the
 * sender's address, nor 5.7.x, which are policy. */
static const char *const dead_codes[] = {
	"5.1.1",	/* bad destination mailbox address */
	"5.1.2",	/* bad destination system address */
	"5.1.3",	/* bad destination mailbox address syntax */
	"5.1.6",	/* destination mailbox has moved */
	"5.1.10",	/* recipient address has null MX */
};

int
bounce_status_dead(const char *st)
{
	for (size_t i = 0; st && i < sizeof dead_codes / sizeof dead_codes[0]; i++)
		if (strcmp(st, dead_codes[i]) == 0)
			return 1;
	return 0;
}

static int
dead_status(const char *st)
{
	return bounce_status_dead(st);
}

enum smtp_phase { PHASE_UNKNOWN, PHASE_MAIL, PHASE_RCPT, PHASE_DATA };

static const char *const p_rcpt_phase[] = {
	"in reply to rcpt to", "after rcpt to", "rcpt to response", "[rcpt_to]",
	"smtp command rcpt", "does not like recipient", "after rcpt command",
	"-------smtp command rcpt", "rcpt to command", "did not like our rcpt to",
	/* x3 ("SMTP:RCPT host"), Exchange's 5.1.351 (the remote server refused
	 * the recipient at RCPT TO) */
	"smtp:rcpt", "remote server returned unknown recipient", NULL };
static const char *const p_mail_phase[] = {
	"in reply to mail from", "after mail from", "mail from command", NULL };

/* Which SMTP command the failure answered. Said outright (Postfix "in reply
 * to end of DATA command", Exim "after RCPT TO:"), or in a Sendmail
 * transcript: the last ">>> command" before the first "<<< 4xx/5xx".
 * `raw` is not normalised (lines matter). */
static enum smtp_phase
smtp_phase(const char *norm, const char *raw)
{
	const char *p, *last = NULL;

	if (has_any(norm, p_data_phase))
		return PHASE_DATA;
	if (has_any(norm, p_mail_phase))
		return PHASE_MAIL;
	if (has_any(norm, p_rcpt_phase))
		return PHASE_RCPT;
	if (raw == NULL)
		return PHASE_UNKNOWN;
	for (p = raw; *p; ) {
		const char *q = p;
		while (*q == ' ' || *q == '\t')
			q++;
		if (strncmp(q, ">>> ", 4) == 0)
			last = q + 4;
		else if (last && (strncmp(q, "<<< 4", 5) == 0 || strncmp(q, "<<< 5", 5) == 0)) {
			if (strncasecmp(last, "data", 4) == 0 || last[0] == '.')
				return PHASE_DATA;
			if (strncasecmp(last, "rcpt", 4) == 0)
				return PHASE_RCPT;
			if (strncasecmp(last, "mail", 4) == 0)
				return PHASE_MAIL;
			break;
		}
		p = strchr(p, '\n');
		if (p == NULL)
			break;
		p++;
	}
	return PHASE_UNKNOWN;
}

/* The kind that follows from a reason and the status class. */
enum bounce_kind
kind_of(const char *reason, const char *st, int klass)
{
	if (klass == 2)
		return BOUNCE_IGNORE;
	if (klass == 4 || !hard_reason(reason))
		return BOUNCE_SOFT;
	if (strncmp(st, "5.7.", 4) == 0)
		return BOUNCE_SOFT;	/* a policy block never suppresses */
	return BOUNCE_HARD;
}

/* PowerMTA's own classification of a failure, in the DSN field
 * X-PowerMTA-BounceCategory (its documented category names). */
const char *
powermta_reason(const char *cat)
{
	static const struct { const char *cat, *reason; } map[] = {
		{ "bad-mailbox", "userunknown" }, { "bad-domain", "hostunknown" },
		{ "inactive-mailbox", "suspend" }, { "quota-issues", "mailboxfull" },
		{ "message-expired", "expired" }, { "no-answer-from-host", "networkerror" },
		{ "routing-errors", "systemerror" }, { "spam-related", "spamdetected" },
		{ "policy-related", "policyviolation" }, { "content-related", "contenterror" },
		{ "virus-related", "virusdetected" }, { "relaying-issues", "norelaying" },
		{ "invalid-sender", "rejected" }, { "bad-connection", "networkerror" },
		{ "protocol-errors", "systemerror" }, { "bad-configuration", "systemerror" },
		{ "message-too-large", "mesgtoobig" },
	};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (strcasecmp(map[i].cat, cat) == 0)
			return map[i].reason;
	return NULL;
}

/* Wordings whose meaning the receiving provider fixes, whatever SMTP
 * command they answered and whatever generic words they share with other
 * reasons. Each is the provider's documented or long-observed behaviour. */
struct fixed_rule {
	const char	*pat;		/* in normalised (lowercase) text */
	const char	*reason;
};

static const struct fixed_rule fixed_rules[] = {
	/* au by KDDI (ezweb.ne.jp, au.com): the recipient's reception filter
	 * (domains or addresses refused by choice) answers "550 : User
	 * unknown" with the address left empty; a mailbox that does not exist
	 * is "550 <addr>: User unknown". The first is no dead address. */
	{ "550 : user unknown", "filtered" },
	{ "550: : user unknown", "filtered" },
	/* Yahoo refuses an unknown user after DATA: "554 delivery error: dd
	 * This user doesn't have a yahoo.com account". */
	{ "delivery error: dd this user doesn't have", "userunknown" },
	/* Orange / La Poste reply codes (LPNnnn_ or OFRnnn_ and a number):
	 * _416 and _418 are an invalid recipient address. */
	{ "adresse destinataire invalide", "userunknown" },
	{ "adresse d au moins un destinataire invalide", "userunknown" },
	/* A mail system that holds the mailbox and looked the name up in its
	 * own directory: no SMTP command involved, the name is not there.
	 * Lotus Domino / Notes (English and Japanese), Exchange 5.5/2003's
	 * directory, Sendmail's local delivery agent, iMail's local delivery,
	 * Verizon's MMS gateway. */
	{ "not listed in domino directory", "userunknown" },
	{ "not listed in public name & address book", "userunknown" },
	{ "\xe3\x83\x87\xe3\x82\xa3\xe3\x83\xac\xe3\x82\xaf\xe3\x83\x88\xe3\x83\xaa\xe3\x81\xab\xe3\x81\xaf\xe8\xa6\x8b\xe3\x81\xa4\xe3\x81\x8b\xe3\x82\x8a\xe3\x81\xbe\xe3\x81\x9b\xe3\x82\x93", "userunknown" },
	{ "\xe3\x83\x87\xe3\x82\xa3\xe3\x83\xac\xe3\x82\xaf\xe3\x83\x88\xe3\x83\xaa\xe3\x81\xae\xe3\x83\xaa\xe3\x82\xb9\xe3\x83\x88\xe3\x81\xab\xe3\x81\x82\xe3\x82\x8a\xe3\x81\xbe\xe3\x81\x9b\xe3\x82\x93", "userunknown" },
	{ "the recipient name is not recognized", "userunknown" },
	{ "mail.local: unknown user", "userunknown" },
	{ "invalid final delivery userid", "userunknown" },
	{ "no valid recipients for this mm", "userunknown" },
	/* cPanel's Exim, when the recipient domain cannot be routed. */
	{ "the account or domain may not exist, they may be blacklisted, or missing the proper dns entries",
	  "hostunknown" },
	{ NULL, NULL } };

/* "User unknown" in words, without an X.1.1 code and not known to answer
 * RCPT TO: a filter, most likely (the address was not refused when it was
 * given). A distinct object, so that bounce_parse can still take it for a
 * dead address when it knows the mail system (provider_knowledge). */
static const char filtered_unsure[] = "filtered";

int
reason_words(const char *norm)
{
	for (size_t i = 0; i + 1 < sizeof text_rules / sizeof text_rules[0]; i++)
		if (has_any(norm, text_rules[i].pats))
			return 1;
	return 0;
}

int
reason_unsure(const char *reason)
{
	return reason == filtered_unsure;
}

/* The reason and kind of a failure: `text` is the remote server's words,
 * `context` more text around it (the phase of the SMTP dialogue is often
 * only there). */
const char *
classify(const char *text, const char *context, const char *status, const char *reply,
    enum bounce_kind *kind)
{
	char *norm = norm_text(text ? text : "", text ? strlen(text) : 0);
	char *ctx = context ? norm_text(context, strlen(context)) : NULL;
	const char *reason = NULL, *sr;
	const char *st = status ? status : "";
	int klass = st[0] ? st[0] - '0' : (reply && reply[0] ? reply[0] - '0' : 5);
	int weak = 0, fixed = 0;
	const size_t nrules = sizeof text_rules / sizeof text_rules[0];

	for (size_t i = 0; i < nrules && !reason; i++)
		if (has_any(norm, text_rules[i].pats)) {
			reason = text_rules[i].reason;
			weak = i == nrules - 1 || text_rules[i].pats == p_expired;
		}
	sr = st[0] ? status_reason(st) : NULL;
	/* A dead-address code outranks vaguer wording ("rejected",
	 * "blocked") but not a specific other reason (mailbox full). */
	if (sr && hard_reason(sr) && dead_status(st) && (reason == NULL || weak)) {
		reason = sr;
	}
	/* Sender-side codes: the recipient is not at fault. */
	if (strcmp(st, "5.1.7") == 0 || strcmp(st, "5.1.8") == 0)
		reason = "rejected";
	/* A specific code outranks vague words ("rejected", "blocked"). */
	if (sr && weak)
		reason = sr;
	if (reason == NULL)
		reason = sr;
	if (reason == NULL)
		reason = klass == 4 ? "expired" : "undefined";
	for (const struct fixed_rule *f = fixed_rules; f->pat; f++)
		if (has(norm, f->pat)) {
			reason = f->reason;
			fixed = 1;
			break;
		}
	/* "User unknown" in answer to DATA: the address was accepted at
	 * RCPT, so it is a content filter speaking, not a dead address. */
	if (!fixed && strcmp(reason, "userunknown") == 0 && !dead_status(st)) {
		enum smtp_phase ph = smtp_phase(norm, text);
		if (ph == PHASE_UNKNOWN && ctx)
			ph = smtp_phase(ctx, context);
		/* A dead address needs evidence: an X.1.1-type code, or the
		 * refusal of RCPT TO. In answer to DATA (a content or sender
		 * filter speaking after the address was accepted), or where
		 * the command is not known, it is read as filtered: soft. */
		if (ph == PHASE_DATA)
			reason = "filtered";
		else if (ph != PHASE_RCPT)
			reason = filtered_unsure;
	}

	*kind = kind_of(reason, st, klass);
	free(norm);
	free(ctx);
	return reason;
}

const char *
bounce_reason(const char *text, const char *status, const char *reply,
    enum bounce_kind *kind)
{
	return classify(text, NULL, status, reply, kind);
}
