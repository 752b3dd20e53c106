/* diag - how a failure travels back to the caller.
 *
 * The one return convention of Broadside: a function that can fail returns
 * int, 0 on success and -1 on failure, and fills a `diag` with a message
 * fit for the user ("subscribers.csv:14: bad address 'x@': no domain") and
 * a sysexits(3) code the CLI exits with.
 */
#ifndef BROADSIDE_DIAG_H
#define BROADSIDE_DIAG_H

typedef struct diag {
	int	code;		/* sysexits code; 0 while no failure */
	char	msg[1024];
} diag;

#define DIAG_INIT { 0, "" }

/* Sets code and message; returns -1 so that callers write
 * `return diag_set(d, EX_DATAERR, "...")`. d may be NULL. */
int	diag_set(diag *d, int code, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* Prefixes the message with context: "config.conf: " + old message. */
int	diag_prefix(diag *d, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

#endif
