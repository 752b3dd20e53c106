#!/bin/bash
# bench.sh - `make bench`: Broadside's throughput figures, each printed beside
# its baseline from the same run on the same machine. Each section is a
# function; add yours and call it at the end.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BROADSIDE_BUILD:-$TOP/build}
BS=$BUILD/broadside
BSD=$BUILD/broadsided
PY=/usr/bin/python3
T=$(mktemp -d /tmp/broadside-bench.XXXXXX)
_cleanup_hooks=()
_cleanup() {
	for h in "${_cleanup_hooks[@]}"; do eval "$h"; done
	rm -rf "$T"
}
trap _cleanup EXIT
on_exit() { _cleanup_hooks+=("$1"); }
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- HTTP: one-click unsubscribes per second beside /healthz --------------
# A list of 200,000 subscribers, each with a queued copy of an issue being
# sent; wrk POSTs List-Unsubscribe=One-Click to a different subscriber's
# link per request (each a transaction that unsubscribes and drops the
# queued copy), then GETs /healthz and the confirmation page, all against
# the same daemon in the same run.
bench_http() {
	local n=200000 secs=${BENCH_SECONDS:-5} threads=2 conns=16
	local port dir=$T/http pid
	command -v wrk >/dev/null || { echo "http: wrk is not installed (make deps)"; return 1; }
	mkdir -p "$dir"
	port=$(free_port)
	cat >"$dir/broadside.conf" <<CONF
database = "$dir/broadside.db";
templates = "$TOP/templates";
log_level = "warning";
http: { listen = "127.0.0.1:$port"; };
CONF
	export BROADSIDE_CONFIG=$dir/broadside.conf
	$BS init >/dev/null || return 1
	sqlite3 "$dir/broadside.db" <<SQL
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $n)
INSERT INTO subscribers (id, email, email_key, created_at, updated_at)
SELECT i, 'reader' || i || '@example.com', 'reader' || i || '@example.com', 0, 0 FROM n;
INSERT INTO issues (id, subject, source, status, created_at, updated_at)
VALUES (1, 'Bench', 'x', 'sending', 0, 0);
INSERT INTO deliveries (issue_id, subscriber_id, state, created_at, updated_at)
SELECT 1, id, 'queued', 0, 0 FROM subscribers;
COMMIT;
SQL
	$PY - "$dir/broadside.key" "$n" >"$dir/tokens" <<'PY'
import base64, hashlib, hmac, sys
key = bytes.fromhex([l.split()[1] for l in open(sys.argv[1]) if l[:1].isdigit()][0])
digits = "0123456789abcdefghijklmnopqrstuvwxyz"
out = []
for n in range(1, int(sys.argv[2]) + 1):
    id36 = ""
    while True:
        id36, n = digits[n % 36] + id36, n // 36
        if n == 0:
            break
    mac = hmac.new(key, b"unsub\0growth-dragons.example.com\0" + id36.encode(), hashlib.sha256).digest()
    out.append("/u/" + id36 + "." + base64.urlsafe_b64encode(mac[:16]).decode().rstrip("="))
print("\n".join(out))
PY
	$BSD >"$dir/daemon.log" 2>&1 &
	pid=$!
	on_exit "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
	for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done

	local url=http://127.0.0.1:$port post get health done bad
	post=$(BENCH_TOKENS=$dir/tokens BENCH_THREADS=$threads wrk --latency -t$threads -c$conns -d${secs}s \
		-s "$TOP/tests/bench/oneclick.lua" "$url" 2>&1)
	done=$(sqlite3 "$dir/broadside.db" "SELECT count(*) FROM subscribers WHERE status = 'unsubscribed'")
	bad=$(sed -n 's/.*Non-2xx or 3xx responses: *//p' <<<"$post")
	health=$(wrk -t$threads -c$conns -d${secs}s "$url/healthz" 2>&1)
	get=$(wrk -t$threads -c$conns -d${secs}s "$url$(sed -n 1p "$dir/tokens")" 2>&1)
	kill "$pid"; wait "$pid" 2>/dev/null
	local rp rh rg
	rp=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' <<<"$post")
	rh=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' <<<"$health")
	rg=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' <<<"$get")
	echo "== HTTP endpoint (wrk -t$threads -c$conns, ${secs}s each; $n subscribers, each with a queued copy)"
	printf '  %-44s %8s/s  (%s subscribers unsubscribed, %s non-2xx; p99 %s)\n' \
		"one-click POST /u/TOKEN (real unsubscribes)" "$rp" "$done" "${bad:-0}" \
		"$(awk '$1 == "99%" {print $2}' <<<"$post")"
	printf '  %-44s %8s/s\n' "GET /u/TOKEN (confirmation page)" "$rg"
	printf '  %-44s %8s/s\n' "GET /healthz (baseline)" "$rh"
	awk -v p="$rp" -v h="$rh" -v g="$rg" 'BEGIN { if (h > 0) printf "  one-click / healthz = %.2f, page / healthz = %.2f\n", p / h, g / h }'
}

# --- render: personalized messages per second beside memcpy ---------------
# The weekly example compiled once, then one copy per subscriber (1,000
# rotating names, addresses, tokens, both tiers) into a reused buffer, on
# one core; beside it a memcpy of the same bytes in the same run.
bench_render() {
	local one=
	command -v taskset >/dev/null && one="taskset -c 0"
	echo "== render (one core)"
	$one "$BUILD/bench/bench_render" "$TOP/examples/growth-dragons-weekly.md" \
		"$TOP/templates" "${BENCH_RENDER_SECONDS:-2}" | sed 's/^/  /'
}

# --- bounces: messages parsed per second beside GMime alone ---------------
# The 560 messages of the peer corpus, read into memory, parsed into
# verdicts again and again on one core; beside it GMime's MIME parse of the
# same messages in the same run (what the bounce knowledge costs on top).
bench_bounce() {
	local one= corpus=${BOUNCE_CORPUS:-$TOP/../shared/bounce-corpus}
	command -v taskset >/dev/null && one="taskset -c 0"
	echo "== bounces (one core)"
	[ -d "$corpus/emails" ] || { echo "  no corpus at $corpus"; return 1; }
	$one "$BUILD/bench/bench_bounce" "$corpus" "${BENCH_BOUNCE_SECONDS:-2}" | sed 's/^/  /'
}

# --- DKIM: signing beside rendering -----------------------------------------
# The weekly example rendered per subscriber on one core with no key (the
# baseline), with an RSA-2048 key, an Ed25519 key and both; then signing
# alone. Postfix's smtp-source pushes ~2,200-2,700 messages/s over loopback
# on these machines: that is what signing must stay small beside.
bench_dkim() {
	local one=
	command -v taskset >/dev/null && one="taskset -c 0"
	echo "== DKIM signing (one core)"
	$one "$BUILD/bench/bench_dkim" "$TOP/examples/growth-dragons-weekly.md" \
		"$TOP/templates" "${BENCH_DKIM_SECONDS:-1}" | sed 's/^/  /'
}

bench_render
bench_dkim
bench_http
bench_bounce
