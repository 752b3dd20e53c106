/* imap_intake - the daemon's poller of the bounce mailbox (IMAP, libcurl). */
#include "imap_intake.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>

#include "bounce_apply.h"
#include "bounce_parse.h"
#include "buf.h"
#include "clock.h"
#include "log.h"
#include "xalloc.h"

#define MAX_FETCH	(64 * 1024 * 1024)	/* a larger message is not fetched */
#define PER_ROUND	500			/* messages per poll at most */

struct imap {
	CURL		*curl;
	const struct config *cfg;
	char		*base;		/* "imap://host:port/" */
	char		*mailbox;	/* "INBOX" */
	char		*mbox_url;	/* base + escaped mailbox */
	buf		 body;
	int		 too_big;	/* the answer passed MAX_FETCH */
	char		 err[CURL_ERROR_SIZE];
};

static size_t
on_data(char *p, size_t size, size_t n, void *arg)
{
	struct imap *im = arg;

	if (im->body.len + size * n > MAX_FETCH) {
		im->too_big = 1;
		return 0;	/* abort the transfer */
	}
	buf_append(&im->body, p, size * n);
	return size * n;
}

/* Splits cfg url into base and mailbox (default INBOX). */
/* imap:// to a loopback address: TLS may be skipped. */
static int
plain_ok(const char *url)
{
	static const char *const local[] = { "imap://127.", "imap://localhost:",
	    "imap://localhost/", "imap://[::1]" };

	for (size_t i = 0; i < sizeof local / sizeof local[0]; i++)
		if (strncasecmp(url, local[i], strlen(local[i])) == 0)
			return 1;
	return strcasecmp(url, "imap://localhost") == 0;
}

static int
split_url(struct imap *im, const char *url, diag *d)
{
	const char *s = strstr(url, "://"), *path;
	char *mb;
	int n;

	if (s == NULL || (strncmp(url, "imap://", 7) != 0 && strncmp(url, "imaps://", 8) != 0))
		return diag_set(d, EX_CONFIG, "bounces.imap.url \"%s\": not an imap:// or "
		    "imaps:// URL", url);
	path = strchr(s + 3, '/');
	if (path == NULL) {
		im->base = xmalloc(strlen(url) + 2);
		sprintf(im->base, "%s/", url);
		im->mailbox = xstrdup("INBOX");
	} else {
		size_t e = strcspn(path + 1, ";?/");
		im->base = xstrndup(url, (size_t)(path - url) + 1);
		mb = curl_easy_unescape(im->curl, path + 1, (int)e, &n);
		im->mailbox = xstrdup(mb && n > 0 ? mb : "INBOX");
		curl_free(mb);
	}
	{
		char *esc = curl_easy_escape(im->curl, im->mailbox, 0);
		im->mbox_url = xmalloc(strlen(im->base) + strlen(esc) + 1);
		sprintf(im->mbox_url, "%s%s", im->base, esc);
		curl_free(esc);
	}
	return 0;
}

/* One request: url, optional custom command; the answer in im->body. */
static int
request(struct imap *im, const char *url, const char *command, diag *d)
{
	CURLcode rc;

	buf_reset(&im->body);
	im->too_big = 0;
	curl_easy_setopt(im->curl, CURLOPT_URL, url);
	curl_easy_setopt(im->curl, CURLOPT_CUSTOMREQUEST, command);
	im->err[0] = '\0';
	rc = curl_easy_perform(im->curl);
	if (rc != CURLE_OK)
		return diag_set(d, EX_TEMPFAIL, "IMAP %s%s%s: %s", url, command ? " " : "",
		    command ? command : "", im->err[0] ? im->err : curl_easy_strerror(rc));
	return 0;
}

static int
imap_open(struct imap *im, const struct config *cfg, diag *d)
{
	memset(im, 0, sizeof *im);
	im->cfg = cfg;
	im->curl = curl_easy_init();
	if (im->curl == NULL)
		return diag_set(d, EX_SOFTWARE, "libcurl: cannot make a handle");
	if (split_url(im, cfg->bounces.imap.url, d) < 0)
		return -1;
	curl_easy_setopt(im->curl, CURLOPT_USERNAME, cfg->bounces.imap.username);
	curl_easy_setopt(im->curl, CURLOPT_PASSWORD, cfg->bounces.imap.password);
	curl_easy_setopt(im->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(im->curl, CURLOPT_WRITEDATA, im);
	curl_easy_setopt(im->curl, CURLOPT_ERRORBUFFER, im->err);
	curl_easy_setopt(im->curl, CURLOPT_CONNECTTIMEOUT, 15L);
	curl_easy_setopt(im->curl, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(im->curl, CURLOPT_NOSIGNAL, 1L);
	/* The password only over TLS: imaps://, or STARTTLS that must succeed
	 * (not "if available": a man in the middle would strip it). Plain
	 * IMAP only to this machine. */
	curl_easy_setopt(im->curl, CURLOPT_USE_SSL,
	    plain_ok(cfg->bounces.imap.url) ? (long)CURLUSESSL_TRY : (long)CURLUSESSL_ALL);
	return 0;
}

static void
imap_close(struct imap *im)
{
	if (im->curl)
		curl_easy_cleanup(im->curl);
	free(im->base);
	free(im->mailbox);
	free(im->mbox_url);
	buf_free(&im->body);
}

/* "* STATUS INBOX (UIDNEXT 5 UIDVALIDITY 1795441391)" */
static int
uidvalidity(struct imap *im, int64_t *v, diag *d)
{
	char cmd[600];
	const char *p;

	snprintf(cmd, sizeof cmd, "STATUS \"%s\" (UIDVALIDITY)", im->mailbox);
	if (request(im, im->base, cmd, d) < 0)
		return -1;
	p = strstr(buf_cstr(&im->body), "UIDVALIDITY ");
	if (p == NULL)
		return diag_set(d, EX_PROTOCOL, "IMAP %s: no UIDVALIDITY in the STATUS answer",
		    im->mailbox);
	*v = strtoll(p + 12, NULL, 10);
	return 0;
}

static int
seen(struct db *db, const char *mailbox, int64_t validity, int64_t uid, int *yes, diag *d)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT 1 FROM imap_seen WHERE mailbox = ? AND "
	    "uidvalidity = ? AND uid = ?");
	int rc;

	sqlite3_bind_text(st, 1, mailbox, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, validity);
	sqlite3_bind_int64(st, 3, uid);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(db, d, "reading the processed IMAP messages");
	*yes = rc == SQLITE_ROW;
	return 0;
}

static int
record(struct db *db, const char *mailbox, int64_t validity, int64_t uid, diag *d)
{
	sqlite3_stmt *st = db_stmt(db, "INSERT OR IGNORE INTO imap_seen (mailbox, "
	    "uidvalidity, uid, processed_at) VALUES (?, ?, ?, ?)");

	sqlite3_bind_text(st, 1, mailbox, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, validity);
	sqlite3_bind_int64(st, 3, uid);
	sqlite3_bind_int64(st, 4, clock_now());
	return db_step_done(db, st, d, "recording the IMAP message");
}

static int64_t
highest(struct db *db, const char *mailbox, int64_t validity)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT max(uid) FROM imap_seen WHERE mailbox = ? "
	    "AND uidvalidity = ?");
	int64_t v = 0;

	sqlite3_bind_text(st, 1, mailbox, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, validity);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return v;
}

/* Flags a processed message \Seen, or \Deleted (expunged later). */
static int
flag(struct imap *im, int64_t uid, diag *d)
{
	char cmd[96];

	snprintf(cmd, sizeof cmd, "UID STORE %" PRId64 " +FLAGS.SILENT (%s)", uid,
	    im->cfg->bounces.imap.delete ? "\\Seen \\Deleted" : "\\Seen");
	return request(im, im->mbox_url, cmd, d);
}

/* Fetches, parses, applies and records one message. 1 when done (applied,
 * ignored, or refused as not mail), 0 when it must wait for the next
 * round (database busy), -1 on a hard failure. */
static int
process(struct imap *im, struct db *db, int64_t validity, int64_t uid, diag *d)
{
	char url[2048];
	struct bounce_report *r = NULL;
	struct bounce_outcome oc;
	diag pd = DIAG_INIT;
	int rc;

	snprintf(url, sizeof url, "%s/;UID=%" PRId64, im->mbox_url, uid);
	if (request(im, url, NULL, d) < 0 && !im->too_big)
		return -1;
	if (db_begin(db, d) < 0)
		return d->code == EX_TEMPFAIL ? 0 : -1;
	if (record(db, im->cfg->bounces.imap.url, validity, uid, d) < 0)
		goto fail;
	if (im->too_big) {
		log_warn("IMAP %s UID %" PRId64 ": larger than %d MB; flagged and skipped",
		    im->mailbox, uid, MAX_FETCH / (1024 * 1024));
	} else if (bounce_parse(im->body.data ? im->body.data : "", im->body.len, &r, &pd) < 0) {
		log_warn("IMAP %s UID %" PRId64 ": %s; flagged and skipped", im->mailbox, uid,
		    pd.msg);
	} else {
		rc = bounce_apply_tx(db, im->cfg, r, clock_now(), &oc, d);
		bounce_report_free(r);
		if (rc < 0)
			goto fail;
		log_info("IMAP %s UID %" PRId64 ": %s", im->mailbox, uid, oc.summary);
	}
	if (db_commit(db, d) < 0)
		return d->code == EX_TEMPFAIL ? 0 : -1;
	return 1;
fail:
	db_rollback(db);
	return d->code == EX_TEMPFAIL ? 0 : -1;
}

int
imap_intake_poll(struct db *db, const struct config *cfg, int *applied, diag *d)
{
	struct imap im;
	int64_t validity = 0, from;
	char cmd[64];
	const char *p;
	int64_t *uids = NULL;
	size_t n = 0, cap = 0;
	int rc = 0, expunge = 0;

	*applied = 0;
	if (imap_open(&im, cfg, d) < 0 || uidvalidity(&im, &validity, d) < 0) {
		imap_close(&im);
		return -1;
	}
	from = highest(db, cfg->bounces.imap.url, validity) + 1;
	/* New messages (UID n and up), and any still unseen: one recorded but
	 * not flagged before a stop is flagged now, not applied again. ("n:*"
	 * also names the last message when its UID is below n: the record of
	 * processed UIDs sorts that out.) */
	snprintf(cmd, sizeof cmd, "UID SEARCH UNDELETED OR UNSEEN UID %" PRId64 ":*", from);
	if (request(&im, im.mbox_url, cmd, d) < 0) {
		imap_close(&im);
		return -1;
	}
	p = strstr(buf_cstr(&im.body), "* SEARCH");
	if (p) {
		p += 8;
		while (*p && *p != '\r' && *p != '\n' && n < PER_ROUND) {
			char *e;
			long long v = strtoll(p, &e, 10);
			if (e == p)
				break;
			if (v > 0) {
				uids = xgrow(uids, &cap, n + 1, sizeof *uids);
				uids[n++] = v;
			}
			p = e;
		}
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		int done = 0;
		if (seen(db, cfg->bounces.imap.url, validity, uids[i], &done, d) < 0) {
			rc = -1;
			break;
		}
		if (!done) {
			int pr = process(&im, db, validity, uids[i], d);
			if (pr < 0) {
				rc = -1;
				break;
			}
			if (pr == 0) {
				log_notice("IMAP: %s; the rest waits for the next poll", d->msg);
				break;
			}
			(*applied)++;
		}
		/* Recorded (now or before a stop): flag it. */
		if (flag(&im, uids[i], d) < 0) {
			rc = -1;
			break;
		}
		expunge |= cfg->bounces.imap.delete != 0;
	}
	if (rc == 0 && expunge && request(&im, im.mbox_url, "EXPUNGE", d) < 0)
		rc = -1;
	free(uids);
	imap_close(&im);
	return rc;
}

/* ---- the thread */

static struct {
	pthread_t	 thread;
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	int		 running, stop;
	struct config	 cfg;		/* the thread's own copy */
} intake = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static void
set_str(char **dst, const char *src)
{
	free(*dst);
	*dst = xstrdup(src ? src : "");
}

static void *
run(void *arg)
{
	struct db *db = NULL;
	diag d = DIAG_INIT;

	(void)arg;
	log_notice("bounce intake: polling %s every %" PRId64 "s", intake.cfg.bounces.imap.url,
	    intake.cfg.bounces.imap.interval);
	for (;;) {
		struct timespec until;
		int applied = 0;

		pthread_mutex_lock(&intake.mu);
		if (intake.stop) {
			pthread_mutex_unlock(&intake.mu);
			break;
		}
		pthread_mutex_unlock(&intake.mu);

		if (db == NULL && db_open(intake.cfg.database, DB_OPEN_EXISTING, &db, &d) < 0) {
			log_err("bounce intake: %s", d.msg);
			db = NULL;
		}
		if (db && imap_intake_poll(db, &intake.cfg, &applied, &d) < 0)
			log_warn("bounce intake: %s", d.msg);
		else if (applied)
			log_info("bounce intake: %d message%s processed", applied,
			    applied == 1 ? "" : "s");

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += intake.cfg.bounces.imap.interval > 0 ?
		    intake.cfg.bounces.imap.interval : 60;
		pthread_mutex_lock(&intake.mu);
		while (!intake.stop &&
		    pthread_cond_timedwait(&intake.cv, &intake.mu, &until) != ETIMEDOUT)
			;
		pthread_mutex_unlock(&intake.mu);
	}
	db_close(db);
	return NULL;
}

int
imap_intake_start(const struct config *cfg, diag *d)
{
	struct config *c = &intake.cfg;

	if (cfg->bounces.imap.url == NULL || cfg->bounces.imap.url[0] == '\0')
		return 0;
	if (intake.running)
		return 0;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return diag_set(d, EX_SOFTWARE, "libcurl: global initialisation failed");
	config_defaults(c);
	set_str(&c->database, cfg->database);
	set_str(&c->key_file, cfg->key_file);
	set_str(&c->list.id, cfg->list.id);
	set_str(&c->bounces.address, cfg->bounces.address);
	set_str(&c->bounces.imap.url, cfg->bounces.imap.url);
	set_str(&c->bounces.imap.username, cfg->bounces.imap.username);
	set_str(&c->bounces.imap.password, cfg->bounces.imap.password);
	c->bounces.imap.interval = cfg->bounces.imap.interval;
	c->bounces.imap.delete = cfg->bounces.imap.delete;
	c->bounces.score_threshold = cfg->bounces.score_threshold;
	c->bounces.score_interval = cfg->bounces.score_interval;
	c->bounces.score_reset = cfg->bounces.score_reset;
	intake.stop = 0;
	{
		/* The signals are the main thread's: the poller never takes them. */
		sigset_t block, old;
		int rc;
		sigemptyset(&block);
		sigaddset(&block, SIGTERM);
		sigaddset(&block, SIGINT);
		sigaddset(&block, SIGHUP);
		sigaddset(&block, SIGPIPE);
		pthread_sigmask(SIG_BLOCK, &block, &old);
		rc = pthread_create(&intake.thread, NULL, run, NULL);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (rc != 0) {
			config_free(c);
			return diag_set(d, EX_OSERR, "bounce intake: cannot start its thread");
		}
	}
	intake.running = 1;
	return 0;
}

void
imap_intake_stop(void)
{
	if (!intake.running)
		return;
	pthread_mutex_lock(&intake.mu);
	intake.stop = 1;
	pthread_cond_signal(&intake.cv);
	pthread_mutex_unlock(&intake.mu);
	pthread_join(intake.thread, NULL);
	config_free(&intake.cfg);
	intake.running = 0;
	curl_global_cleanup();
}
