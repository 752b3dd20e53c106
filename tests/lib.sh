# lib.sh - helpers for Broadside's shell tests. Source it; it sets:
#   $BS   the broadside binary of the build under test ($BROADSIDE_BUILD)
#   $BSD  the broadsided binary
#   $T    a fresh temporary directory, removed on exit
#   $CONF a config in $T with its database in $T (not yet initialised)
set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BROADSIDE_BUILD:-$TOP/build}
BS=$BUILD/broadside
BSD=$BUILD/broadsided
PY=/usr/bin/python3
T=$(mktemp -d /tmp/broadside-test.XXXXXX)
CONF=$T/broadside.conf
_cleanup_hooks=()
_cleanup() {
	for h in "${_cleanup_hooks[@]}"; do eval "$h"; done
	rm -rf "$T"
}
trap _cleanup EXIT
on_exit() { _cleanup_hooks+=("$1"); }

write_config() {	# extra libconfig text may follow on stdin
	cat >"$CONF" <<CONF
database = "$T/broadside.db";
templates = "$TOP/templates";
list: { name = "Growth Dragons"; id = "growth-dragons.example.com";
        from = "Growth Dragons <news@example.com>"; base_url = "http://127.0.0.1:8025";
        upgrade_url = "https://news.example.com/subscribe";
        address = "1 Example Street, Springfield"; };
bounces: { address = "bounces@example.com"; };
CONF
	if [ ! -t 0 ]; then cat >>"$CONF"; fi
	export BROADSIDE_CONFIG=$CONF
}

ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; }

# expect NAME RC CMD...: the command exits RC; its output is in $OUT.
expect() {
	local name=$1 want=$2; shift 2
	OUT=$("$@" 2>&1); local rc=$?
	if [ "$rc" -eq "$want" ]; then ok "$name"; else
		not_ok "$name (exit $rc, wanted $want)"; echo "$OUT" | head -5 | sed 's/^/#   /'; fi
}
# expect_out NAME RC PATTERN CMD...: as expect, and the output matches PATTERN (grep -E).
expect_out() {
	local name=$1 want=$2 pat=$3; shift 3
	OUT=$("$@" 2>&1); local rc=$?
	if [ "$rc" -eq "$want" ] && grep -qE -- "$pat" <<<"$OUT"; then ok "$name"; else
		not_ok "$name (exit $rc, wanted $want; output must match /$pat/)"
		echo "$OUT" | head -5 | sed 's/^/#   /'; fi
}
# is NAME GOT WANT
is() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1"; echo "#   got:  '$2'"; echo "#   want: '$3'"; fi
}
# The daemon may hold the write lock for a moment: wait for it, as the CLI does.
sql() { sqlite3 -batch -cmd ".timeout 10000" "$T/broadside.db" "$@"; }

# A free TCP port on 127.0.0.1.
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# hold_lock / release_lock: another process holds an exclusive lock on the
# test database until released (at most 120 s), so that "database busy"
# cases do not depend on how fast the machine is.
hold_lock() {
	rm -f "$T/.locked" "$T/.release"
	$PY - "$T/broadside.db" "$T/.locked" "$T/.release" <<'PY' &
import os, sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN EXCLUSIVE")
open(sys.argv[2], "w").close()
for _ in range(1200):
    if os.path.exists(sys.argv[3]):
        break
    time.sleep(0.1)
c.execute("ROLLBACK")
PY
	_locker=$!
	on_exit "kill $_locker 2>/dev/null"
	for _ in $(seq 600); do [ -e "$T/.locked" ] && return 0; sleep 0.1; done
	not_ok "could not take the database lock"
}
release_lock() { touch "$T/.release"; wait "$_locker"; }

# proof verp DELIVERY | msgid DELIVERY SUBSCRIBER | unsub SUBSCRIBER LIST_ID:
# what a genuine copy carries, made with the test's key file (tools/proof.py).
proof() { $PY "$TOP/tests/tools/proof.py" "$T/broadside.key" "$@"; }

dsn() {	# rcpt status diagnostic returned-message-id [bounce-message-id]: an RFC 3464 DSN
	cat <<MSG
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
To: bounces@example.com
Subject: Undelivered Mail Returned to Sender
Message-ID: ${5:-<dsn.$2.$1>}
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="BB"

--BB
Content-Type: text/plain

Sorry.

--BB
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; $1
Action: failed
Status: $2
Diagnostic-Code: smtp; $3

--BB
Content-Type: text/rfc822-headers

From: news@example.com
To: $1
Message-ID: $4

--BB--
MSG
}
