# render.sh - broadside issue preview: golden copies of both examples, free
# and paid, and the command's errors. UPDATE_GOLDEN=1 rewrites the goldens.
. "$(dirname "$0")/../lib.sh"
write_config </dev/null
GOLD=$TOP/tests/fixtures/render
# A fixed key: the unsubscribe tokens in the goldens depend on it.
echo "1767225600 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f" >"$T/broadside.key"
chmod 600 "$T/broadside.key"
$BS init >/dev/null
$BS issue create "$TOP/examples/growth-dragons-weekly.md" >/dev/null
$BS issue create "$TOP/examples/alibaba-deepseek.md" >/dev/null
$BS subscriber add ada@example.com --name "Ada Lovelace" >/dev/null
$BS subscriber add zoe@example.com --name "Zoë “Z” O'Brien" --tier paid >/dev/null

# Date and Message-ID differ per copy by design; everything else is golden.
normal() { sed -e 's/^Date: .*/Date: (now)/' -e 's/^Message-ID: <0\.[0-9a-f]\{16\}@/Message-ID: <0.(random)@/'; }

for issue in 1 2; do
	for who in ada@example.com:free zoe@example.com:paid; do
		to=${who%%:*} tier=${who##*:}
		name=issue$issue-$tier.eml
		$BS issue preview $issue --to $to | normal >"$T/$name"
		if [ "${UPDATE_GOLDEN:-}" = 1 ]; then cp "$T/$name" "$GOLD/$name"; fi
		if cmp -s "$T/$name" "$GOLD/$name"; then ok "golden $name"; else
			not_ok "golden $name"; diff "$GOLD/$name" "$T/$name" | head -10 | sed 's/^/#   /'; fi
	done
done

expect_out "preview text part" 0 '^Hi Ada Lovelace,' $BS issue preview 1 --to ada@example.com --format text
expect_out "preview html part" 0 'Hi Ada Lovelace,</p>' $BS issue preview 1 --to ada@example.com --format html
expect_out "tier from the subscriber: paid copy has no CTA" 0 'Foshan Haitian' $BS issue preview 1 --to zoe@example.com --format text
is "--tier overrides the subscriber's" "$($BS issue preview 1 --to zoe@example.com --tier free --format text | grep -c 'Keep reading with a 7-day free trial')" 1
expect_out "no --to: a free preview with the fallback name" 0 '^Hi there,' $BS issue preview 1 --format text
expect_out "an address not on the list previews with no name" 0 'receiving Growth Dragons at someone@example.org' \
	$BS issue preview 1 --to someone@example.org --format text
expect_out "unknown issue" 66 'issue 9: no such issue' $BS issue preview 9
expect_out "bad id" 64 "'x' is not an issue id" $BS issue preview x
expect_out "bad tier" 64 "--tier 'gold': use free or paid" $BS issue preview 1 --tier gold
expect_out "bad format" 64 "--format 'pdf': use eml, html or text" $BS issue preview 1 --format pdf
expect_out "bad --to" 65 "--to 'nobody@'" $BS issue preview 1 --to nobody@
printf -- '---\nsubject: Paid only\naudience: paid\n---\nFor paid readers.\n' >"$T/paid.md"
$BS issue create "$T/paid.md" >/dev/null
expect_out "a paid-only issue has no free copy" 65 'issue 3 goes to paid subscribers only' $BS issue preview 3 --tier free
is "nothing on stdout after an error" "$($BS issue preview 3 --tier free 2>/dev/null | wc -c)" 0
expect_out "a paid-only issue for paid readers" 0 'For paid readers.' $BS issue preview 3 --tier paid --format text

# With DKIM keys configured every copy is signed in render_message.
$BS dkim keygen --selector r1 --domain example.com --type ed25519 --out "$T/r1.key" >/dev/null
write_config <<CONF
dkim = ( { selector = "r1"; domain = "example.com"; key_file = "$T/r1.key"; } );
CONF
$BS dkim dns >"$T/dns.txt"
$BS issue preview 1 --to zoe@example.com >"$T/signed.eml"
is "a signed copy starts with its DKIM-Signature" "$(head -c 15 "$T/signed.eml")" "DKIM-Signature:"
expect_out "python3-dkim verifies the copy (ed25519-sha256)" 0 ' 0 r1 pass$' \
	$PY "$TOP/tests/tools/dkim_verify.py" "$T/dns.txt" "$T/signed.eml"
body() { awk 'b { print } /^\r?$/ { b = 1 }' "$1"; }
body "$T/signed.eml" >"$T/body-signed"
body "$GOLD/issue1-paid.eml" >"$T/body-gold"
[ -s "$T/body-gold" ] && cmp -s "$T/body-signed" "$T/body-gold" && ok "signing leaves the body as it was" || not_ok "signing leaves the body as it was"
