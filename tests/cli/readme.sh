# readme.sh - the README's settings reference names every setting the binary knows.
. "$(dirname "$0")/../lib.sh"
ref=$(sed -n '/<!-- settings-reference/,/<!-- \/settings-reference/p' "$TOP/README.md")
# Every key of `config example`, with its group: "list.name", "relays[].host", ...
$BS config example | awk '
	/^[a-z_]+: \{/ { group = $1; sub(":", "", group); next }
	/^[a-z_]+ = \($/ { list = $1; next }
	/^\);/ { list = ""; next }
	/^\};/ { group = ""; next }
	/^ *[a-z_]+ = / { k = $1; if (list != "") print list "[]." k; else if (group != "") print group "." k; else print k }
' | sort -u >"$T/keys"
[ -s "$T/keys" ] && ok "config example lists keys" || not_ok "config example lists keys"
while read -r key; do
	if grep -qF "\`$key\`" <<<"$ref"; then ok "README documents $key"; else not_ok "README documents $key"; fi
done <"$T/keys"
