#!/bin/bash
# bounce.sh - `broadside bounce [FILE|-]` and `broadside bounce check`:
# exit codes for the MTA (0 applied or ignored, 65 unreadable, 75 busy),
# effects on the database, and the check command changing nothing.
. "$(dirname "$0")/../lib.sh"
write_config
$BS init >/dev/null || { not_ok "init"; exit 1; }
$BS subscriber add dead@example.org >/dev/null
$BS subscriber add full@example.org >/dev/null
# The copies' Message-IDs carry the MAC of (delivery, subscriber): the
# proof a bounce without its VERP address needs (tests/cli/forged.sh).
mid1=$(proof msgid 1 1); mid2=$(proof msgid 2 2)
sql "INSERT INTO issues (subject, source, created_at, updated_at) VALUES ('one', 'x', 1, 1), ('two', 'y', 1, 1);
     INSERT INTO deliveries (issue_id, subscriber_id, state, message_id, created_at, updated_at)
       VALUES (1, 1, 'sent', '$mid1', 1, 1), (1, 2, 'sent', '$mid2', 1, 1),
              (2, 1, 'queued', NULL, 1, 1), (2, 2, 'queued', NULL, 1, 1);"

dsn dead@example.org 5.1.1 "550 5.1.1 User unknown" "$mid1" >"$T/hard.eml"
dsn full@example.org 5.2.2 "552 5.2.2 Mailbox full" "$mid2" >"$T/soft.eml"

expect_out "bounce check prints JSON" 0 '"kind":"hard".*"recipient":"dead@example.org"' \
	$BS bounce check "$T/hard.eml"
expect_out "bounce check: several files, one line each" 0 'soft.eml' \
	$BS bounce check "$T/hard.eml" "$T/soft.eml"
is "bounce check changes nothing" "$(sql "SELECT count(*) FROM bounces")" "0"

expect_out "bounce FILE applies a hard bounce" 0 'hard bounce' $BS bounce "$T/hard.eml"
is "hard bounce: subscriber bounced" "$(sql "SELECT status FROM subscribers WHERE id = 1")" "bounced"
is "hard bounce: queued delivery dropped" "$(sql "SELECT state FROM deliveries WHERE id = 3")" "dropped"
is "hard bounce: delivery bounced" "$(sql "SELECT state FROM deliveries WHERE id = 1")" "bounced"

expect_out "bounce - reads standard input (soft)" 0 'soft bounce' \
	bash -c "$BS bounce - <'$T/soft.eml'"
is "soft bounce: score 1, still active" \
	"$(sql "SELECT bounce_score || ' ' || status FROM subscribers WHERE id = 2")" "1 active"
expect_out "bounce with no argument reads standard input" 0 'soft bounce' \
	bash -c "$BS bounce <'$T/soft.eml'"

printf 'From: a@example.org\nTo: news@example.com\nSubject: Out of office\nAuto-Submitted: auto-replied\n\nAway\n' >"$T/vac.eml"
expect_out "auto-reply: exit 0, ignored" 0 'ignored' $BS bounce "$T/vac.eml"

printf '\x01\x02 not mail at all' >"$T/junk.bin"
expect_out "unreadable input: EX_DATAERR naming the input" 65 'junk.bin: not a mail message' \
	$BS bounce "$T/junk.bin"
: >"$T/empty.eml"
expect_out "empty input: EX_DATAERR" 65 'empty message' $BS bounce "$T/empty.eml"
expect_out "missing file: EX_NOINPUT" 66 'nope.eml: cannot read' $BS bounce "$T/nope.eml"
expect_out "bounce check on junk: EX_DATAERR" 65 'junk.bin' $BS bounce check "$T/junk.bin"
expect "bounce check without FILE: usage" 64 $BS bounce check
expect "bounce with two FILEs: usage" 64 $BS bounce "$T/hard.eml" "$T/soft.eml"

# A busy database: EX_TEMPFAIL so that the MTA keeps the message and retries.
hold_lock
expect_out "database busy: EX_TEMPFAIL" 75 'busy' $BS bounce "$T/soft.eml"
release_lock
is "after the lock, nothing was half-applied" "$(sql "SELECT count(*) FROM bounces")" "3"
expect_out "retry after the lock succeeds" 0 'soft bounce' $BS bounce "$T/soft.eml"
is "retry recorded" "$(sql "SELECT count(*) FROM bounces")" "4"

# The project's own sample bounces (also the fuzzer's seeds): each read as
# the kind of message it is.
while read -r f want; do
	expect_out "sample $f: $want" 0 "$want" $BS bounce check "$TOP/tests/fixtures/bounces/$f"
done <<'LIST'
dsn-postfix-5.1.1.eml "format":"dsn".*"kind":"hard","recipient":"reader@example.org","status":"5.1.1"
dsn-delayed-4.4.1.eml "kind":"ignore","recipient":"slow@example.net".*"reason":"delayed"
arf-abuse.eml "format":"arf".*"kind":"complaint","recipient":"complainer@isp.example"
qmail-prose.eml "kind":"hard","recipient":"nobody@example.org","status":"5.1.1"
exim-mailbox-full.eml "kind":"soft","recipient":"full@example.com".*"reason":"mailboxfull"
auto-reply.eml "format":"autoreply".*"kind":"ignore"
LIST
