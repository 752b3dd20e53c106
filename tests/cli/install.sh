# install.sh - make install into a DESTDIR: what lands where, and that it works;
# then, as root, the machine's part for real (install-user: the broadside user
# by useradd when systemd-sysusers is missing, its state folder, the config's
# group) and the path without systemd: init and the daemon in the foreground as
# that user, stopped by SIGTERM.
. "$(dirname "$0")/../lib.sh"
R=$T/root
b=$(basename "$BUILD")
san=; [ "$b" = build-asan ] && san=SAN=1
expect "make install DESTDIR" 0 make -s -C "$TOP" install BUILD="$b" $san DESTDIR="$R"
if grep -q '^install: ' <<<"$OUT"; then not_ok "a DESTDIR install makes no user or folder on the machine"
else ok "a DESTDIR install makes no user or folder on the machine"; fi
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

# --- On the machine itself, without systemd ------------------------------
if [ "$(id -u)" -ne 0 ]; then
	ok "install-user and a foreground daemon as broadside # SKIP not root (needs useradd, runuser)"
	exit 0
fi
chmod 755 "$T"			# the broadside user walks into it
S=$T/state
pid=
stop_daemon() { [ -z "$pid" ] || { kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=; }; }
on_exit stop_daemon
if id broadside >/dev/null 2>&1; then had_user=1; else
	had_user=0; on_exit "userdel broadside 2>/dev/null"	# leave the machine as found
fi
expect_out "install-user without systemd-sysusers: the state folder" 0 \
	"install: $S \(0750, owner broadside\)" \
	make -s -C "$TOP" install-user BUILD="$b" $san PREFIX=/usr/local SYSCONFDIR="$R/etc" \
	STATEDIR="$S" SYSUSERS=no-such-systemd-sysusers
if [ "$had_user" = 0 ]; then
	grep -q 'install: user broadside (useradd; no no-such-systemd-sysusers here)' <<<"$OUT" &&
		ok "the user made by useradd, and said so" || not_ok "the user made by useradd, and said so"
fi
is "a system user with no login shell" "$(getent passwd broadside | cut -d: -f7)" /usr/sbin/nologin
is "state folder: 0750, broadside's" "$(stat -c '%a %U %G' "$S")" "750 broadside broadside"
is "config readable by the broadside group" "$(stat -c '%a %G' "$R/etc/broadside/broadside.conf")" "640 broadside"
# The folder as the unit wants it, or systemd warns at every start and reload.
is "config folder: the unit's ConfigurationDirectoryMode, group broadside" \
	"$(stat -c '%a %G' "$R/etc/broadside")" "$(sed -n 's/^ConfigurationDirectoryMode=0*//p' "$U") broadside"
expect "install-user again: nothing left to do" 0 make -s -C "$TOP" install-user BUILD="$b" $san \
	PREFIX=/usr/local SYSCONFDIR="$R/etc" STATEDIR="$S" SYSUSERS=no-such-systemd-sysusers
is "install-user again says nothing" "$OUT" ""

# The README's "Running without systemd", with the installed binaries.
C=$T/fg.conf
port=$(free_port)
cat >"$C" <<CONF
database = "$S/broadside.db";
templates = "$P/share/broadside/templates";
http: { listen = "127.0.0.1:$port"; };
relays = ( { host = "127.0.0.1"; port = $(free_port); } );
CONF
chgrp broadside "$C"; chmod 640 "$C"
cp "$TOP/tests/lsan.supp" "$T/lsan.supp"
export LSAN_OPTIONS=suppressions=$T/lsan.supp:print_suppressions=0
as_broadside() { runuser -u broadside -- "$@"; }
schema=$(ls "$TOP"/db/[0-9]*.sql | wc -l)
expect_out "init as broadside: the real schema version" 0 "ready \(schema version $schema\)" \
	as_broadside "$P/bin/broadside" --config "$C" init
is "database and key are broadside's" "$(stat -c '%U %a' "$S/broadside.db" "$S/broadside.key" | tr '\n' ' ')" \
	"broadside 644 broadside 600 "
printf 'database = "%s/other.db";\n' "$S" >"$T/root.conf"
expect_out "init as root in broadside's folder: a note that the files are root's" 0 \
	"warn.*made as root in a folder of uid $(id -u broadside)" "$P/bin/broadside" --config "$T/root.conf" init
printf 'database = "%s/gone/deeper/b.db";\n' "$T" >"$T/nodir.conf"
chmod 644 "$T/nodir.conf"
expect_out "init with a folder it cannot make: EX_CANTCREAT, the folder and the fix" 73 \
	"folder $T/gone/deeper is missing and cannot be made.*install -d -o broadside -g broadside -m 0750 $T/gone/deeper" \
	as_broadside "$P/bin/broadside" --config "$T/nodir.conf" init
printf 'database = "%s/made/b.db";\n' "$T" >"$T/made.conf"
expect_out "init (root) makes a missing folder 0750" 0 "folder $T/made created \(0750\)" \
	"$P/bin/broadside" --config "$T/made.conf" init
is "the folder made is 0750" "$(stat -c %a "$T/made")" 750

# setpriv executes the daemon in its own place (runuser would stay as its
# parent and not pass SIGTERM on): $pid is the daemon.
setpriv --reuid=broadside --regid=broadside --init-groups -- \
	"$P/sbin/broadsided" --config "$C" 2>"$T/fg.log" &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
expect_out "foreground daemon as broadside answers /healthz" 0 '"database"' curl -sf "http://127.0.0.1:$port/healthz"
is "it runs as broadside" "$(ps -o user:20=,comm= -p "$pid" | tr -s ' ')" "broadside broadsided"
kill -TERM "$pid"
wait "$pid"; rc=$?; pid=
is "SIGTERM stops it, exit 0" "$rc" 0
grep -q 'started: config' "$T/fg.log" && grep -q 'stopping' "$T/fg.log" &&
	ok "its log is on stderr (started, stopping)" || { not_ok "its log is on stderr"; head -5 "$T/fg.log" | sed 's/^/#   /'; }
