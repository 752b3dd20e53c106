#!/bin/bash
# bench.sh - `make bench`: Broadside's throughput figures, each printed beside
# its baseline from the same run on the same machine. Each section is a
# function bench_NAME; `tests/bench.sh NAME...` runs only those.
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
# Messages per second: per_second COUNT T0 T1 (times from date +%s.%N).
per_second() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / (b - a) }'; }
# TCP segments sent on this machine so far (loopback counts both ends).
out_segs() { awk '/^Tcp:/ && $12 ~ /^[0-9]+$/ { print $12 }' /proc/net/snmp; }
# Waits for the daemon (pid $3) to log $2 in $1. The log is followed, not
# the database polled: a sqlite3 process every 50 ms took ~10 % off the
# sending rate it was measuring.
wait_log() {
	local w d rc
	timeout 1800 tail -n +1 -F "$1" 2>/dev/null | grep -q -m1 -F -- "$2" &
	w=$!
	# The daemon's death ends the wait too. Not `wait -n`: bash 5.2's
	# misses a job that ended before it was called, and a send already
	# done then hung the bench for good.
	( while kill -0 "$3" 2>/dev/null; do sleep 1; done; kill $w 2>/dev/null ) &
	d=$!
	wait $w
	rc=$?
	kill $d 2>/dev/null
	wait $d 2>/dev/null
	kill -0 "$3" 2>/dev/null && return $rc
	return 1
}
# CPU spent, in clock ticks, "user system": by the children of this script
# (the sections run in its own process, $$) that have ended: a command run in
# the foreground, or a daemon once waited for; by a running process; and
# idle on the whole machine (every core).
children_cpu() { awk '{ print $16, $17 }' /proc/$$/stat; }
proc_cpu() { awk '{ print $14, $15 }' "/proc/$1/stat"; }
idle_cpu() { awk '/^cpu / { print $5 + $6 }' /proc/stat; }
# A tally of CPU across runs: cpu_add NAME A0 A1 ... adds A1-A0 to cpu_NAME.
declare -A cpu_sum=()
cpu_add() { cpu_sum[$1]=$(( ${cpu_sum[$1]:-0} + $3 - $2 )); }
# Starts a CPU tally of the children, the sink ($1) and the idle machine.
cpu_mark() { read -r cu0 cs0 < <(children_cpu); read -r ku0 ks0 < <(proc_cpu "$1"); i0=$(idle_cpu); w0=$(date +%s.%N); }
# ... and adds what was spent since to the tallies of side $2.
cpu_take() {
	local cu1 cs1 ku1 ks1 i1 w1
	read -r cu1 cs1 < <(children_cpu); read -r ku1 ks1 < <(proc_cpu "$1"); i1=$(idle_cpu); w1=$(date +%s.%N)
	cpu_add "$2.user" "$cu0" "$cu1"; cpu_add "$2.sys" "$cs0" "$cs1"
	cpu_add "$2.sink" $((ku0 + ks0)) $((ku1 + ks1)); cpu_add "$2.idle" "$i0" "$i1"
	cpu_sum[$2.wall]=$(awk -v a="${cpu_sum[$2.wall]:-0}" -v b="$w0" -v c="$w1" 'BEGIN { printf "%.3f", a + c - b }')
}
# One line of it: cpu_line SIDE LABEL MESSAGES.
cpu_line() {
	awk -v l="$2" -v n="$3" -v u="${cpu_sum[$1.user]}" -v s="${cpu_sum[$1.sys]}" -v k="${cpu_sum[$1.sink]}" \
	    -v i="${cpu_sum[$1.idle]}" -v w="${cpu_sum[$1.wall]}" -v hz="$(getconf CLK_TCK)" 'BEGIN {
		t = 1e6 / hz / n
		printf "    %-28s %5.0f + %3.0f µs  %5.0f µs  %4.2f of %d\n", l, u * t, s * t, k * t, i / hz / w, '"$(nproc)"' }'
}
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# smtp-sink on a free port, counters on (-c), its output in DIR (made),
# stopped on exit: sets port and sink (its PID). start_sink SECTION DIR
start_sink() {
	command -v smtp-sink >/dev/null || PATH=$PATH:/usr/sbin
	command -v smtp-sink >/dev/null || { echo "$1: smtp-sink is not installed (make deps)"; return 1; }
	mkdir -p "$2"
	port=$(free_port)
	smtp-sink -u nobody -c "127.0.0.1:$port" 1000 >"$2/sink.out" 2>&1 &
	sink=$!
	on_exit "kill $sink 2>/dev/null"
}
# A daemon's config, its database in DIR, sending to that sink over
# CONNECTIONS: sink_conf FILE DIR CONNECTIONS
sink_conf() {
	cat >"$1" <<CONF
database = "$2/broadside.db";
templates = "$TOP/templates";
log_level = "notice";	# wait_log reads "issue N: sent"
http: { listen = "127.0.0.1:$(free_port)"; };
relays = ( { host = "127.0.0.1"; port = $port; connections = $3; } );
CONF
}
# N subscribers as an import CSV, every EVERY-th of them paid: subs_csv N EVERY
subs_csv() {
	$PY -c "
import sys
w = sys.stdout.write
w('email,name,tier\n')
for i in range($1):
    w('reader%d@example.com,Reader %d,%s\n' % (i, i, 'paid' if i % $2 == 0 else 'free'))"
}

# --- HTTP: one-click unsubscribes per second beside /healthz --------------
# A list of 200,000 subscribers, each with a queued copy of an issue (paused,
# so that the senders leave it alone); wrk POSTs List-Unsubscribe=One-Click to a different subscriber's
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
VALUES (1, 'Bench', 'x', 'paused', 0, 0);
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

# The sending side of the two flood sections: smtp-sink, a database of
# MAILED paid subscribers (and OTHERS free ones after them), NISSUES copies
# of the weekly issue for the paid ones, and the daemon: sending_setup DIR
# MAILED OTHERS NISSUES sets sport, hport and pid; send ISSUE then prints the
# seconds from `issue schedule --now` to the daemon's "sent".
sending_setup() {
	local dir=$1 mailed=$2 others=$3 nissues=$4
	command -v smtp-sink >/dev/null || PATH=$PATH:/usr/sbin
	command -v smtp-sink >/dev/null || { echo "smtp-sink is not installed (make deps)"; return 1; }
	mkdir -p "$dir"
	sport=$(free_port); hport=$(free_port)
	smtp-sink -u nobody -c "127.0.0.1:$sport" 1000 >"$dir/sink.out" 2>&1 &
	on_exit "kill $! 2>/dev/null"
	cat >"$dir/broadside.conf" <<CONF
database = "$dir/broadside.db";
templates = "$TOP/templates";
log_level = "notice";	# wait_log reads "issue N: sent"
http: { listen = "127.0.0.1:$hport"; };
relays = ( { host = "127.0.0.1"; port = $sport; connections = 4; } );
CONF
	export BROADSIDE_CONFIG=$dir/broadside.conf
	$BS init >/dev/null || return 1
	sqlite3 "$dir/broadside.db" <<SQL
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $mailed + $others)
INSERT INTO subscribers (id, email, email_key, tier, created_at, updated_at)
SELECT i, 'reader' || i || '@example.com', 'reader' || i || '@example.com',
       CASE WHEN i <= $mailed THEN 'paid' ELSE 'free' END, 0, 0 FROM n;
SQL
	sed 's/^audience: all/audience: paid/' "$TOP/examples/growth-dragons-weekly.md" >"$dir/issue.md"
	for _ in $(seq "$nissues"); do $BS issue create "$dir/issue.md" >/dev/null || return 1; done
	$BSD >"$dir/daemon.log" 2>&1 &
	pid=$!
	on_exit "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
	for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$hport/healthz" && break; sleep 0.1; done
	send() {
		local a b
		a=$(date +%s.%N)
		$BS issue schedule "$1" --now >/dev/null
		wait_log "$dir/daemon.log" "issue $1: sent" $pid || { echo "the daemon died" >&2; return 1; }
		b=$(date +%s.%N)
		awk -v a="$a" -v b="$b" 'BEGIN { print b - a }'
	}
}

# --- HTTP flood during a send: sending rate with and without ---------------
# The same issue to the same 20,000 paid subscribers through smtp-sink,
# once alone and once while wrk floods the endpoint with one-click POSTs
# for 100,000 other (free) subscribers: real unsubscribes, each a write
# transaction on the database the senders also write to. The HTTP threads
# are the daemon's own, so the ratio is what a flood costs sending (on 2
# cores wrk itself takes CPU from both).
bench_http_flood() {
	local mailed=20000 others=100000 conns=4
	local dir=$T/flood sport hport pid wrkpid
	command -v wrk >/dev/null || { echo "http flood: wrk is not installed (make deps)"; return 1; }
	sending_setup "$dir" "$mailed" "$others" 3 || return 1
	$PY - "$dir/broadside.key" "$mailed" "$others" >"$dir/tokens" <<'PY'
import base64, hashlib, hmac, sys
key = bytes.fromhex([l.split()[1] for l in open(sys.argv[1]) if l[:1].isdigit()][0])
digits = "0123456789abcdefghijklmnopqrstuvwxyz"
first = int(sys.argv[2]) + 1
out = []
for n in range(first, first + int(sys.argv[3])):
    id36 = ""
    while True:
        id36, n = digits[n % 36] + id36, n // 36
        if n == 0:
            break
    mac = hmac.new(key, b"unsub\0growth-dragons.example.com\0" + id36.encode(), hashlib.sha256).digest()
    out.append("/u/" + id36 + "." + base64.urlsafe_b64encode(mac[:16]).decode().rstrip("="))
print("\n".join(out))
PY
	local alone flooded u0 u1
	alone=$(send 1) || return 1
	BENCH_TOKENS=$dir/tokens BENCH_THREADS=1 wrk -t1 -c8 -d600s \
		-s "$TOP/tests/bench/oneclick.lua" "http://127.0.0.1:$hport" >"$dir/wrk.out" 2>&1 &
	wrkpid=$!
	on_exit "kill $wrkpid 2>/dev/null"
	sleep 1
	u0=$(sqlite3 "$dir/broadside.db" "SELECT count(*) FROM subscribers WHERE status = 'unsubscribed'")
	flooded=$(send 2) || return 1
	u1=$(sqlite3 "$dir/broadside.db" "SELECT count(*) FROM subscribers WHERE status = 'unsubscribed'")
	kill $wrkpid; wait $wrkpid 2>/dev/null
	# The same flood of requests that touch no table: what CPU alone costs.
	wrk -t1 -c8 -d600s "http://127.0.0.1:$hport/healthz" >"$dir/wrk2.out" 2>&1 &
	wrkpid=$!
	on_exit "kill $wrkpid 2>/dev/null"
	sleep 1
	local cpu
	cpu=$(send 3) || return 1
	kill $wrkpid; wait $wrkpid 2>/dev/null
	kill $pid; wait $pid 2>/dev/null
	local sent
	sent=$(sqlite3 "$dir/broadside.db" "SELECT count(*) FROM deliveries WHERE state = 'sent' AND issue_id = 2")
	echo "== Sending under an HTTP flood ($mailed messages, $conns SMTP connections to smtp-sink; wrk -t1 -c8 one-click POSTs)"
	awk -v n="$mailed" -v sent="$sent" -v a="$alone" -v f="$flooded" -v c="$cpu" -v u="$((u1 - u0))" 'BEGIN {
		printf "  %-52s %8.0f msg/s\n", "sending alone", n / a
		printf "  %-52s %8.0f msg/s  (%d sent; %.0f unsubscribes/s handled meanwhile)\n",
		    "sending under a flood of one-click POSTs", n / f, sent, u / f
		printf "  %-52s %8.0f msg/s\n", "sending under a flood of GET /healthz (CPU only)", n / c
		printf "  one-click flood / alone = %.2f, healthz flood / alone = %.2f\n", a / f, a / c
	}'
}

# --- Slow clients during a send: sending rate with and without ------------
# The issue measured: 300 clients trickling bytes made every slot of the
# HTTP endpoint theirs. Here the same 300 (tests/tools/slow_clients.py: 100
# from 127.0.0.1, 200 from 127.0.0.2-21) flood the endpoint while an issue
# goes to 20,000 paid subscribers through smtp-sink, and the same issue goes
# alone, in rounds whose order alternates (alone first, then flooded first);
# the figure is the median of the rounds' ratios, flooded / alone (target >=
# 0.90: sending slows by 10 % at most). The per-client cap and the request
# deadline cut the flood off again and again meanwhile.
bench_http_slow() {
	local mailed=20000 conns=4 rounds=${BENCH_ROUNDS:-5}
	local dir=$T/slow sport hport pid fpid
	sending_setup "$dir" "$mailed" 0 $((2 * rounds)) || return 1
	alone() {	# ISSUE: sent alone, after the same pause as under the flood
		sleep 3
		send "$1"
	}
	flooded() {	# ISSUE: the same, under the flood
		local t
		$PY "$TOP/tests/tools/slow_clients.py" "$hport" 3600 >>"$dir/flood.out" 2>&1 &
		fpid=$!
		sleep 3	# every client connected (alone pauses as long)
		t=$(send "$1") || { kill $fpid; return 1; }
		kill $fpid; wait $fpid 2>/dev/null
		echo "$t"
	}
	local r issue=0 a f list=""
	for r in $(seq "$rounds"); do
		if [ $((r % 2)) -eq 1 ]; then
			a=$(alone $((issue + 1))) || return 1
			f=$(flooded $((issue + 2))) || return 1
		else
			f=$(flooded $((issue + 1))) || return 1
			a=$(alone $((issue + 2))) || return 1
		fi
		issue=$((issue + 2))
		list="$list $a:$f"
	done
	local cut
	cut=$(curl -s "http://127.0.0.1:$hport/metrics" | awk '/^broadside_http_deadline_closed_total / { print $2 }')
	kill $pid; wait $pid 2>/dev/null
	echo "== Sending under a flood of 300 slow HTTP clients ($mailed messages, $conns SMTP connections to smtp-sink; $rounds rounds, order alternated)"
	echo "$list" | awk -v n="$mailed" -v cut="$cut" -v flood="$(tail -n 1 "$dir/flood.out")" '{
		for (i = 1; i <= NF; i++) {
			split($i, t, ":")
			ra[i] = t[2] > 0 ? t[1] / t[2] : 0
			printf "  round %d: alone %6.0f msg/s, flooded %6.0f msg/s, flooded / alone %.2f\n", i, n / t[1], n / t[2], ra[i]
		}
		m = NF
		for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (ra[j] < ra[i]) { x = ra[i]; ra[i] = ra[j]; ra[j] = x }
		med = m % 2 ? ra[(m + 1) / 2] : (ra[m / 2] + ra[m / 2 + 1]) / 2
		printf "  flooded / alone, median of %d rounds: %.2f (target >= 0.90)\n", m, med
		printf "  the daemon cut %s slow connections past http.request_timeout (last flood: %s)\n", cut, flood
	}'
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
	local one= corpus=${BROADSIDE_BOUNCE_CORPUS:-${BOUNCE_CORPUS:-$TOP/../shared/bounce-corpus}}
	command -v taskset >/dev/null && one="taskset -c 0"
	echo "== bounces (one core)"
	[ -d "$corpus/emails" ] || { echo "  no corpus at $corpus"; return 1; }
	$one "$BUILD/bench/bench_bounce" "$corpus" "${BENCH_BOUNCE_SECONDS:-2}" | sed 's/^/  /'
}

# --- DKIM: signing beside rendering -----------------------------------------
# The weekly example rendered per subscriber on one core with no key (the
# baseline), with an RSA-2048 key, an Ed25519 key and both; then signing
# alone; and what signing would take at the unsigned sending rate (~7,500
# messages/s into smtp-sink over 4 connections, bench_smtp).
bench_dkim() {
	local one=
	command -v taskset >/dev/null && one="taskset -c 0"
	echo "== DKIM signing (one core)"
	$one "$BUILD/bench/bench_dkim" "$TOP/examples/growth-dragons-weekly.md" \
		"$TOP/templates" "${BENCH_DKIM_SECONDS:-1}" | sed 's/^/  /'
}

# --- SMTP: the daemon's sending rate beside smtp-source -------------------
# The weekly example to 100,000 subscribers (a quarter paid) through
# Postfix's smtp-sink on loopback, end to end (fan-out, claims, rendering,
# libesmtp sessions, write-back), timed from `issue schedule --now` to the
# issue being 'sent'. Beside it, in the same run, smtp-source pushes the
# same number of messages (rendered copies, -F: as many free and paid ones)
# over the same number of connections, never reconnecting (-d), into the same sink: the machine's
# SMTP limit. TCP segments per message are counted for both. Then a
# 5,000-message run under strace -c counts the daemon's write system calls
# per message (whole buffers, not a write per line).
bench_smtp() {
	local n=${BENCH_SMTP_N:-100000} conns=${BENCH_SMTP_CONNECTIONS:-4} rounds=${BENCH_SMTP_ROUNDS:-5}
	local dir=$T/smtp port sink pid t0 t1 hwm=0 h size r id best=0 bests=0 v sent=0
	local g0 segs=0 segss=0 vs ratios= nfree du0 ds0 du1 ds1
	start_sink "smtp" "$dir" || return 1
	sink_conf "$dir/broadside.conf" "$dir" "$conns"
	export BROADSIDE_CONFIG=$dir/broadside.conf
	$BS init >/dev/null || return 1
	subs_csv "$n" 4 >"$dir/subs.csv"
	$BS subscriber import "$dir/subs.csv" >/dev/null || return 1
	id=$($BS issue create "$TOP/examples/growth-dragons-weekly.md") || return 1
	$BS issue preview "$id" --tier free --to reader1@example.com --format eml >"$dir/free.eml"
	$BS issue preview "$id" --tier paid --to reader0@example.com --format eml >"$dir/paid.eml"
	# Every fourth subscriber is paid: smtp-source sends the same mix, the
	# free copies and then the paid ones, timed together.
	nfree=$(( n - (n + 3) / 4 ))
	size=$(( ($(stat -c %s "$dir/free.eml") * nfree + $(stat -c %s "$dir/paid.eml") * (n - nfree)) / n ))

	# One run of each side; each sets its rate (vs, v) and segment count.
	source_run() {
		g0=$(out_segs)
		cpu_mark "$sink"
		t0=$(date +%s.%N)
		smtp-source -d -s "$conns" -m "$nfree" -F "$dir/free.eml" -f bounces@example.com \
			-t reader@example.com "127.0.0.1:$port" || return 1
		smtp-source -d -s "$conns" -m "$((n - nfree))" -F "$dir/paid.eml" -f bounces@example.com \
			-t reader@example.com "127.0.0.1:$port" || return 1
		t1=$(date +%s.%N)
		cpu_take "$sink" source
		segss=$(( $(out_segs) - g0 ))
		vs=$(per_second "$n" "$t0" "$t1")
		[ "$vs" -gt "$bests" ] && bests=$vs
		return 0
	}
	daemon_run() {
		[ "$r" -gt 1 ] && { id=$($BS issue create "$TOP/examples/growth-dragons-weekly.md") || return 1; }
		$BSD 2>>"$dir/daemon.log" &
		pid=$!
		sleep 0.5
		g0=$(out_segs)
		read -r du0 ds0 < <(proc_cpu $pid)
		cpu_mark "$sink"
		t0=$(date +%s.%N)
		$BS issue schedule "$id" --now >/dev/null
		wait_log "$dir/daemon.log" "issue $id: sent" $pid || { echo "smtp: the daemon died"; cat "$dir/daemon.log"; return 1; }
		t1=$(date +%s.%N)
		read -r du1 ds1 < <(proc_cpu $pid)
		cpu_take "$sink" daemon	# the CLI and helpers the run started
		# The daemon is still running, not yet a finished child: its own.
		cpu_add daemon.user "$du0" "$du1"; cpu_add daemon.sys "$ds0" "$ds1"
		segs=$(( $(out_segs) - g0 ))
		h=$(awk '/^VmHWM/ {print $2}' /proc/$pid/status)
		[ "$h" -gt "$hwm" ] && hwm=$h
		kill -TERM $pid; wait $pid 2>/dev/null
		v=$(per_second "$n" "$t0" "$t1")
		[ "$v" -gt "$best" ] && best=$v
		sent=$(sqlite3 "$dir/broadside.db" "SELECT count(*) FROM deliveries WHERE issue_id = $id AND state = 'sent'")
	}

	# The machine is shared and its load drifts: each side runs $rounds
	# times, interleaved, the order turned round every round (source first,
	# then the daemon first, ...) so that a drift favours neither; each
	# round's ratio compares runs seconds apart, and the median is the figure.
	for r in $(seq "$rounds"); do
		if [ $((r % 2)) = 1 ]; then
			source_run && daemon_run || return 1
		else
			daemon_run && source_run || return 1
		fi
		ratios="$ratios $(awk -v a="$v" -v b="$vs" 'BEGIN { printf "%.2f", a / b }')"
		echo "  round $r: smtp-source $vs msg/s, broadsided $v msg/s ($sent sent): ${ratios##* }" >>"$dir/rounds"
	done

	# By connections: the paid quarter of the list over 1, 2 and 4
	# connections, each beside smtp-source and beside Broadside's SMTP layer
	# alone (bench_session: smtp_send() and libesmtp as the senders drive
	# them, with no database and no rendering), so that the library's share
	# of the rate and the queue's can be told apart.
	local c q rate
	q=$(( (n + 3) / 4 ))
	sed 's/^audience: all/audience: paid/' "$TOP/examples/growth-dragons-weekly.md" >"$dir/paid.md"
	for c in 1 2 4; do
		t0=$(date +%s.%N)
		smtp-source -d -s "$c" -m "$q" -F "$dir/paid.eml" -f bounces@example.com \
			-t reader@example.com "127.0.0.1:$port" || return 1
		t1=$(date +%s.%N)
		vs=$(per_second "$q" "$t0" "$t1")
		[ "$c" = "$conns" ] && cpu_mark "$sink"
		t0=$(date +%s.%N)
		"$BUILD/bench/bench_session" 127.0.0.1 "$port" "$dir/paid.eml" "$q" "$c" 100 || return 1
		t1=$(date +%s.%N)
		[ "$c" = "$conns" ] && cpu_take "$sink" layer
		rate=$(per_second "$q" "$t0" "$t1")
		sed -i "s/connections = [0-9]*;/connections = $c;/" "$dir/broadside.conf"
		id=$($BS issue create "$dir/paid.md") || return 1
		$BSD 2>>"$dir/daemon.log" &
		pid=$!
		sleep 0.5
		t0=$(date +%s.%N)
		$BS issue schedule "$id" --now >/dev/null
		wait_log "$dir/daemon.log" "issue $id: sent" $pid || { echo "smtp: the daemon died"; return 1; }
		t1=$(date +%s.%N)
		kill -TERM $pid; wait $pid 2>/dev/null
		v=$(per_second "$q" "$t0" "$t1")
		awk -v c="$c" -v s="$vs" -v l="$rate" -v d="$v" 'BEGIN {
			printf "    %11d %12d %10d (%.2f) %10d (%.2f)\n", c, s, l, l / s, d, d / s }' >>"$dir/byconn"
	done
	sed -i "s/connections = [0-9]*;/connections = $conns;/" "$dir/broadside.conf"

	# Syscalls: 5,000 more messages under strace.
	local m=5000 writes
	id=$($BS issue create "$TOP/examples/growth-dragons-weekly.md")
	sqlite3 "$dir/broadside.db" "UPDATE subscribers SET status = 'unsubscribed' WHERE id > $m"
	if command -v strace >/dev/null; then
		strace -f -c -e trace=write,writev,sendto,sendmsg -o "$dir/strace.out" $BSD 2>>"$dir/daemon.log" &
		pid=$!
		sleep 0.5
		$BS issue schedule "$id" --now >/dev/null
		wait_log "$dir/daemon.log" "issue $id: sent" $pid || { echo "smtp: the daemon died"; return 1; }
		# strace's child is the daemon: stop it, strace then reports.
		kill -TERM "$(pgrep -P $pid)"; wait $pid 2>/dev/null
		writes=$(awk '$NF ~ /^(write|writev|sendto|sendmsg)$/ {n += $4} END {print n + 0}' "$dir/strace.out")
	fi

	echo "== SMTP sending ($n messages of ~$size bytes, $conns connections, smtp-sink on loopback; $rounds rounds)"
	awk -v n="$n" -v r="$best" -v s="$bests" -v hwm="$hwm" -v w="${writes:-}" -v m="$m" -v sz="$size" \
	    -v g="$segs" -v gs="$segss" -v ratios="$ratios" 'BEGIN {
		k = split(ratios, x, " ")
		for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (x[j] < x[i]) { t = x[i]; x[i] = x[j]; x[j] = t }
		med = k % 2 ? x[(k + 1) / 2] : (x[k / 2] + x[k / 2 + 1]) / 2
		for (i = 1; i <= k; i++) mean += x[i] / k
		printf "  %-52s %8.0f msg/s best\n", "broadsided: schedule --now to issue sent", r
		printf "  %-52s %8.0f msg/s best\n", "smtp-source -d, same count, size, connections", s
		printf "  broadsided / smtp-source, each round beside its own smtp-source run:%s; median %.2f, mean %.2f\n", ratios, med, mean
		printf "  broadsided peak memory %.1f MB\n", hwm / 1024
		printf "  TCP segments per message, both ways (last round): broadsided %.1f, smtp-source %.1f\n", g / n, gs / n
		if (w != "")
			printf "  write system calls per message: %.1f (%d for %d messages of ~%d bytes; libesmtp writes 2 KB at a time, the socket is corked meanwhile)\n", w / m, w, m, sz
	}'
	sed 's/^/  /' "$dir/rounds"
	# Where the time goes: CPU per message, and what the machine left idle.
	# libesmtp's user time is mostly its byte-by-byte copy of each message
	# (msg_gets), and each of its three round trips a message wakes a
	# thread; smtp-source's one event loop wakes about once a message.
	echo "  CPU per message (all rounds; the SMTP layer alone: $q paid copies over $conns connections):"
	echo "    client                          user + system    smtp-sink  idle cores"
	cpu_line source "smtp-source -d" "$((n * rounds))"
	cpu_line layer "SMTP layer alone (libesmtp)" "$q"
	cpu_line daemon "broadsided (every thread)" "$((n * rounds))"
	[ -r /sys/module/haltpoll/parameters/guest_halt_poll_ns ] &&
		echo "  cpuidle $(cat /sys/devices/system/cpu/cpuidle/current_governor 2>/dev/null), guest_halt_poll_ns $(cat /sys/module/haltpoll/parameters/guest_halt_poll_ns): 0 halts an idle vCPU at once, and each wake-up of a halted one is a VM exit"
	echo "  By connections ($q copies of the paid edition; msg/s, and the ratio to smtp-source):"
	echo "    connections  smtp-source  SMTP layer alone    broadsided"
	cat "$dir/byconn"
}

# --- DKIM-signed sending: signed beside unsigned, end to end -------------
# The weekly example to BENCH_DKIM_N subscribers (a quarter paid) through
# smtp-sink over 4 connections, `issue schedule --now` to 'sent', three ways
# in every round: unsigned, signed with RSA-2048, and with RSA-2048 and
# Ed25519 both (every copy carries both signatures). The order turns every
# round so that a drift of the machine's load favours none; each round's
# ratio compares a signed run with the unsigned one of the same round, and
# the median of the rounds is the figure. CPU: the daemon's user + system
# time per message (every thread: claims, rendering, signing, libesmtp).
bench_smtp_dkim() {
	local n=${BENCH_DKIM_N:-20000} conns=4 rounds=${BENCH_DKIM_ROUNDS:-5}
	local dir=$T/smtp_dkim port sink r k i kinds="plain rsa dual" order
	declare -A rate=() cpu=() ratios=()
	start_sink "smtp dkim" "$dir" || return 1
	sink_conf "$dir/plain.conf" "$dir" "$conns"
	export BROADSIDE_CONFIG=$dir/plain.conf
	$BS init >/dev/null || return 1
	$BS dkim keygen --selector r1 --domain example.com --out "$dir/rsa.key" >/dev/null || return 1
	$BS dkim keygen --selector e1 --domain example.com --type ed25519 --out "$dir/ed.key" >/dev/null || return 1
	{ cat "$dir/plain.conf"; echo "dkim = ( { selector = \"r1\"; domain = \"example.com\"; key_file = \"$dir/rsa.key\"; } );"; } >"$dir/rsa.conf"
	{ cat "$dir/plain.conf"; echo "dkim = ( { selector = \"r1\"; domain = \"example.com\"; key_file = \"$dir/rsa.key\"; },"
	  echo "         { selector = \"e1\"; domain = \"example.com\"; key_file = \"$dir/ed.key\"; } );"; } >"$dir/dual.conf"
	subs_csv "$n" 4 >"$dir/subs.csv"
	$BS subscriber import "$dir/subs.csv" >/dev/null || return 1
	one_send() {	# KIND: sets rate[KIND] (msg/s) and adds its CPU µs per message
		local id pid t0 t1 u0 s0 u1 s1
		id=$($BS issue create "$TOP/examples/growth-dragons-weekly.md") || return 1
		BROADSIDE_CONFIG=$dir/$1.conf $BSD 2>>"$dir/daemon.log" &
		pid=$!
		sleep 0.5
		read -r u0 s0 < <(proc_cpu $pid)
		t0=$(date +%s.%N)
		$BS issue schedule "$id" --now >/dev/null
		wait_log "$dir/daemon.log" "issue $id: sent" $pid || { echo "smtp dkim: the daemon died"; tail "$dir/daemon.log"; return 1; }
		t1=$(date +%s.%N)
		read -r u1 s1 < <(proc_cpu $pid)
		kill -TERM $pid; wait $pid 2>/dev/null
		rate[$1]=$(per_second "$n" "$t0" "$t1")
		cpu[$1]=$(( ${cpu[$1]:-0} + u1 - u0 + s1 - s0 ))
	}
	for r in $(seq "$rounds"); do
		order=$(awk -v r="$r" -v k="$kinds" 'BEGIN { n = split(k, a, " ");
			for (i = 0; i < n; i++) printf "%s ", a[(i + r - 1) % n + 1] }')
		for k in $order; do one_send "$k" || return 1; done
		for k in rsa dual; do
			ratios[$k]="${ratios[$k]:-} $(awk -v a="${rate[$k]}" -v b="${rate[plain]}" 'BEGIN { printf "%.2f", a / b }')"
		done
		echo "    round $r ($order): unsigned ${rate[plain]}, rsa-2048 ${rate[rsa]}, rsa-2048 + ed25519 ${rate[dual]} msg/s" >>"$dir/rounds"
	done
	echo "== DKIM-signed sending ($n messages, $conns connections, smtp-sink on loopback; $rounds rounds, order turned each round)"
	for k in rsa dual; do
		awk -v l="$( [ $k = rsa ] && echo "RSA-2048" || echo "RSA-2048 + Ed25519")" -v r="${ratios[$k]}" 'BEGIN {
			k = split(r, x, " ")
			for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (x[j] < x[i]) { t = x[i]; x[i] = x[j]; x[j] = t }
			med = k % 2 ? x[(k + 1) / 2] : (x[k / 2] + x[k / 2 + 1]) / 2
			printf "  signed %-20s / unsigned, each round:%s; median %.2f\n", l, r, med }'
	done
	for k in $kinds; do
		awk -v k="$k" -v c="${cpu[$k]}" -v n="$((n * rounds))" -v hz="$(getconf CLK_TCK)" 'BEGIN {
			printf "  daemon CPU per message, %-22s %5.0f µs (user + system, every thread)\n",
			    k == "plain" ? "unsigned:" : k == "rsa" ? "RSA-2048:" : "RSA-2048 + Ed25519:", c * 1e6 / hz / n }'
	done
	cat "$dir/rounds"
}

# --- SMTP CPU per message, by instruction counts --------------------------
# valgrind's callgrind counts the instructions a client executes, whatever
# else the machine runs: a figure that load does not move. Each client sends
# two counts of messages (A and B) and the difference divided by B - A is
# its cost per message, start-up left out: smtp-source; Broadside's SMTP
# layer alone (bench_session: smtp_send() and libesmtp) into smtp-sink,
# which offers no CHUNKING (DATA: libesmtp copies each message byte by byte
# to find its lines for dot-stuffing), and into a real Postfix smtpd (root
# only) with CHUNKING offered (libesmtp sends BDAT: the body goes as one
# chunk, not scanned) and withheld (smtpd_discard_ehlo_keywords); and the
# whole daemon (claims, rendering, write-back, libesmtp) into smtp-sink.
# The paid copy of the weekly example (~17.6 KB), 4 connections. Kernel
# time (system calls) is not counted: the smtp section's µs figures have it.
bench_smtp_cpu() {
	local a=${BENCH_CPU_A:-1000} b=${BENCH_CPU_B:-3000} pa=${BENCH_CPU_PF_A:-200} pb=${BENCH_CPU_PF_B:-600}
	local dir=$T/cpu port sink k n pf base out=$T/cpu.out
	command -v valgrind >/dev/null || { echo "smtp cpu: valgrind is not installed"; return 1; }
	start_sink "smtp cpu" "$dir" || return 1
	# Instructions of one run: irefs OUTFILE COMMAND...
	irefs() { local o=$1; shift; valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>"$o.vg" >/dev/null;
		sed -n 's/.*I *refs: *//p' "$o.vg" | tr -d ,; }
	per_msg() { awk -v x="$1" -v y="$2" -v n="$3" 'BEGIN { printf "%.0f", (y - x) / n }'; }
	# A database of N subscribers with one issue, for the daemon.
	cpu_db() {
		local d=$dir/d$1
		mkdir -p "$d"
		sink_conf "$d/broadside.conf" "$d" 4
		BROADSIDE_CONFIG=$d/broadside.conf $BS init >/dev/null || return 1
		subs_csv "$1" 1 >"$d/subs.csv"	# all paid
		BROADSIDE_CONFIG=$d/broadside.conf $BS subscriber import "$d/subs.csv" >/dev/null || return 1
		sed 's/^audience: all/audience: paid/' "$TOP/examples/growth-dragons-weekly.md" >"$d/paid.md"
		BROADSIDE_CONFIG=$d/broadside.conf $BS issue create "$d/paid.md" >/dev/null || return 1
	}
	# The daemon under callgrind sending issue 1 of database N.
	daemon_irefs() {
		local d=$dir/d$1 pid
		BROADSIDE_CONFIG=$d/broadside.conf valgrind --tool=callgrind --callgrind-out-file=/dev/null \
			$BSD 2>"$d/daemon.log" &
		pid=$!
		sleep 3
		BROADSIDE_CONFIG=$d/broadside.conf $BS issue schedule 1 --now >/dev/null
		wait_log "$d/daemon.log" "issue 1: sent" $pid || { echo "smtp cpu: the daemon died" >&2; return 1; }
		kill -TERM $pid; wait $pid 2>/dev/null
		sed -n 's/.*I *refs: *//p' "$d/daemon.log" | tr -d ,
	}
	cpu_db "$a" && cpu_db "$b" || return 1
	BROADSIDE_CONFIG=$dir/d$a/broadside.conf $BS issue preview 1 --tier paid --to reader0@example.com \
		--format eml >"$dir/paid.eml" || return 1
	: >"$out"
	src() { irefs "$dir/src$1" smtp-source -d -s 4 -m "$1" -F "$dir/paid.eml" -f bounces@example.com \
		-t reader@example.com "127.0.0.1:$2"; }
	lay() { irefs "$dir/lay$1" "$BUILD/bench/bench_session" 127.0.0.1 "$2" "$dir/paid.eml" "$1" 4 100; }
	# One line: LABEL INSTRUCTIONS, and their ratio to smtp-source's.
	line() { awk -v l="$1" -v v="$2" -v s="$base" 'BEGIN {
		printf "    %-56s %9d  %5.1fx smtp-source\n", l, v, v / s }' >>"$out"; }
	base=$(per_msg "$(src $a $port)" "$(src $b $port)" $((b - a)))
	line "smtp-source -d into smtp-sink (the baseline)" "$base"
	line "SMTP layer alone into smtp-sink (DATA)" "$(per_msg "$(lay $a $port)" "$(lay $b $port)" $((b - a)))"
	if [ "$(id -u)" = 0 ] && [ -x /usr/sbin/postfix ]; then
		chmod 755 "$T" "$dir"	# Postfix's daemons run as postfix
		for k in chunking nochunking; do
			pf=$dir/pf-$k
			n=$(free_port)
			$PY - "$pf" "$n" "$k" <<'PY' >"$pf.pid" || { echo "smtp cpu: postfix did not start"; return 1; }
import os, subprocess, sys, time
d, port, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
etc, queue, data = (os.path.join(d, x) for x in ("etc", "queue", "data"))
for x in (etc, queue, data):
    os.makedirs(x)
os.chmod(d, 0o755)
subprocess.run(["chown", "postfix", data], check=True)
# Debian's main.cf, a private queue and port, and everything discarded.
open(os.path.join(etc, "main.cf"), "w").write(open("/usr/share/postfix/main.cf.debian").read() + f"""
queue_directory = {queue}
data_directory = {data}
maillog_file = {d}/maillog
maillog_file_prefixes = {d}
myhostname = relay.bench.example
inet_protocols = ipv4
smtputf8_enable = no
inet_interfaces = loopback-only
mydestination =
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
default_transport = discard:bench
relay_transport = discard:bench
smtpd_discard_ehlo_keywords = {"chunking" if kind == "nochunking" else ""}
""")
master = open("/etc/postfix/master.cf").read()
open(os.path.join(etc, "master.cf"), "w").write(master.replace("\nsmtp      inet", "\n127.0.0.1:%d inet" % port, 1))
subprocess.run(["postconf", "-c", etc, "-F", "*/*/chroot = n"], check=True)
subprocess.run(["postfix", "-c", etc, "start"], check=True, capture_output=True)
for _ in range(200):
    try:
        print(int(open(os.path.join(queue, "pid", "master.pid")).read().strip()))
        sys.exit(0)
    except (OSError, ValueError):
        time.sleep(0.1)
sys.exit(1)
PY
			on_exit "kill $(cat "$pf.pid") 2>/dev/null"
			line "SMTP layer alone into Postfix smtpd, $([ $k = chunking ] &&
				echo "CHUNKING (BDAT)" || echo "no CHUNKING (DATA)")" \
				"$(per_msg "$(lay $pa $n)" "$(lay $pb $n)" $((pb - pa)))"
			kill "$(cat "$pf.pid")"
		done
	else
		echo "    (a real Postfix smtpd: needs root and postfix, skipped)" >>"$out"
	fi
	line "broadsided, every thread, into smtp-sink (DATA)" \
		"$(per_msg "$(daemon_irefs $a)" "$(daemon_irefs $b)" $((b - a)))"
	echo "== SMTP CPU per message (callgrind instructions per message, user space; $a and $b messages, Postfix $pa and $pb; paid copy ~$(( $(stat -c %s "$dir/paid.eml") / 1024 )) KB, 4 connections)"
	cat "$out"
}

# --- Scale: a list of 100,000 and of 1,000,000 ---------------------------
# For each size N (BENCH_SCALE_N), every third subscriber paid, the weekly
# example into smtp-sink over 4 connections:
#  - import: `subscriber import` of one N-row CSV (rows/s, CPU, peak RSS),
#    beside the sqlite3 shell inserting the same rows and their events in
#    one statement (the bare cost of the table and its indexes);
#  - fan-out: the daemon's chunked fan-out (its log line), beside a bare
#    INSERT ... SELECT of N rows of the deliveries table's shape into an
#    empty copy of that table, in the same run;
#  - first copy: from `issue schedule --now` to smtp-sink's first counter
#    output after it (-c: written as messages come in and sessions end, and
#    the daemon opens a session only with copies to send), so at or after
#    the first message's arrival: an upper bound;
#  - the whole send (msg/s), the daemon's peak RSS, and bytes on disk per
#    subscriber and per delivery (db stats).
# Never a test: figures to read, not thresholds.
bench_scale() {
	local sizes=${BENCH_SCALE_N:-100000 1000000} conns=4 n dir port sink pid id t0 t1
	local imp bare fan firstms hwm sent rate dbs out=$T/scale.out
	command -v smtp-sink >/dev/null || PATH=$PATH:/usr/sbin
	command -v smtp-sink >/dev/null || { echo "scale: smtp-sink is not installed (make deps)"; return 1; }
	: >"$out"
	for n in $sizes; do
		dir=$T/scale-$n
		mkdir -p "$dir"
		port=$(free_port)
		smtp-sink -u nobody -c "127.0.0.1:$port" 1000 >"$dir/sink.out" 2>&1 &
		sink=$!
		on_exit "kill $sink 2>/dev/null"
		cat >"$dir/broadside.conf" <<CONF
database = "$dir/broadside.db";
templates = "$TOP/templates";
log_level = "notice";
http: { listen = "127.0.0.1:$(free_port)"; };
relays = ( { host = "127.0.0.1"; port = $port; connections = $conns; } );
CONF
		export BROADSIDE_CONFIG=$dir/broadside.conf
		$BS init >/dev/null || return 1
		$PY -c "
import sys
w = sys.stdout.write
w('email,name,tier\n')
for i in range($n):
    w('reader%d@example%d.com,Reader %d,%s\n' % (i, i % 97, i, 'paid' if i % 3 == 0 else 'free'))
" >"$dir/subs.csv"
		# Import, timed by the CLI itself (wall), with its CPU and RSS.
		/usr/bin/time -f "%e %U %S %M" -o "$dir/import.time" $BS subscriber import "$dir/subs.csv" \
			>"$dir/import.out" || { cat "$dir/import.out"; return 1; }
		imp=$(cat "$dir/import.time")
		# The bare SQLite cost of the same rows: the same table and indexes
		# (schema copied from the database), one INSERT ... SELECT each.
		sqlite3 "$dir/broadside.db" .schema | grep -vE '^CREATE TABLE sqlite_' >"$dir/schema.sql"
		sqlite3 "$dir/bare.db" "PRAGMA journal_mode = WAL" >/dev/null
		sqlite3 "$dir/bare.db" ".read $dir/schema.sql" 2>/dev/null
		t0=$(date +%s.%N)
		sqlite3 "$dir/bare.db" "PRAGMA synchronous = NORMAL" "BEGIN" \
			"INSERT INTO subscribers (email, email_key, name, tier, status, created_at, updated_at)
			 SELECT 'reader' || value || '@example' || (value % 97) || '.com',
			        'reader' || value || '@example' || (value % 97) || '.com', 'Reader ' || value,
			        CASE WHEN value % 3 = 0 THEN 'paid' ELSE 'free' END, 'active', 1, 1
			 FROM generate_series(0, $((n - 1)))" \
			"INSERT INTO events (at, kind, ref_id, event, detail) SELECT 1, 'subscriber', id,
			 'created', tier || '; imported from subs.csv' FROM subscribers" "COMMIT" || return 1
		t1=$(date +%s.%N)
		bare=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
		# Bare insert of N deliveries rows, timed just before the fan-out.
		t0=$(date +%s.%N)
		sqlite3 "$dir/bare.db" "PRAGMA synchronous = NORMAL" "BEGIN" \
			"INSERT INTO issues (id, subject, source, status, created_at, updated_at) VALUES (1, 's', 'x', 'sending', 1, 1)" \
			"INSERT INTO deliveries (issue_id, subscriber_id, state, next_attempt_at, created_at, updated_at)
			 SELECT 1, id, 'queued', 0, 1, 1 FROM subscribers" "COMMIT" || return 1
		t1=$(date +%s.%N)
		bare="$bare $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')"
		rm -f "$dir"/bare.db*
		id=$($BS issue create "$TOP/examples/growth-dragons-weekly.md") || return 1
		$BSD 2>>"$dir/daemon.log" &
		pid=$!
		on_exit "kill $pid 2>/dev/null"
		sleep 0.5
		# First copy: smtp-sink's counter output first grows (see above).
		$PY - "$dir/sink.out" >"$dir/first.ms" <<'PY' &
import os, sys, time
p = sys.argv[1]
s0 = os.stat(p).st_size
t0 = time.monotonic()
while os.stat(p).st_size == s0 and time.monotonic() - t0 < 600:
    time.sleep(0.002)
print("%.0f" % ((time.monotonic() - t0) * 1000))
PY
		local watcher=$!
		sleep 0.2
		t0=$(date +%s.%N)
		$BS issue schedule "$id" --now >/dev/null
		wait_log "$dir/daemon.log" "issue $id: sent" $pid || { echo "scale: the daemon died"; cat "$dir/daemon.log"; return 1; }
		t1=$(date +%s.%N)
		wait $watcher
		# The watcher started 0.2 s before the schedule command.
		firstms=$(( $(cat "$dir/first.ms") - 200 ))
		hwm=$(awk '/^VmHWM/ {print $2}' /proc/$pid/status)
		kill -TERM $pid; wait $pid 2>/dev/null
		fan=$(sed -n "s/.*issue $id: sending to [0-9]* subscribers (fanned out in \([0-9]*\) ms).*/\1/p" "$dir/daemon.log")
		sent=$(sqlite3 "$dir/broadside.db" "SELECT count(*) FROM deliveries WHERE issue_id = $id AND state = 'sent'")
		rate=$(per_second "$sent" "$t0" "$t1")
		dbs=$($BS db stats --json | $PY -c 'import json,sys; d=json.load(sys.stdin); print("%.0f %.0f %.0f" % (d["bytes"] / 1048576, d["bytes_per_subscriber"], d["bytes_per_delivery"]))')
		kill $sink 2>/dev/null; wait $sink 2>/dev/null
		awk -v n="$n" -v imp="$imp" -v bare="$bare" -v fan="$fan" -v first="$firstms" -v hwm="$hwm" \
		    -v sent="$sent" -v rate="$rate" -v dbs="$dbs" 'BEGIN {
			split(imp, i, " "); split(bare, b, " "); split(dbs, s, " ")
			printf "  %d subscribers (every third paid):\n", n
			printf "    %-44s %9.0f rows/s (%.1f s; %.2fx the bare insert; CPU %.1f µs/row; peak RSS %.0f MB)\n",
			    "import, one file, one transaction", n / i[1], i[1], b[1] / i[1], (i[2] + i[3]) * 1e6 / n, i[4] / 1024
			printf "    %-44s %9.0f rows/s (%.1f s)   target 200,000 rows/s\n",
			    "  bare sqlite3: same rows and events", n / b[1], b[1]
			printf "    %-44s %9.2f s (%.2fx the bare insert; target <= 3x)\n",
			    "fan-out, chunked, while sending", fan / 1000, fan / 1000 / b[2]
			printf "    %-44s %9.2f s\n", "  bare sqlite3: INSERT ... SELECT of N deliveries", b[2]
			printf "    %-44s %9d ms (target <= 1,000 ms)\n", "first copy at smtp-sink after schedule --now", first
			printf "    %-44s %9.0f msg/s (%d sent)\n", "whole send, schedule --now to sent", rate, sent
			printf "    %-44s %9.1f MB (target <= 50 MB)\n", "daemon peak RSS", hwm / 1024
			printf "    %-44s %9d MB; %d B per subscriber, %d B per delivery\n", "database on disk", s[1], s[2], s[3]
		}' >>"$out"
		rm -rf "$dir"
	done
	echo "== Scale (import, fan-out, first copy, whole send, memory, disk; smtp-sink on loopback, $conns connections)"
	cat "$out"
}

# `tests/bench.sh smtp http` runs only those sections.
for section in "${@:-render dkim http http_flood http_slow bounce smtp smtp_dkim smtp_cpu scale}"; do
	for f in $section; do "bench_$f"; done
done
