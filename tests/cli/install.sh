# install.sh - make install into a DESTDIR: what lands where, and that it works.
. "$(dirname "$0")/../lib.sh"
R=$T/root
b=$(basename "$BUILD")
san=; [ "$b" = build-asan ] && san=SAN=1
expect "make install DESTDIR" 0 make -s -C "$TOP" install BUILD="$b" $san DESTDIR="$R"
P=$R/usr/local
for f in bin/broadside sbin/broadsided share/broadside/templates/layout.html \
	share/broadside/templates/paywall.txt share/broadside/db/0001_init.sql \
	share/doc/broadside/README.md lib/sysusers.d/broadside.conf; do
	[ -f "$P/$f" ] && ok "installed $f" || not_ok "installed $f"
done
is "binaries are executable" "$(stat -c %a "$P/bin/broadside" "$P/sbin/broadsided" | tr '\n' ' ')" "755 755 "
U=$R/lib/systemd/system/broadsided.service
[ -f "$U" ] && ok "unit installed" || not_ok "unit installed"
is "unit starts the installed daemon" "$(grep ^ExecStart= "$U")" \
	"ExecStart=/usr/local/sbin/broadsided --config /etc/broadside/broadside.conf"
if grep -qE '@[A-Z]+@' "$U"; then not_ok "no @PLACEHOLDER@ left"; else ok "no @PLACEHOLDER@ left"; fi
# systemd's own reading of the hardening (offline: no running systemd needed).
if score=$(systemd-analyze security --offline=yes "$U" 2>/dev/null | grep -o 'exposure level.*'); then
	echo "# systemd-analyze security: $score"
	case "$score" in *" OK "*|*"SAFE"*) ok "hardening rated OK or SAFE" ;; *) not_ok "hardening rated OK or SAFE ($score)" ;; esac
fi
is "config installed 0640" "$(stat -c %a "$R/etc/broadside/broadside.conf")" 640
# Its templates are where the package put them (under DESTDIR here).
sed "s|^templates = .*|templates = \"$P/share/broadside/templates\";|" \
	"$R/etc/broadside/broadside.conf" >"$T/installed.conf"
expect_out "the installed config is valid" 0 ': ok' "$P/bin/broadside" config check "$T/installed.conf"
grep -q '^templates = "/usr/local/share/broadside/templates";' "$R/etc/broadside/broadside.conf" \
	&& ok "config points at the installed templates" || not_ok "config points at the installed templates"
echo "# an existing config is kept" >>"$R/etc/broadside/broadside.conf"
make -s -C "$TOP" install BUILD="$b" $san DESTDIR="$R" >/dev/null 2>&1
grep -q '^# an existing config is kept' "$R/etc/broadside/broadside.conf" \
	&& ok "reinstall keeps the operator's config" || not_ok "reinstall keeps the operator's config"
grep -q '^u broadside' "$P/lib/sysusers.d/broadside.conf" && ok "sysusers makes the broadside user" \
	|| not_ok "sysusers makes the broadside user"
