/* broadsided - the Broadside daemon.
 *
 * Thin: reads the config, opens the database, and runs until SIGTERM or
 * SIGINT; SIGHUP reloads. The work is done by the modules it starts.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "db.h"
#include "http.h"
#include "imap_intake.h"
#include "log.h"
#include "secret.h"

static volatile sig_atomic_t stop_requested, reload_requested;

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		reload_requested = 1;
	else
		stop_requested = 1;
}

static int
load(const char *path, struct config *cfg)
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
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cfg_arg = NULL, *path;
	struct config cfg;
	struct db *db;
	struct secret sec;
	struct http *http = NULL;
	diag d = DIAG_INIT;
	struct sigaction sa;
	int ch;

	log_init("broadsided");
	while ((ch = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		if (ch != 'c') {
			fprintf(stderr, "usage: broadsided [--config FILE]\n");
			return EX_USAGE;
		}
		cfg_arg = optarg;
	}
	path = config_path(cfg_arg);
	if (load(path, &cfg) < 0) {
		config_free(&cfg);
		return EX_CONFIG;
	}
	log_set_level((enum log_level)cfg.log_level);
	if (db_open(cfg.database, DB_OPEN_EXISTING, &db, &d) < 0) {
		log_err("%s", d.msg);
		config_free(&cfg);
		return d.code;
	}

	if (secret_load(cfg.key_file, &sec, &d) < 0 || http_start(&cfg, &sec, &http, &d) < 0) {
		log_err("%s", d.msg);
		db_close(db);
		config_free(&cfg);
		return d.code;
	}

	if (imap_intake_start(&cfg, &d) < 0)
		log_err("%s", d.msg);

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	log_notice("started: config %s, database %s", path, cfg.database);
	sd_notify(0, "READY=1\nSTATUS=idle");
	while (!stop_requested) {
		if (reload_requested) {
			struct config fresh;
			reload_requested = 0;
			sd_notify(0, "RELOADING=1");
			if (load(path, &fresh) == 0) {
				config_free(&cfg);
				cfg = fresh;
				log_set_level((enum log_level)cfg.log_level);
				if (http_reload(http, &cfg, &d) < 0)
					log_err("%s", d.msg);
				imap_intake_stop();
				if (imap_intake_start(&cfg, &d) < 0)
					log_err("%s", d.msg);
				log_notice("configuration reloaded from %s", path);
			} else {
				config_free(&fresh);
				log_warn("reload failed; keeping the running configuration");
			}
			sd_notify(0, "READY=1");
		}
		pause();
	}
	sd_notify(0, "STOPPING=1");
	log_notice("stopping");
	imap_intake_stop();
	http_stop(http);
	db_close(db);
	config_free(&cfg);
	return 0;
}
