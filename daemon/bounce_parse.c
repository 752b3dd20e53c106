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

#include "xalloc.h"

#define TEXT_CAP	(512 * 1024)	/* bytes of text kept per kind */
#define DIAG_CAP	480		/* bytes of diagnostic kept per verdict */
#define MAX_DEPTH	24		/* MIME nesting we follow */
#define MAX_NESTING	200		/* multipart/message headers tolerated */
#define MAX_RCPTS	200		/* verdicts per message */

/* ---------------------------------------------------------------------
 * Small string helpers
 */

static int
is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/* Lowercase copy with every run of white space made one space. */
static char *
norm_text(const char *s, size_t n)
{
	char *out = xmalloc(n + 1), *o = out;
	int sp = 1;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (is_space(c) || c == 0) {
			if (!sp)
				*o++ = ' ';
			sp = 1;
			continue;
		}
		*o++ = (char)tolower(c);
		sp = 0;
	}
	while (o > out && o[-1] == ' ')
		o--;
	*o = '\0';
	return out;
}

/* Trimmed copy, white space runs made one space, at most `cap` bytes
 * (cut on a UTF-8 boundary). */
static char *
one_line(const char *s, size_t n, size_t cap)
{
	char *out = xmalloc(n + 1), *o = out;
	int sp = 1;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (is_space(c) || c == 0 || c < 0x20 || c == 0x7f) {
			if (!sp)
				*o++ = ' ';
			sp = 1;
			continue;
		}
		*o++ = (char)c;
		sp = 0;
	}
	while (o > out && o[-1] == ' ')
		o--;
	*o = '\0';
	if ((size_t)(o - out) > cap) {
		size_t k = cap;
		while (k > 0 && ((unsigned char)out[k] & 0xc0) == 0x80)
			k--;
		out[k] = '\0';
	}
	return out;
}

static int
has(const char *norm, const char *pat)
{
	return strstr(norm, pat) != NULL;
}

static int
has_any(const char *norm, const char *const *pats)
{
	for (; *pats; pats++)
		if (strstr(norm, *pats))
			return 1;
	return 0;
}

static int
starts_ci(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* ---------------------------------------------------------------------
 * Addresses in free text
 */

static int
local_char(int c)
{
	return isalnum(c) || (c && strchr(".!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static int
domain_char(int c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_';
}

/* Finds the next address in s[0..n): *at its start, *alen its length.
 * Returns 0 when none. */
static int
next_address(const char *s, size_t n, size_t from, size_t *at, size_t *alen)
{
	for (size_t i = from; i < n; i++) {
		size_t l, r;
		if (s[i] != '@')
			continue;
		l = i;
		while (l > from && local_char((unsigned char)s[l - 1]))
			l--;
		r = i + 1;
		while (r < n && domain_char((unsigned char)s[r]))
			r++;
		while (l < i && (s[l] == '.' || s[l] == '\''))
			l++;
		while (r > i + 1 && (s[r - 1] == '.' || s[r - 1] == '-'))
			r--;
		if (l == i || r == i + 1)
			continue;
		if (memchr(s + i + 1, '.', r - i - 1) == NULL &&
		    !(r - i - 1 == 9 && strncasecmp(s + i + 1, "localhost", 9) == 0))
			continue;
		*at = l;
		*alen = r - l;
		return 1;
	}
	return 0;
}

/* The first address in a header-ish value ("Name <a@b>", "rfc822; a@b"). */
static char *
first_address(const char *s)
{
	size_t at, len;

	if (s && next_address(s, strlen(s), 0, &at, &len))
		return xstrndup(s + at, len);
	return xstrdup("");
}

static int
addr_local_is(const char *addr, const char *local)
{
	size_t n = strlen(local);
	return strncasecmp(addr, local, n) == 0 && addr[n] == '@';
}

static int
is_system_address(const char *addr)
{
	static const char *const locals[] = { "mailer-daemon", "postmaster",
	    "mail-daemon", "mailerdaemon", "double-bounce", "root", "daemon",
	    "nobody", "noreply", "no-reply", "abuse", "mdaemon", "mailer_daemon",
	    "mail.daemon", "bounce", "bounces", "post_master", NULL };
	for (const char *const *l = locals; *l; l++)
		if (addr_local_is(addr, *l))
			return 1;
	return 0;
}

/* ---------------------------------------------------------------------
 * Status codes in free text
 */

/* An RFC 3463 code "c.s.d" starting at p (c in 2,4,5). Returns its length. */
static size_t
status_at(const char *s, size_t i, size_t n)
{
	size_t j = i, k;

	if (i > 0 && (isdigit((unsigned char)s[i - 1]) || s[i - 1] == '.' ||
	    isalpha((unsigned char)s[i - 1])))
		return 0;
	if (j >= n || (s[j] != '2' && s[j] != '4' && s[j] != '5'))
		return 0;
	j++;
	for (int part = 0; part < 2; part++) {
		if (j >= n || s[j] != '.')
			return 0;
		j++;
		k = j;
		while (j < n && isdigit((unsigned char)s[j]) && j - k < 3)
			j++;
		if (j == k)
			return 0;
	}
	if (j < n && (isdigit((unsigned char)s[j]) || (s[j] == '.' && j + 1 < n &&
	    isdigit((unsigned char)s[j + 1]))))
		return 0;
	return j - i;
}

/* First 4.x.x/5.x.x status in the text (2.x.x only when no other). */
static void
find_status(const char *s, char out[16])
{
	size_t n = strlen(s), two = (size_t)-1, twolen = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		size_t len = status_at(s, i, n);
		if (len == 0 || len > 15)
			continue;
		if (s[i] == '2') {
			if (two == (size_t)-1) {
				two = i;
				twolen = len;
			}
			continue;
		}
		memcpy(out, s + i, len);
		out[len] = '\0';
		return;
	}
	if (two != (size_t)-1) {
		memcpy(out, s + two, twolen);
		out[twolen] = '\0';
	}
}

/* First SMTP reply code 4xx/5xx standing as a word ("550 ", "550-",
 * "550:"). A 2xx is never taken: "250 ok" lines of a transcript say
 * nothing about the failure. */
static void
find_reply(const char *s, char out[4])
{
	size_t n = strlen(s);

	out[0] = '\0';
	for (size_t i = 0; i + 3 <= n; i++) {
		char c = s[i];
		if (c != '2' && c != '4' && c != '5')
			continue;
		if (!isdigit((unsigned char)s[i + 1]) || !isdigit((unsigned char)s[i + 2]))
			continue;
		if (s[i + 1] > '5')
			continue;
		if (i > 0 && !(is_space((unsigned char)s[i - 1]) || s[i - 1] == ':' ||
		    s[i - 1] == '(' || s[i - 1] == '"' || s[i - 1] == '<' ||
		    s[i - 1] == '[' || s[i - 1] == '=' || s[i - 1] == '\''))
			continue;
		if (i + 3 < n && !(s[i + 3] == ' ' || s[i + 3] == '-' || s[i + 3] == '\n' ||
		    s[i + 3] == ')' || s[i + 3] == ']' || s[i + 3] == '\r' ||
		    (s[i + 3] == ':' && !isdigit((unsigned char)s[i + 4]))))
			continue;
		if (c == '2')
			continue;
		memcpy(out, s + i, 3);
		out[3] = '\0';
		return;
	}
}

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

static int
hard_reason(const char *reason)
{
	return strcmp(reason, "userunknown") == 0 || strcmp(reason, "hostunknown") == 0 ||
	    strcmp(reason, "hasmoved") == 0 || strcmp(reason, "notaccept") == 0;
}

/* Is the status one that says "this address is dead" by itself? */
static int
dead_status(const char *st)
{
	return strcmp(st, "5.1.1") == 0 || strcmp(st, "5.1.2") == 0 ||
	    strcmp(st, "5.1.3") == 0 || strcmp(st, "5.1.6") == 0 ||
	    strcmp(st, "5.1.10") == 0;
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
static enum bounce_kind
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
static const char *
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

/* The reason and kind of a failure: `text` is the remote server's words,
 * `context` more text around it (the phase of the SMTP dialogue is often
 * only there). */
static const char *
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

/* ---------------------------------------------------------------------
 * The report being built
 */

static void
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

static struct bounce_verdict *
verdict_add(struct bounce_report *r)
{
	struct bounce_verdict *v;

	r->v = xrealloc(r->v, (r->n + 1) * sizeof *r->v);
	v = &r->v[r->n++];
	memset(v, 0, sizeof *v);
	return v;
}

static void
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
 * Walking the MIME tree
 */

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

static void
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

static void
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
static size_t
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
static GMimeMessage *
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
 * Is it a bounce? An auto-reply?
 */

static int
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

static int
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

static int
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
static void
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

static int
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
		for (size_t i = 0; i + 1 < sizeof text_rules / sizeof text_rules[0] && !r; i++)
			if (has_any(norm, text_rules[i].pats))
				r = 1;
		free(norm);
	}
	free(t);
	return r;
}

/* The words about failed recipient rc[i] in a prose bounce: from a line
 * naming it to the next line naming another failed recipient; the first
 * such stretch that holds a reply code or a reason. */
static void
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
static char
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
static void
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
static size_t
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

static void
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

static void
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

static int
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
static size_t
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

/* ---------------------------------------------------------------------
 * The returned message and the envelope addresses
 */

static void
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

static void
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

/* Hotmail/Outlook.com's JMRP complaints: not ARF, a message/rfc822 of
 * the complained-about mail with X-HmXmrOriginalRecipient. */
static int
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
static void
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

		if (v->reason != filtered_unsure)
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
static void
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

static int parse_one(const char *s, size_t len, struct bounce_report **out, diag *d);

/* A delay notice in prose ("Warning: message ... delayed 24 hours",
 * "Delivery Status Notification (Delay)", "will keep trying"): the MTA
 * still retries, so it is not a bounce. Final expirations ("gave up",
 * "permanent", 5.x.x) are. Every verdict that is not a permanent failure
 * becomes ignore/delayed. */
static void
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

	if (w.arf.len) {
		r->format = BOUNCE_FMT_ARF;
		read_arf(r, w.arf.data, w.arf.len);
	} else if (w.dsn.len) {
		r->format = BOUNCE_FMT_DSN;
		read_dsn(r, w.dsn.data, w.dsn.len, h, hlen);
	} else if (w.returned && jmrp_complaint(r, top, w.returned)) {
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
	if (r->n == 0 && r->format != BOUNCE_FMT_ARF) {
		const char *xfr = g_mime_object_get_header(top, "X-Failed-Recipients");
		int bs = bounce_sender(r->from, fromh), bsub = bounce_subject(r->subject);
		int is_bounce = xfr != NULL || bs || bsub || r->format == BOUNCE_FMT_DSN;
		char **rc = NULL;
		size_t nrc = 0;

		if (!is_bounce || (!bs && !xfr && autoreply_headers(top, r->subject) &&
		    w.dsn.len == 0)) {
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
			goto done;
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
			skip_add(&w, g_mime_object_get_header(top, "To"));
			skip_add(&w, g_mime_object_get_header(top, "Delivered-To"));
			nrc = text_recipients(r, h, hlen, w.skip, w.nskip, &rc);
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
done:
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

/* ---------------------------------------------------------------------
 * JSON
 */

void
bounce_report_json(const struct bounce_report *r, const char *file, buf *out)
{
	buf_putc(out, '{');
	if (file) {
		buf_puts(out, "\"file\":");
		buf_json_string(out, file);
		buf_putc(out, ',');
	}
	buf_puts(out, "\"format\":");
	buf_json_string(out, bounce_format_name(r->format));
	buf_puts(out, ",\"from\":");
	buf_json_string(out, r->from);
	buf_puts(out, ",\"subject\":");
	buf_json_string(out, r->subject);
	buf_puts(out, ",\"message_id\":");
	buf_json_string(out, r->message_id);
	buf_puts(out, ",\"envelope\":[");
	for (size_t i = 0; i < r->nenvelope; i++) {
		if (i)
			buf_putc(out, ',');
		buf_json_string(out, r->envelope[i]);
	}
	buf_puts(out, "]");
	if (r->unsub_token[0]) {
		buf_puts(out, ",\"unsubscribe\":");
		buf_json_string(out, r->unsub_address);
	}
	buf_puts(out, ",\"verdicts\":[");
	for (size_t i = 0; i < r->n; i++) {
		const struct bounce_verdict *v = &r->v[i];
		if (i)
			buf_putc(out, ',');
		buf_puts(out, "{\"kind\":");
		buf_json_string(out, bounce_kind_name(v->kind));
		buf_puts(out, ",\"recipient\":");
		buf_json_string(out, v->recipient);
		buf_puts(out, ",\"status\":");
		buf_json_string(out, v->status);
		buf_puts(out, ",\"reply\":");
		buf_json_string(out, v->reply);
		buf_puts(out, ",\"reason\":");
		buf_json_string(out, v->reason);
		buf_puts(out, ",\"action\":");
		buf_json_string(out, v->action);
		if (v->feedback[0]) {
			buf_puts(out, ",\"feedback\":");
			buf_json_string(out, v->feedback);
		}
		buf_puts(out, ",\"diagnostic\":");
		buf_json_string(out, v->diagnostic);
		buf_putc(out, '}');
	}
	buf_puts(out, "]}");
}
