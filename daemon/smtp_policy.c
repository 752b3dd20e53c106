/* smtp_policy - the one module that decides what an SMTP outcome means. */
#include "smtp_policy.h"

#include <string.h>

#include "backoff.h"
#include "bounce_parse.h"

/* A dead address is what the bounce reader calls one: one list for the
 * relay's replies and the bounces that come back (bounce_reason.c). */
int
smtp_policy_dead_address(const char *status)
{
	return bounce_status_dead(status);
}

const char *
smtp_stage_name(enum smtp_stage s)
{
	switch (s) {
	case STAGE_CONNECT:	return "connect";
	case STAGE_MAIL:	return "MAIL FROM";
	case STAGE_RCPT:	return "RCPT TO";
	case STAGE_DATA:	return "DATA";
	}
	return "?";
}

int
smtp_policy_refusal(const struct smtp_outcome *o, const struct smtp_decision *dec)
{
	return dec->verdict == VERDICT_FAIL && !dec->suppress && !dec->poison &&
	    o->code / 100 == 5;
}

int
smtp_policy_refusing(struct smtp_decision *dec, int64_t run, int64_t limit)
{
	if (dec->verdict != VERDICT_FAIL || limit <= 0 || run < limit)
		return 0;
	dec->verdict = VERDICT_RELAY;
	dec->why = "relay refusing every copy";
	return 1;
}

void
smtp_policy_decide(const struct smtp_outcome *o, const struct smtp_retry *rt,
    int64_t attempts, int64_t first_attempt_at, int64_t faults, int64_t now,
    uint32_t rnd, struct smtp_decision *out)
{
	int cls = o->code / 100;
	int64_t first = first_attempt_at > 0 ? first_attempt_at : now;
	/* The connection lost before the recipient was accepted (the relay
	 * closed it, or went away), a 421, a refused MAIL FROM: the relay's
	 * trouble, not an answer about the reader, so the copy goes back
	 * untouched. */
	int relay = o->code == 421 || o->stage == STAGE_CONNECT ||
	    (o->stage == STAGE_MAIL && cls != 2) || (o->stage == STAGE_RCPT && o->code == 0);
	/* But past the greeting it happened during this copy's own
	 * transaction (its VERP sender, its recipient, its content), and a
	 * relay may choke on one copy alone: a content scanner, a policy
	 * service that drops the connection on one address. Noted against
	 * the copy; the second time it is the copy's, or that copy would
	 * come back untouched for ever and stall the relay for everyone. */
	int mine = relay && o->stage != STAGE_CONNECT;
	int poison = mine && faults > 0;

	memset(out, 0, sizeof *out);
	if (relay && !poison) {
		out->blame = mine;
		out->verdict = VERDICT_RELAY;
		out->why = o->code == 421 ? "relay closing the connection (421)" :
		    o->stage == STAGE_CONNECT ? "relay unavailable" :
		    o->stage == STAGE_RCPT ? "connection lost before the recipient was accepted" :
		    "relay refused the envelope sender";
		return;
	}
	out->poison = poison;
	if (!poison && cls == 2 && o->stage == STAGE_DATA) {
		out->verdict = VERDICT_SENT;
		return;
	}
	if (!poison && cls == 5) {
		out->verdict = VERDICT_FAIL;
		out->suppress = smtp_policy_dead_address(o->status);
		out->why = "rejected";
		return;
	}
	/* 4xx, no reply at all (connection broke mid-transaction), a 2xx
	 * that does not finish the transaction, or poison (never a failure
	 * of the address, whatever the code: it was the relay's trouble):
	 * try again later. */
	if (now - first >= rt->max_age) {
		out->verdict = VERDICT_FAIL;
		out->why = "gave up: retry.max_age reached";
		return;
	}
	out->verdict = VERDICT_DEFER;
	out->next_attempt_at = now + backoff_delay(attempts + 1, rt->min_backoff,
	    rt->max_backoff, rnd);
	out->why = !poison ? (o->code ? "deferred" : "connection lost during the transaction") :
	    o->stage == STAGE_MAIL ? "the relay refused this copy's envelope sender again" :
	    o->code == 421 ? "the relay gave up on this copy again (421)" :
	    "the relay dropped the connection at this copy again";
}
