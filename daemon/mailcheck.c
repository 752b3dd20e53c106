/* mailcheck - the checks a copy must pass before it goes to the providers. */
#include "mailcheck.h"

#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "xalloc.h"

extern char **environ;

#define GMAIL_CLIP	(102 * 1024)

struct hdr {
	char	*name;
	char	*value;		/* unfolded, blanks at both ends removed */
};

struct hdrs {
	struct hdr *h;
	size_t	 n, cap;
	size_t	 body;		/* offset of the body */
};

static void
hdrs_free(struct hdrs *hs)
{
	for (size_t i = 0; i < hs->n; i++) {
		free(hs->h[i].name);
		free(hs->h[i].value);
	}
	free(hs->h);
}

static void
hdrs_read(const char *m, size_t len, struct hdrs *hs)
{
	size_t pos = 0;

	memset(hs, 0, sizeof *hs);
	hs->body = len;
	while (pos < len) {
		const char *nl = memchr(m + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - m) : len, e = end;
		if (e > pos && m[e - 1] == '\r')
			e--;
		if (e == pos) {
			hs->body = nl ? end + 1 : len;
			return;
		}
		if ((m[pos] == ' ' || m[pos] == '\t') && hs->n) {
			struct hdr *h = &hs->h[hs->n - 1];
			buf v = BUF_INIT;
			buf_puts(&v, h->value);
			buf_putc(&v, ' ');
			buf_append(&v, m + pos, e - pos);
			free(h->value);
			h->value = buf_detach(&v);
		} else {
			const char *colon = memchr(m + pos, ':', e - pos);
			if (colon) {
				hs->h = xgrow(hs->h, &hs->cap, hs->n + 1, sizeof *hs->h);
				hs->h[hs->n].name = xstrndup(m + pos, (size_t)(colon - m - pos));
				hs->h[hs->n].value = xstrndup(colon + 1, e - (size_t)(colon - m) - 1);
				hs->n++;
			}
		}
		pos = nl ? end + 1 : len;
	}
}

static size_t
hdr_count(const struct hdrs *hs, const char *name, const char **value)
{
	size_t c = 0;

	for (size_t i = 0; i < hs->n; i++)
		if (strcasecmp(hs->h[i].name, name) == 0) {
			if (c++ == 0 && value) {
				const char *v = hs->h[i].value;
				while (*v == ' ' || *v == '\t')
					v++;
				*value = v;
			}
		}
	return c;
}

static void
line(struct mailcheck_result *res, buf *out, const char *verdict, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
line(struct mailcheck_result *res, buf *out, const char *verdict, const char *fmt, ...)
{
	va_list ap;

	if (strcmp(verdict, "FAIL") == 0)
		res->failed++;
	else if (strcmp(verdict, "warn") == 0)
		res->warned++;
	buf_printf(out, "  %-5s ", verdict);
	va_start(ap, fmt);
	buf_vprintf(out, fmt, ap);
	va_end(ap);
	buf_putc(out, '\n');
}

/* The domain of the address in a From: value, lowercased, into out. */
static void
from_domain(const char *v, char *out, size_t n)
{
	const char *lt = strrchr(v, '<'), *at, *end;

	*out = '\0';
	if (lt) {
		end = strchr(lt, '>');
		at = memchr(lt, '@', end ? (size_t)(end - lt) : strlen(lt));
	} else {
		at = strrchr(v, '@');
		end = NULL;
	}
	if (at == NULL)
		return;
	at++;
	if (end == NULL)
		for (end = at; *end && *end != ' ' && *end != '>' && *end != ')'; end++)
			;
	snprintf(out, n, "%.*s", (int)(end - at), at);
	for (char *p = out; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
}

/* DMARC relaxed alignment without the public suffix list: the same domain,
 * or one a subdomain of the other. */
static int
aligned(const char *from, const char *d, int *strict)
{
	size_t a = strlen(from), b = strlen(d);

	*strict = strcasecmp(from, d) == 0;
	if (*strict)
		return 1;
	if (a > b && from[a - b - 1] == '.' && strcasecmp(from + a - b, d) == 0)
		return 1;
	if (b > a && d[b - a - 1] == '.' && strcasecmp(d + b - a, from) == 0)
		return 1;
	return 0;
}

static int
covers(const char *hlist, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = hlist; *p; ) {
		const char *c = strchr(p, ':');
		size_t len = c ? (size_t)(c - p) : strlen(p);
		if (len == n && strncasecmp(p, name, n) == 0)
			return 1;
		p += len + (c != NULL);
	}
	return 0;
}

static void
check_headers(const struct hdrs *hs, struct mailcheck_result *res, buf *out)
{
	static const char *const once[] = {
		"From", "To", "Subject", "Date", "Message-ID", "MIME-Version",
		"Content-Type", "List-Id", "List-Unsubscribe", "List-Unsubscribe-Post",
	};
	const char *lu = NULL, *lup = NULL, *fid = NULL;
	buf bad = BUF_INIT;

	for (size_t i = 0; i < sizeof once / sizeof once[0]; i++) {
		size_t c = hdr_count(hs, once[i], NULL);
		if (c != 1)
			buf_printf(&bad, "%s%s %s", bad.len ? ", " : "", once[i],
			    c ? "more than once" : "missing");
	}
	if (bad.len)
		line(res, out, "FAIL", "headers: %s", bad.data);
	else
		line(res, out, "ok", "headers: From, To, Subject, Date, Message-ID, MIME-Version, "
		    "Content-Type, List-Id, List-Unsubscribe, List-Unsubscribe-Post, once each");
	buf_free(&bad);

	hdr_count(hs, "List-Unsubscribe", &lu);
	hdr_count(hs, "List-Unsubscribe-Post", &lup);
	if (lu && strstr(lu, "<https://") && strstr(lu, "<mailto:") && lup &&
	    strcmp(lup, "List-Unsubscribe=One-Click") == 0)
		line(res, out, "ok", "one-click unsubscribe (RFC 8058): https and mailto links, "
		    "List-Unsubscribe-Post: List-Unsubscribe=One-Click");
	else if (lu && strstr(lu, "<http://") && lup)
		line(res, out, "warn", "one-click unsubscribe: the link is http, not https "
		    "(providers want https; list.base_url)");
	else
		line(res, out, "FAIL", "one-click unsubscribe (RFC 8058): List-Unsubscribe needs "
		    "<https://...> and <mailto:...>, List-Unsubscribe-Post: "
		    "List-Unsubscribe=One-Click");
	if (hdr_count(hs, "Feedback-ID", &fid) == 1)
		line(res, out, "ok", "Feedback-ID: %s (Gmail feedback loop)", fid);
	else
		line(res, out, "warn", "Feedback-ID missing (Gmail's feedback loop groups "
		    "complaints by it)");
}

static void
check_dkim(const struct dkim *dk, const struct hdrs *hs, const char *msg, size_t len,
    struct mailcheck_result *res, buf *out)
{
	struct dkim_verdict v[8];
	size_t n = 0, good_aligned = 0;
	char from[256];
	const char *fv = NULL;
	diag d = DIAG_INIT;

	hdr_count(hs, "From", &fv);
	from_domain(fv ? fv : "", from, sizeof from);
	if (dk == NULL) {
		line(res, out, "FAIL", "DKIM: no keys configured, the copy is not signed; Gmail "
		    "and Yahoo refuse unsigned bulk mail ('broadside dkim keygen')");
		return;
	}
	if (dkim_verify(dk, msg, len, v, 8, &n, &d) < 0) {
		line(res, out, "FAIL", "DKIM: %s", d.msg);
		return;
	}
	if (n == 0)
		line(res, out, "FAIL", "DKIM: the copy carries no DKIM-Signature");
	for (size_t i = 0; i < n; i++) {
		int strict;
		if (!v[i].ok) {
			line(res, out, "FAIL", "DKIM %s s=%s d=%s: %s", v[i].alg, v[i].selector,
			    v[i].domain, v[i].why);
			continue;
		}
		line(res, out, "ok", "DKIM %s s=%s d=%s verifies", v[i].alg, v[i].selector,
		    v[i].domain);
		if (covers(v[i].headers, "from") && covers(v[i].headers, "list-unsubscribe") &&
		    covers(v[i].headers, "list-unsubscribe-post"))
			line(res, out, "ok", "DKIM s=%s h= covers From, List-Unsubscribe and "
			    "List-Unsubscribe-Post", v[i].selector);
		else
			line(res, out, "FAIL", "DKIM s=%s h= leaves out From, List-Unsubscribe or "
			    "List-Unsubscribe-Post (Gmail ignores an unsigned one-click)",
			    v[i].selector);
		if (aligned(from, v[i].domain, &strict)) {
			good_aligned++;
			line(res, out, "ok", "DMARC alignment: From domain %s %s d=%s", from,
			    strict ? "is" : "shares its organizational domain with", v[i].domain);
		} else {
			line(res, out, "warn", "DMARC alignment: From domain %s is not d=%s",
			    from[0] ? from : "(none)", v[i].domain);
		}
	}
	if (n && good_aligned == 0)
		line(res, out, "FAIL", "DMARC: no valid signature is aligned with the From domain "
		    "%s; DMARC fails unless SPF aligns (set dkim[].domain to it)", from);
}

static void
check_lines(const char *m, size_t len, size_t body, struct mailcheck_result *res, buf *out)
{
	size_t longest_h = 0, longest_b = 0, start = 0, bare = 0;

	for (size_t i = 0; i < len; i++) {
		if (m[i] == '\n' && (i == 0 || m[i - 1] != '\r'))
			bare++;
		if (m[i] == '\r' && (i + 1 >= len || m[i + 1] != '\n'))
			bare++;
		if (m[i] == '\n' || i + 1 == len) {
			size_t e = m[i] == '\n' ? i : i + 1;
			if (e > start && m[e - 1] == '\r')
				e--;
			if (start < body && e - start > longest_h)
				longest_h = e - start;
			if (start >= body && e - start > longest_b)
				longest_b = e - start;
			start = i + 1;
		}
	}
	if (bare)
		line(res, out, "FAIL", "line ends: %zu bare CR or LF (SMTP needs CRLF)", bare);
	if (longest_h > 998 || longest_b > 998)
		line(res, out, "FAIL", "line length: a line of %zu octets (RFC 5322 limit 998)",
		    longest_h > longest_b ? longest_h : longest_b);
	else if (longest_h > 78 || longest_b > 78)
		line(res, out, "warn", "line length: longest header line %zu, body line %zu "
		    "(78 recommended)", longest_h, longest_b);
	else if (!bare)
		line(res, out, "ok", "lines: CRLF only; longest header line %zu, body line %zu "
		    "(at most 78)", longest_h, longest_b);
	if (len > GMAIL_CLIP)
		line(res, out, "warn", "size %zu KB: Gmail clips messages over 102 KB (and the "
		    "unsubscribe link with them)", len / 1024);
	else
		line(res, out, "ok", "size %zu KB (Gmail clips over 102 KB)", (len + 1023) / 1024);
}

const char *
mailcheck_find_spamassassin(void)
{
	static char path[512];
	const char *p = getenv("PATH");

	if (p == NULL || *p == '\0')
		p = "/usr/local/bin:/usr/bin:/bin";
	while (*p) {
		const char *c = strchr(p, ':');
		size_t n = c ? (size_t)(c - p) : strlen(p);
		snprintf(path, sizeof path, "%.*s/spamassassin", (int)n, p);
		if (n && access(path, X_OK) == 0)
			return path;
		p += n + (c != NULL);
	}
	return NULL;
}

/* Runs `spamassassin -L -t` (local tests only: no DNS, no network) on the
 * message and reads the score and the rules hit from X-Spam-Status. */
static void
check_spam(const char *sa, const char *msg, size_t len, struct mailcheck_result *res,
    buf *out)
{
	char tmp[] = "/tmp/broadside-check.XXXXXX";
	int fd = mkstemp(tmp), pfd[2] = { -1, -1 }, status = 0;
	posix_spawn_file_actions_t fa;
	/* Local tests only; a preview must not teach the Bayes filter. */
	char *argv[] = { (char *)sa, "-L", "-t", "--cf=bayes_auto_learn 0", NULL };
	pid_t pid;
	buf got = BUF_INIT;
	char chunk[8192], *st, *score, *tests;
	ssize_t r;

	if (fd < 0 || write(fd, msg, len) != (ssize_t)len || lseek(fd, 0, SEEK_SET) < 0 ||
	    pipe(pfd) < 0) {
		line(res, out, "skip", "SpamAssassin: cannot make a temporary file");
		goto done;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fd, 0);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addclose(&fa, pfd[0]);
	if (posix_spawn(&pid, sa, &fa, NULL, argv, environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		line(res, out, "skip", "SpamAssassin: cannot run %s", sa);
		goto done;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	pfd[1] = -1;
	while ((r = read(pfd[0], chunk, sizeof chunk)) > 0)
		buf_append(&got, chunk, (size_t)r);
	waitpid(pid, &status, 0);
	/* X-Spam-Status: No, score=0.7 required=5.0 tests=A,\r\n\tB autolearn=... */
	st = strstr(buf_cstr(&got), "X-Spam-Status:");
	score = st ? strstr(st, "score=") : NULL;
	if (score == NULL) {
		line(res, out, "skip", "SpamAssassin: no score in its answer (exit %d)",
		    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		goto done;
	}
	res->spam_ran = 1;
	res->spam_score = strtod(score + 6, NULL);
	if (res->spam_score > -0.05 && res->spam_score < 0.05)
		res->spam_score = 0.0;	/* "-0.0" reads oddly */
	buf names = BUF_INIT;
	/* Comma-separated; a fold (CRLF or LF, then a tab) only follows a comma. */
	if ((tests = strstr(st, "tests=")) != NULL)
		for (char *p = tests + 6; *p && *p != ' '; p++) {
			if (*p == '\r' || *p == '\n' || *p == '\t') {
				if (p[-1] != ',' && p[-1] != '\r' && p[-1] != '\n')
					break;
				continue;
			}
			if (*p == ',')
				buf_puts(&names, ", ");
			else
				buf_putc(&names, *p);
		}
	line(res, out, res->spam_score >= 5.0 ? "FAIL" : res->spam_score >= 2.0 ? "warn" : "ok",
	    "SpamAssassin (local tests, no network): score %.1f (tests: %s)", res->spam_score,
	    names.len ? names.data : "none");
	buf_free(&names);
done:
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	buf_free(&got);
}

void
mailcheck_run(const struct dkim *dk, const char *msg, size_t len, const char *spamassassin,
    struct mailcheck_result *res, buf *out)
{
	struct hdrs hs;

	memset(res, 0, sizeof *res);
	hdrs_read(msg, len, &hs);
	check_headers(&hs, res, out);
	check_dkim(dk, &hs, msg, len, res, out);
	check_lines(msg, len, hs.body, res, out);
	if (spamassassin)
		check_spam(spamassassin, msg, len, res, out);
	else
		line(res, out, "skip", "SpamAssassin is not installed (apt-get install spamassassin)");
	buf_printf(out, "%d failed, %d warning%s\n", res->failed, res->warned,
	    res->warned == 1 ? "" : "s");
	hdrs_free(&hs);
}
