#!/bin/bash
# demo.sh - `make demo`: the weekly example issue sent to the example
# subscribers through a capturing SMTP server on loopback, by the real
# daemon. Everything lives in a temporary directory that is kept, so that
# the captured messages can be read afterwards.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BROADSIDE_BUILD:-$TOP/build}
BS=$BUILD/broadside
BSD=$BUILD/broadsided
PY=/usr/bin/python3
D=$(mktemp -d /tmp/broadside-demo.XXXXXX)
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
HTTP=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done' EXIT

export BROADSIDE_CONFIG=$D/broadside.conf
cat >"$BROADSIDE_CONFIG" <<CONF
database = "$D/broadside.db";
templates = "$TOP/templates";
log_level = "notice";
list: { name = "Growth Dragons"; id = "growth-dragons.example.com";
        from = "Growth Dragons <news@example.com>"; base_url = "http://127.0.0.1:$HTTP";
        upgrade_url = "https://news.example.com/subscribe";
        address = "1 Example Street, Springfield"; };
http: { listen = "127.0.0.1:$HTTP"; };
bounces: { address = "bounces@example.com"; };
relays = ( { host = "127.0.0.1"; port = $PORT; connections = 2; } );
CONF
echo "== config: $BROADSIDE_CONFIG (relay: a capturing SMTP server on 127.0.0.1:$PORT)"
mkdir -p "$D/captured"
$PY "$TOP/tests/smtpd.py" --port "$PORT" --dir "$D/captured" 2>"$D/smtpd.log" &
pids+=($!)
for _ in $(seq 100); do [ -e "$D/captured/ready" ] && break; sleep 0.1; done

$BS init || exit 1
$BS subscriber import "$TOP/examples/subscribers.csv" || exit 1
id=$($BS issue create "$TOP/examples/growth-dragons-weekly.md") || exit 1
echo "issue $id created from examples/growth-dragons-weekly.md"
$BS issue schedule "$id" --now || exit 1

echo "== broadsided (log: $D/broadsided.log)"
$BSD 2>"$D/broadsided.log" &
dpid=$!
pids+=($dpid)
for _ in $(seq 300); do
	[ "$(sqlite3 "$D/broadside.db" "SELECT status FROM issues WHERE id = $id")" = sent ] && break
	sleep 0.1
done
kill -TERM $dpid; wait $dpid
sed 's/^/   /' "$D/broadsided.log"

echo "== broadside issue show $id"
$BS issue show "$id"
echo "== what the relay received"
$PY - "$D/captured" "$TOP/examples/subscribers.csv" <<'PY'
import csv, email, email.policy, json, os, sys
d, subs = sys.argv[1], {r["email"]: r for r in csv.DictReader(open(sys.argv[2]))}
for line in open(os.path.join(d, "log.jsonl")):
    m = json.loads(line)
    msg = email.message_from_binary_file(open(os.path.join(d, m["file"]), "rb"),
                                         policy=email.policy.default)
    text = msg.get_body(("plain",)).get_content()
    rcpt = m["rcpt"][0]
    cut = "cut + call to action" if "Keep reading with a 7-day free trial" in text else "whole issue"
    print("   %-26s %-4s %6d bytes  %-20s %s" % (rcpt, subs.get(rcpt, {}).get("tier", "?"),
                                                m["size"], cut, m["file"]))
PY
echo "== captured messages: $D/captured/msgs/ (log: $D/captured/log.jsonl)"
echo "   delete $D when done"
