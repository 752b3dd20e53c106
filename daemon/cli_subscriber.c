/* cli_subscriber - broadside subscriber add|import|list|export|set|remove. */
#include "cli.h"
const struct cli_command cli_subscriber_commands[] = { { NULL, NULL, NULL, NULL, 0, NULL } };
