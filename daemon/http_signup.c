/* http_signup - the signup pages: /subscribe (the form; POST signs up,
 * signup.c) and /confirm/TOKEN (GET shows a Confirm button, POST confirms). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "clock.h"
#include "form.h"
#include "http_int.h"
#include "log.h"
#include "signup.h"
#include "unsubscribe.h"

/* An IPv6 client is counted by its /64 (one subscriber line holds a whole
 * /64 and may hop around in it); an IPv4-mapped one as IPv4. */
static void
ip_key(int family, const void *addr, char *out, size_t n)
{
	struct in6_addr a6;

	if (family == AF_INET) {
		inet_ntop(AF_INET, addr, out, (socklen_t)n);
		return;
	}
	memcpy(&a6, addr, sizeof a6);
	if (IN6_IS_ADDR_V4MAPPED(&a6)) {
		inet_ntop(AF_INET, &a6.s6_addr[12], out, (socklen_t)n);
		return;
	}
	memset(&a6.s6_addr[8], 0, 8);
	inet_ntop(AF_INET6, &a6, out, (socklen_t)n);
	if (strlen(out) + 4 < n)
		strcat(out, "/64");
}

/* The client's address for the signup limits: the peer's, or with
 * signup.trust_forwarded_for the last X-Forwarded-For entry (the one our
 * own proxy added) when it is an address. */
static void
client_ip(struct http *h, struct MHD_Connection *c, char *out, size_t n)
{
	const union MHD_ConnectionInfo *ci;
	const char *xff;

	snprintf(out, n, "unknown");
	if (h->site.cfg.signup.trust_forwarded_for &&
	    (xff = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-For")) != NULL) {
		const char *last = strrchr(xff, ',');
		char tmp[INET6_ADDRSTRLEN + 8];
		unsigned char bin[sizeof(struct in6_addr)];
		size_t len;

		last = last ? last + 1 : xff;
		while (*last == ' ' || *last == '\t')
			last++;
		len = strcspn(last, " \t");
		if (len < sizeof tmp) {
			memcpy(tmp, last, len);
			tmp[len] = '\0';
			if (inet_pton(AF_INET, tmp, bin) == 1) {
				ip_key(AF_INET, bin, out, n);
				return;
			}
			if (inet_pton(AF_INET6, tmp, bin) == 1) {
				ip_key(AF_INET6, bin, out, n);
				return;
			}
		}
	}
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr) {
		const struct sockaddr *sa = ci->client_addr;
		if (sa->sa_family == AF_INET)
			ip_key(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
			    out, n);
		else if (sa->sa_family == AF_INET6)
			ip_key(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
			    out, n);
	}
}

/* The signup form, with a message and the values sent back (escaped by
 * the page), and a fresh signed load time. */
static enum MHD_Result
send_form(struct http *h, struct MHD_Connection *c, struct req *r, unsigned code,
    const char *message, const char *email, const char *name)
{
	const char *v[S_COUNT] = { 0 };
	char tok[TOKEN_MAX];
	buf e = BUF_INIT, n = BUF_INIT;
	enum MHD_Result rc;

	/* Sent back as typed, less control characters (CR, LF, NUL...). */
	signup_clean(email, 320, &e);
	signup_clean_name(name, &n);
	token_form_make(&h->sec, h->site.cfg.list.id, clock_now_ms(), tok);
	v[S_MESSAGE] = message;
	v[S_EMAIL] = buf_cstr(&e);
	v[S_NAME] = buf_cstr(&n);
	v[S_FORM_TOKEN] = tok;
	v[S_ACTION] = "subscribe";
	rc = http_send_framed(h, c, r, code, PG_SUBSCRIBE, "Subscribe", v);
	buf_free(&e);
	buf_free(&n);
	return rc;
}

enum MHD_Result
http_subscribe(struct http *h, struct MHD_Connection *c, struct req *r, struct db *db)
{
	const struct config *cfg = &h->site.cfg;
	const char *ct, *what = "";
	buf email = BUF_INIT, name = BUF_INIT, hp = BUF_INIT, form = BUF_INIT, msg = BUF_INIT;
	struct signup_form f;
	enum signup_result res;
	diag d = DIAG_INIT;
	char ip[INET6_ADDRSTRLEN + 8], life[32];
	enum MHD_Result rc;
	int e, s;

	if (r->method != M_POST) {
		/* ?email=... (a form embedded elsewhere, method="get") fills the
		 * field in; the reader still presses Subscribe here. */
		const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "email");
		buf raw = BUF_INIT;
		if (q && strlen(q) < 1024) {
			buf_puts(&raw, "email=");
			buf_puts(&raw, q);
			if (form_field(raw.data, raw.len, "email", &email) < 0)
				buf_reset(&email);
		}
		buf_free(&raw);
		rc = send_form(h, c, r, MHD_HTTP_OK, "", buf_cstr(&email), "");
		buf_free(&email);
		return rc;
	}
	ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (ct == NULL || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0 ||
	    (ct[33] != '\0' && ct[33] != ';' && ct[33] != ' '))
		return http_send_text(c, r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
		    "Send the form as application/x-www-form-urlencoded.", NULL);
	e = form_field(r->body.data ? r->body.data : "", r->body.len, "email", &email);
	s = e < 0 ? -1 : form_field(r->body.data, r->body.len, "name", &name);
	if (s >= 0)
		s = form_field(r->body.data, r->body.len, "website", &hp);
	if (s >= 0)
		s = form_field(r->body.data, r->body.len, "form", &form);
	if (e < 0 || s < 0) {
		rc = send_form(h, c, r, MHD_HTTP_BAD_REQUEST,
		    "The form could not be read; please fill it in again.", "", "");
		goto out;
	}
	client_ip(h, c, ip, sizeof ip);
	f.email = e > 0 ? buf_cstr(&email) : NULL;
	f.name = buf_cstr(&name);
	f.honeypot = buf_cstr(&hp);
	f.form = form.len ? buf_cstr(&form) : NULL;
	f.ip = ip;
	pthread_mutex_lock(&h->write_lock);
	s = signup_submit(db, cfg, &h->sec, &f, clock_now_ms(), &res, &what, &d);
	pthread_mutex_unlock(&h->write_lock);
	if (s < 0) {
		rc = http_send_failure(h, c, r, &d);
		goto out;
	}
	log_info("http: signup from %s: %s", ip, what);
	/* The address is written back only into the form's value (escaped),
	 * never said to be known or not. */
	switch (res) {
	case SIGNUP_DONE:
		clock_format_duration(cfg->signup.pending_expiry, life, sizeof life);
		buf_printf(&msg, "If that address can get %s, an email is on its way to it "
		    "with a link to confirm. Nothing is sent until you press Confirm on the "
		    "page it opens; the link works for %s.", cfg->list.name, life);
		rc = http_send_message(h, c, r, MHD_HTTP_OK, "Check your inbox", buf_cstr(&msg),
		    "archive", "Read the archive meanwhile");
		break;
	case SIGNUP_INVALID:
		rc = send_form(h, c, r, MHD_HTTP_BAD_REQUEST,
		    "That does not look like an email address (name@example.com).",
		    buf_cstr(&email), buf_cstr(&name));
		break;
	case SIGNUP_STALE:
		rc = send_form(h, c, r, MHD_HTTP_BAD_REQUEST,
		    "This form is too old or was not ours; please send it again.",
		    buf_cstr(&email), buf_cstr(&name));
		break;
	case SIGNUP_TOO_FAST:
		rc = send_form(h, c, r, MHD_HTTP_BAD_REQUEST,
		    "That was very quick. Please check the form and send it again.",
		    buf_cstr(&email), buf_cstr(&name));
		break;
	default:
		rc = http_send_message(h, c, r, MHD_HTTP_TOO_MANY_REQUESTS, "Too many signups",
		    "Too many signups came from your network just now. Please try again "
		    "in an hour.", "archive", "Read the archive");
		break;
	}
out:
	buf_free(&email);
	buf_free(&name);
	buf_free(&hp);
	buf_free(&form);
	buf_free(&msg);
	return rc;
}

enum MHD_Result
http_confirm(struct http *h, struct MHD_Connection *c, struct req *r, struct db *db)
{
	const struct config *cfg = &h->site.cfg;
	const char *v[S_COUNT] = { 0 };
	enum confirm_state st;
	diag d = DIAG_INIT;
	char *email = NULL;
	buf masked = BUF_INIT, msg = BUF_INIT;
	enum MHD_Result rc;
	int u;

	if (r->method == M_POST) {
		pthread_mutex_lock(&h->write_lock);
		u = signup_confirm(db, cfg, &h->sec, r->token, clock_now(), &st, &email, &d);
		pthread_mutex_unlock(&h->write_lock);
	} else {
		u = signup_confirm_state(db, cfg, &h->sec, r->token, clock_now(), &st, &email, &d);
	}
	if (u < 0)
		return http_send_failure(h, c, r, &d);
	if (email)
		unsubscribe_mask_email(email, &masked);
	switch (st) {
	case CONFIRM_PENDING:
		v[S_EMAIL] = buf_cstr(&masked);
		rc = http_send_framed(h, c, r, MHD_HTTP_OK, PG_SIGNUP_CONFIRM,
		    "Confirm your subscription", v);
		break;
	case CONFIRM_DONE:
		buf_printf(&msg, "%s will get %s. Every email has a link to leave.",
		    buf_cstr(&masked), cfg->list.name);
		rc = http_send_message(h, c, r, MHD_HTTP_OK, "You are subscribed", buf_cstr(&msg),
		    "../archive", "Read the archive");
		break;
	default:
		rc = http_send_message(h, c, r, MHD_HTTP_NOT_FOUND, "This link does not work",
		    "It is not a confirmation link of ours, or it has expired, or the address "
		    "left the list. Nothing was changed. You can sign up again.",
		    "../subscribe", "Sign up");
		break;
	}
	free(email);
	buf_free(&masked);
	buf_free(&msg);
	return rc;
}

