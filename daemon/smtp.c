/* smtp - one SMTP session with libesmtp: a claimed batch over one connection. */
#include "smtp.h"

#include <openssl/err.h>
#include <openssl/ssl.h>	/* before libesmtp.h: it declares smtp_starttls_set_ctx then */
#include <openssl/x509v3.h>
#include <auth-client.h>
#include <libesmtp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdatomic.h>
#include <string.h>

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <linux/tcp.h>	/* struct tcp_info as the kernel has it (glibc's is older) */
#include <stddef.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sysexits.h>

#include "log.h"
#include "token.h"
#include "xalloc.h"


struct session_ctx {
	struct smtp_job	*job;
	const struct relay_conf *rc;
	char		 last_reply[160];	/* the server's last line */
	char		 why[160];		/* what ended the session early */
	int		 fd;			/* its socket, when known; else -1 */
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void
global_init_once(void)
{
	auth_client_init();
}

void
smtp_global_init(void)
{
	pthread_once(&global_once, global_init_once);
}

static void
copy_status(struct smtp_msg *m, enum smtp_stage stage, const smtp_status_t *s)
{
	m->outcome.stage = stage;
	m->outcome.code = s ? s->code : 0;
	m->outcome.status[0] = '\0';
	if (s && s->enh_class > 0)
		snprintf(m->outcome.status, sizeof m->outcome.status, "%d.%d.%d",
		    s->enh_class, s->enh_subject, s->enh_detail);
	m->text[0] = '\0';
	if (s && s->text) {
		size_t n = strcspn(s->text, "\r\n");
		int a, b, c, len = 0;
		snprintf(m->text, sizeof m->text, "%.*s", (int)n, s->text);
		/* A server that does not announce ENHANCEDSTATUSCODES may still
		 * write one first in its text (RFC 3463): take it when its
		 * class matches the reply's. */
		if (!m->outcome.status[0] &&
		    sscanf(m->text, "%1d.%3d.%3d%n", &a, &b, &c, &len) == 3 &&
		    (m->text[len] == ' ' || m->text[len] == '\0') && a == s->code / 100)
			snprintf(m->outcome.status, sizeof m->outcome.status, "%d.%d.%d",
			    a, b, c);
	}
}

static void
finish(struct smtp_job *job, struct smtp_msg *m)
{
	struct session_ctx *ctx = m->priv_ctx;

	if (m->done)
		return;
	m->done = 1;
	job->done(m, job->arg);
	/* Stopping: the session ends here, between two messages (the next
	 * one's data has not gone out), and what it had left goes back
	 * untouched. libesmtp has no call to end a session early; closing
	 * its socket makes its next read or write fail. */
	if (job->stop && atomic_load(job->stop) && ctx && ctx->fd >= 0) {
		shutdown(ctx->fd, SHUT_RDWR);
		ctx->fd = -1;
	}
}

/* Where a message ended, from the statuses libesmtp kept. */
static void
settle(struct smtp_msg *m, const char *session_err)
{
	const smtp_status_t *rp = smtp_reverse_path_status(m->priv_msg);
	const smtp_status_t *rs = smtp_recipient_status(m->priv_rcpt);
	const smtp_status_t *ts = smtp_message_transfer_status(m->priv_msg);

	if (!rp || rp->code == 0) {
		copy_status(m, STAGE_CONNECT, NULL);
		snprintf(m->text, sizeof m->text, "%s", session_err);
	} else if (rp->code / 100 != 2) {
		copy_status(m, STAGE_MAIL, rp);
	} else if (!rs || rs->code / 100 != 2) {
		copy_status(m, STAGE_RCPT, rs && rs->code ? rs : NULL);
		if (!rs || rs->code == 0)
			snprintf(m->text, sizeof m->text, "%s", session_err);
	} else {
		copy_status(m, STAGE_DATA, ts && ts->code ? ts : NULL);
		if (!ts || ts->code == 0)
			snprintf(m->text, sizeof m->text, "%s", session_err);
	}
}

/* libesmtp writes a message through a 2 KB buffer: a 17 KB copy leaves
 * as nine writes, each a trip through the TCP stack and a wakeup of the
 * relay, and that is where most of a copy's CPU went. Nor does it set
 * TCP_NODELAY, so the last small write of a message waits under Nagle for
 * the ACK the server delays (~40 ms a message, as mlmmj suffers). The
 * library does not hand out its socket, so when it reports the connection
 * we find it among the process's descriptors: the TCP socket to the
 * relay's port that has sent nothing yet. It gets TCP_NODELAY, and it is
 * corked while a message body is written (TCP_CORK), so that each copy
 * leaves whole. Should two sessions connect at the same instant, neither
 * can tell its own: both get TCP_NODELAY and go uncorked, which is only
 * slower. */
static int
fresh_relay_socket(int fd, int port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	struct tcp_info ti;
	socklen_t tlen = sizeof ti;
	int peer_port = -1;

	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		return 0;
	if (ss.ss_family == AF_INET)
		peer_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	else if (ss.ss_family == AF_INET6)
		peer_port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	if (peer_port != port)
		return 0;
	memset(&ti, 0, sizeof ti);
	return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tlen) == 0 &&
	    tlen >= offsetof(struct tcp_info, tcpi_data_segs_out) + sizeof ti.tcpi_data_segs_out &&
	    ti.tcpi_data_segs_out == 0;
}

/* The session's own socket, or -1 when it cannot be told apart. */
static int
find_socket(int port)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *e;
	int found[8], n = 0, one = 1;

	if (!dir)
		return -1;
	while ((e = readdir(dir)) != NULL) {
		int fd;
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		fd = atoi(e->d_name);
		if (fd != dirfd(dir) && fresh_relay_socket(fd, port) && n < 8)
			found[n++] = fd;
	}
	closedir(dir);
	for (int i = 0; i < n; i++)
		setsockopt(found[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return n == 1 ? found[0] : -1;
}

static void
cork(struct session_ctx *ctx, int on)
{
	if (ctx->fd >= 0)
		setsockopt(ctx->fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on);
}

/* The protocol lines (message data left out): the server's last line is
 * kept, for the log when a relay fails as a whole; at log_level debug the
 * whole conversation is logged. */
static void
monitor(const char *buf, int len, int writing, void *arg)
{
	struct session_ctx *ctx = arg;

	if (log_enabled(LOG_LVL_DEBUG)) {
		for (const char *p = buf, *end = buf + len; p < end;) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			int n = nl ? (int)(nl - p) + 1 : (int)(end - p), show = n;
			while (show > 0 && (p[show - 1] == '\n' || p[show - 1] == '\r'))
				show--;
			log_debug("smtp %s:%lld %s %.*s", ctx->rc->host, (long long)ctx->rc->port,
			    writing == 1 ? ">" : writing == 0 ? "<" : "*",
			    show > 300 ? 300 : show, p);
			p += n;
		}
	}
	if (writing == 0) {
		/* The last line of what was read. */
		int end = len, start;
		while (end > 0 && (buf[end - 1] == '\n' || buf[end - 1] == '\r'))
			end--;
		for (start = end; start > 0 && buf[start - 1] != '\n'; start--)
			;
		if (end - start >= (int)sizeof ctx->last_reply)
			end = start + (int)sizeof ctx->last_reply - 1;
		memcpy(ctx->last_reply, buf + start, (size_t)(end - start));
		ctx->last_reply[end - start] = '\0';
	}
}

/* TLS. Each relay's sessions use a context of ours: the system's CAs and
 * the relay's ca_file, and TLS 1.2 at most. libesmtp takes the socket
 * being readable for a reply coming; a TLS 1.3 server sends its session
 * tickets after the handshake, unasked, and when they arrive before the
 * EHLO has left, libesmtp waits for a reply to an EHLO it has not sent (a
 * minute, then the session fails). TLS 1.2 sends its ticket inside the
 * handshake.
 *
 * libesmtp checks the certificate against those CAs and its DNS names
 * against the host, and asks us when a check fails: with tls = starttls
 * the answer is yes (encryption when offered, as Postfix's "may": a
 * certificate that cannot be checked is no reason to hold mail back); with
 * tls = required it is no, unless the certificate names the host as an IP
 * address, which libesmtp does not look at. */
#define NCTX	16
static pthread_mutex_t ctx_mu = PTHREAD_MUTEX_INITIALIZER;
static struct { char *ca_file; SSL_CTX *ctx; } ctxs[NCTX];

static SSL_CTX *
tls_ctx_new(const char *ca_file, diag *d)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());

	ERR_clear_error();
	if (c == NULL || !SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) ||
	    !SSL_CTX_set_max_proto_version(c, TLS1_2_VERSION) ||
	    !SSL_CTX_set_default_verify_paths(c) ||
	    (*ca_file && SSL_CTX_load_verify_locations(c, ca_file, NULL) != 1)) {
		unsigned long e = ERR_get_error();
		SSL_CTX_free(c);
		ERR_clear_error();
		if (*ca_file)
			diag_set(d, EX_CONFIG, "%s: cannot load CA certificates (PEM): %s",
			    ca_file, e ? ERR_reason_error_string(e) : "none found");
		else
			diag_set(d, EX_SOFTWARE, "cannot set up TLS: %s",
			    e ? ERR_reason_error_string(e) : "unknown OpenSSL error");
		return NULL;
	}
	ERR_clear_error();
	return c;
}

int
smtp_check_config(const struct config *cfg, diag *d)
{
	char *files[NCTX];
	SSL_CTX *made[NCTX];
	size_t n = 0;

	for (size_t i = 0; i < cfg->nrelays; i++) {
		const char *f = cfg->relays[i].ca_file ? cfg->relays[i].ca_file : "";
		diag d2 = DIAG_INIT;
		SSL_CTX *c;
		size_t k;

		if (cfg->relays[i].tls == RELAY_TLS_NONE && *f == '\0')
			continue;
		for (k = 0; k < n && strcmp(files[k], f) != 0; k++)
			;
		if (k < n || n == NCTX)
			continue;
		if ((c = tls_ctx_new(f, &d2)) == NULL) {
			while (n > 0) {
				free(files[--n]);
				SSL_CTX_free(made[n]);
			}
			return diag_set(d, d2.code, "relays[%zu].ca_file: %s", i, d2.msg);
		}
		files[n] = xstrdup(f);
		made[n++] = c;
	}
	/* A reload reads the files again; sessions under way hold their own
	 * reference to the context they started with. */
	pthread_mutex_lock(&ctx_mu);
	for (size_t i = 0; i < NCTX; i++) {
		free(ctxs[i].ca_file);
		SSL_CTX_free(ctxs[i].ctx);
		ctxs[i].ca_file = i < n ? files[i] : NULL;
		ctxs[i].ctx = i < n ? made[i] : NULL;
	}
	pthread_mutex_unlock(&ctx_mu);
	return 0;
}

/* The context for a relay's sessions, with a reference for the caller;
 * NULL (and libesmtp's own) if it cannot be made. */
static SSL_CTX *
tls_ctx(const struct relay_conf *rc)
{
	const char *f = rc->ca_file ? rc->ca_file : "";
	SSL_CTX *c = NULL;
	diag d = DIAG_INIT;
	size_t i;

	pthread_mutex_lock(&ctx_mu);
	for (i = 0; i < NCTX && ctxs[i].ca_file; i++)
		if (strcmp(ctxs[i].ca_file, f) == 0)
			break;
	if (i < NCTX && ctxs[i].ca_file == NULL && (ctxs[i].ctx = tls_ctx_new(f, &d)) != NULL)
		ctxs[i].ca_file = xstrdup(f);
	if (i < NCTX && ctxs[i].ca_file && SSL_CTX_up_ref(ctxs[i].ctx))
		c = ctxs[i].ctx;
	pthread_mutex_unlock(&ctx_mu);
	if (c == NULL && d.msg[0])
		log_warn("relay %s:%lld: %s", rc->host, (long long)rc->port, d.msg);
	return c;
}

static int
names_host(SSL *ssl, const char *host)
{
	X509 *cert = SSL_get1_peer_certificate(ssl);
	int ok = cert && (X509_check_host(cert, host, 0, 0, NULL) == 1 ||
	    X509_check_ip_asc(cert, host, 0) == 1);

	X509_free(cert);
	return ok;
}

static void
tls_event(struct session_ctx *ctx, int event, va_list ap)
{
	const struct relay_conf *rc = ctx->rc;
	int lenient = rc->tls != RELAY_TLS_REQUIRED;
	long err;
	int *ok;

	switch (event) {
	case SMTP_EV_INVALID_PEER_CERTIFICATE:
		err = va_arg(ap, long);
		ok = va_arg(ap, int *);
		*ok = lenient;
		if (!*ok)
			snprintf(ctx->why, sizeof ctx->why, "its TLS certificate is not "
			    "trusted: %s%s", X509_verify_cert_error_string(err),
			    rc->ca_file && *rc->ca_file ? "" : " (a private CA goes in ca_file)");
		break;
	case SMTP_EV_NO_PEER_CERTIFICATE:
		ok = va_arg(ap, int *);
		*ok = lenient;
		if (!*ok)
			snprintf(ctx->why, sizeof ctx->why, "it shows no TLS certificate");
		break;
	case SMTP_EV_WRONG_PEER_CERTIFICATE: {
		const char *name;
		SSL *ssl;
		ok = va_arg(ap, int *);
		name = va_arg(ap, const char *);
		ssl = va_arg(ap, SSL *);
		*ok = lenient || names_host(ssl, rc->host);
		if (!*ok)
			snprintf(ctx->why, sizeof ctx->why, "its TLS certificate is for %s, "
			    "not %s", name && *name ? name : "another name", rc->host);
		break;
	}
	}
}

static void
on_event(smtp_session_t session, int event, void *arg, ...)
{
	struct session_ctx *ctx = arg;
	va_list ap;

	(void)session;
	if (event == SMTP_EV_MESSAGEDATA)	/* once a line: nothing to do */
		return;
	va_start(ap, arg);
	switch (event) {
	case SMTP_EV_CONNECT:
		ctx->fd = find_socket((int)ctx->rc->port);
		break;
	case SMTP_EV_MAILSTATUS: {
		(void)va_arg(ap, const char *);
		smtp_message_t msg = va_arg(ap, smtp_message_t);
		struct smtp_msg *m = smtp_message_get_application_data(msg);
		const smtp_status_t *s = smtp_reverse_path_status(msg);
		if (m && s && s->code / 100 != 2) {
			copy_status(m, STAGE_MAIL, s);
			finish(ctx->job, m);
		}
		break;
	}
	case SMTP_EV_RCPTSTATUS: {
		(void)va_arg(ap, const char *);
		smtp_recipient_t rcpt = va_arg(ap, smtp_recipient_t);
		struct smtp_msg *m = smtp_recipient_get_application_data(rcpt);
		const smtp_status_t *s = smtp_recipient_status(rcpt);
		/* One recipient per message: a refused RCPT ends it. */
		if (m && s && s->code / 100 != 2) {
			copy_status(m, STAGE_RCPT, s);
			finish(ctx->job, m);
		}
		break;
	}
	case SMTP_EV_DISCONNECT:
		ctx->fd = -1;
		break;
	case SMTP_EV_MESSAGESENT: {
		smtp_message_t msg = va_arg(ap, smtp_message_t);
		struct smtp_msg *m = smtp_message_get_application_data(msg);
		if (m) {
			copy_status(m, STAGE_DATA, smtp_message_transfer_status(msg));
			finish(ctx->job, m);
		}
		break;
	}
	case SMTP_EV_INVALID_PEER_CERTIFICATE:
	case SMTP_EV_NO_PEER_CERTIFICATE:
	case SMTP_EV_WRONG_PEER_CERTIFICATE:
		tls_event(ctx, event, ap);
		break;
	case SMTP_EV_EXTNA_STARTTLS:
		snprintf(ctx->why, sizeof ctx->why, "it offers no STARTTLS and tls = required");
		break;
	case SMTP_EV_EXTNA_DSN: {
		/* DSN parameters are a request, not a requirement: send
		 * without them to a relay that does not offer DSN. */
		int *quit = va_arg(ap, int *);
		*quit = 0;
		break;
	}
	default:
		break;
	}
	va_end(ap);
}

/* Hands libesmtp the whole rendered message in one piece. */
static const char *
message_cb(void **ctx, int *len, void *arg)
{
	struct smtp_msg *m = arg;
	struct session_ctx *sc = m->priv_ctx;

	(void)ctx;
	if (len == NULL) {		/* rewind: the message is about to go */
		if (!m->rated && sc->job->before_data)
			sc->job->before_data(sc->job->arg);
		m->rated = 1;
		m->handed = 0;
		cork(sc, 1);
		return NULL;
	}
	if (m->handed) {		/* all of it handed: let it leave */
		cork(sc, 0);
		*len = 0;
		return NULL;
	}
	m->handed = 1;
	*len = (int)m->len;
	return m->data;
}

static int
auth_interact(auth_client_request_t req, char **result, int fields, void *arg)
{
	const struct relay_conf *rc = arg;

	for (int i = 0; i < fields; i++) {
		if (req[i].flags & AUTH_USER)
			result[i] = rc->username;
		else if (req[i].flags & AUTH_PASS)
			result[i] = rc->password;
		else
			return 0;
	}
	return 1;
}

int
smtp_send(struct smtp_job *job, char *err, size_t errsz)
{
	const struct relay_conf *rc = relay_conf(job->relay);
	struct session_ctx ctx;
	smtp_session_t session = smtp_create_session();
	auth_context_t authctx = NULL;
	SSL_CTX *tlsctx = NULL;
	buf hostport = BUF_INIT;
	char envid[32], ebuf[200];
	int ok, rc_ret = 0;

	memset(&ctx, 0, sizeof ctx);
	ctx.job = job;
	ctx.fd = -1;
	ctx.rc = rc;
	err[0] = '\0';
	buf_printf(&hostport, "%s:%lld", rc->host, (long long)rc->port);
	smtp_set_server(session, buf_cstr(&hostport));
	smtp_set_eventcb(session, on_event, &ctx);
	/* RFC 5321's (the settings' defaults): a relay that is merely slow
	 * is not down, and one that has the whole message usually delivers it,
	 * so giving up on the final dot early sends it twice. libesmtp counts
	 * in milliseconds, whatever its docs say; the override lets tests use
	 * seconds. */
	smtp_set_timeout(session, Timeout_GREETING | Timeout_OVERRIDE_RFC2822_MINIMUM,
	    job->timeouts->timeout_greeting * 1000);
	smtp_set_timeout(session, Timeout_ENVELOPE | Timeout_OVERRIDE_RFC2822_MINIMUM,
	    job->timeouts->timeout_envelope * 1000);
	smtp_set_timeout(session, Timeout_DATA | Timeout_OVERRIDE_RFC2822_MINIMUM,
	    job->timeouts->timeout_data * 1000);
	smtp_set_timeout(session, Timeout_TRANSFER | Timeout_OVERRIDE_RFC2822_MINIMUM,
	    job->timeouts->timeout_block * 1000);
	smtp_set_timeout(session, Timeout_DATA2 | Timeout_OVERRIDE_RFC2822_MINIMUM,
	    job->timeouts->timeout_dot * 1000);
	smtp_set_monitorcb(session, monitor, &ctx, 0);
	if (rc->tls != RELAY_TLS_NONE && (tlsctx = tls_ctx(rc)) != NULL)
		smtp_starttls_set_ctx(session, tlsctx);
	smtp_starttls_enable(session, rc->tls == RELAY_TLS_REQUIRED ? Starttls_REQUIRED :
	    rc->tls == RELAY_TLS_STARTTLS ? Starttls_ENABLED : Starttls_DISABLED);
	/* The password only where nobody between can read it (config.c
	 * refuses a username otherwise, unless the operator said so). */
	if (rc->username && *rc->username &&
	    (rc->tls == RELAY_TLS_REQUIRED || rc->allow_plaintext_auth)) {
		smtp_global_init();
		authctx = auth_create_context();
		auth_set_mechanism_flags(authctx, AUTH_PLUGIN_PLAIN, 0);
		auth_set_interact_cb(authctx, auth_interact, (void *)rc);
		smtp_auth_set_context(session, authctx);
	}

	for (size_t i = 0; i < job->n; i++) {
		struct smtp_msg *m = &job->msgs[i];
		smtp_message_t msg = smtp_add_message(session);
		smtp_recipient_t rcpt;

		smtp_set_reverse_path(msg, m->from);
		smtp_dsn_set_ret(msg, Ret_HDRS);
		snprintf(envid, sizeof envid, "%lld", (long long)m->delivery_id);
		smtp_dsn_set_envid(msg, envid);
		smtp_set_messagecb(msg, message_cb, m);
		smtp_message_set_application_data_release(msg, m, NULL);
		rcpt = smtp_add_recipient(msg, m->rcpt);
		smtp_dsn_set_notify(rcpt, Notify_FAILURE);
		smtp_recipient_set_application_data_release(rcpt, m, NULL);
		m->priv_msg = msg;
		m->priv_rcpt = rcpt;
		m->priv_ctx = &ctx;
		m->done = 0;
		m->handed = 0;
		m->rated = 0;
	}

	ok = smtp_start_session(session);
	if (!ok) {
		smtp_strerror(smtp_errno(), ebuf, sizeof ebuf);
		snprintf(err, errsz, "%s%s%s", ebuf, *ctx.last_reply ? ", after: " : "",
		    ctx.last_reply);
		rc_ret = -1;
	}
	if (*ctx.why) {
		snprintf(err, errsz, "%s", ctx.why);
		rc_ret = -1;
	}
	for (size_t i = 0; i < job->n; i++) {
		struct smtp_msg *m = &job->msgs[i];
		if (!m->done) {
			settle(m, *err ? err : "no reply");
			finish(job, m);
		}
	}
	smtp_destroy_session(session);
	SSL_CTX_free(tlsctx);
	if (authctx)
		auth_destroy_context(authctx);
	buf_free(&hostport);
	return rc_ret;
}
