/* mailcheck - the checks a copy must pass before it goes to the providers.
 *
 * `broadside issue preview ID --check` runs a rendered copy through them
 * and prints the report: the headers every bulk copy carries (once each),
 * the RFC 8058 one-click pair, each DKIM signature verified with our own
 * verifier (dkim.c) and covering List-Unsubscribe and List-Unsubscribe-Post
 * (Gmail ignores a one-click unsubscribe that is not signed), the From
 * domain aligned with a signature's d= (DMARC), line ends and lengths, the
 * size (Gmail clips past 102 KB), and SpamAssassin's score with local tests
 * only (-L: no network) when spamassassin is installed.
 *
 * Each line of the report is "ok", "warn", "FAIL" or "skip", then what was
 * checked and what was found.
 */
#ifndef BROADSIDE_MAILCHECK_H
#define BROADSIDE_MAILCHECK_H

#include <stddef.h>

#include "buf.h"
#include "diag.h"
#include "dkim.h"

struct mailcheck_result {
	int	failed;		/* FAIL lines */
	int	warned;		/* warn lines */
	double	spam_score;	/* SpamAssassin's, when it ran */
	int	spam_ran;
};

/* Checks the message (complete, CRLF) and appends the report to `out`.
 * dk: the configured keys (NULL: none configured, which fails the DKIM
 * check). spamassassin: the program to run, or NULL to skip it. */
void	mailcheck_run(const struct dkim *dk, const char *msg, size_t len,
	    const char *spamassassin, struct mailcheck_result *res, buf *out);

/* The spamassassin program on $PATH, or NULL. */
const char *mailcheck_find_spamassassin(void);

#endif
