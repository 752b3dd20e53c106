/* cli_base - broadside init, config check, config example. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "dkim.h"
#include "log.h"
#include "secret.h"
#include "smtp.h"

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
	db_close(db);
	if (secret_init(ctx->cfg.key_file, &created, d) < 0)
		return -1;
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
	/* The DKIM keys are read here too: a bad key file shows now, not at sending. */
	struct dkim *dk = NULL;
	if (dkim_load(&cfg, &dk, d) < 0) {
		buf_free(&errs);
		config_free(&cfg);
		return -1;
	}
	dkim_free(dk);
	if (smtp_check_config(&cfg, d) < 0) {
		buf_free(&errs);
		config_free(&cfg);
		return -1;
	}
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
