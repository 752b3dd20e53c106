/* broadsided - the Broadside daemon.
 *
 * Thin: owns the life cycle. It reads the config, opens the database, loads
 * the key, takes the daemon lock, puts back what a previous run left in
 * flight, then starts the modules that do the work (scheduler, senders,
 * bounce mailbox poller, HTTP endpoint) and waits for signals: SIGTERM/SIGINT stop (senders finish
 * or release their batches; exit 0), SIGHUP reloads the config and
 * templates (scheduler, senders and poller are stopped and started again
 * with the new config; the HTTP endpoint takes it in place). systemd hears READY,
 * STATUS (sent, queued, rate) and WATCHDOG.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "preflight.h"
#include "http.h"
#include "imap_intake.h"
#include "journal.h"
#include "log.h"
#include "queue.h"
#include "scheduler.h"
#include "secret.h"
#include "smtp.h"
#include "sender.h"
#include "version.h"
#include "xalloc.h"

#define STATUS_EVERY_MS	2000
#define HEARTBEAT_MAX_MS 30000	/* a scheduler silent this long: no watchdog ping */
#define STOP_WAIT_MS	20000	/* SIGTERM: longest wait for SMTP sessions in flight */

/* One generation of the sending side: the config and key it was started
 * with, and its sender. A reload starts a new one at once; the old one is
 * retired and freed once its sessions have finished their batches, however
 * slow its relay, so that systemd never waits on a reload. */
struct gen {
	struct config	 cfg;
	struct secret	 sec;
	struct sender	*sender;
	struct gen	*next;		/* the retiring ones */
};

struct daemon {
	const char	*path;
	struct gen	*cur;
	struct gen	*retiring;
	unsigned	 ngen;
	struct db	*db;
	struct scheduler *sched;
	struct http	*http;
	int64_t		 sent_base;	/* sent by senders of earlier reloads */
	ino_t		 key_ino;	/* the key file as last seen */
	time_t		 key_mtime;
};

/* Everything a config names outside itself is read and checked here: the
 * DKIM keys, the relays' CA files, the templates (a trial render), the
 * secret key. On failure each problem is logged and the running config (if
 * any) stays. `broadside config check` runs the same checks. */
static int
load(const char *path, struct config *cfg, struct secret *sec)
{
	buf errs = BUF_INIT;
	diag d = DIAG_INIT;
	int rc = config_load(path, cfg, &errs, &d);

	if (rc < 0) {
		const char *p = buf_cstr(&errs);
		/* One log line per problem. */
		while (*p) {
			const char *nl = strchr(p, '\n');
			int n = nl ? (int)(nl - p) : (int)strlen(p);
			log_err("%.*s", n, p);
			p += n + (nl != NULL);
		}
	}
	buf_free(&errs);
	if (rc == 0 && (rc = preflight_check(cfg, &d)) < 0)
		log_err("%s", d.msg);
	if (rc == 0 && sec && (rc = secret_load(cfg->key_file, sec, &d)) < 0)
		log_err("%s", d.msg);
	return rc;
}

static void
gen_free(struct gen *g)
{
	config_free(&g->cfg);
	free(g);
}

/* The sending side on g's config: senders, then the scheduler that wakes
 * them; the bounce poller (its trouble is logged, not fatal). */
static int
gen_start(struct daemon *dm, struct gen *g, diag *d)
{
	diag d2 = DIAG_INIT;

	if (sender_start(&g->cfg, &g->sec, ++dm->ngen, &g->sender, d) < 0)
		return -1;
	if (scheduler_start(&g->cfg, sender_wake, g->sender, &dm->sched, d) < 0)
		return -1;
	if (imap_intake_start(&g->cfg, &d2) < 0)
		log_err("%s", d2.msg);
	return 0;
}

/* The scheduler and poller stop (quickly); the sender is retired: it
 * claims nothing more and goes on the retiring list. */
static void
gen_retire(struct daemon *dm)
{
	imap_intake_stop();
	scheduler_stop(dm->sched);
	dm->sched = NULL;
	if (dm->cur) {
		sender_retire(dm->cur->sender);
		dm->cur->next = dm->retiring;
		dm->retiring = dm->cur;
		dm->cur = NULL;
	}
}

/* Frees the retired generations whose sessions have ended; with wait_ms
 * > 0 waits that long for the others (at exit). -1: sessions are stuck. */
static int
reap(struct daemon *dm, int64_t wait_ms)
{
	struct gen **pp = &dm->retiring;
	int64_t deadline = clock_mono_ms() + wait_ms;
	int stuck = 0;

	while (*pp) {
		struct gen *g = *pp;
		int64_t left = deadline - clock_mono_ms();
		if (wait_ms <= 0 && !sender_done(g->sender)) {
			pp = &g->next;
			continue;
		}
		/* One deadline for all of them (systemd's TimeoutStopSec). */
		if (sender_stop(g->sender, wait_ms <= 0 ? 0 : left > 1 ? left : 1) < 0) {
			stuck = 1;	/* leave it: its threads still run */
			pp = &g->next;
			continue;
		}
		dm->sent_base += sender_sent_total(g->sender);
		sender_free(g->sender);
		*pp = g->next;
		gen_free(g);
	}
	return stuck ? -1 : 0;
}

/* One daemon per database: a second one would lease the same mail. The
 * lock file is beside the database's real path (symlinks resolved), so
 * that two names of one file are one lock. */
static int
take_lock(const char *database, diag *d)
{
	char real[PATH_MAX], path[PATH_MAX + 8];
	int fd;

	if (realpath(database, real) == NULL)
		return diag_set(d, EX_NOINPUT, "%s: %s", database, strerror(errno));
	snprintf(path, sizeof path, "%s.lock", real);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return diag_set(d, EX_CANTCREAT, "%s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return diag_set(d, EX_TEMPFAIL, "%s: another broadsided is running on "
		    "database %s", path, real);
	return fd;	/* held open until exit */
}

/* The key file as last seen; a rotation writes a new file and renames it
 * over the old one, so the inode tells. The first call only notes it. */
static int
key_file_changed(struct daemon *dm)
{
	struct stat sb;
	int changed;

	if (stat(dm->cur->cfg.key_file, &sb) < 0)
		return 0;
	changed = dm->key_ino != 0 && (sb.st_ino != dm->key_ino ||
	    sb.st_mtim.tv_sec != dm->key_mtime);
	dm->key_ino = sb.st_ino;
	dm->key_mtime = sb.st_mtim.tv_sec;
	return changed;
}

/* SIGHUP: a config that fails to load or check changes nothing. One that
 * does takes over at once; sessions under way finish on the old one. */
static void
reload(struct daemon *dm)
{
	struct gen *g = xcalloc(1, sizeof *g);
	diag d = DIAG_INIT;

	sd_notify(0, "RELOADING=1\nSTATUS=reloading");
	if (load(dm->path, &g->cfg, &g->sec) < 0) {
		gen_free(g);
		log_warn("reload failed (see above); keeping the running configuration");
		sd_notify(0, "READY=1\nSTATUS=reload failed; running on the previous configuration");
		return;
	}
	if (strcmp(g->cfg.database, dm->cur->cfg.database) != 0) {
		log_warn("reload: database cannot change while running; keeping %s",
		    dm->cur->cfg.database);
		free(g->cfg.database);
		g->cfg.database = xstrdup(dm->cur->cfg.database);
	}
	gen_retire(dm);
	dm->cur = g;
	log_set_level((enum log_level)g->cfg.log_level);
	if (gen_start(dm, g, &d) < 0)
		log_fatal(d.code ? d.code : EX_SOFTWARE, "reload: %s", d.msg);
	if (http_reload(dm->http, &g->cfg, &d) < 0)
		log_err("reload: %s", d.msg);
	log_notice("configuration and templates reloaded from %s", dm->path);
	sd_notify(0, "READY=1\nSTATUS=reloaded");
}

static void
report_status(struct daemon *dm, int64_t *last_sent, int64_t *last_ms, double *rate)
{
	int64_t sent = dm->sent_base + sender_sent_total(dm->cur->sender), now = clock_mono_ms();
	int64_t pending = 0;
	diag d = DIAG_INIT;
	char line[200];

	if (now > *last_ms) {
		double inst = (double)(sent - *last_sent) * 1000.0 / (double)(now - *last_ms);
		*rate = *rate * 0.5 + inst * 0.5;
	}
	*last_sent = sent;
	*last_ms = now;
	if (queue_pending(dm->db, &pending, &d) < 0)
		pending = -1;
	snprintf(line, sizeof line, "STATUS=sent %lld, queued %lld, %.0f messages/s",
	    (long long)sent, (long long)pending, *rate);
	sd_notify(0, line);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cfg_arg = NULL;
	struct daemon dm;
	diag d = DIAG_INIT;
	sigset_t sigs;
	uint64_t wd_usec = 0;
	int64_t released = 0, last_sent = 0, last_ms = clock_mono_ms(), next_status = 0;
	int64_t next_watchdog = 0;
	double rate = 0;
	int64_t replayed = 0;
	struct gen *g;
	int ch, lockfd = -1, fresh, key_made = 0;

	memset(&dm, 0, sizeof dm);
	log_init("broadsided");
	while ((ch = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			cfg_arg = optarg;
			break;
		case 'h':
			printf("usage: broadsided [--config FILE]\n\n"
			    "The Broadside daemon: sends scheduled issues, retries, reads bounces,\n"
			    "serves the unsubscribe links. Runs in the foreground and logs to stderr\n"
			    "(under systemd: broadsided.service, the journal). SIGTERM or SIGINT stops\n"
			    "it (batches in flight finished or released); SIGHUP reloads the config\n"
			    "and templates.\n\n"
			    "  -c, --config FILE  else $BROADSIDE_CONFIG, else %s\n"
			    "  -h, --help         this text\n"
			    "  -V, --version      version and database schema\n", config_path(NULL));
			return 0;
		case 'V':
			printf("broadsided %s\n", version_line());
			return 0;
		default:
			fprintf(stderr, "usage: broadsided [--config FILE] (--help for more)\n");
			return EX_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "broadsided: unexpected argument '%s'\n"
		    "usage: broadsided [--config FILE] (--help for more)\n", argv[optind]);
		return EX_USAGE;
	}
	dm.path = config_path(cfg_arg);
	g = dm.cur = xcalloc(1, sizeof *g);
	if (load(dm.path, &g->cfg, NULL) < 0) {
		gen_free(g);
		return EX_CONFIG;
	}
	log_set_level((enum log_level)g->cfg.log_level);
	/* First start: the state is made here as by 'broadside init', so that
	 * systemd's StateDirectory is all a fresh install needs. */
	fresh = access(g->cfg.database, F_OK) < 0 && errno == ENOENT;
	if (db_open(g->cfg.database, DB_OPEN_CREATE, &dm.db, &d) < 0 ||
	    (lockfd = take_lock(g->cfg.database, &d)) < 0 ||
	    journal_replay(dm.db, g->cfg.database, &replayed, &d) < 0 ||
	    preflight_key(&g->cfg, dm.db, 1, &key_made, &d) < 0 ||
	    secret_load(g->cfg.key_file, &g->sec, &d) < 0 ||
	    queue_release_all(dm.db, &released, &d) < 0) {
		log_err("%s", d.msg);
		db_close(dm.db);
		gen_free(g);
		return d.code;
	}
	(void)key_file_changed(&dm);	/* note the key file as loaded */
	if (fresh)
		log_notice("created the database %s (empty: import subscribers with "
		    "'broadside subscriber import')", g->cfg.database);
	if (key_made)
		log_notice("created the secret key %s (0600)", g->cfg.key_file);
	if (replayed)
		log_notice("%lld outcomes the previous run had not recorded were recorded "
		    "from its outcome journal", (long long)replayed);
	if (released)
		log_notice("%lld deliveries left in flight by the previous run are due again",
		    (long long)released);

	/* Signals are taken by this thread alone, with sigtimedwait(). */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (gen_start(&dm, g, &d) < 0 || http_start(&g->cfg, &g->sec, &dm.http, &d) < 0) {
		log_err("%s", d.msg);
		gen_retire(&dm);
		reap(&dm, STOP_WAIT_MS);
		db_close(dm.db);
		return d.code ? d.code : EX_SOFTWARE;
	}
	log_notice("started: config %s, database %s", dm.path, g->cfg.database);
	sd_notify(0, "READY=1\nSTATUS=started");
	if (sd_watchdog_enabled(0, &wd_usec) <= 0)
		wd_usec = 0;

	for (;;) {
		struct timespec tick = { 0, 250 * 1000000L };
		int sig = sigtimedwait(&sigs, NULL, &tick);
		int64_t now = clock_mono_ms();

		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig == SIGHUP || key_file_changed(&dm)) {
			if (sig != SIGHUP)
				log_notice("key file %s changed (broadside key rotate?): "
				    "reloading so that new mail carries the new key",
				    dm.cur->cfg.key_file);
			reload(&dm);
		}
		if (dm.retiring)
			reap(&dm, 0);
		if (wd_usec && now >= next_watchdog &&
		    now - scheduler_heartbeat(dm.sched) < HEARTBEAT_MAX_MS) {
			sd_notify(0, "WATCHDOG=1");
			next_watchdog = now + (int64_t)(wd_usec / 4000);
		}
		if (now >= next_status) {
			report_status(&dm, &last_sent, &last_ms, &rate);
			next_status = now + STATUS_EVERY_MS;
		}
	}
	sd_notify(0, "STOPPING=1\nSTATUS=stopping: finishing the batches in flight");
	log_notice("stopping: finishing the batches in flight");
	http_stop(dm.http);
	gen_retire(&dm);
	if (reap(&dm, STOP_WAIT_MS) < 0)
		return 0;	/* sessions stuck: leave without freeing what they use */
	log_notice("stopped: %lld messages sent since start", (long long)dm.sent_base);
	db_close(dm.db);
	close(lockfd);
	return 0;
}
