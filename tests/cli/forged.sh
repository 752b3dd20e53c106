#!/bin/bash
# forged.sh - only proof changes a subscriber. Forged feedback of every kind
# (RFC 3464 DSN, ARF complaint, Hotmail JMRP, Amazon SES JSON, a bounce in
# prose, unsubscribe+TOKEN@ mail) piped to the real `broadside bounce`
# against a real database changes no subscriber and is counted as
# unverified (events, `bounce check`, `stats`); the genuine ones, carrying
# the VERP address, our MAC-bearing Message-ID or our List-Unsubscribe
# token (made from the key file by tools/proof.py), still do.
. "$(dirname "$0")/../lib.sh"
write_config
$BS init >/dev/null || { not_ok "init"; exit 1; }
for i in $(seq 1 10); do $BS subscriber add "s$i@example.org" >/dev/null; done
sql "INSERT INTO issues (subject, source, created_at, updated_at) VALUES ('one', 'x', 1, 1);"
for i in $(seq 1 10); do
	sql "INSERT INTO deliveries (id, issue_id, subscriber_id, state, message_id, created_at, updated_at)
	     VALUES ($i, 1, $i, 'sent', '$(proof msgid $i $i)', 1, 1);"
done
LID=growth-dragons.example.com
M=$T/mail; mkdir -p "$M"

# ---- the shapes: each takes the envelope To, the recipient named, and the
# headers of the returned copy (Message-ID, List-Unsubscribe, ...)
dsn_msg() {	# to rcpt orig-headers
	printf 'From: MAILER-DAEMON@mx.example.net\nTo: %s\nSubject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary="BB"\n\n--BB\nContent-Type: text/plain\n\nSorry.\n\n--BB\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\nFinal-Recipient: rfc822; %s\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 User unknown\n\n--BB\nContent-Type: text/rfc822-headers\n\nFrom: news@example.com\nTo: %s\n%b\n--BB--\n' "$1" "$2" "$2" "$3"
}
arf_msg() {	# to rcpt orig-headers
	printf 'From: fbl@isp.example\nTo: %s\nSubject: report\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=feedback-report; boundary="F"\n\n--F\nContent-Type: text/plain\n\nA complaint.\n--F\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\nUser-Agent: x/1\nVersion: 1\nOriginal-Rcpt-To: %s\n\n--F\nContent-Type: message/rfc822\n\nFrom: news@example.com\nTo: %s\n%b\nhi\n--F--\n' "$1" "$2" "$2" "$3"
}
jmrp_msg() {	# to rcpt orig-headers
	printf 'From: staff@hotmail.com\nTo: %s\nSubject: complaint about message from 192.0.2.1\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="J"\n\n--J\nContent-Type: message/rfc822\nContent-Disposition: inline\n\nFrom: news@example.com\nTo: %s\nX-HmXmrOriginalRecipient: <%s>\n%b\nhi\n\n--J--\n' "$1" "$2" "$2" "$3"
}
ses_msg() {	# type(Bounce|Complaint) source rcpt messageId list-unsubscribe
	local body
	if [ "$1" = Bounce ]; then
		body="\"bounce\":{\"bounceType\":\"Permanent\",\"bounceSubType\":\"General\",\"bouncedRecipients\":[{\"emailAddress\":\"$3\",\"action\":\"failed\",\"status\":\"5.1.1\",\"diagnosticCode\":\"smtp; 550 5.1.1 user unknown\"}]}"
	else
		body="\"complaint\":{\"complainedRecipients\":[{\"emailAddress\":\"$3\"}],\"complaintFeedbackType\":\"abuse\"}"
	fi
	printf 'From: no-reply@sns.amazonaws.com\nTo: bounces@example.com\nSubject: AWS Notification Message\nMIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\n\n{"notificationType":"%s",%s,"mail":{"timestamp":"2026-01-01T00:00:00.000Z","source":"%s","messageId":"0101-ses-id","destination":["%s"],"headers":[{"name":"List-Unsubscribe","value":"%s"}],"commonHeaders":{"messageId":"%s"}}}\n' \
		"$1" "$body" "$2" "$3" "$5" "$4"
}
prose_msg() {	# to rcpt orig-headers
	printf 'From: MAILER-DAEMON@mx.example.net\nTo: %s\nSubject: failure notice\n\nHi. This is the qmail-send program at mx.example.net.\nI'"'"'m afraid I wasn'"'"'t able to deliver your message to the following addresses.\nThis is a permanent error; I'"'"'ve given up. Sorry it didn'"'"'t work out.\n\n<%s>:\n192.0.2.1 does not like recipient.\nRemote host said: 550 5.1.1 No such user\nGiving up on 192.0.2.1.\n\n--- Below this line is a copy of the message.\n\nFrom: news@example.com\nTo: %s\n%b\nhello\n' "$1" "$2" "$2" "$3"
}
unsub_msg() {	# token
	printf 'From: someone@example.net\nTo: unsubscribe+%s@example.com\nSubject: unsubscribe\n\n' "$1"
}
lu() {	# subscriber id: a List-Unsubscribe field with that token
	local t; t=$(proof unsub "$1" "$LID")
	printf 'List-Unsubscribe: <http://127.0.0.1:8025/u/%s>,\n <mailto:unsubscribe+%s@example.com>\\n' "$t" "$t"
}

# ---- forged: every one names subscriber 1 (s1@example.org), none carries
# a proof that holds.
V=s1@example.org
GOOD2=$(proof msgid 2 2)                       # a real Message-ID, of someone else's copy
REPLAY="<1.${GOOD2#<2.}"                       # its MAC under delivery 1
WRONGMAC="<1.a1b2c30000000000@example.com>"
FORGEDVERP="bounces+1.00000abcde@example.com"
FORGEDTOK="1.AAAAAAAAAAAAAAAAAAAAAA"
forge() { cat >"$M/forged-$1.eml"; }
dsn_msg bounces@example.com $V ''                                  | forge dsn-address-only
dsn_msg "$FORGEDVERP" $V ''                                        | forge dsn-forged-verp
dsn_msg bounces@example.com $V "Message-ID: $WRONGMAC\\n"           | forge dsn-forged-msgid
dsn_msg bounces@example.com $V "Message-ID: $REPLAY\\n"             | forge dsn-replayed-mac
dsn_msg bounces@example.com $V "Message-ID: <d1@example.com>\\n"    | forge dsn-msgid-without-mac
dsn_msg bounces@example.com $V "List-Unsubscribe: <http://127.0.0.1:8025/u/$FORGEDTOK>\\n" | forge dsn-forged-token
arf_msg abuse@example.com $V ''                                    | forge arf-address-only
arf_msg abuse@example.com $V "Message-ID: $WRONGMAC\\n"             | forge arf-forged-msgid
arf_msg "$FORGEDVERP" $V ''                                        | forge arf-forged-verp
arf_msg abuse@example.com $V "List-Unsubscribe: <mailto:unsubscribe+$FORGEDTOK@example.com>\\n" | forge arf-forged-token
jmrp_msg abuse@example.com $V ''                                   | forge jmrp-address-only
jmrp_msg abuse@example.com $V "Message-ID: $REPLAY\\n"              | forge jmrp-replayed-mac
ses_msg Bounce bounces@example.com $V "" ""                        | forge ses-bounce-address-only
ses_msg Bounce "$FORGEDVERP" $V "$WRONGMAC" "<http://127.0.0.1:8025/u/$FORGEDTOK>" | forge ses-bounce-forged-all
ses_msg Complaint bounces@example.com $V "$REPLAY" ""              | forge ses-complaint-replayed-mac
prose_msg bounces@example.com $V ''                                | forge prose-address-only
prose_msg "$FORGEDVERP" $V "Message-ID: $WRONGMAC\\n"               | forge prose-forged
unsub_msg "$FORGEDTOK"                                             | forge unsub-forged-token
unsub_msg "1.$(proof unsub 2 $LID | cut -d. -f2)"                  | forge unsub-other-mac
nforged=$(ls "$M"/forged-*.eml | wc -l)

for f in "$M"/forged-*.eml; do
	b=$(basename "$f" .eml)
	expect_out "$b: exit 0, unverified" 0 'unverified' $BS bounce "$f"
done
is "forged: subscriber 1 untouched" \
	"$(sql "SELECT status || ' ' || bounce_score FROM subscribers WHERE id = 1")" "active 0"
is "forged: no subscriber changed at all" \
	"$(sql "SELECT count(*) FROM subscribers WHERE status != 'active' OR bounce_score != 0")" "0"
is "forged: no bounce recorded, no delivery marked" \
	"$(sql "SELECT (SELECT count(*) FROM bounces) || ' ' || (SELECT count(*) FROM deliveries WHERE state != 'sent')")" "0 0"
is "forged: every one is an unverified event" \
	"$(sql "SELECT count(*) FROM events WHERE event = 'bounce-unverified'")" "$nforged"
expect_out "stats counts them as unverified" 0 "bounces .*unverified $nforged" $BS stats
expect_out "stats --json too" 0 "\"unverified\": $nforged" $BS stats --json
OUT=$($BS bounce check "$M"/forged-*.eml 2>"$T/check.err")
is "bounce check: no forged report verified" "$(grep -c '"verified":true' <<<"$OUT")" "0"
is "bounce check: every one unverified" "$(grep -c '"verified":false' <<<"$OUT")" "$nforged"
expect_out "bounce check counts them" 0 "0 verified, $nforged unverified" cat "$T/check.err"

# ---- genuine: each proof, each kind
g() { cat >"$M/genuine-$1.eml"; }
dsn_msg "$(proof verp 2)" s2@example.org ''                        | g dsn-verp
arf_msg abuse@example.com s3@example.org "Message-ID: $(proof msgid 3 3)\\n" | g arf-msgid
jmrp_msg abuse@example.com s4@example.org "$(lu 4)"                | g jmrp-list-unsubscribe
ses_msg Bounce "$(proof verp 5)" s5@example.org "" ""              | g ses-bounce-verp
ses_msg Complaint bounces@example.com s6@example.org "$(proof msgid 6 6)" "" | g ses-complaint-msgid
prose_msg bounces@example.com s7@example.org "$(lu 7)"             | g prose-list-unsubscribe
arf_msg abuse@example.com s8@example.org "$(lu 8)"                 | g arf-list-unsubscribe
unsub_msg "$(proof unsub 9 $LID)"                                  | g unsub-token
OUT=$($BS bounce check "$M"/genuine-*.eml 2>/dev/null)
is "bounce check: every genuine one verified" "$(grep -c '"verified":true' <<<"$OUT")" "8"
for f in "$M"/genuine-*.eml; do
	expect "$(basename "$f" .eml): applied" 0 $BS bounce "$f"
done
is "genuine: each changed its subscriber" \
	"$(sql "SELECT group_concat(id || '=' || status, ' ') FROM (SELECT id, status FROM subscribers ORDER BY id)")" \
	"1=active 2=bounced 3=complained 4=complained 5=bounced 6=complained 7=bounced 8=complained 9=unsubscribed 10=active"
is "genuine: bounces recorded with their subscriber" \
	"$(sql "SELECT count(*) FROM bounces WHERE subscriber_id IS NOT NULL")" "7"
is "after all that, subscriber 1 is still untouched" \
	"$(sql "SELECT status || ' ' || bounce_score FROM subscribers WHERE id = 1")" "active 0"
echo "# $nforged forged reports tried, 8 genuine"
