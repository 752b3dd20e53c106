/* secret - the site's secret keys (for unsubscribe and VERP tokens).
 *
 * The key file (mode 0600) holds one key per line, newest first:
 *   <created unix time> <64 hex digits>
 * The first line is the current key; later lines are previous keys, still
 * accepted for verification until they are older than the grace period
 * the caller gives. `broadside init` makes the file.
 */
#ifndef BROADSIDE_SECRET_H
#define BROADSIDE_SECRET_H

#include <stddef.h>
#include <stdint.h>

#include "diag.h"

#define SECRET_KEY_LEN	32
#define SECRET_MAX_KEYS	8

struct secret_key {
	int64_t		created;
	unsigned char	key[SECRET_KEY_LEN];
};

struct secret {
	struct secret_key keys[SECRET_MAX_KEYS];	/* [0] is current */
	size_t		  nkeys;
};

int	secret_load(const char *path, struct secret *s, diag *d);
/* Creates the file with one fresh key unless it exists; *created tells. */
int	secret_init(const char *path, int *created, diag *d);
/* Puts a fresh key first, keeps the others (at most SECRET_MAX_KEYS). */
int	secret_rotate(const char *path, diag *d);

#endif
