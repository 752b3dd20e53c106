/* config - the loaded configuration and how it is read (libconfig).
 *
 * What settings exist, their types, defaults and limits is in settings.c;
 * this module reads a file against that table, reports every error with its
 * line and key, and fills `struct config`.
 */
#ifndef BROADSIDE_CONFIG_H
#define BROADSIDE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "diag.h"

enum relay_tls { RELAY_TLS_NONE, RELAY_TLS_STARTTLS, RELAY_TLS_REQUIRED };

struct relay_conf {
	char	*host;
	int64_t	 port;
	int64_t	 connections;
	int64_t	 rate;			/* messages per second, 0 = unlimited */
	int64_t	 tls;			/* enum relay_tls */
	char	*ca_file;		/* extra trusted CAs (PEM), or "" */
	char	*username;
	char	*password;
	int64_t	 allow_plaintext_auth;	/* AUTH without a verified TLS */
	int64_t	 per_session;		/* messages per SMTP session */
};

/* One DKIM key: sign as d=domain, s=selector with the PEM key in key_file. */
struct dkim_conf {
	char	*selector;
	char	*domain;
	char	*key_file;
};

/* Seconds the SMTP client waits in each phase (RFC 5321 4.5.3.2). */
struct smtp_timeouts {
	int64_t	 timeout_greeting, timeout_envelope, timeout_data;
	int64_t	 timeout_block, timeout_dot;
};

struct config {
	char	*path;			/* the file read, or "" for defaults */
	char	*database;
	char	*key_file;		/* "" in the file: beside the database */
	char	*templates;
	int64_t	 log_level;		/* enum log_level */
	struct {
		char	*name, *id, *from, *base_url, *upgrade_url, *address;
		char	*feedback_id;
		int64_t	 allow_html;
		int64_t	 trial_days;	/* the call to action's free trial */
	} list;
	struct relay_conf *relays;
	size_t	 nrelays;
	struct {
		int64_t	 min_backoff, max_backoff, max_age;
		int64_t	 relay_min_backoff, relay_max_backoff;
		int64_t	 relay_refusals;	/* the same 5xx this often in a row */
	} retry;
	struct {
		int64_t	 lease;		/* seconds a claim is leased */
	} sending;
	struct smtp_timeouts smtp;
	struct {
		char	*listen;
		int64_t	 threads, max_connections, timeout, max_body, max_header;
		int64_t	 per_ip_connections, request_timeout;
	} http;
	struct {
		int64_t	 grace;		/* previous keys accepted this long */
	} keys;
	struct {			/* the web signup (signup.c) */
		int64_t	 enabled, pending_expiry, min_fill, form_max_age;
		int64_t	 ip_limit, ip_window, address_limit, address_window;
		int64_t	 confirm_per_day, trust_forwarded_for;
	} signup;
	struct {			/* what a new reader gets (welcome.c) */
		int64_t	 enabled, catch_up, catch_up_age, on_import;
		char	*subject;	/* "": "Welcome to <list.name>" */
	} welcome;
	struct {
		int64_t	 deliveries;	/* final delivery rows kept this long */
	} retention;
	struct {
		char	*address;
		int64_t	 score_threshold, score_interval, score_reset;
		struct {
			char	*url, *username, *password;
			int64_t	 interval, delete;
		} imap;
	} bounces;
	struct dkim_conf *dkim;		/* every key signs every copy */
	size_t	 ndkim;
	struct {			/* rates in parts per million */
		int64_t	 warn_complaint, warn_bounce;
		int64_t	 pause_complaint, pause_bounce;	/* 0: never pause */
		int64_t	 min_deliveries;
	} deliverability;
};

/* The file to read: --config, else $BROADSIDE_CONFIG, else the system one. */
const char *config_path(const char *cli_path);

/* Reads and checks `path`. On failure every problem found is in `errors`
 * (one "file:line: key: problem" per line) and `d` holds the first. */
int	config_load(const char *path, struct config *cfg, buf *errors, diag *d);
/* A config of defaults only (for tests and `config example`). */
void	config_defaults(struct config *cfg);
void	config_free(struct config *cfg);
/* A deep copy (for a thread that must outlive a reload of src). */
void	config_copy(struct config *dst, const struct config *src);
/* A complete, commented config file with every default. */
void	config_example(buf *out);

#endif
