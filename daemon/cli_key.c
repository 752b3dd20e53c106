/* cli_key - broadside key rotate|list: the secret key of unsubscribe and VERP tokens.
 *
 * Rotating puts a fresh key first in the key file; the previous keys stay
 * accepted for keys.grace (links in mail already sent keep working), then
 * stop. The daemon notices the new file by itself (the endpoint at once,
 * the senders through a reload within a second).
 */
#include <stdio.h>
#include <sysexits.h>

#include "clock.h"
#include "cli.h"
#include "secret.h"

static int
cmd_rotate(struct cli_ctx *ctx, int argc, char **argv, diag *d)
{
	struct secret s;
	char grace[32];

	(void)argv;
	if (argc > 1)
		return cli_usage(d, "key rotate takes no arguments");
	if (secret_rotate(ctx->cfg.key_file, d) < 0 || secret_load(ctx->cfg.key_file, &s, d) < 0)
		return -1;
	clock_format_duration(ctx->cfg.keys.grace, grace, sizeof grace);
	printf("%s: new key made; %zu previous key%s accepted for %s more (keys.grace)\n",
	    ctx->cfg.key_file, s.nkeys - 1, s.nkeys == 2 ? "" : "s", grace);
	return 0;
}

static int
cmd_list(struct cli_ctx *ctx, int argc, char **argv, diag *d)
{
	struct secret s;
	int64_t now = clock_now();

	(void)argv;
	if (argc > 1)
		return cli_usage(d, "key list takes no arguments");
	if (secret_load(ctx->cfg.key_file, &s, d) < 0)
		return -1;
	for (size_t i = 0; i < s.nkeys; i++) {
		char made[40], until[40];
		clock_format_rfc3339(s.keys[i].created, made, sizeof made);
		if (i == 0) {
			printf("%zu  made %s  current\n", i + 1, made);
			continue;
		}
		/* Accepted until `grace` after its successor was made (token.h). */
		int64_t end = s.keys[i - 1].created + ctx->cfg.keys.grace;
		clock_format_rfc3339(end, until, sizeof until);
		printf("%zu  made %s  %s %s\n", i + 1, made,
		    now <= end ? "accepted until" : "retired since", until);
	}
	return 0;
}

const struct cli_command cli_key_commands[] = {
	{ "key", "rotate", "", "make a new token key; the previous one stays valid for keys.grace",
	  CLI_NEEDS_CONFIG, cmd_rotate },
	{ "key", "list", "", "show the keys' ages and until when each is accepted",
	  CLI_NEEDS_CONFIG, cmd_list },
	{ NULL, NULL, NULL, NULL, 0, NULL },
};
