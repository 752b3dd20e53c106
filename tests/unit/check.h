/* check.h - the unit tests' one assertion style: TAP-like "ok N - what"
 * and "not ok N - what (file:line: expression)" lines, read by tests/run.sh.
 * A test program returns check_exit(): 0 when every check passed.
 */
#ifndef BROADSIDE_CHECK_H
#define BROADSIDE_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_n, check_bad;

#define CHECK(cond, ...) do {						\
	int ok_ = (cond) ? 1 : 0;					\
	check_n++;							\
	printf("%sok %d - ", ok_ ? "" : "not ", check_n);		\
	printf(__VA_ARGS__);						\
	if (!ok_) {							\
		check_bad++;						\
		printf(" (%s:%d: %s)", __FILE__, __LINE__, #cond);	\
	}								\
	putchar('\n');							\
} while (0)

#define CHECK_STR(got, want, ...) do {					\
	const char *g_ = (got), *w_ = (want);				\
	int same_ = g_ && w_ && strcmp(g_, w_) == 0;			\
	CHECK(same_, __VA_ARGS__);					\
	if (!same_)							\
		printf("#   got:  \"%s\"\n#   want: \"%s\"\n",		\
		    g_ ? g_ : "(null)", w_ ? w_ : "(null)");		\
} while (0)

static inline int
check_exit(void)
{
	fflush(stdout);
	return check_bad ? 1 : 0;
}

#endif
