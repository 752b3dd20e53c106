/* cli - what the admin CLI's command groups share: context and command table.
 *
 * Each cli_<group>.c exports a table of commands; broadside.c dispatches
 * "broadside GROUP NAME args" (or "broadside NAME" for a group-less command)
 * to the matching entry. A command returns 0 or -1 with a diag; the main
 * prints the diag and exits with its sysexits code.
 */
#ifndef BROADSIDE_CLI_H
#define BROADSIDE_CLI_H

#include "config.h"
#include "db.h"
#include "diag.h"
#include <stdint.h>

struct cli_ctx {
	const char	*config_path;	/* resolved: --config, env, system */
	struct config	 cfg;		/* loaded when the command needs it */
	struct db	*db;		/* opened when the command needs it */
};

enum cli_needs {
	CLI_NEEDS_NOTHING = 0,
	CLI_NEEDS_CONFIG = 1,
	CLI_NEEDS_DB = 3,		/* config, then database */
};

struct cli_command {
	const char	*group;		/* "subscriber", or NULL for "init" */
	const char	*name;
	const char	*usage;		/* "EMAIL [--name N] [--tier free|paid]" */
	const char	*help;
	enum cli_needs	 needs;
	/* argv[0] is the command name; getopt-ready. */
	int		(*run)(struct cli_ctx *ctx, int argc, char **argv, diag *d);
};

extern const struct cli_command cli_base_commands[];	/* init, config, stats */
extern const struct cli_command cli_subscriber_commands[];
extern const struct cli_command cli_issue_commands[];
extern const struct cli_command cli_render_commands[];	/* issue preview */
extern const struct cli_command cli_bounce_commands[];	/* bounce, bounce check */
extern const struct cli_command cli_stats_commands[];
extern const struct cli_command cli_dkim_commands[];
extern const struct cli_command cli_key_commands[];
extern const struct cli_command cli_db_commands[];	/* db stats */

/* Usage error for the running command: EX_USAGE with its usage line. */
/* Parses a positive issue id (EX_USAGE otherwise). */
int	cli_issue_id(const char *s, int64_t *id, diag *d);

int	cli_usage(diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints the buffer to stdout in one write; -1 with EX_IOERR on failure. */
int	cli_write_stdout(struct buf *out, diag *d);

#endif
