# readme.sh - the README's settings reference names every setting the binary knows.
. "$(dirname "$0")/../lib.sh"
ref=$(sed -n '/<!-- settings-reference/,/<!-- \/settings-reference/p' "$TOP/README.md")
# Every key of `config example`, with its group: "list.name", "relays[].host", ...
$BS config example | awk '
	/^ *[a-z_]+: \{/ { name = $1; sub(":", "", name); stack[++n] = name; next }
	/^ *\};/ { n--; next }
	/^[a-z_]+ = \($/ { list = $1; next }
	/^\);/ { list = ""; next }
	/^ *[a-z_]+ = / {
		if (list != "") { print list "[]." $1; next }
		p = ""; for (i = 1; i <= n; i++) p = p stack[i] "."
		print p $1
	}
' | sort -u >"$T/keys"
[ -s "$T/keys" ] && ok "config example lists keys" || not_ok "config example lists keys"
while read -r key; do
	if grep -qF "\`$key\`" <<<"$ref"; then ok "README documents $key"; else not_ok "README documents $key"; fi
done <"$T/keys"

# The README's `init` example shows the schema version this build makes.
write_config </dev/null
want=$($BS init | grep -o 'schema version [0-9]*')
grep -q "ready ($want)" "$TOP/README.md" && ok "README's init example: $want" ||
	not_ok "README's init example shows $want ($(grep -o 'ready (schema version [0-9]*)' "$TOP/README.md"))"
