/* cli_base - broadside init, config check, config example. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "log.h"
#include "preflight.h"

static int
cmd_init(struct cli_ctx *ctx, int argc, char **argv, diag *d)
{
	struct db *db;
	struct stat sb;
	int created, had_folder, had_db;
	char folder[4096];
	const char *slash = strrchr(ctx->cfg.database, '/');

	(void)argv;
	if (argc > 1)
		return cli_usage(d, "init takes no arguments");
	/* db_open makes the database's folder when it is missing: say so. */
	snprintf(folder, sizeof folder, "%.*s", slash ? (int)(slash - ctx->cfg.database) : 1,
	    slash ? ctx->cfg.database : ".");
	had_folder = folder[0] == '\0' || stat(folder, &sb) == 0;
	had_db = access(ctx->cfg.database, F_OK) == 0;
	if (db_open(ctx->cfg.database, DB_OPEN_CREATE, &db, d) < 0)
		return -1;
	if (!had_folder)
		printf("folder %s created (0750)\n", folder);
	printf("database %s ready (schema version %d)\n", ctx->cfg.database,
	    db_schema_version(db));
	if (preflight_key(&ctx->cfg, db, 1, &created, d) < 0) {
		db_close(db);
		return -1;
	}
	db_close(db);
	printf("secret key %s %s\n", ctx->cfg.key_file, created ? "created (0600)" : "kept");
	/* root making files in the daemon's folder: they would stay root's. */
	if ((!had_db || created) && geteuid() == 0 &&
	    stat(folder[0] ? folder : "/", &sb) == 0 && sb.st_uid != 0)
		log_warn("made as root in a folder of uid %u: the new files are root's and "
		    "the daemon cannot write them; chown them, or run the CLI as the daemon's "
		    "user (runuser -u broadside -- broadside ...)", (unsigned)sb.st_uid);
	return 0;
}

static int
cmd_config_check(struct cli_ctx *ctx, int argc, char **argv, diag *d)
{
	struct config cfg;
	buf errs = BUF_INIT;
	const char *path = argc > 1 ? argv[1] : ctx->config_path;
	int made;

	if (argc > 2)
		return cli_usage(d, "config check takes at most one FILE");
	if (config_load(path, &cfg, &errs, d) < 0) {
		/* Every problem on its own line; the last one comes back as d. */
		fputs(buf_cstr(&errs), stderr);
		buf_free(&errs);
		config_free(&cfg);
		diag_set(d, EX_CONFIG, "%s: configuration has errors", path);
		return -1;
	}
	/* What the config names outside itself, as the daemon checks it at
	 * start and reload: a bad key file shows now, not at sending. */
	if (preflight_check(&cfg, d) < 0 || preflight_key(&cfg, NULL, 0, &made, d) < 0) {
		buf_free(&errs);
		config_free(&cfg);
		return -1;
	}
	for (size_t i = 0; i < cfg.nrelays; i++)
		if (cfg.relays[i].allow_plaintext_auth && *cfg.relays[i].username &&
		    cfg.relays[i].tls != RELAY_TLS_REQUIRED)
			fprintf(stderr, "%s: warning: relays[%zu]: allow_plaintext_auth: the "
			    "password for %s goes out where a man in the middle can read it\n",
			    path, i, cfg.relays[i].host);
	printf("%s: ok (%zu relay%s, database %s)\n", path, cfg.nrelays,
	    cfg.nrelays == 1 ? "" : "s", cfg.database);
	buf_free(&errs);
	config_free(&cfg);
	return 0;
}

static int
cmd_config_example(struct cli_ctx *ctx, int argc, char **argv, diag *d)
{
	buf out = BUF_INIT;
	int rc;

	(void)ctx; (void)argv;
	if (argc > 1)
		return cli_usage(d, "config example takes no arguments");
	config_example(&out);
	rc = cli_write_stdout(&out, d);
	buf_free(&out);
	return rc;
}

const struct cli_command cli_base_commands[] = {
	{ NULL, "init", "", "create the database and the secret key (0600); idempotent",
	  CLI_NEEDS_CONFIG, cmd_init },
	{ "config", "check", "[FILE]", "validate a config file, naming line and key of every error",
	  CLI_NEEDS_NOTHING, cmd_config_check },
	{ "config", "example", "", "print a complete commented config with all defaults",
	  CLI_NEEDS_NOTHING, cmd_config_example },
	{ NULL, NULL, NULL, NULL, 0, NULL },
};
