/* diag - how a failure travels back to the caller. */
#include "diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int
diag_set(diag *d, int code, const char *fmt, ...)
{
	va_list ap;

	if (d == NULL)
		return -1;
	d->code = code;
	va_start(ap, fmt);
	vsnprintf(d->msg, sizeof d->msg, fmt, ap);
	va_end(ap);
	return -1;
}

int
diag_prefix(diag *d, const char *fmt, ...)
{
	char old[sizeof d->msg];
	va_list ap;
	int n;

	if (d == NULL)
		return -1;
	memcpy(old, d->msg, sizeof old);
	va_start(ap, fmt);
	n = vsnprintf(d->msg, sizeof d->msg, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof d->msg) {
		size_t room = sizeof d->msg - (size_t)n - 1;
		size_t len = strnlen(old, room);
		memcpy(d->msg + n, old, len);
		d->msg[(size_t)n + len] = '\0';
	}
	return -1;
}
