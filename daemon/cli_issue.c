/* cli_issue - broadside issue create|list|show|schedule|pause|resume|cancel. */
#include "cli.h"
const struct cli_command cli_issue_commands[] = { { NULL, NULL, NULL, NULL, 0, NULL } };
