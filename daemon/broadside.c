/* broadside - the admin CLI: subscribers, issues, scheduling, previews, stats.
 *
 * Thin: parses the global options, finds the command in the tables of the
 * cli_*.c modules, loads what it needs (config, database), runs it, and
 * turns its diag into one line on stderr and a sysexits code.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "log.h"
#include "version.h"

static const struct cli_command *const tables[] = {
	cli_base_commands,
	cli_subscriber_commands,
	cli_issue_commands,
	cli_render_commands,
	cli_stats_commands,
	cli_dkim_commands,
	cli_key_commands,
	cli_db_commands,
	cli_bounce_commands,
};

static const char *current_usage = "";

static void
usage(FILE *fp)
{
	fprintf(fp, "usage: broadside [--config FILE] COMMAND [ARGS]\n"
	    "       broadside --help | --version\n\ncommands:\n");
	for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
		for (const struct cli_command *c = tables[t]; c->name; c++)
			fprintf(fp, "  %s%s%s %s\n      %s\n", c->group ? c->group : "",
			    c->group ? " " : "", c->name, c->usage, c->help);
	fprintf(fp, "\nconfig: --config FILE, else $BROADSIDE_CONFIG, else %s\n",
	    config_path(NULL));
}

int
cli_usage(diag *d, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return diag_set(d, EX_USAGE, "%s\nusage: broadside %s", msg, current_usage);
}

int
cli_write_stdout(buf *out, diag *d)
{
	if (out->len && fwrite(out->data, 1, out->len, stdout) != out->len)
		return diag_set(d, EX_IOERR, "writing to standard output failed");
	if (fflush(stdout) != 0)
		return diag_set(d, EX_IOERR, "writing to standard output failed");
	return 0;
}

/* "GROUP NAME" first, then a group-less "NAME": "bounce check FILE" is
 * the group command, "bounce FILE" the single one. */
static const struct cli_command *
find(const char *a, const char *b, int *consumed)
{
	for (size_t t = 0; b && t < sizeof tables / sizeof tables[0]; t++)
		for (const struct cli_command *c = tables[t]; c->name; c++)
			if (c->group && strcmp(c->group, a) == 0 && strcmp(c->name, b) == 0) {
				*consumed = 2;
				return c;
			}
	for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
		for (const struct cli_command *c = tables[t]; c->name; c++)
			if (c->group == NULL && strcmp(c->name, a) == 0) {
				*consumed = 1;
				return c;
			}
	return NULL;
}

static int
group_exists(const char *a)
{
	for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
		for (const struct cli_command *c = tables[t]; c->name; c++)
			if (c->group && strcmp(c->group, a) == 0)
				return 1;
	return 0;
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
	struct cli_ctx ctx;
	const struct cli_command *cmd;
	diag d = DIAG_INIT;
	int ch, consumed = 0, rc;
	char usagebuf[256];

	log_init("broadside");
	/* '+': stop at the command; its own options are its own. */
	while ((ch = getopt_long(argc, argv, "+c:hV", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': cfg_arg = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("broadside %s\n", version_line()); return 0;
		default: usage(stderr); return EX_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage(stderr);
		return EX_USAGE;
	}
	cmd = find(argv[0], argc > 1 ? argv[1] : NULL, &consumed);
	if (cmd == NULL) {
		if (group_exists(argv[0]))
			fprintf(stderr, "broadside: %s: unknown or missing subcommand%s%s\n",
			    argv[0], argc > 1 ? " " : "", argc > 1 ? argv[1] : "");
		else
			fprintf(stderr, "broadside: unknown command '%s'\n", argv[0]);
		fprintf(stderr, "run 'broadside --help' for the list of commands\n");
		return EX_USAGE;
	}
	snprintf(usagebuf, sizeof usagebuf, "%s%s%s %s", cmd->group ? cmd->group : "",
	    cmd->group ? " " : "", cmd->name, cmd->usage);
	current_usage = usagebuf;

	memset(&ctx, 0, sizeof ctx);
	ctx.config_path = config_path(cfg_arg);
	argc -= consumed - 1;
	argv += consumed - 1;
	optind = 0;	/* glibc: full re-initialisation of getopt */

	rc = 0;
	if (cmd->needs & CLI_NEEDS_CONFIG) {
		buf errs = BUF_INIT;
		rc = config_load(ctx.config_path, &ctx.cfg, &errs, &d);
		if (rc < 0 && errs.len)
			fprintf(stderr, "%s", buf_cstr(&errs));
		buf_free(&errs);
		if (rc < 0) {
			config_free(&ctx.cfg);
			return d.code;
		}
		log_set_level((enum log_level)ctx.cfg.log_level);
	}
	if (rc == 0 && (cmd->needs & 2))
		rc = db_open(ctx.cfg.database, DB_OPEN_EXISTING, &ctx.db, &d);
	if (rc == 0)
		rc = cmd->run(&ctx, argc, argv, &d);
	db_close(ctx.db);
	if (cmd->needs & CLI_NEEDS_CONFIG)
		config_free(&ctx.cfg);
	if (rc < 0) {
		fprintf(stderr, "broadside: %s\n", d.msg);
		return d.code ? d.code : EX_SOFTWARE;
	}
	return 0;
}
