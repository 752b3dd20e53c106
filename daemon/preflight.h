/* preflight - everything a config names outside itself, read and checked
 * before the config is used: the DKIM keys, the relays' CA files and the
 * templates (by a trial compile of a one-line issue). The daemon runs it
 * at start and on every reload (a reload that fails it changes nothing);
 * `broadside config check` runs the same, so it says what a reload would. */
#ifndef BROADSIDE_PREFLIGHT_H
#define BROADSIDE_PREFLIGHT_H

#include "config.h"
#include "db.h"
#include "diag.h"

int	preflight_check(const struct config *cfg, diag *d);

/* The secret key signs every link in every copy. An existing key file is
 * checked (mode, contents). A missing one is made (when `create`) only for
 * a database that has never queued a copy; otherwise it is an error naming
 * the file: a typo in key_file must never silently break every link sent.
 * `db` may be NULL: cfg->database is opened if it exists. */
int	preflight_key(const struct config *cfg, struct db *db, int create, int *made,
	    diag *d);

#endif
