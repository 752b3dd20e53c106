# http.sh - the daemon's HTTP endpoint with curl: RFC 8058 one-click
# unsubscribe, the confirmation page, forged and stale tokens, key rotation,
# request limits (body, headers, methods, paths, slow clients, connection
# count), /healthz, /metrics, reload, and a rendered message's
# List-Unsubscribe URL end to end.
. "$(dirname "$0")/../lib.sh"

PORT=$(free_port)
URL=http://127.0.0.1:$PORT
write_config <<CONF
http: { listen = "127.0.0.1:$PORT"; timeout = "2s"; max_connections = 8; max_body = 65536; };
CONF
sed -i "s|base_url = \"http://127.0.0.1:8025\"|base_url = \"$URL\"|" "$CONF"
$BS init >/dev/null
for who in jane bob carol dave erin frank; do
	$BS subscriber add "$who@example.com" >/dev/null
done
id_of() { sql "SELECT id FROM subscribers WHERE email = '$1@example.com'"; }
status_of() { sql "SELECT status FROM subscribers WHERE email = '$1@example.com'"; }

# The token of subscriber $1 made with key line $2 (1 = current) of the key
# file, computed here independently of token.c (token.h tells the format).
token() {
	$PY - "$T/broadside.key" "$1" "${2:-1}" "${3:-growth-dragons.example.com}" <<'PY'
import base64, hashlib, hmac, sys
keys = [l.split()[1] for l in open(sys.argv[1]) if l[:1].isdigit()]
n, digits, id36 = int(sys.argv[2]), "0123456789abcdefghijklmnopqrstuvwxyz", ""
while True:
    id36, n = digits[n % 36] + id36, n // 36
    if n == 0:
        break
mac = hmac.new(bytes.fromhex(keys[int(sys.argv[3]) - 1]),
               b"unsub\0" + sys.argv[4].encode() + b"\0" + id36.encode(), hashlib.sha256).digest()
print(id36 + "." + base64.urlsafe_b64encode(mac[:16]).decode().rstrip("="))
PY
}
# code METHOD PATH [curl args...]: prints the status code.
code() {
	local m=$1 p=$2; shift 2
	curl -s -o /dev/null --path-as-is -w '%{http_code}' -X "$m" "$@" "$URL$p"
}
# A fingerprint of every subscriber and event: "nothing changed" compares it.
state() { sql "SELECT group_concat(id || status, ',') FROM subscribers; SELECT count(*) FROM events; SELECT group_concat(state, ',') FROM deliveries"; }

start_daemon() {
	$BSD >>"$T/daemon.log" 2>&1 &
	DPID=$!
	for _ in $(seq 50); do
		curl -s -o /dev/null "$URL/healthz" && return 0
		kill -0 $DPID 2>/dev/null || break
		sleep 0.1
	done
	echo "# daemon did not start:"; sed 's/^/#   /' "$T/daemon.log"
	return 1
}
start_daemon
on_exit 'kill $DPID 2>/dev/null; wait $DPID 2>/dev/null'

# --- health ---
out=$(curl -s -i "$URL/healthz")
if grep -q '^HTTP/1.1 200' <<<"$out" && grep -qi '^Content-Type: application/json' <<<"$out" &&
	tail -1 <<<"$out" | $PY -c 'import json,sys; j=json.load(sys.stdin); sys.exit(not (j["status"]=="ok" and j["database"]=="ok"))'; then
	ok "/healthz: 200, JSON, database ok"
else not_ok "/healthz"; echo "$out" | sed 's/^/#   /'; fi
is "HEAD /healthz" "$(code HEAD /healthz -I)" 200

# --- GET never unsubscribes ---
JANE=$(token "$(id_of jane)")
before=$(state)
page=$(curl -s -i "$URL/u/$JANE")
if grep -q '^HTTP/1.1 200' <<<"$page" && grep -q 'j\*\*\*@example.com' <<<"$page" &&
	grep -q 'Growth Dragons' <<<"$page" && grep -q '<form method="post">' <<<"$page" &&
	grep -q '<button type="submit">Unsubscribe</button>' <<<"$page" && ! grep -q 'jane@example.com' <<<"$page"; then
	ok "GET /u/TOKEN: confirmation page with list name, masked address, one POST button"
else not_ok "GET /u/TOKEN page"; echo "$page" | head -20 | sed 's/^/#   /'; fi
if grep -qi '^Set-Cookie' <<<"$page"; then not_ok "page sets no cookie"; else ok "page sets no cookie"; fi
if grep -qi '^Referrer-Policy: no-referrer' <<<"$page" && grep -qi '^Cache-Control: no-store' <<<"$page"; then
	ok "page: no-referrer (token in URL), no-store"; else not_ok "page headers"; fi
is "HEAD /u/TOKEN" "$(code HEAD "/u/$JANE" -I)" 200
curl -s -o /dev/null -A 'Mozilla/5.0 (compatible; SafeLinks link scanner)' "$URL/u/$JANE"
curl -s -o /dev/null "$URL/u/$JANE?utm_source=scanner"
is "GET and HEAD (link scanners) change nothing" "$(state)" "$before"
is "jane still active" "$(status_of jane)" active

# --- one-click POST, urlencoded: unsubscribes and drops queued mail ---
$BS issue create "$TOP/examples/growth-dragons-weekly.md" >/dev/null
$BS issue create "$TOP/examples/alibaba-deepseek.md" >/dev/null
# Issue 1 is paused so that the daemon's senders leave its queued copies
# alone while this test counts them.
sql "UPDATE issues SET status = 'paused' WHERE id = 1; UPDATE issues SET status = 'sent' WHERE id = 2;
     INSERT INTO deliveries (issue_id, subscriber_id, state, created_at, updated_at)
     SELECT 1, id, 'queued', $(date +%s), $(date +%s) FROM subscribers;
     INSERT INTO deliveries (issue_id, subscriber_id, state, created_at, updated_at)
     SELECT 2, id, 'sent', $(date +%s), $(date +%s) FROM subscribers;"
resp=$(curl -s -i -X POST -H 'Content-Type: application/x-www-form-urlencoded' \
	--data 'List-Unsubscribe=One-Click' "$URL/u/$JANE")
if grep -q '^HTTP/1.1 200' <<<"$resp" && grep -q 'You are unsubscribed' <<<"$resp" &&
	grep -q "action=\"$JANE/resubscribe\"" <<<"$resp"; then
	ok "POST one-click (urlencoded): 200, page offers a resubscribe POST"
else not_ok "POST one-click urlencoded"; echo "$resp" | head -20 | sed 's/^/#   /'; fi
if grep -qiE '^(Set-Cookie|Location):' <<<"$resp"; then not_ok "no cookie, no redirect"; else ok "no cookie, no redirect"; fi
is "jane unsubscribed" "$(status_of jane)" unsubscribed
is "jane's queued delivery of the unsent issue dropped" \
	"$(sql "SELECT state FROM deliveries WHERE issue_id = 1 AND subscriber_id = $(id_of jane)")" dropped
is "jane's sent delivery kept" \
	"$(sql "SELECT state FROM deliveries WHERE issue_id = 2 AND subscriber_id = $(id_of jane)")" sent
is "others' queued deliveries untouched" "$(sql "SELECT count(*) FROM deliveries WHERE issue_id = 1 AND state = 'queued'")" 5
is "event records one-click" "$(sql "SELECT detail FROM events WHERE event = 'status' AND ref_id = $(id_of jane)")" \
	"unsubscribed: one-click; 1 pending delivery dropped"
before=$(state)
is "POST again: 200" "$(code POST "/u/$JANE" --data 'List-Unsubscribe=One-Click')" 200
is "POST again changes nothing (idempotent)" "$(state)" "$before"
# The link opened again after unsubscribing tells the truth: unsubscribed,
# with the resubscribe button (a POST); the GET itself changes nothing.
resp=$(curl -s -i "$URL/u/$JANE")
if grep -q '^HTTP/1.1 200' <<<"$resp" && grep -q 'You are unsubscribed' <<<"$resp" &&
	! grep -q 'Unsubscribe from' <<<"$resp" &&
	grep -q "<form method=\"post\" action=\"$JANE/resubscribe\">" <<<"$resp"; then
	ok "GET after unsubscribing: says unsubscribed, offers resubscribe by POST"
else not_ok "GET after unsubscribing"; echo "$resp" | grep -E '<h1>|<form' | sed 's/^/#   /'; fi
is "GET after unsubscribing changes nothing" "$(state)" "$before"

# --- multipart/form-data and empty bodies ---
BOB=$(token "$(id_of bob)")
is "POST one-click (multipart/form-data): 200" "$(code POST "/u/$BOB" -F 'List-Unsubscribe=One-Click')" 200
is "bob unsubscribed" "$(status_of bob)" unsubscribed
is "multipart recorded as one-click" "$(sql "SELECT detail FROM events WHERE event = 'status' AND ref_id = $(id_of bob)")" \
	"unsubscribed: one-click; 1 pending delivery dropped"
CAROL=$(token "$(id_of carol)")
is "POST with an empty body (the page's button or any client): 200" "$(code POST "/u/$CAROL" -d '')" 200
is "carol unsubscribed" "$(status_of carol)" unsubscribed

# --- resubscribe ---
is "POST /resubscribe: 200" "$(code POST "/u/$CAROL/resubscribe" -d '')" 200
is "carol active again" "$(status_of carol)" active
is "GET /resubscribe is not a way in: 405" "$(code GET "/u/$CAROL/resubscribe")" 405
sql "UPDATE subscribers SET status = 'bounced' WHERE email = 'frank@example.com'"
FRANK=$(token "$(id_of frank)")
curl -s -o /dev/null -X POST -d '' "$URL/u/$FRANK/resubscribe"
is "a bounced address is not resubscribed by its link" "$(status_of frank)" bounced
before=$(state)
resp=$(curl -s "$URL/u/$FRANK")
if grep -q 'You are not getting these emails' <<<"$resp" && grep -q 'bounced' <<<"$resp" &&
	! grep -q '<form' <<<"$resp"; then
	ok "GET of a bounced address's link: says so, no button"
else not_ok "GET of a bounced link"; echo "$resp" | grep -E '<h1>|<p|<form' | sed 's/^/#   /'; fi
is "GET of a bounced link changes nothing" "$(state)" "$before"

# --- forged, truncated, foreign tokens: 404, nothing changes ---
DAVE=$(token "$(id_of dave)")
before=$(state)
last=${DAVE: -1}; [ "$last" = A ] && other=B || other=A
is "forged MAC: 404" "$(code POST "/u/${DAVE%?}$other" -d 'List-Unsubscribe=One-Click')" 404
is "truncated token: 404" "$(code POST "/u/${DAVE:0:${#DAVE}-3}" -d 'List-Unsubscribe=One-Click')" 404
is "token of another id with dave's MAC: 404" "$(code POST "/u/zz.${DAVE#*.}" -d 'List-Unsubscribe=One-Click')" 404
is "token of another list: 404" "$(code POST "/u/$(token "$(id_of dave)" 1 other.example.com)" -d '')" 404
is "genuine token of no subscriber: 404" "$(code POST "/u/$(token 99999)" -d '')" 404
is "GET with a forged token: 404" "$(code GET "/u/${DAVE%?}$other")" 404
if curl -s "$URL/u/${DAVE%?}$other" | grep -q 'This link does not work'; then ok "404 is the not-found page"; else not_ok "404 page"; fi
is "forged tokens changed nothing" "$(state)" "$before"

# --- key rotation: the daemon re-reads the key file by itself ---
expect_out "key rotate" 0 'new key made; 1 previous key accepted for 30d' $BS key rotate
expect_out "key list: current and accepted" 0 'accepted until' $BS key list
NEW=$(token "$(id_of dave)" 1)
OLD=$(token "$(id_of erin)" 2)
is "token of the new key accepted without restart" "$(code GET "/u/$NEW")" 200
is "token of the previous key accepted within keys.grace" "$(code POST "/u/$OLD" -d '')" 200
is "erin unsubscribed by an old-key link" "$(status_of erin)" unsubscribed
# Stale: the previous key's successor was made 31 days ago (keys.grace 30d).
now=$(date +%s)
{ echo "# test keys"
  echo "$((now - 31 * 86400)) $(sed -n 2p "$T/broadside.key" | cut -d' ' -f2)"
  echo "$((now - 60 * 86400)) $(sed -n 3p "$T/broadside.key" | cut -d' ' -f2)"; } >"$T/k.new"
chmod 600 "$T/k.new"; mv "$T/k.new" "$T/broadside.key"
before=$(state)
is "token of a key retired more than keys.grace ago: 404" "$(code POST "/u/$(token "$(id_of dave)" 2)" -d '')" 404
is "stale token changed nothing" "$(state)" "$before"
DAVE=$(token "$(id_of dave)" 1)
is "current key still works after the file changed" "$(code GET "/u/$DAVE")" 200

# --- methods, paths ---
for m in PUT DELETE OPTIONS PATCH TRACE; do
	is "$m: 405" "$(code $m "/u/$DAVE")" 405
done
allow=$(curl -s -i -X DELETE "$URL/u/$DAVE" | tr -d '\r' | sed -n 's/^Allow: //Ip')
is "405 names the allowed methods" "$allow" "GET, HEAD, POST"
is "POST /healthz: 405" "$(code POST /healthz -d '')" 405
for p in "/u/../../etc/passwd" "/u/%2e%2e/%2e%2e/etc/passwd" "/../../etc/passwd" \
	"/u/$DAVE/../../healthz" "/u/$DAVE%00" "/u/$DAVE/" "//u/$DAVE" "/u/" "/" "/templates/notfound.html"; do
	is "path $p: 404" "$(code GET "$p")" 404
done
is "dave untouched by all that" "$(status_of dave)" active

# --- request limits ---
head -c 70000 /dev/zero | tr '\0' a >"$T/big"
before=$(state)
is "body over http.max_body (Content-Length): 413" \
	"$(code POST "/u/$DAVE" -H 'Content-Type: application/x-www-form-urlencoded' --data-binary @"$T/big")" 413
is "body over http.max_body (chunked): 413" \
	"$(code POST "/u/$DAVE" -H 'Transfer-Encoding: chunked' --data-binary @"$T/big")" 413
is "oversized bodies changed nothing" "$(state)" "$before"
# Request smuggling: two lengths that disagree, or a length beside chunked
# coding, is refused before the body is read (RFC 9112 6.3), changing nothing.
raw() { $PY - "$PORT" "$1" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode("latin-1"))
s.settimeout(30)
got = b""
try:
    while not got.endswith(b"\r\n\r\n") and len(got) < 4096:
        b = s.recv(4096)
        if not b:
            break
        got += b
except OSError:
    pass
print(got.split(b" ", 2)[1].decode() if got.startswith(b"HTTP/") else "none")
PY
}
is "two Content-Length headers that disagree: 400" \
	"$(raw "POST /u/$DAVE HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 5\r\nContent-Length: 500000\r\n\r\nList-")" 400
is "Content-Length beside Transfer-Encoding: chunked: 400" \
	"$(raw "POST /u/$DAVE HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nList-\r\n0\r\n\r\n")" 400
is "smuggling attempts changed nothing" "$(state)" "$before"
is "header over http.max_header: 431" "$(code GET /healthz -H "X-Pad: $(head -c 20000 "$T/big")")" 431
is "a body just under the limit is fine" "$(code POST "/u/$DAVE" --data-binary @<(head -c 60000 "$T/big"))" 200
is "dave unsubscribed by that" "$(status_of dave)" unsubscribed

# Slow clients: 4 connections send half a request and stall. The server
# keeps answering others, and closes the stalled ones (http.timeout 2s).
$PY - "$PORT" "$URL" <<'PY'
import socket, subprocess, sys, time
port, url = int(sys.argv[1]), sys.argv[2]
slow = []
for _ in range(4):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"POST /u/x HTTP/1.1\r\nHost: x\r\nContent-Le")
    slow.append(s)
r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url + "/healthz"],
                   capture_output=True, text=True)
print(("ok" if r.stdout == "200" else "not ok") + " - others answered while 4 clients stall (" + r.stdout + ")")
closed = 0
for s in slow:
    s.settimeout(30)
    try:
        closed += s.recv(1024) == b""
    except OSError:
        pass
print(("ok" if closed == 4 else "not ok") + " - stalled clients disconnected by http.timeout (%d of 4)" % closed)
# A client trickling a body slower than the timeout is cut off too.
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"POST /u/x.y HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nList-")
s.settimeout(30)
try:
    got = s.recv(1024)
except OSError:
    got = b""
print(("ok" if got == b"" else "not ok") + " - stalled body disconnected")
# Connection limit (http.max_connections 8): with 8 connections open and
# idle, a 9th request waits; it is answered once they close.
import select
idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(8)]
time.sleep(0.2)
ninth = socket.create_connection(("127.0.0.1", port))
ninth.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
waiting = not select.select([ninth], [], [], 0.5)[0]
print(("ok" if waiting else "not ok") + " - over http.max_connections: not served while 8 are open")
for s in idle:
    s.close()
ninth.settimeout(10)
try:
    got = ninth.recv(100)
except OSError:
    got = b""
print(("ok" if got.startswith(b"HTTP/1.1 200") else "not ok") + " - the waiting request served once they closed")
time.sleep(0.2)
r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url + "/healthz"],
                   capture_output=True, text=True)
print(("ok" if r.stdout == "200" else "not ok") + " - served again once they closed (" + r.stdout + ")")
PY

# --- metrics ---
m=$(curl -s -i "$URL/metrics" | tr -d '\r')
if grep -q '^Content-Type: text/plain; version=0.0.4' <<<"$m"; then ok "/metrics: Prometheus text type"; else not_ok "/metrics type"; fi
for want in 'broadside_unsubscribes_total{via="one-click"} 2' 'broadside_unsubscribes_total{via="web"} 3' \
	'broadside_deliveries{relay="",state="dropped"} 5' 'broadside_deliveries{relay="",state="sent"} 6' \
	'broadside_queue_depth 1' 'broadside_bounces_total{kind="hard"} 0' \
	'broadside_subscribers{status="unsubscribed"} 4' 'broadside_unsubscribes_handled_total{via="http"} 5' \
	'broadside_relay_sent_total{relay="127.0.0.1:25"} 0'; do
	if grep -qF -- "$want" <<<"$m"; then ok "metrics: $want"; else not_ok "metrics: $want"; grep -F "${want%%\{*}" <<<"$m" | sed 's/^/#   /'; fi
done
bad=$(grep -vE '^(# (HELP|TYPE) [a-z_][a-z0-9_]* .*|[a-z_][a-z0-9_]*(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [0-9]+(\.[0-9]+)?)$' <<<"$(sed '1,/^$/d' <<<"$m")")
is "every metrics line is HELP, TYPE or a sample" "$bad" ""

# --- reload: SIGHUP takes a new list name ---
sed -i 's/name = "Growth Dragons"/name = "Dragons Weekly"/' "$CONF"
kill -HUP $DPID
for _ in $(seq 30); do curl -s "$URL/u/$(token "$(id_of erin)")" | grep -q 'Dragons Weekly' && break; sleep 0.1; done
# erin is unsubscribed by now: her page says so, under the new name.
if curl -s "$URL/u/$(token "$(id_of erin)")" | grep -q 'Unsubscribed from Dragons Weekly'; then
	ok "SIGHUP: page shows the new list name"; else not_ok "SIGHUP reload"; fi

# --- end to end: the List-Unsubscribe header of a rendered message ---
sql "UPDATE subscribers SET status = 'active' WHERE email = 'frank@example.com'"
$BS issue preview 1 --tier free --to frank@example.com --format eml >"$T/msg.eml" 2>"$T/preview.err"
is "issue preview renders frank's copy" "$?|$(cat "$T/preview.err")" "0|"
lu=$($PY - "$T/msg.eml" <<'PY'
import email, re, sys
from email import policy
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=policy.compat32)
post = (m.get("List-Unsubscribe-Post") or "").strip()
header = " ".join((m.get("List-Unsubscribe") or "").split())
urls = re.findall(r"<(https?://[^>]+)>", header)
mailto = re.findall(r"<mailto:unsubscribe\+([^@>]+)@[^>]+>", header)
# The https and the mailto link carry the same token.
ok = urls and mailto and post == "List-Unsubscribe=One-Click" and urls[0].endswith("/u/" + mailto[0])
print(urls[0] if ok else "")
PY
)
target=frank
if [ -n "$lu" ]; then ok "rendered copy carries List-Unsubscribe (URL + mailto, one token) and List-Unsubscribe-Post"
else not_ok "List-Unsubscribe headers of the rendered copy"; grep -i '^List-Unsub' "$T/msg.eml" | sed 's/^/#   /'; fi
is "its token is the one token.h describes for frank" "${lu##*/}" "$(token "$(id_of frank)")"
is "GET of the header's URL: 200, nothing changes" "$(curl -s -o /dev/null -w '%{http_code}' "$lu")|$(status_of $target)" "200|active"
is "POST List-Unsubscribe=One-Click to it: 200 (as Gmail does)" \
	"$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/x-www-form-urlencoded' -d 'List-Unsubscribe=One-Click' "$lu")" 200
is "the message's recipient is unsubscribed" "$(status_of $target)" unsubscribed

# --- start-up errors, clean stop ---
# (A second daemon on the same database stops at the daemon lock: another
# database shows the port conflict.)
sed "s|$T/broadside.db|$T/other.db|" "$CONF" >"$T/other.conf"
BROADSIDE_CONFIG=$T/other.conf $BS init >/dev/null
expect_out "second daemon on a busy port: clear error" 69 "http.listen 127.0.0.1:$PORT: cannot listen: Address already in use" env BROADSIDE_CONFIG=$T/other.conf $BSD
expect_out "second daemon on the same database: clear error" 75 "another broadsided is running on database $T/broadside.db" $BSD
kill -TERM $DPID; wait $DPID; rc=$?
is "SIGTERM: clean exit" "$rc" 0
mkdir "$T/tpl"
cp "$TOP"/templates/layout.* "$TOP"/templates/paywall.* "$TOP"/templates/paid.* "$TOP"/templates/confirm.* "$TOP"/templates/welcome.* "$T/tpl/"	# the email's, not the pages'
sed -i "s|templates = \"$TOP/templates\"|templates = \"$T/tpl\"|" "$CONF"
expect_out "missing page template: daemon refuses to start, naming it" 66 "$T/tpl/unsubscribe.html: cannot read page template" $BSD
