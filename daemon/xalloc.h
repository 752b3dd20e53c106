/* xalloc - memory allocation that never returns NULL.
 *
 * Every allocation in Broadside goes through these. On exhaustion the
 * process logs and exits (EX_OSERR): callers carry no NULL checks.
 */
#ifndef BROADSIDE_XALLOC_H
#define BROADSIDE_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Grow an array of nmemb elements of size `size` to hold at least `need`. */
void *xgrow(void *p, size_t *cap, size_t need, size_t size);

#endif
