#!/bin/bash
# bounce_delay.sh - what the parser says before anything is applied: a
# delay is not a bounce (DSN "Action: delayed" and prose warnings are
# recorded as a delay, never scored; a final expiry is a bounce);
# recipients are clean addresses; a human reply or an auto-reply yields no
# bounce; and every line of `bounce check` is valid UTF-8 JSON whatever
# bytes came in (every fixture of the bounce corpus too).
. "$(dirname "$0")/../lib.sh"
write_config
$BS init >/dev/null || { not_ok "init"; exit 1; }
$BS subscriber add slow@example.org >/dev/null
MID=$(proof msgid 1 1)
sql "INSERT INTO issues (subject, source, created_at, updated_at) VALUES ('one', 'x', 1, 1);
     INSERT INTO deliveries (id, issue_id, subscriber_id, state, message_id, created_at, updated_at)
       VALUES (1, 1, 1, 'sent', '$MID', 1, 1);"
report() {	# action status diagnostic [rcpt]
	printf 'From: MAILER-DAEMON@mx.example.net\nTo: bounces@example.com\nSubject: Delivery Status Notification\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary="BB"\n\n--BB\nContent-Type: text/plain\n\nReport.\n\n--BB\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\nFinal-Recipient: rfc822; %s\nAction: %s\nStatus: %s\nDiagnostic-Code: smtp; %s\n\n--BB\nContent-Type: text/rfc822-headers\n\nFrom: news@example.com\nTo: slow@example.org\nMessage-ID: %s\n\n--BB--\n' \
		"${4:-slow@example.org}" "$1" "$2" "$3" "$MID"
}
score() { sql "SELECT status || ' ' || bounce_score FROM subscribers WHERE id = 1"; }

# ---- delays
report delayed 4.2.2 "452 4.2.2 Mailbox full, will retry" >"$T/delayed.eml"
expect_out "Action: delayed: a delay, not a bounce" 0 'delay notice .*not a bounce' $BS bounce "$T/delayed.eml"
is "Action: delayed: never scored" "$(score)" "active 0"
is "the delay recorded as an event" "$(sql "SELECT count(*) FROM events WHERE event = 'delay' AND ref_id = 1")" 1

cat >"$T/exim-warning.eml" <<MSG
From: Mail Delivery System <Mailer-Daemon@mx.example.net>
To: bounces@example.com
Subject: Warning: message 1kABCD-0001Xy-Qz delayed 24 hours
Auto-Submitted: auto-replied

This message was created automatically by mail delivery software.
A message that you sent has not yet been delivered to one or more of its
recipients after more than 24 hours on the queue on mx.example.net.

The message identifier is:     1kABCD-0001Xy-Qz
The subject of the message is: Issue one

The address to which the message has not yet been delivered is:

  slow@example.org
    host mx.example.org [192.0.2.1]
    Delay reason: SMTP error from remote mail server after RCPT TO:<slow@example.org>:
    452 4.2.2 Mailbox full

No action is required on your part. Delivery attempts will continue for
some time, and this warning may be repeated at intervals if the message
remains undelivered. Eventually the mail delivery software will give up,
and when that happens, the message will be returned to you.

------ This is a copy of the message's headers. ------

From: news@example.com
To: slow@example.org
Message-ID: $MID
MSG
expect_out "Exim's 'Warning: message delayed': ignore/delayed" 0 '"kind":"ignore".*"reason":"delayed"' \
	$BS bounce check "$T/exim-warning.eml"
expect_out "Exim's warning applied: a delay" 0 'delay notice' $BS bounce "$T/exim-warning.eml"

cat >"$T/postfix-delay.eml" <<MSG
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
To: bounces@example.com
Subject: Delayed Mail (still being retried)

This is the mail system at host mx.example.net.

####################################################################
# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #
####################################################################

Your message could not be delivered for more than 4 hour(s).
It will be retried until it is 5 day(s) old.

<slow@example.org>: connect to mx.example.org[192.0.2.1]:25: Connection timed out

--- Below this line is a copy of the message.

From: news@example.com
To: slow@example.org
Message-ID: $MID
MSG
expect_out "Postfix 'Delayed Mail (still being retried)': ignore" 0 '"kind":"ignore"' \
	$BS bounce check "$T/postfix-delay.eml"
$BS bounce "$T/postfix-delay.eml" >/dev/null 2>&1
is "three delay notices later: still no score" "$(score)" "active 0"
is "no bounce row for a delay" "$(sql "SELECT count(*) FROM bounces")" 0

report failed 4.4.7 "Delivery time expired; gave up after 5 days" >"$T/expired.eml"
expect_out "a final expiry (Action: failed, 4.4.7) is a bounce" 0 'soft bounce' $BS bounce "$T/expired.eml"
is "the expiry scores" "$(score)" "active 1"

# ---- clean recipients
report failed 5.1.1 "550 5.1.1 unknown" " <Slow@Example.org>." >"$T/dirty.eml"
expect_out "rfc822; <addr>. becomes addr" 0 '"recipient":"Slow@Example.org"' $BS bounce check "$T/dirty.eml"
cat >"$T/multi.eml" <<'MSG'
From: MAILER-DAEMON@mx.example.net
To: bounces@example.com
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="BB"

--BB
Content-Type: text/plain

Sorry.

--BB
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822;<one@example.org>
Action: failed
Status: 5.1.1

Final-Recipient: RFC822; two@example.org.
Action: failed
Status: 5.1.1

Final-Recipient: rfc822; three@example.org
Action: delayed
Status: 4.2.2

--BB--
MSG
OUT=$($BS bounce check "$T/multi.eml" 2>/dev/null)
is "every recipient of a multi-recipient report, clean" \
	"$($PY -c 'import json,sys; r=json.loads(sys.stdin.read()); print(" ".join(v["recipient"]+"="+v["kind"] for v in r["verdicts"]))' <<<"$OUT")" \
	"one@example.org=hard two@example.org=hard three@example.org=ignore"

# ---- not bounces
printf 'From: Reader <reader@example.org>\nTo: news@example.com\nSubject: Re: Issue one\nIn-Reply-To: %s\n\nThanks, loved it!\n\n> Hello readers\n' "$MID" >"$T/reply.eml"
expect_out "a human reply: no verdict" 0 '"verdicts":\[\]' $BS bounce check "$T/reply.eml"
printf 'From: reader@example.org\nTo: news@example.com\nSubject: Automatic reply: Issue one\nAuto-Submitted: auto-replied\n\nI am away until Monday.\n' >"$T/away.eml"
printf 'From: Reader <reader@example.org>\nTo: bounces@example.com\nSubject: Fwd: Issue one\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="F"\n\n--F\nContent-Type: text/plain\n\nLook at this one.\n\n--F\nContent-Type: message/rfc822\n\nFrom: news@example.com\nTo: slow@example.org\nSubject: Issue one\nMessage-ID: %s\n\nHello readers\n--F--\n' "$MID" >"$T/fwd.eml"
expect_out "a forwarded copy of our own issue: no verdict" 0 '"verdicts":\[\]' $BS bounce check "$T/fwd.eml"
expect_out "an auto-reply: ignore only" 0 '"format":"autoreply".*"kind":"ignore"' $BS bounce check "$T/away.eml"
expect_out "an auto-reply applied: nothing" 0 'ignored' $BS bounce "$T/away.eml"
is "nothing scored by replies" "$(score)" "active 1"

# ---- valid UTF-8 JSON whatever the bytes
printf 'From: MAILER-DAEMON@mx.example.net\nTo: bounces@example.com\nSubject: Undelivered \xff\xfe mail \xc3\x28 \xe2\x80\x94 ok\n\nHi. This is the qmail-send program.\n<bad\xe9@example.org>:\n550 5.1.1 Bo\xeete inconnue \xed\xa0\x80 \xf0\x9f\x98\x80 \x01\x7f\n' >"$T/bytes.eml"
$BS bounce check "$T/bytes.eml" >"$T/bytes.json" 2>/dev/null
ALL=${BROADSIDE_BOUNCE_CORPUS:-${BOUNCE_CORPUS:-$TOP/../shared/bounce-corpus}}/emails
valid_json_lines() {	# file: prints "N lines, M bad"
	$PY - "$1" <<'PY'
import json, sys
n = bad = 0
for raw in open(sys.argv[1], "rb").read().split(b"\n"):
    if not raw:
        continue
    n += 1
    try:
        json.loads(raw.decode("utf-8", errors="strict"))
    except Exception as e:
        bad += 1
        print("#", e, raw[:120], file=sys.stderr)
print(f"{n} lines, {bad} bad")
PY
}
is "hostile bytes: valid UTF-8 JSON" "$(valid_json_lines "$T/bytes.json")" "1 lines, 0 bad"
grep -q $'\xef\xbf\xbd' "$T/bytes.json" && ok "invalid bytes replaced by U+FFFD" || not_ok "invalid bytes replaced by U+FFFD"
grep -q '😀' "$T/bytes.json" && ok "valid UTF-8 kept as is" || not_ok "valid UTF-8 kept as is"
if [ -d "$ALL" ]; then
	n=$(ls "$ALL" | wc -l)
	$BS bounce check "$ALL"/* >"$T/corpus.json" 2>/dev/null
	is "every corpus fixture: one valid UTF-8 JSON line" "$(valid_json_lines "$T/corpus.json")" "$n lines, 0 bad"
fi
