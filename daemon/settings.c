/* settings - the one table of every setting: name, type, default, limits, help. */
#include "settings.h"

#include <stdio.h>
#include <string.h>

#include "config.h"

#include "paths.h"

#define M(f)	offsetof(struct config, f)
#define R(f)	offsetof(struct relay_conf, f)
#define K(f)	offsetof(struct dkim_conf, f)
#define PPM_ALL	0, 1000000	/* a rate: 0 % to 100 % */
#define DAY	86400LL
#define NOLIMIT	0, 0

const struct setting settings_table[] = {
	{ SCOPE_MAIN, "database", ST_STRING, "/var/lib/broadside/broadside.db", NOLIMIT, NULL,
	  M(database), "SQLite database file: the queue and all state." },
	{ SCOPE_MAIN, "key_file", ST_STRING, "", NOLIMIT, NULL, M(key_file),
	  "Secret key for unsubscribe and VERP tokens (made by 'broadside init', mode 0600); "
	  "empty: broadside.key beside the database." },
	{ SCOPE_MAIN, "templates", ST_STRING, BROADSIDE_DATADIR "/templates", NOLIMIT, NULL,
	  M(templates), "Folder of layout.html, layout.txt, paywall.html, paywall.txt." },
	{ SCOPE_MAIN, "log_level", ST_ENUM, "info", NOLIMIT,
	  "emerg|alert|crit|error|warning|notice|info|debug", M(log_level),
	  "Least important log messages written." },

	{ SCOPE_MAIN, "list.name", ST_STRING, "Growth Dragons", NOLIMIT, NULL, M(list.name),
	  "The newsletter's name, shown in the footer and the call to action." },
	{ SCOPE_MAIN, "list.id", ST_STRING, "growth-dragons.example.com", NOLIMIT, NULL, M(list.id),
	  "List-Id (RFC 2919): a domain-like name unique to this newsletter." },
	{ SCOPE_MAIN, "list.from", ST_STRING, "Growth Dragons <news@example.com>", NOLIMIT, NULL,
	  M(list.from), "From: of every issue, \"Name <address>\"." },
	{ SCOPE_MAIN, "list.base_url", ST_STRING, "https://news.example.com", NOLIMIT, NULL,
	  M(list.base_url), "Public URL of the HTTP endpoint (behind your TLS proxy): unsubscribe links." },
	{ SCOPE_MAIN, "list.upgrade_url", ST_STRING, "", NOLIMIT, NULL, M(list.upgrade_url),
	  "Where the paywall's call to action sends free readers. Empty: each reader's own "
	  "trial page (BASE_URL/trial/TOKEN, list.trial_days); set: your own payment page, "
	  "linked as it is (the trial pages then only answer links already sent)." },
	{ SCOPE_MAIN, "list.trial_days", ST_INT, "7", 1, 365, NULL, M(list.trial_days),
	  "Length of the free trial a reader starts from the call to action (tier paid, then "
	  "free again); the templates' {{trial_days}}." },
	{ SCOPE_MAIN, "list.address", ST_STRING, "", NOLIMIT, NULL, M(list.address),
	  "Postal address line in the footer (CAN-SPAM asks for one)." },
	{ SCOPE_MAIN, "list.feedback_id", ST_STRING, "", NOLIMIT, NULL, M(list.feedback_id),
	  "Feedback-ID header (Gmail FBL); empty: derived from list.id." },
	{ SCOPE_MAIN, "list.allow_html", ST_BOOL, "false", NOLIMIT, NULL, M(list.allow_html),
	  "Pass raw HTML in issues through; otherwise it is escaped." },

	{ SCOPE_RELAY, "host", ST_STRING, "127.0.0.1", NOLIMIT, NULL, R(host),
	  "SMTP relay host name or address." },
	{ SCOPE_RELAY, "port", ST_INT, "25", 1, 65535, NULL, R(port), "SMTP port." },
	{ SCOPE_RELAY, "connections", ST_INT, "4", 1, 256, NULL, R(connections),
	  "Simultaneous SMTP sessions to this relay." },
	{ SCOPE_RELAY, "rate", ST_INT, "0", 0, 1000000, NULL, R(rate),
	  "Messages per second to this relay; 0 = unlimited." },
	{ SCOPE_RELAY, "tls", ST_ENUM, "none", NOLIMIT, "none|starttls|required", R(tls),
	  "none; starttls = encrypt when offered, certificate unchecked; required = "
	  "STARTTLS and a certificate that is valid for host, or no sending." },
	{ SCOPE_RELAY, "ca_file", ST_STRING, "", NOLIMIT, NULL, R(ca_file),
	  "PEM file of CAs trusted for this relay's certificate besides the system's "
	  "(a private CA); tls = required." },
	{ SCOPE_RELAY, "username", ST_STRING, "", NOLIMIT, NULL, R(username),
	  "SMTP AUTH user; empty: no AUTH." },
	{ SCOPE_RELAY, "password", ST_STRING, "", NOLIMIT, NULL, R(password),
	  "SMTP AUTH password." },
	{ SCOPE_RELAY, "allow_plaintext_auth", ST_BOOL, "false", NOLIMIT, NULL,
	  R(allow_plaintext_auth), "Send the password without a verified TLS connection "
	  "(tls = none or starttls); otherwise AUTH needs tls = required." },
	{ SCOPE_RELAY, "messages_per_session", ST_INT, "100", 1, 100000, NULL, R(per_session),
	  "Messages sent over one SMTP session before it is closed." },

	{ SCOPE_MAIN, "retry.min_backoff", ST_DURATION, "5m", 1, 30 * DAY, NULL,
	  M(retry.min_backoff), "First retry of a deferred message after this long." },
	{ SCOPE_MAIN, "retry.max_backoff", ST_DURATION, "1h", 1, 30 * DAY, NULL,
	  M(retry.max_backoff), "Retries back off exponentially up to this interval." },
	{ SCOPE_MAIN, "retry.max_age", ST_DURATION, "5d", 1, 60 * DAY, NULL,
	  M(retry.max_age), "A message still deferred this long after its first try fails." },
	{ SCOPE_MAIN, "retry.relay_min_backoff", ST_DURATION, "10s", 1, DAY, NULL,
	  M(retry.relay_min_backoff), "A relay that fails as a whole (down, 421) is left alone "
	  "this long, doubling with each further failure." },
	{ SCOPE_MAIN, "retry.relay_max_backoff", ST_DURATION, "10m", 1, DAY, NULL,
	  M(retry.relay_max_backoff), "The longest a failing relay is left alone before it is tried again." },
	{ SCOPE_MAIN, "retry.relay_refusals", ST_INT, "20", 0, 1000000, NULL,
	  M(retry.relay_refusals), "A relay that refuses this many copies in a row with the "
	  "same 5xx that is not about the address (\"554 sending paused for this account\", "
	  "\"550 5.7.1 relaying denied\") is refusing all mail: the rest wait, as for a relay "
	  "that is down, instead of failing one by one (0: never)." },

	{ SCOPE_MAIN, "sending.lease", ST_DURATION, "10m", 3, DAY, NULL, M(sending.lease),
	  "A claimed copy is leased this long; a live session renews its leases every third "
	  "of it, so a lease runs out only when its daemon is gone (crash, kill -9)." },
	{ SCOPE_MAIN, "smtp.timeout_greeting", ST_DURATION, "5m", 1, DAY, NULL,
	  M(smtp.timeout_greeting), "Longest wait for the relay's greeting (RFC 5321 4.5.3.2)." },
	{ SCOPE_MAIN, "smtp.timeout_envelope", ST_DURATION, "5m", 1, DAY, NULL,
	  M(smtp.timeout_envelope), "Longest wait for the reply to MAIL or RCPT (libesmtp "
	  "times the envelope as one)." },
	{ SCOPE_MAIN, "smtp.timeout_data", ST_DURATION, "2m", 1, DAY, NULL,
	  M(smtp.timeout_data), "Longest wait for the reply to DATA." },
	{ SCOPE_MAIN, "smtp.timeout_block", ST_DURATION, "3m", 1, DAY, NULL,
	  M(smtp.timeout_block), "Longest a block of the message may take to be written." },
	{ SCOPE_MAIN, "smtp.timeout_dot", ST_DURATION, "10m", 1, DAY, NULL,
	  M(smtp.timeout_dot), "Longest wait for the reply to the final dot. A relay that has "
	  "the whole message usually delivers it: giving up early sends it twice." },

	{ SCOPE_MAIN, "http.listen", ST_STRING, "127.0.0.1:8025", NOLIMIT, NULL, M(http.listen),
	  "Address:port of the unsubscribe, health and metrics endpoint." },
	{ SCOPE_MAIN, "http.threads", ST_INT, "2", 1, 64, NULL, M(http.threads),
	  "Threads answering HTTP requests (separate from the senders)." },
	{ SCOPE_MAIN, "http.max_connections", ST_INT, "256", 1, 100000, NULL,
	  M(http.max_connections), "Open HTTP connections at most; more are closed at once." },
	{ SCOPE_MAIN, "http.timeout", ST_DURATION, "10s", 1, 3600, NULL, M(http.timeout),
	  "An HTTP connection idle this long (a slow or stalled client) is closed." },
	{ SCOPE_MAIN, "http.request_timeout", ST_DURATION, "5s", 1, 3600, NULL,
	  M(http.request_timeout), "A request's line, headers and body must all arrive within "
	  "this long of the connection opening (or of the previous answer on it); else the "
	  "connection is closed, however busily the client trickles bytes." },
	{ SCOPE_MAIN, "http.per_ip_connections", ST_INT, "16", 0, 100000, NULL,
	  M(http.per_ip_connections), "Open HTTP connections from one client address at most; "
	  "more are closed at once. 0: no cap (behind a proxy of yours every client is the "
	  "proxy: raise it or use 0)." },
	{ SCOPE_MAIN, "http.max_body", ST_INT, "65536", 0, 16777216, NULL, M(http.max_body),
	  "Largest request body in bytes; larger gets 413." },
	{ SCOPE_MAIN, "http.max_header", ST_INT, "16384", 4096, 1048576, NULL,
	  M(http.max_header), "Memory per connection for the request line and headers, in bytes; "
	  "larger requests are refused." },

	{ SCOPE_MAIN, "keys.grace", ST_DURATION, "30d", 0, 365 * DAY, NULL, M(keys.grace),
	  "After 'broadside key rotate', tokens made with the previous key (unsubscribe links, "
	  "VERP addresses) stay valid this long." },

	{ SCOPE_MAIN, "signup.enabled", ST_BOOL, "true", NOLIMIT, NULL, M(signup.enabled),
	  "Serve the signup form (/subscribe) and its confirmation links (/confirm/TOKEN)." },
	{ SCOPE_MAIN, "signup.pending_expiry", ST_DURATION, "7d", 3600, 90 * DAY, NULL,
	  M(signup.pending_expiry), "A signup not confirmed within this long expires: its "
	  "link stops working and a new address is forgotten." },
	{ SCOPE_MAIN, "signup.min_fill_time", ST_DURATION, "3s", 0, 3600, NULL,
	  M(signup.min_fill), "A form sent back sooner than this after it was served is "
	  "refused (robots fill forms at once)." },
	{ SCOPE_MAIN, "signup.form_max_age", ST_DURATION, "1d", 60, 30 * DAY, NULL,
	  M(signup.form_max_age), "A form sent back later than this after it was served "
	  "is refused; the reader reloads it." },
	{ SCOPE_MAIN, "signup.ip_limit", ST_INT, "10", 1, 1000000, NULL, M(signup.ip_limit),
	  "Signup attempts from one client address per signup.ip_window; more get 429." },
	{ SCOPE_MAIN, "signup.ip_window", ST_DURATION, "1h", 1, DAY, NULL, M(signup.ip_window),
	  "The window of signup.ip_limit." },
	{ SCOPE_MAIN, "signup.address_limit", ST_INT, "3", 1, 1000000, NULL,
	  M(signup.address_limit), "Signup attempts for one email address per "
	  "signup.address_window; more are answered alike but do nothing." },
	{ SCOPE_MAIN, "signup.address_window", ST_DURATION, "1h", 1, DAY, NULL,
	  M(signup.address_window), "The window of signup.address_limit." },
	{ SCOPE_MAIN, "signup.confirmations_per_day", ST_INT, "3", 1, 100, NULL,
	  M(signup.confirm_per_day), "Confirmation emails to one address in 24 hours at most." },
	{ SCOPE_MAIN, "signup.trust_forwarded_for", ST_BOOL, "false", NOLIMIT, NULL,
	  M(signup.trust_forwarded_for), "Take the client address for the limits from the "
	  "last X-Forwarded-For entry (set it when a proxy of yours is in front)." },

	{ SCOPE_MAIN, "welcome.enabled", ST_BOOL, "true", NOLIMIT, NULL, M(welcome.enabled),
	  "Send a reader who confirms their signup the welcome email (templates welcome.txt, "
	  "welcome.html in the layout)." },
	{ SCOPE_MAIN, "welcome.subject", ST_STRING, "", NOLIMIT, NULL, M(welcome.subject),
	  "Subject of the welcome email; empty: \"Welcome to\" and list.name." },
	{ SCOPE_MAIN, "welcome.catch_up", ST_INT, "1", 0, 10, NULL, M(welcome.catch_up),
	  "Also send a reader who joins this many of the latest issues (cut for their tier), "
	  "those sent within welcome.catch_up_age; 0: none." },
	{ SCOPE_MAIN, "welcome.catch_up_age", ST_DURATION, "30d", 0, 3650 * DAY, NULL,
	  M(welcome.catch_up_age), "Only issues that went out within this long count for "
	  "welcome.catch_up." },
	{ SCOPE_MAIN, "welcome.on_import", ST_BOOL, "false", NOLIMIT, NULL, M(welcome.on_import),
	  "Welcome (and catch up) the subscribers that 'subscriber import' and 'subscriber add' "
	  "add as active, too." },

	{ SCOPE_MAIN, "retention.deliveries", ST_DURATION, "90d", 3600, 3650 * DAY, NULL,
	  M(retention.deliveries), "A copy's own row (state, reply, times) is kept this long after "
	  "its last change once final; then it is folded into its issue's counts (issue show, "
	  "stats keep the totals) and deleted. Bounces and the events log stay." },

	{ SCOPE_MAIN, "bounces.address", ST_STRING, "bounces@example.com", NOLIMIT, NULL,
	  M(bounces.address), "Envelope sender base: VERP addresses are bounces+ID.MAC@ its domain." },
	{ SCOPE_MAIN, "bounces.score_threshold", ST_INT, "5", 1, 1000, NULL,
	  M(bounces.score_threshold), "Soft-bounce score at which a subscriber is marked bounced "
	  "(Mailman 3's default: 5)." },
	{ SCOPE_MAIN, "bounces.score_interval", ST_DURATION, "1d", 1, 30 * DAY, NULL,
	  M(bounces.score_interval), "A soft bounce adds at most 1 to the score per this interval." },
	{ SCOPE_MAIN, "bounces.score_reset", ST_DURATION, "7d", 1, 365 * DAY, NULL,
	  M(bounces.score_reset), "A score whose last bounce is older than this starts over." },
	{ SCOPE_MAIN, "bounces.imap.url", ST_STRING, "", NOLIMIT, NULL, M(bounces.imap.url),
	  "IMAP mailbox of the bounce address, polled by the daemon: "
	  "imaps://host/INBOX or imap://host:143/Bounces; empty: no polling." },
	{ SCOPE_MAIN, "bounces.imap.username", ST_STRING, "", NOLIMIT, NULL,
	  M(bounces.imap.username), "IMAP login." },
	{ SCOPE_MAIN, "bounces.imap.password", ST_STRING, "", NOLIMIT, NULL,
	  M(bounces.imap.password), "IMAP password." },
	{ SCOPE_MAIN, "bounces.imap.interval", ST_DURATION, "1m", 1, DAY, NULL,
	  M(bounces.imap.interval), "Time between two polls of the mailbox." },
	{ SCOPE_MAIN, "bounces.imap.delete", ST_BOOL, "false", NOLIMIT, NULL,
	  M(bounces.imap.delete), "Delete processed messages (Deleted flag and EXPUNGE); "
	  "otherwise they are flagged Seen. Either way the database remembers each UID, "
	  "so none is processed twice." },

	{ SCOPE_MAIN, "deliverability.warn_complaint_rate", ST_PERCENT, "0.1%", PPM_ALL, NULL,
	  M(deliverability.warn_complaint), "Warn (log, stats) when an issue's complaints pass "
	  "this share of its deliveries (Gmail: stay under 0.1 %, never reach 0.3 %)." },
	{ SCOPE_MAIN, "deliverability.warn_bounce_rate", ST_PERCENT, "2%", PPM_ALL, NULL,
	  M(deliverability.warn_bounce), "Warn when an issue's hard bounces pass this share "
	  "of its deliveries." },
	{ SCOPE_MAIN, "deliverability.pause_complaint_rate", ST_PERCENT, "0%", PPM_ALL, NULL,
	  M(deliverability.pause_complaint), "Pause an issue still sending when its complaints "
	  "pass this share of its deliveries; 0% = never." },
	{ SCOPE_MAIN, "deliverability.pause_bounce_rate", ST_PERCENT, "0%", PPM_ALL, NULL,
	  M(deliverability.pause_bounce), "Pause an issue still sending when its hard bounces "
	  "pass this share of its deliveries; 0% = never." },
	{ SCOPE_MAIN, "deliverability.min_deliveries", ST_INT, "100", 1, 1000000000, NULL,
	  M(deliverability.min_deliveries), "Rates are judged (warning, pause) only once an "
	  "issue has this many deliveries." },

	{ SCOPE_DKIM, "selector", ST_STRING, "", NOLIMIT, NULL, K(selector),
	  "DKIM selector: the key's public half is published at SELECTOR._domainkey.DOMAIN." },
	{ SCOPE_DKIM, "domain", ST_STRING, "", NOLIMIT, NULL, K(domain),
	  "Signing domain (d=): the From: domain or its parent, for DMARC alignment." },
	{ SCOPE_DKIM, "key_file", ST_STRING, "", NOLIMIT, NULL, K(key_file),
	  "PEM private key, RSA (2048 bits or more) or Ed25519; 'broadside dkim keygen' makes one." },
};
const size_t settings_count = sizeof settings_table / sizeof settings_table[0];

const struct setting_list settings_lists[] = {
	{ "relays", SCOPE_RELAY, sizeof(struct relay_conf), M(relays), M(nrelays), 1,
	  "SMTP relays the mail goes out through; each one a group." },
	{ "dkim", SCOPE_DKIM, sizeof(struct dkim_conf), M(dkim), M(ndkim), 0,
	  "DKIM keys; every copy is signed with each of them (several for rotation, "
	  "or RSA and Ed25519 side by side); none: unsigned." },
};
const size_t settings_nlists = sizeof settings_lists / sizeof settings_lists[0];

int
setting_choice(const struct setting *s, const char *value)
{
	const char *p = s->choices;
	size_t vlen = strlen(value);

	for (int i = 0; p && *p; i++) {
		const char *bar = strchr(p, '|');
		size_t n = bar ? (size_t)(bar - p) : strlen(p);
		if (n == vlen && strncmp(p, value, n) == 0)
			return i;
		if (!bar)
			break;
		p = bar + 1;
	}
	return -1;
}

void
setting_choice_name(const struct setting *s, int64_t idx, char *out, size_t n)
{
	const char *p = s->choices;

	for (int64_t i = 0; p; i++) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		if (i == idx) {
			snprintf(out, n, "%.*s", (int)len, p);
			return;
		}
		p = bar ? bar + 1 : NULL;
	}
	snprintf(out, n, "?");
}
