/* smtp_policy - the one module that decides what an SMTP outcome means.
 *
 * Like Postfix's smtp_trouble.c: the SMTP session (smtp.c) only reports at
 * which stage a message ended and with which reply; this module says what
 * follows (STANDARDS.md, SMTP delivery):
 *   2xx                          sent
 *   4xx, or no reply (the connection broke during the transaction)
 *                                deferred: tried again after backoff_delay(),
 *                                failed once retry.max_age has passed since
 *                                the first attempt
 *   5xx on RCPT or at DATA       failed; a dead-address code (5.1.1, 5.1.2,
 *                                5.1.3, 5.1.6, 5.1.10) also suppresses the
 *                                subscriber (a DATA reply concerns every
 *                                recipient of the transaction, and Broadside
 *                                sends one recipient per transaction); but
 *                                the same 5xx, not about the address, for
 *                                retry.relay_refusals copies in a row is the
 *                                relay refusing everything: the relay's fault
 *                                (smtp_policy_refusing)
 *   any trouble before or at MAIL FROM (connect, greeting, EHLO, STARTTLS,
 *   AUTH, a refused MAIL FROM), the connection lost before RCPT was
 *   answered, and 421 at any stage
 *                                the relay is at fault: the message goes
 *                                back to the queue untouched (no attempt
 *                                counted) and the relay is backed off
 *   the same past the greeting (MAIL FROM, RCPT, DATA), when the relay did
 *   so during this very copy before (`faults`)
 *                                poison: the copy's fault, not the relay's;
 *                                deferred as a 4xx is (never failed nor
 *                                suppressed for it), the relay left alone
 * Pure: no I/O, no clock; unit-tested.
 */
#ifndef BROADSIDE_SMTP_POLICY_H
#define BROADSIDE_SMTP_POLICY_H

#include <stdint.h>

enum smtp_stage {
	STAGE_CONNECT,		/* connect, greeting, EHLO, STARTTLS, AUTH */
	STAGE_MAIL,
	STAGE_RCPT,
	STAGE_DATA,		/* DATA and the end-of-data reply */
};

struct smtp_outcome {
	enum smtp_stage	 stage;
	int		 code;		/* reply code; 0: none (connection trouble) */
	char		 status[16];	/* enhanced status "5.1.1", or "" */
};

enum smtp_verdict {
	VERDICT_SENT,
	VERDICT_DEFER,		/* retry at next_attempt_at */
	VERDICT_FAIL,		/* permanent */
	VERDICT_RELAY,		/* the relay's fault: back to the queue untouched */
};

struct smtp_retry {
	int64_t	min_backoff, max_backoff, max_age;
};

struct smtp_decision {
	enum smtp_verdict verdict;
	int		 suppress;	/* VERDICT_FAIL on a dead address */
	int		 blame;		/* VERDICT_RELAY during this copy's
					 * transaction: count it against the copy */
	int		 poison;	/* the relay's trouble again during this
					 * copy: judged the copy's (VERDICT_DEFER) */
	int64_t		 next_attempt_at;	/* VERDICT_DEFER */
	const char	*why;		/* short, for last_text when there is no reply */
};

/* `attempts` counts the attempts before this one; `first_attempt_at` is 0
 * when this is the first; `faults` how often the relay was in trouble
 * during this copy's transaction before. `rnd` feeds the backoff's
 * jitter. */
void	smtp_policy_decide(const struct smtp_outcome *o, const struct smtp_retry *rt,
	    int64_t attempts, int64_t first_attempt_at, int64_t faults, int64_t now,
	    uint32_t rnd, struct smtp_decision *out);

/* 1 when the decision fails a copy on a 5xx that is not about its address
 * (not a dead-address code): a refusal that may be the relay's whole
 * answer. */
int	smtp_policy_refusal(const struct smtp_outcome *o, const struct smtp_decision *dec);
/* Such a refusal, when the relay has refused `run` copies in a row with the
 * same reply (relay_refusal), this one included: from `limit` on (0: never)
 * the relay is refusing everything ("554 sending paused for this account",
 * "550 5.7.1 relaying denied"), and that is the relay's trouble, not each
 * reader's: the decision becomes VERDICT_RELAY (back in the queue
 * untouched, the relay backed off). Returns 1 when it did. */
int	smtp_policy_refusing(struct smtp_decision *dec, int64_t run, int64_t limit);

/* 1 when the enhanced status says the address does not exist. */
int	smtp_policy_dead_address(const char *status);

/* "stage" for logs: "connect", "MAIL FROM", "RCPT TO", "DATA". */
const char *smtp_stage_name(enum smtp_stage s);

#endif
