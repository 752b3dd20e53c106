/* preflight - everything a config names outside itself, read and checked
 * before the config is used: the DKIM keys, the relays' CA files and the
 * templates (by a trial compile of a one-line issue). The daemon runs it
 * at start and on every reload (a reload that fails it changes nothing);
 * `broadside config check` runs the same, so it says what a reload would. */
#ifndef BROADSIDE_PREFLIGHT_H
#define BROADSIDE_PREFLIGHT_H

#include "config.h"
#include "diag.h"

int	preflight_check(const struct config *cfg, diag *d);

#endif
