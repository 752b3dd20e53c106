/* test_sending - backoff, SMTP policy and relay (breaker, rate): the pure
 * parts of sending. */
#include <stdint.h>

#include "backoff.h"
#include "check.h"
#include "relay.h"
#include "smtp_policy.h"

static int64_t faults;	/* the copy's earlier faults, for decide() */

static struct smtp_decision
decide(enum smtp_stage stage, int code, const char *status, int64_t attempts,
    int64_t first, int64_t now)
{
	struct smtp_outcome o = { stage, code, "" };
	struct smtp_retry rt = { 300, 3600, 5 * 86400 };
	struct smtp_decision dec;

	snprintf(o.status, sizeof o.status, "%s", status);
	smtp_policy_decide(&o, &rt, attempts, first, faults, now, 0x80000000u, &dec);
	return dec;
}

int
main(void)
{
	struct smtp_decision dec;
	int64_t now = 1000000;

	/* backoff: exponential, capped, jittered within +-10%, never outside
	 * [min, max]. */
	CHECK(backoff_delay(1, 300, 3600, 0x80000000u) == 300, "first retry after min (%lld)",
	    (long long)backoff_delay(1, 300, 3600, 0x80000000u));
	CHECK(backoff_delay(2, 300, 3600, 0x80000000u) == 600, "second doubles");
	CHECK(backoff_delay(3, 300, 3600, 0x80000000u) == 1200, "third doubles again");
	CHECK(backoff_delay(5, 300, 3600, 0x80000000u) == 3600, "capped at max");
	CHECK(backoff_delay(100, 300, 3600, 0x80000000u) == 3600, "many attempts: no overflow");
	CHECK(backoff_delay(1, 300, 3600, 0) == 300, "jitter never below min");
	CHECK(backoff_delay(9, 300, 3600, 0) == 3240, "jitter down to -10%% (%lld)",
	    (long long)backoff_delay(9, 300, 3600, 0));
	CHECK(backoff_delay(2, 300, 3600, UINT32_MAX) == 660, "jitter up to +10%% (%lld)",
	    (long long)backoff_delay(2, 300, 3600, UINT32_MAX));
	CHECK(backoff_delay(20, 300, 3600, UINT32_MAX) == 3600, "jitter never above max");
	CHECK(backoff_delay(1, 1, 2, 0) == 1 && backoff_delay(3, 1, 2, 0) == 2,
	    "second-scale backoff for tests");
	{
		int spread = 0;
		int64_t first = backoff_delay(3, 300, 3600, 12345);
		for (uint32_t r = 1; r < 100; r++)
			spread |= backoff_delay(3, 300, 3600, r * 43000000u) != first;
		CHECK(spread, "different random values spread the retries");
	}

	/* policy: 2xx, 4xx, 5xx by stage. */
	dec = decide(STAGE_DATA, 250, "2.0.0", 0, 0, now);
	CHECK(dec.verdict == VERDICT_SENT, "250 after DATA: sent");
	dec = decide(STAGE_RCPT, 451, "4.3.0", 0, 0, now);
	CHECK(dec.verdict == VERDICT_DEFER && dec.next_attempt_at == now + 300,
	    "451 on RCPT: deferred by min_backoff");
	dec = decide(STAGE_RCPT, 452, "4.2.2", 2, now - 1000, now);
	CHECK(dec.verdict == VERDICT_DEFER && dec.next_attempt_at == now + 1200,
	    "third attempt backs off 4x");
	dec = decide(STAGE_DATA, 451, "", 0, 0, now);
	CHECK(dec.verdict == VERDICT_DEFER, "451 after DATA: deferred");
	dec = decide(STAGE_RCPT, 451, "4.3.0", 30, now - 5 * 86400, now);
	CHECK(dec.verdict == VERDICT_FAIL && !dec.suppress, "4xx past max_age: failed, not suppressed");
	dec = decide(STAGE_RCPT, 451, "4.3.0", 30, now - 5 * 86400 + 1, now);
	CHECK(dec.verdict == VERDICT_DEFER, "4xx just before max_age: still deferred");
	dec = decide(STAGE_DATA, 0, "", 0, 0, now);
	CHECK(dec.verdict == VERDICT_DEFER, "connection lost during DATA: deferred");
	dec = decide(STAGE_RCPT, 0, "", 0, 0, now);
	CHECK(dec.verdict == VERDICT_RELAY && dec.blame,
	    "connection lost before RCPT was answered: the relay's trouble, no attempt, "
	    "noted against the copy");
	dec = decide(STAGE_RCPT, 550, "5.1.1", 0, 0, now);
	CHECK(dec.verdict == VERDICT_FAIL && dec.suppress, "550 5.1.1 on RCPT: failed and suppressed");
	{
		const char *dead[] = { "5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10" };
		int all = 1;
		for (int i = 0; i < 5; i++)
			all &= decide(STAGE_RCPT, 550, dead[i], 0, 0, now).suppress;
		CHECK(all, "every dead-address code suppresses");
	}
	dec = decide(STAGE_RCPT, 550, "5.7.1", 0, 0, now);
	CHECK(dec.verdict == VERDICT_FAIL && !dec.suppress, "550 5.7.1 (policy): failed, not suppressed");
	dec = decide(STAGE_RCPT, 552, "5.2.2", 0, 0, now);
	CHECK(dec.verdict == VERDICT_FAIL && !dec.suppress, "552 5.2.2 mailbox full: not suppressed");
	dec = decide(STAGE_RCPT, 550, "", 0, 0, now);
	CHECK(dec.verdict == VERDICT_FAIL && !dec.suppress, "550 without enhanced code: not suppressed");
	dec = decide(STAGE_DATA, 554, "5.6.0", 0, 0, now);
	CHECK(dec.verdict == VERDICT_FAIL, "554 after DATA: failed");
	CHECK(smtp_policy_dead_address("5.1.10") && !smtp_policy_dead_address("5.1.100") &&
	    !smtp_policy_dead_address("5.1") && !smtp_policy_dead_address(""),
	    "dead-address codes matched exactly");

	/* policy: the relay's fault. */
	dec = decide(STAGE_CONNECT, 0, "", 3, now - 100, now);
	CHECK(dec.verdict == VERDICT_RELAY, "connection refused: relay at fault");
	dec = decide(STAGE_CONNECT, 554, "5.3.2", 0, 0, now);
	CHECK(dec.verdict == VERDICT_RELAY, "554 greeting: relay at fault, not a failed message");
	dec = decide(STAGE_MAIL, 451, "4.3.0", 0, 0, now);
	CHECK(dec.verdict == VERDICT_RELAY, "MAIL FROM 4xx: relay at fault");
	dec = decide(STAGE_MAIL, 550, "5.7.1", 0, 0, now);
	CHECK(dec.verdict == VERDICT_RELAY, "MAIL FROM 5xx: relay at fault");
	dec = decide(STAGE_RCPT, 421, "4.3.2", 0, 0, now);
	CHECK(dec.verdict == VERDICT_RELAY, "421 on RCPT: relay at fault");
	dec = decide(STAGE_DATA, 421, "", 0, 0, now);
	CHECK(dec.verdict == VERDICT_RELAY && dec.blame,
	    "421 after DATA: relay at fault, and the fault noted against the copy");
	faults = 1;
	dec = decide(STAGE_DATA, 421, "", 0, 0, now);
	CHECK(dec.verdict == VERDICT_DEFER && dec.next_attempt_at >= now + 270,
	    "421 after DATA a second time for the same copy: poison, deferred with backoff");
	dec = decide(STAGE_DATA, 421, "", 3, now - 10 * 86400, now);
	CHECK(dec.verdict == VERDICT_FAIL, "poison past max_age: failed");
	CHECK(dec.poison && !dec.suppress, "poison is flagged, and never suppresses");
	dec = decide(STAGE_RCPT, 421, "4.3.2", 0, 0, now);
	CHECK(dec.verdict == VERDICT_DEFER && dec.poison,
	    "421 at RCPT a second time for the same copy: poison, deferred");
	dec = decide(STAGE_RCPT, 0, "", 0, 0, now);
	CHECK(dec.verdict == VERDICT_DEFER && dec.poison && dec.next_attempt_at >= now + 270,
	    "the connection lost at RCPT a second time for the same copy: poison, deferred");
	dec = decide(STAGE_MAIL, 553, "5.1.1", 0, 0, now);
	CHECK(dec.verdict == VERDICT_DEFER && dec.poison && !dec.suppress,
	    "MAIL FROM refused a second time for the same copy: deferred, never failed "
	    "nor suppressed (the reply is about the sender)");
	dec = decide(STAGE_CONNECT, 0, "", 0, 0, now);
	CHECK(dec.verdict == VERDICT_RELAY && !dec.blame && !dec.poison,
	    "trouble before the copy's transaction is the relay's, whatever the copy's past");
	dec = decide(STAGE_RCPT, 550, "5.1.1", 0, 0, now);
	CHECK(dec.verdict == VERDICT_FAIL && dec.suppress && !dec.poison,
	    "a real answer about the address is judged as always, whatever the copy's past");
	faults = 0;
	dec = decide(STAGE_MAIL, 553, "5.7.1", 0, 0, now);
	CHECK(dec.verdict == VERDICT_RELAY && dec.blame && !dec.poison,
	    "MAIL FROM refused the first time: the relay's, noted against the copy");
	dec = decide(STAGE_RCPT, 421, "4.3.2", 0, 0, now);
	CHECK(dec.verdict == VERDICT_RELAY && dec.blame,
	    "421 at RCPT the first time: the relay's, noted against the copy");
	dec = decide(STAGE_CONNECT, 421, "4.3.2", 0, 0, now);
	CHECK(dec.verdict == VERDICT_RELAY && !dec.blame, "421 greeting: the relay's, nobody blamed");
	dec = decide(STAGE_RCPT, 421, "", 50, now - 10 * 86400, now);
	CHECK(dec.verdict == VERDICT_RELAY, "relay trouble never fails a message, even past max_age");

	/* policy: a relay refusing everything. */
	{
		struct smtp_outcome o = { STAGE_DATA, 554, "" };
		struct smtp_outcome dead = { STAGE_RCPT, 550, "5.1.1" };
		struct smtp_outcome late = { STAGE_RCPT, 451, "4.3.0" };
		dec = decide(STAGE_DATA, 554, "", 0, 0, now);
		CHECK(smtp_policy_refusal(&o, &dec), "554 after the dot: a refusal the relay may "
		    "give everyone");
		CHECK(!smtp_policy_refusing(&dec, 19, 20) && dec.verdict == VERDICT_FAIL,
		    "19 in a row (limit 20): still this copy's failure");
		CHECK(smtp_policy_refusing(&dec, 20, 20) && dec.verdict == VERDICT_RELAY,
		    "the 20th in a row: the relay refusing everything, back in the queue");
		dec = decide(STAGE_DATA, 554, "", 0, 0, now);
		CHECK(!smtp_policy_refusing(&dec, 500, 0) && dec.verdict == VERDICT_FAIL,
		    "limit 0: never");
		dec = decide(STAGE_RCPT, 550, "5.1.1", 0, 0, now);
		CHECK(!smtp_policy_refusal(&dead, &dec), "a dead address is an answer about it, "
		    "never counted as the relay's refusal");
		dec = decide(STAGE_RCPT, 451, "4.3.0", 30, now - 6 * 86400, now);
		CHECK(dec.verdict == VERDICT_FAIL && !smtp_policy_refusal(&late, &dec),
		    "a 4xx past max_age fails, but is no refusal");
	}

	/* relay: breaker and rate. */
	{
		struct relay_conf rc = { .host = "127.0.0.1", .port = 25, .connections = 2, .rate = 10,
		    .ca_file = "", .username = "", .password = "", .per_session = 100 };
		struct relay *r = relay_new(&rc, 0, 10, 40);
		int64_t t = 1000000, w, taken = 0;

		CHECK(relay_wait_ms(r, t) == 0, "a new relay may be tried");
		relay_failed(r, t, "test");
		w = relay_wait_ms(r, t);
		CHECK(w >= 9000 && w <= 11000, "first failure: backed off ~10 s (%lld ms)", (long long)w);
		relay_failed(r, t + 10, "a sibling connection saw it too");
		CHECK(relay_wait_ms(r, t) == w, "the same outage counts once");
		relay_failed(r, t + w, "still down");
		w = relay_wait_ms(r, t + w) ;
		CHECK(w >= 18000 && w <= 22000, "second failure: ~20 s (%lld ms)", (long long)w);
		relay_succeeded(r);
		CHECK(relay_wait_ms(r, t) == 0 && !relay_is_down(r, t), "a session through closes the breaker");

		/* 10/s with a burst of one second: in 2 s at most 30 messages. */
		for (int64_t ms = 0; ms <= 2000; ms += 5)
			while (relay_rate_take(r, t + ms) == 0)
				taken++;
		CHECK(taken >= 29 && taken <= 31, "rate 10/s: %lld messages in 2 s", (long long)taken);
		CHECK(relay_rate_take(r, t + 2000) > 0, "an empty bucket says how long to wait");

		/* The same refusal in a row, across the relay's connections. */
		CHECK(relay_refusal(r, 1, 554, "") == 1 && relay_refusal(r, 1, 554, "") == 2 &&
		    relay_refusal(r, 1, 554, "") == 3, "the same 554 three times: a run of 3");
		CHECK(relay_refusal(r, 1, 550, "5.7.1") == 1, "another reply starts a new run");
		relay_refusal(r, 1, 550, "5.7.1");
		CHECK(relay_refusal(r, 0, 0, "") == 0 && relay_refusal(r, 1, 550, "5.7.1") == 1,
		    "a copy taken ends the run");
		relay_free(r);

		rc.rate = 0;
		r = relay_new(&rc, 0, 10, 40);
		taken = 0;
		for (int i = 0; i < 100000; i++)
			taken += relay_rate_take(r, t) == 0;
		CHECK(taken == 100000, "rate 0: unlimited");
		CHECK_STR(relay_name(r), "127.0.0.1:25", "relay name");
		relay_free(r);
	}
	return check_exit();
}
