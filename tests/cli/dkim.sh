#!/bin/bash
# dkim.sh - DKIM keys and signatures: keygen, config errors, signing checked by
# Debian's python3-dkim (no network: its DNS answers come from our records),
# tampering of every signed header kind, and our own verifier agreeing.
. "$(dirname "$0")/../lib.sh"
FIX=$TOP/tests/fixtures/dkim
VERIFY="$PY $TOP/tests/tools/dkim_verify.py"

cd "$T" || exit 1
expect_out "keygen rsa prints the TXT record" 0 '^s1\._domainkey\.example\.com\. IN TXT "v=DKIM1; k=rsa; p=' \
	$BS dkim keygen --selector s1 --domain example.com --out "$T/s1.key"
is "keygen writes the key mode 0600" "$(stat -c %a "$T/s1.key")" 600
grep -q 'BEGIN PRIVATE KEY' "$T/s1.key" && ok "the key is PEM" || not_ok "the key is PEM"
# The TXT value of a 2048-bit key is longer than one DNS string: split at 255.
longest=$(grep -o '"[^"]*"' <<<"$OUT" | awk '{ print length($0) - 2 }' | sort -n | tail -1)
[ "$(grep -c '" "' <<<"$OUT")" -ge 1 ] && [ "$longest" -le 255 ] && ok "TXT value split in strings of <= 255" \
	|| not_ok "TXT value split in strings of <= 255 (longest $longest)"
expect_out "keygen ed25519" 0 'k=ed25519; p=[A-Za-z0-9+/]{43}=' \
	$BS dkim keygen --selector e1 --domain example.com --type ed25519 --out "$T/e1.key"
expect_out "keygen default file name" 0 "wrote s2\.example\.com\.key" \
	$BS dkim keygen --selector s2 --domain example.com --type ed25519
expect_out "keygen never overwrites a key" 73 'exists' \
	$BS dkim keygen --selector e1 --domain example.com --type ed25519 --out "$T/e1.key"
expect_out "keygen: bad type" 64 'must be rsa or ed25519' \
	$BS dkim keygen --selector x --domain example.com --type dsa
expect_out "keygen: bad bits" 64 '1024 to 8192' \
	$BS dkim keygen --selector x --domain example.com --bits 512
expect_out "keygen: selector required" 64 'required' $BS dkim keygen --domain example.com
expect_out "keygen: bad domain" 64 "not a domain" $BS dkim keygen --selector x --domain 'a b'

write_config <<EOF
dkim = ( { selector = "s1"; domain = "example.com"; key_file = "$T/s1.key"; },
         { selector = "e1"; domain = "example.com"; key_file = "$T/e1.key"; } );
EOF
expect "config with two dkim keys checks" 0 $BS config check
$BS dkim dns >"$T/dns.txt"
is "dkim dns prints both records" "$(grep -c '_domainkey.example.com. IN TXT' "$T/dns.txt")" 2

expect "sign the fixture" 0 $BS dkim sign "$FIX/message.eml"
$BS dkim sign "$FIX/message.eml" >"$T/signed.eml"
is "two signatures, rsa first" "$(grep -o '^DKIM-Signature: v=1; a=[a-z0-9-]*' "$T/signed.eml" | cut -d= -f3 | tr '\n' ' ')" \
	"rsa-sha256 ed25519-sha256 "
expect_out "python3-dkim verifies rsa-sha256 and ed25519-sha256" 0 ' 1 e1 pass$' \
	$VERIFY "$T/dns.txt" "$T/signed.eml"
expect_out "our verifier agrees" 0 'e1: pass' $BS dkim verify "$T/signed.eml"
# The signatures come first; each line at most 76 characters before its CRLF.
awk '/^From:/ { exit } length($0) > 77 { bad = 1 } END { exit bad }' "$T/signed.eml" \
	&& ok "signature lines fold under 78 columns" || not_ok "signature lines fold under 78 columns"
grep -q 'list-unsubscribe:list-unsubscribe:list-unsubscribe-post:' "$T/signed.eml" \
	&& ok "List-Unsubscribe and -Post covered and over-signed" || not_ok "List-Unsubscribe covered"

# Relaxed canonicalization forgives re-folding and blanks, nothing else.
sed 's/^Subject: \(.*\)\r$/Subject:    \1  \r/' "$T/signed.eml" >"$T/refold.eml"
expect "relaxed: blanks added around a header value still verify" 0 $VERIFY "$T/dns.txt" "$T/refold.eml"
sed 's/^Happy Lunar New Year!  /Happy   Lunar New Year! /' "$T/signed.eml" >"$T/blank.eml"
expect "relaxed: blanks changed inside a body line still verify" 0 $VERIFY "$T/dns.txt" "$T/blank.eml"

# Tamper with one header of each signed kind: both signatures must fail, for
# python3-dkim and for our own verifier.
# The copies are made first, then python3-dkim reads them all in one run.
tampered=()
tamper() {	# name sed-expression
	local f=$T/t${#tampered[@]}.eml
	sed "$2" "$T/signed.eml" >"$f"
	if cmp -s "$f" "$T/signed.eml"; then not_ok "tamper $1: sed changed nothing"; return; fi
	tampered+=("$f|$1")
}
check_tampered() {
	local files=() e f name py ours
	for e in "${tampered[@]}"; do files+=("${e%%|*}"); done
	$VERIFY "$T/dns.txt" "${files[@]}" >"$T/py.out" 2>&1
	for e in "${tampered[@]}"; do
		f=${e%%|*}; name=${e#*|}
		py=$(grep -c "^$f [01] .* fail$" "$T/py.out")
		ours=$($BS dkim verify "$f" 2>&1 | grep -c ': signature does not verify\|body hash')
		if [ "$py" = 2 ] && [ "$ours" = 2 ]; then ok "tamper $name: both signatures fail"; else
			not_ok "tamper $name: python3-dkim failed $py of 2, ours $ours of 2"; fi
	done
}
tamper From 's/^From: Growth Dragons <news@example.com>/From: Growth Dragons <news@evil.example>/'
tamper To 's/^To: Ada Reader <ada@example.org>/To: Bob <bob@example.org>/'
tamper Subject 's/^Subject: =?UTF-8?Q?Growth/Subject: =?UTF-8?Q?Grown/'
tamper Date 's/^Date: Mon, 23 Nov 2026 18:00:00/Date: Mon, 23 Nov 2026 18:00:01/'
tamper Message-ID 's/^Message-ID: <42\./Message-ID: <43./'
tamper List-Id 's/^List-Id: Growth Dragons/List-Id: Other/'
tamper List-Unsubscribe 's|^List-Unsubscribe: <https://news.example.com/u/AbCdEf123>|List-Unsubscribe: <https://evil.example/u/AbCdEf123>|'
tamper List-Unsubscribe-Post 's/^List-Unsubscribe-Post: List-Unsubscribe=One-Click/List-Unsubscribe-Post: List-Unsubscribe=Nope/'
tamper Feedback-ID 's/^Feedback-ID: 42:/Feedback-ID: 43:/'
tamper MIME-Version 's/^MIME-Version: 1.0/MIME-Version: 1.1/'
tamper Content-Type 's/^Content-Type: multipart\/alternative;/Content-Type: multipart\/mixed;/'
tamper "an added Reply-To (over-signed)" 's/^Date: /Reply-To: evil@example.net\r\nDate: /'
tamper "a second From (over-signed)" 's/^Date: /From: evil@example.net\r\nDate: /'
tamper body 's/Markets reopen on February 5/Markets reopen on February 6/'
check_tampered
# A header that is not signed may change.
sed 's/^X-Mailer: .*/X-Mailer: other\r/' "$T/signed.eml" >"$T/x.eml"
expect "an unsigned header may change" 0 $VERIFY "$T/dns.txt" "$T/x.eml"

# Bad keys and messages: clear errors, no output.
printf 'not a key\n' >"$T/bad.key"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/ec.key" 2>/dev/null
write_config <<EOF
dkim = ( { selector = "s1"; domain = "example.com"; key_file = "$T/missing.key"; } );
EOF
expect_out "config check reads the key files" 78 "dkim\[0\]: $T/missing.key: cannot read key" \
	$BS config check
expect_out "missing key file: names entry and file" 78 "dkim\[0\]: $T/missing.key: cannot read key" \
	$BS dkim sign "$FIX/message.eml"
write_config <<EOF
dkim = ( { selector = "s1"; domain = "example.com"; key_file = "$T/bad.key"; } );
EOF
expect_out "not a PEM key" 78 "bad.key: not a PEM private key" $BS dkim sign "$FIX/message.eml"
write_config <<EOF
dkim = ( { selector = "s1"; domain = "example.com"; key_file = "$T/ec.key"; } );
EOF
expect_out "an EC key is refused" 78 "DKIM signs with RSA or Ed25519" $BS dkim sign "$FIX/message.eml"
write_config <<EOF
dkim = ( { selector = "s1"; domain = "example.com"; } );
EOF
expect_out "config check: key_file required" 78 "dkim\[0\]: needs selector, domain and key_file" \
	$BS config check
write_config <<EOF
dkim = ( { selector = "s 1"; domain = "example.com"; key_file = "$T/s1.key"; } );
EOF
expect_out "config check: bad selector" 78 "not a DNS label" $BS config check
write_config <<EOF
dkim = ( { selector = "s1"; domain = "example.com"; key_file = "$T/s1.key"; colour = "red"; } );
EOF
expect_out "config check: unknown key in a dkim group" 78 "dkim\[0\]\.colour: unknown key" $BS config check
write_config <<EOF
dkim = ( { selector = "s1"; domain = "example.com"; key_file = "$T/s1.key"; } );
EOF
printf 'From: a@example.com\r\nSubject: no body separator\r\n' >"$T/nobody.eml"
expect_out "a message without header/body separator is refused" 70 "no empty line" \
	$BS dkim sign "$T/nobody.eml"
printf 'Subject: no from\r\n\r\nbody\r\n' >"$T/nofrom.eml"
expect_out "a message without From is refused" 70 "exactly one From" $BS dkim sign "$T/nofrom.eml"
expect_out "verify: an unsigned message" 65 "no DKIM-Signature" $BS dkim verify "$FIX/message.eml"
write_config </dev/null
expect_out "sign without keys configured" 78 "no dkim keys configured" $BS dkim sign "$FIX/message.eml"
