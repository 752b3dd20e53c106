/* names - the words of an enumeration: name <-> value, in one place.
 *
 * Each state enum (tier, status, audience, ...) keeps a table of its names
 * in value order; these two functions read any such table.
 */
#ifndef BROADSIDE_NAMES_H
#define BROADSIDE_NAMES_H

#include <stddef.h>

/* names[v], or "?" when v is out of the table. */
const char *names_name(const char *const *names, size_t n, int v);
/* The index of s in names, or -1. */
int	names_index(const char *const *names, size_t n, const char *s);

#define NAMES_COUNT(a) (sizeof (a) / sizeof (a)[0])

#endif
