# operator.sh - the operator's everyday commands without a daemon:
# issue deliveries, issue retry, subscriber show, send-test; their bad input.
# (tests/e2e/operator_day.py runs them against a real daemon and SMTP server.)
. "$(dirname "$0")/../lib.sh"
DEAD=$(free_port)	# nothing listens there: send-test's relay is down
write_config <<CONF
relays = ( { host = "127.0.0.1"; port = $DEAD; } );
CONF
$BS init >/dev/null
$BS subscriber import "$TOP/examples/subscribers.csv" >/dev/null
$BS subscriber add late@example.com --name Late >/dev/null
id=$($BS issue create "$TOP/examples/growth-dragons-weekly.md")
$BS issue schedule "$id" --now >/dev/null

# The outcome of a send, as the daemon writes it: the fan-out, then replies.
now=$(date +%s)
sql "UPDATE issues SET status = 'sent', started_at = $now, finished_at = $now WHERE id = $id;
INSERT INTO deliveries (issue_id, subscriber_id, state, attempts, next_attempt_at, created_at, updated_at)
  SELECT $id, id, 'sent', 1, 0, $now, $now FROM subscribers WHERE status = 'active';
UPDATE deliveries SET state = 'failed', last_code = 550, last_status = '5.7.1',
  last_text = 'Message rejected by policy' WHERE subscriber_id IN
  (SELECT id FROM subscribers WHERE email IN ('ada@example.com', 'grace@example.com'));
UPDATE deliveries SET state = 'failed', last_code = 550, last_status = '5.1.1',
  last_text = 'User unknown' WHERE subscriber_id = (SELECT id FROM subscribers WHERE email = 'linus@example.org');
UPDATE subscribers SET status = 'bounced' WHERE email = 'linus@example.org';
UPDATE deliveries SET state = 'failed', last_code = 554, last_status = '5.6.0', updated_at = $now - 7200,
  last_text = 'old failure' WHERE subscriber_id = (SELECT id FROM subscribers WHERE email = 'ken@example.net');
UPDATE deliveries SET state = 'deferred', last_code = 451, last_status = '4.3.0', next_attempt_at = $now + 600,
  last_text = 'Try again later' WHERE subscriber_id = (SELECT id FROM subscribers WHERE email = 'zoe@example.net');"
snapshot() { sql "SELECT group_concat(id || state || next_attempt_at || coalesce(first_attempt_at, '') || updated_at, ',') FROM deliveries; SELECT status FROM issues WHERE id = $id; SELECT count(*) FROM events"; }

# --- issue deliveries ---
expect_out "deliveries: the unsent by default" 0 'ada@example.com +failed +550 +5\.7\.1 .*Message rejected by policy' $BS issue deliveries "$id"
is "deliveries: sent copies are not listed by default" "$(grep -c 'dennis@example.org' <<<"$OUT")" 0
is "deliveries: failed and deferred listed" "$(grep -cE ' (failed|deferred) ' <<<"$OUT")" 5
expect_out "deliveries --state deferred: next attempt shown" 0 'zoe@example.net +deferred +451 +4\.3\.0 +1 +20[0-9-]+T' $BS issue deliveries "$id" --state deferred
json=$($BS issue deliveries "$id" --state failed --json)
is "deliveries --json: the failed ones, with their replies" \
	"$($PY -c 'import json,sys; j=json.load(sys.stdin); print(sorted((r["email"], r["code"], r["enhanced_status"], r["subscriber_status"]) for r in j))' <<<"$json")" \
	"[('ada@example.com', 550, '5.7.1', 'active'), ('grace@example.com', 550, '5.7.1', 'active'), ('ken@example.net', 554, '5.6.0', 'active'), ('linus@example.org', 550, '5.1.1', 'bounced')]"
is "deliveries --json: fields" \
	"$($PY -c 'import json,sys; r=json.load(sys.stdin)[0]; print(sorted(r))' <<<"$json")" \
	"['attempts', 'code', 'delivery_id', 'email', 'enhanced_status', 'next_attempt_at', 'relay', 'state', 'subscriber_id', 'subscriber_status', 'text', 'updated_at']"
is "deliveries --state sent --json" "$($BS issue deliveries "$id" --state sent --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')" 5
sql "UPDATE subscribers SET status = 'unsubscribed' WHERE email = 'wei@example.com';
     UPDATE deliveries SET state = 'dropped' WHERE subscriber_id = (SELECT id FROM subscribers WHERE email = 'wei@example.com')"
expect_out "deliveries: a dropped copy says why" 0 'wei@example.com +dropped +- +- +1 +- +\(subscriber unsubscribed\)' $BS issue deliveries "$id" --state dropped
sql "UPDATE subscribers SET status = 'active' WHERE email = 'wei@example.com';
     UPDATE deliveries SET state = 'sent' WHERE subscriber_id = (SELECT id FROM subscribers WHERE email = 'wei@example.com')"
expect_out "deliveries of nothing" 0 '\(no bounced deliveries of issue' $BS issue deliveries "$id" --state bounced
expect_out "deliveries: unknown issue" 66 'issue 99: no such issue' $BS issue deliveries 99
expect_out "deliveries: bad id" 64 "'x1' is not an issue id" $BS issue deliveries x1
expect_out "deliveries: bad state word" 64 "--state 'fialed': not a delivery state \(queued, sending, sent" $BS issue deliveries "$id" --state fialed

# --- issue retry: bad input changes nothing ---
expect_out "retry: unknown issue" 66 'issue 99: no such issue' $BS issue retry 99
expect_out "retry: bad state word" 64 "--state 'fialed': not a delivery state" $BS issue retry "$id" --state fialed
expect_out "retry: never sent copies" 64 "--state 'sent': retry queues failed or deferred copies again, never sent ones" $BS issue retry "$id" --state sent
expect_out "retry: bad --since" 65 "--since 'yesterday-ish': not a time" $BS issue retry "$id" --since yesterday-ish
expect_out "retry: a bounced address" 65 "--to 'linus@example.org': the subscriber is bounced; a copy to an address that is bounced is never queued again" $BS issue retry "$id" --to linus@example.org
expect_out "retry: an unknown address" 67 "--to 'nobody@example.com': no such subscriber" $BS issue retry "$id" --to nobody@example.com
expect_out "retry: an invalid address" 65 "--to 'not-an-address'" $BS issue retry "$id" --to not-an-address
expect_out "retry: an address with no failed copy" 65 "--to 'dennis@example.org': issue $id has no failed copy" $BS issue retry "$id" --to dennis@example.org
$BS subscriber remove grace@example.com >/dev/null
draft=$($BS issue create "$TOP/examples/alibaba-deepseek.md")
after_remove=$(snapshot)
expect_out "retry: a removed (suppressed) address" 67 "--to 'grace@example.com': no such subscriber" $BS issue retry "$id" --to grace@example.com
expect_out "retry: a draft issue" 65 "issue $draft is draft: it has not been sent yet" $BS issue retry "$draft"
is "refused retries changed nothing" "$(snapshot)" "$after_remove"

# --- issue retry: the happy path ---
expect_out "retry --since: only the recent failures" 0 "issue $id: 1 failed copy queued again; 2 skipped, never mailed again \(bounced 1, removed 1\)" $BS issue retry "$id" --since 1h
is "retry: ada queued, due now" "$(sql "SELECT d.state, d.next_attempt_at <= strftime('%s','now'), d.first_attempt_at IS NULL, d.attempts FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id WHERE s.email = 'ada@example.com'")" "queued|1|1|1"
is "retry: the bounced copy stays failed" "$(sql "SELECT d.state FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id WHERE s.email = 'linus@example.org'")" failed
is "retry: the removed reader's copy stays failed" "$(sql "SELECT count(*) FROM deliveries WHERE subscriber_id IS NULL AND state = 'failed'")" 1
is "retry: the old failure is older than --since" "$(sql "SELECT d.state FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id WHERE s.email = 'ken@example.net'")" failed
is "retry: the sent issue is sending again" "$(sql "SELECT status, finished_at IS NULL FROM issues WHERE id = $id")" "sending|1"
is "retry: events say so" "$(sql "SELECT group_concat(event || ':' || detail, ',') FROM events WHERE kind = 'issue' AND ref_id = $id AND event IN ('reopened', 'retry')")" \
	"reopened:1 failed copy queued again by the operator,retry:1 failed copy queued again by the operator"
expect_out "retry --to one address" 0 "issue $id: 1 failed copy queued again$" $BS issue retry "$id" --to ken@example.net
expect_out "retry --state deferred" 0 "issue $id: 1 deferred copy queued again" $BS issue retry "$id" --state deferred
is "retry: zoe due now" "$(sql "SELECT d.state, d.next_attempt_at <= strftime('%s','now') FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id WHERE s.email = 'zoe@example.net'")" "queued|1"
expect_out "retry again: nothing left but the suppressed" 0 "issue $id: 0 failed copies queued again; 2 skipped" $BS issue retry "$id"
is "no copy already sent was touched" "$(sql "SELECT count(*) FROM deliveries WHERE state = 'sent'")" 5

# --- subscriber show ---
$BS subscriber set ada@example.com --status unsubscribed >/dev/null
$BS subscriber set ada@example.com --status active >/dev/null
expect_out "show: status, tier, score" 0 'ada@example.com \(subscriber 1\)' $BS subscriber show ada@example.com
is "show: name and tier" "$(grep -cE '^  (name: +Ada Lovelace|tier: +paid|status: +active|bounce score: 0)$' <<<"$OUT")" 4
is "show: history in order" "$(awk '/^history:/{h=1; next} h {print $2}' <<<"$OUT" | paste -sd,)" "imported,unsubscribed,resubscribed"
expect_out "show: the import is named" 0 'imported +paid; imported from .*subscribers\.csv' $BS subscriber show ada@EXAMPLE.COM
expect_out "show: a subscriber added by hand" 0 'subscribed +free$' $BS subscriber show late@example.com
is "show --json" "$($BS subscriber show linus@example.org --json | $PY -c 'import json,sys; j=json.load(sys.stdin); print(j["status"], j["tier"], j["bounce_score"], [h["event"] for h in j["history"]])')" \
	"bounced free 0 ['imported']"
sql "INSERT INTO events (at, kind, ref_id, event, detail) SELECT $now, 'subscriber', id, 'status', 'complained: ARF report; 0 pending deliveries dropped' FROM subscribers WHERE email = 'zoe@example.net'"
expect_out "show: a complaint in the history" 0 'complained +complained: ARF report' $BS subscriber show zoe@example.net
expect_out "show: unknown email" 67 'nobody@example.com: no such subscriber' $BS subscriber show nobody@example.com
expect_out "show: a removed address" 67 'grace@example.com: not a subscriber: removed on request' $BS subscriber show grace@example.com
expect_out "show: an invalid address" 65 "address 'no-at-sign'" $BS subscriber show no-at-sign
expect_out "show: no address" 64 'one EMAIL is needed' $BS subscriber show

# --- issue send-test with its relay down: a clear error, nothing written ---
before=$(snapshot)
expect_out "send-test: relay down" 69 "relay 127\.0\.0\.1:$DEAD: .*; no test copy sent" $BS issue send-test "$id" --to tester@example.org
expect_out "send-test: unknown issue" 66 'issue 99: no such issue' $BS issue send-test 99 --to tester@example.org
expect_out "send-test: no --to" 64 '--to EMAIL is needed' $BS issue send-test "$id"
is "send-tests wrote nothing" "$(snapshot)" "$before"
