# daemon.sh - broadsided's start-up: what it refuses, and how it logs.
. "$(dirname "$0")/../lib.sh"
port=$(free_port)
write_config <<CONF
http: { listen = "127.0.0.1:$port"; };
relays = ( { host = "127.0.0.1"; port = $(free_port); } );
CONF

expect_out "usage error" 64 'usage: broadsided' $BSD --frobnicate
expect_out "a stray argument: usage error" 64 "unexpected argument 'start'" $BSD start
schema=$(ls "$TOP"/db/[0-9]*.sql | wc -l)
expect_out "--version: version and the schema it carries" 0 \
	"^broadsided [0-9]+\.[0-9]+\.[0-9]+ \(database schema $schema\)$" $BSD --version
expect_out "-V" 0 '^broadsided [0-9.]+ ' $BSD -V
expect_out "--help: foreground, stderr, signals, the config's places" 0 \
	'foreground.*stderr' $BSD --help
grep -q 'SIGHUP reloads' <<<"$OUT" && grep -q 'BROADSIDE_CONFIG' <<<"$OUT" &&
	ok "--help names SIGHUP and \$BROADSIDE_CONFIG" || not_ok "--help names SIGHUP and \$BROADSIDE_CONFIG"
expect_out "broadside --version" 0 "^broadside [0-9.]+ \(database schema $schema\)$" $BS --version
printf 'relays = ( { port = "x"; } );\n' >"$T/bad.conf"
expect_out "a broken config: EX_CONFIG, line and key" 78 'bad.conf:1: relays\[0\].port' $BSD --config "$T/bad.conf"
cp "$CONF" "$T/dkim.conf"
printf 'dkim = ( { selector = "s1"; domain = "example.com"; key_file = "%s/none.pem"; } );\n' "$T" >>"$T/dkim.conf"
expect_out "a missing DKIM key: EX_CONFIG at start, not at the first send" 78 'none.pem: cannot read key' $BSD --config "$T/dkim.conf"

# First start makes the state, as 'broadside init' does.
$BSD 2>"$T/d.log" &
pid=$!
on_exit "kill $pid 2>/dev/null"
for _ in $(seq 100); do curl -s "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
grep -q "created the database $T/broadside.db" "$T/d.log" && ok "first start creates the database" || not_ok "first start creates the database"
is "and the key, 0600" "$(stat -c %a "$T/broadside.key" 2>/dev/null)" 600
expect_out "a second daemon on the same database is refused" 75 'another broadsided is running' $BSD
kill -TERM $pid; wait $pid
is "SIGTERM: exit 0" "$?" 0

# Under systemd (JOURNAL_STREAM set) every line carries its syslog priority.
JOURNAL_STREAM=8:1234 $BSD 2>"$T/j.log" &
pid=$!
for _ in $(seq 100); do curl -s "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
kill -TERM $pid; wait $pid
grep -qE '^<5>started: config ' "$T/j.log" && ok "journal lines carry <N> priorities" || { not_ok "journal lines carry <N> priorities"; head -3 "$T/j.log" | sed 's/^/#   /'; }
if grep -qvE '^<[0-7]>' "$T/j.log"; then not_ok "every journal line has a priority"; else ok "every journal line has a priority"; fi
grep -qE '^broadsided: started: config ' "$T/d.log" && ok "plain stderr lines name the program" || not_ok "plain stderr lines name the program"

v=$(sql 'PRAGMA user_version')
sql 'PRAGMA user_version = 999'
expect_out "a database newer than the binary is refused" 78 'newer than this broadside' $BSD
sql "PRAGMA user_version = $v"
