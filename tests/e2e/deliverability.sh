#!/bin/bash
# deliverability.sh - rendered copies as the mailbox providers see them:
# every copy of both example issues (free and paid) DKIM-signed with an RSA
# and an Ed25519 key and verified by Debian's python3-dkim (its DNS answered
# from our own records: no network); one header of each signed kind
# tampered -> both signatures fail; SpamAssassin's score of each copy (local
# tests only) printed and held under 2.0; `issue preview --check`.
. "$(dirname "$0")/../lib.sh"
VERIFY="$PY $TOP/tests/tools/dkim_verify.py"

cd "$T" || exit 1
$BS dkim keygen --selector s2026 --domain example.com --out "$T/rsa.key" >/dev/null || not_ok "keygen rsa"
$BS dkim keygen --selector e2026 --domain example.com --type ed25519 --out "$T/ed.key" >/dev/null \
	|| not_ok "keygen ed25519"
# As an operator writes it: the public https URL behind the TLS proxy.
conf() {	# extra libconfig text on stdin
	cat >"$CONF" <<CONF
database = "$T/broadside.db";
templates = "$TOP/templates";
list: { name = "Growth Dragons"; id = "growth-dragons.example.com";
        from = "Growth Dragons <news@example.com>"; base_url = "https://news.example.com";
        upgrade_url = "https://news.example.com/subscribe";
        address = "1 Example Street, Springfield"; };
bounces: { address = "bounces@example.com"; };
CONF
	cat >>"$CONF"
	export BROADSIDE_CONFIG=$CONF
}
conf <<EOF
dkim = ( { selector = "s2026"; domain = "example.com"; key_file = "$T/rsa.key"; },
         { selector = "e2026"; domain = "example.com"; key_file = "$T/ed.key"; } );
EOF
$BS init >/dev/null
$BS dkim dns >"$T/dns.txt"
expect "issue 1 (weekly)" 0 $BS issue create "$TOP/examples/growth-dragons-weekly.md"
expect "issue 2 (post)" 0 $BS issue create "$TOP/examples/alibaba-deepseek.md"
$BS subscriber add ada@example.org --name "Ada Lovelace" --tier paid >/dev/null

copies=()
for i in 1 2; do
	for tier in free paid; do
		f=$T/issue$i-$tier.eml
		expect "preview issue $i $tier" 0 $BS issue preview $i --tier $tier --to ada@example.org
		$BS issue preview $i --tier $tier --to ada@example.org >"$f"
		copies+=("$f")
	done
done
$VERIFY "$T/dns.txt" "${copies[@]}" >"$T/py.out" 2>&1
for f in "${copies[@]}"; do
	name=$(basename "$f" .eml)
	grep -q "^$f 0 s2026 pass$" "$T/py.out" && ok "$name: python3-dkim verifies rsa-sha256" \
		|| not_ok "$name: python3-dkim verifies rsa-sha256"
	grep -q "^$f 1 e2026 pass$" "$T/py.out" && ok "$name: python3-dkim verifies ed25519-sha256" \
		|| not_ok "$name: python3-dkim verifies ed25519-sha256"
done

# One header of each signed kind changed in a rendered copy: both fail.
tampered=()
tamper() {	# name sed-expression
	local f=$T/t${#tampered[@]}.eml
	sed "$2" "$T/issue1-free.eml" >"$f"
	if cmp -s "$f" "$T/issue1-free.eml"; then not_ok "tamper $1: sed changed nothing"; return; fi
	tampered+=("$f|$1")
}
tamper From 's/^From: \(.*\)news@example.com/From: \1news@example.net/'
tamper To 's/^To: \(.*\)ada@example.org/To: \1bob@example.org/'
tamper Subject 's/^Subject: =?UTF-8?Q?Growth/Subject: =?UTF-8?Q?Grown/'
tamper Date 's/^Date: \(.*\) +0000/Date: \1 +0100/'
tamper Message-ID 's/^Message-ID: <0\./Message-ID: <1./'
tamper List-Id 's/^List-Id: .*/List-Id: <other.example.com>\r/'
tamper List-Unsubscribe 's|^List-Unsubscribe: <https://|List-Unsubscribe: <https://evil.|'
tamper List-Unsubscribe-Post 's/^List-Unsubscribe-Post: .*/List-Unsubscribe-Post: List-Unsubscribe=Nope\r/'
tamper Feedback-ID 's/^Feedback-ID: 1:/Feedback-ID: 2:/'
tamper MIME-Version 's/^MIME-Version: 1.0/MIME-Version: 1.1/'
tamper Content-Type 's|^Content-Type: multipart/alternative;|Content-Type: multipart/mixed;|'
tamper "an added Reply-To" 's/^Date: /Reply-To: evil@example.net\r\nDate: /'
tamper body 's/DeepSeek/DeepSeeK/'
files=()
for e in "${tampered[@]}"; do files+=("${e%%|*}"); done
$VERIFY "$T/dns.txt" "${files[@]}" >"$T/py.out" 2>&1
for e in "${tampered[@]}"; do
	f=${e%%|*}
	n=$(grep -c "^$f [01] .* fail$" "$T/py.out")
	[ "$n" = 2 ] && ok "rendered copy, ${e#*|} changed: both signatures fail" \
		|| not_ok "rendered copy, ${e#*|} changed: python3-dkim failed $n of 2"
done

# SpamAssassin, local tests only (no DNS, no network), with a throw-away HOME.
# All four copies in one run (an mbox: SpamAssassin starts once); Bayes is
# off, it has learnt nothing here anyway.
if command -v spamassassin >/dev/null; then
	for f in "${copies[@]}"; do
		echo "From broadside@example.com Mon Nov 23 18:00:00 2026"
		tr -d '\r' <"$f" | sed 's/^\(>*From \)/>\1/'
		echo
	done >"$T/copies.mbox"
	HOME=$T spamassassin -L -t --mbox --cf='use_bayes 0' <"$T/copies.mbox" >"$T/sa.out" 2>/dev/null
	sed -n '/^X-Spam-Status:/,/version=/p' "$T/sa.out" | tr -d '\n\t' | sed 's/X-Spam-Status/\n&/g' \
		| sed -n 's/^X-Spam-Status: [A-Za-z]*, score=\([-0-9.]*\).*tests=\([^ ]*\).*/\1 \2/p' >"$T/scores"
	i=0
	for f in "${copies[@]}"; do
		i=$((i + 1))
		name=$(basename "$f" .eml)
		read -r score rules < <(sed -n "${i}p" "$T/scores")
		echo "# spamassassin $name: score ${score:-none} (${rules:-})"
		awk -v s="${score:-99}" 'BEGIN { exit !(s <= 2.0) }' \
			&& ok "spamassassin $name: $score <= 2.0" || not_ok "spamassassin $name: ${score:-no score} > 2.0 (${rules:-})"
	done
else
	not_ok "spamassassin is not installed (make deps)"
fi

# The check report.
expect_out "preview --check: all pass" 0 '^0 failed, 0 warnings$' \
	$BS issue preview 2 --tier paid --to ada@example.org --check
for want in 'ok    DKIM rsa-sha256 s=s2026 d=example.com verifies' \
	'ok    DKIM ed25519-sha256 s=e2026 d=example.com verifies' \
	'ok    DKIM s=s2026 h= covers From, List-Unsubscribe and List-Unsubscribe-Post' \
	'ok    DMARC alignment: From domain example.com is d=example.com' \
	'ok    one-click unsubscribe' 'ok    lines: CRLF only' \
	'SpamAssassin \(local tests, no network\): score [0-9.]+'; do
	grep -qE -- "$want" <<<"$OUT" && ok "--check: $want" || not_ok "--check: $want"
done
expect_out "preview --check --format html is a usage error" 64 'no --format html' \
	$BS issue preview 1 --check --format html

conf <<EOF
dkim = ( { selector = "s2026"; domain = "mail.example.net"; key_file = "$T/rsa.key"; } );
EOF
expect_out "--check: d= not aligned with From fails" 65 'FAIL  DMARC: no valid signature is aligned' \
	$BS issue preview 1 --check
conf </dev/null
expect_out "--check: unsigned copy fails" 65 'FAIL  DKIM: no keys configured' $BS issue preview 1 --check
$BS issue preview 1 >"$T/unsigned.eml"
grep -q '^DKIM-Signature' "$T/unsigned.eml" && not_ok "no keys: no signature" || ok "no keys: no signature"
