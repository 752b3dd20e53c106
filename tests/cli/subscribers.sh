# subscribers.sh - broadside subscriber add|import|list|export|set|remove, and bad input.
. "$(dirname "$0")/../lib.sh"
write_config </dev/null
$BS init >/dev/null

expect_out "import the example subscribers" 0 'imported 10 subscribers' $BS subscriber import "$TOP/examples/subscribers.csv"
is "ten rows" "$(sql 'SELECT count(*) FROM subscribers')" 10
is "non-ASCII name kept" "$(sql "SELECT name FROM subscribers WHERE email = 'zoe@example.net'")" "Zoë Müller"
is "quoted name with comma" "$(sql "SELECT name FROM subscribers WHERE email = 'o''brien@example.com'")" "O'Brien, Pat"
is "status column honoured" "$(sql "SELECT status FROM subscribers WHERE email = 'barbara@example.com'")" unsubscribed
expect_out "re-import changes nothing" 0 'imported 0 subscribers.*10 already on the list' $BS subscriber import "$TOP/examples/subscribers.csv"

expect_out "add with name and tier" 0 'added new@example.com' $BS subscriber add new@example.com --name "New Reader" --tier paid
is "added row" "$(sql "SELECT name || '|' || tier || '|' || status FROM subscribers WHERE email = 'new@example.com'")" "New Reader|paid|active"
expect_out "duplicate with other-case domain refused" 65 'already a subscriber' $BS subscriber add new@EXAMPLE.COM
expect_out "invalid address refused" 65 "address 'x@y' domain has no dot" $BS subscriber add x@y
expect_out "unknown tier refused" 64 "unknown tier 'gold'" $BS subscriber add g@example.com --tier gold
long=$(printf 'a%.0s' $(seq 65))
expect_out "over-long local part refused" 65 'longer than 64' $BS subscriber add "$long@example.com"
expect_out "name with a newline refused" 65 'line break' $BS subscriber add nl@example.com --name "$(printf 'a\nBcc: x@evil.com')"
expect "missing EMAIL is a usage error" 64 $BS subscriber add

expect_out "list" 0 'ada@example.com' $BS subscriber list
expect_out "list --tier paid --status active" 0 'margaret@example.org' $BS subscriber list --tier paid --status active
if $BS subscriber list --tier paid | grep -q grace@; then not_ok "tier filter"; else ok "tier filter"; fi
n=$($BS subscriber list --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')
is "list --json is JSON with every row" "$n" 11
expect_out "unknown status filter" 64 "unknown status 'gone'" $BS subscriber list --status gone

expect_out "set tier and name" 0 'updated' $BS subscriber set grace@EXAMPLE.com --tier paid --name "Rear Admiral Hopper"
is "set applied" "$(sql "SELECT tier || '|' || name FROM subscribers WHERE email = 'grace@example.com'")" "paid|Rear Admiral Hopper"
expect_out "set status unsubscribed" 0 'updated' $BS subscriber set grace@example.com --status unsubscribed
is "status changed" "$(sql "SELECT status FROM subscribers WHERE email = 'grace@example.com'")" unsubscribed
is "status change is in the events log" "$(sql "SELECT count(*) FROM events WHERE event = 'status'")" 1
expect_out "set status bounced is not the operator's" 64 "set takes active or unsubscribed" $BS subscriber set grace@example.com --status bounced
expect_out "set on unknown subscriber" 67 'no such subscriber' $BS subscriber set nobody@example.com --tier paid

$BS subscriber export >"$T/export.csv"
is "export has header + 11 rows" "$(wc -l <"$T/export.csv" | tr -d ' ')" 12
write_config </dev/null
sed -i "s|$T/broadside.db|$T/copy.db|" "$CONF"
$BS init >/dev/null
expect_out "export re-imports into a fresh database" 0 'imported 11 subscribers' $BS subscriber import "$T/export.csv"
is "round trip keeps names and states" "$(sqlite3 "$T/copy.db" "SELECT group_concat(email||name||tier||status, ';') FROM (SELECT * FROM subscribers ORDER BY email)")" \
	"$(sql "SELECT group_concat(email||name||tier||status, ';') FROM (SELECT * FROM subscribers ORDER BY email)")"
sed -i "s|$T/copy.db|$T/broadside.db|" "$CONF"
expect_out "export refuses to overwrite" 73 'not overwritten' $BS subscriber export "$T/export.csv"

expect_out "remove" 0 'removed' $BS subscriber remove linus@example.org
is "row gone" "$(sql "SELECT count(*) FROM subscribers WHERE email = 'linus@example.org'")" 0
if sql "SELECT detail FROM events" | grep -q linus; then not_ok "address not kept in events"; else ok "address not kept in events"; fi
expect_out "removed address stays suppressed on add" 65 'stays suppressed' $BS subscriber add linus@EXAMPLE.org
printf 'email\nlinus@example.org\nfresh@example.com\n' >"$T/again.csv"
expect_out "removed address skipped on import" 0 'imported 1 subscriber.*1 suppressed' $BS subscriber import "$T/again.csv"

# Bad CSV: one bad row imports nothing, and the message names file and line.
before=$(sql 'SELECT count(*) FROM subscribers')
bad_csv() {	# name rc pattern content
	printf "$4" >"$T/bad.csv"
	expect_out "$1" "$2" "$3" $BS subscriber import "$T/bad.csv"
	is "$1: nothing imported" "$(sql 'SELECT count(*) FROM subscribers')" "$before"
}
bad_csv "bad address on line 3" 65 'bad.csv:3: address .bad@. has no domain' 'email,name\nok1@example.com,A\nbad@,B\n'
bad_csv "duplicate in file (domain in other case)" 65 'bad.csv:3: dup@EXAMPLE.com: duplicate address in the file' 'email\ndup@example.com\ndup@EXAMPLE.com\n'
bad_csv "unknown tier in row" 65 "bad.csv:2: unknown tier 'gold'" 'email,tier\nok2@example.com,gold\n'
bad_csv "unknown status in row" 65 "bad.csv:2: unknown status 'gone'" 'email,status\nok3@example.com,gone\n'
bad_csv "wrong field count" 65 'bad.csv:3: 3 fields, the header has 2' 'email,name\nok4@example.com,A\nok5@example.com,B,C\n'
bad_csv "unclosed quote" 65 'bad.csv:2: quoted field not closed' 'email,name\nok6@example.com,"A\n'
bad_csv "unknown column" 65 "bad.csv:1: unknown column 'phone'" 'email,phone\nok7@example.com,1\n'
bad_csv "no email column" 65 "bad.csv:1: header has no 'email' column" 'name\nA\n'
bad_csv "empty file" 65 'bad.csv:1: empty file' ''
expect_out "missing file" 66 'nope.csv: No such file' $BS subscriber import "$T/nope.csv"

# Locked database: EX_TEMPFAIL, and nothing half-done.
hold_lock
expect_out "locked database gives EX_TEMPFAIL" 75 'busy' $BS subscriber add locked@example.com
release_lock
is "nothing added while locked" "$(sql "SELECT count(*) FROM subscribers WHERE email = 'locked@example.com'")" 0

# Import speed: 100,000 rows in one transaction.
$PY - >"$T/big.csv" <<'PY'
print("email,name,tier")
for i in range(100000):
    print(f"reader{i}@example.com,Reader {i},{'paid' if i % 5 == 0 else 'free'}")
PY
expect_out "100,000-row import" 0 'imported 100000 subscribers' $BS subscriber import "$T/big.csv"
echo "# 100,000-row import: $OUT"
is "all 100,000 stored" "$(sql "SELECT count(*) FROM subscribers WHERE email LIKE 'reader%'")" 100000
if grep -q 'rows/s' <<<"$OUT"; then not_ok "no progress line when not a terminal"; else ok "no progress line when not a terminal"; fi
is "each imported subscriber's history says so" \
	"$(sql "SELECT count(*) FROM events WHERE kind = 'subscriber' AND event = 'created' AND detail LIKE '%imported from%big.csv'")" 100000

# Streamed: a bad line far into a big file (past the reader's chunks) is
# named, and nothing of the file is kept.
before=$(sql 'SELECT count(*) FROM subscribers')
{ echo "email,name"; for i in $(seq 1 20000); do echo "late$i@example.net,Late Reader $i"; done
  echo "late-bad@,X"; } >"$T/late.csv"
expect_out "bad line 20002 of a streamed file" 65 'late.csv:20002: address .late-bad@. has no domain' \
	$BS subscriber import "$T/late.csv"
is "streamed file with a bad last line: nothing imported" "$(sql 'SELECT count(*) FROM subscribers')" "$before"
{ echo "email"; echo "pipe1@example.net"; echo "existing@example.net"; echo "pipe2@EXAMPLE.net";
  echo "Existing@example.NET"; } >"$T/dups.csv"
expect_out "a duplicate of a row named with its line (import from a pipe)" 65 \
	'<stdin>:5: Existing@example.NET: duplicate address in the file \(line 3 has existing@example.net' \
	sh -c "cat '$T/dups.csv' | $BS subscriber import -"
$BS subscriber add existing@example.net >/dev/null
expect_out "a duplicate of someone already on the list is named too" 65 \
	'dups.csv:5: Existing@example.NET: duplicate address in the file \(line 3' \
	$BS subscriber import "$T/dups.csv"
# On a terminal (script(1) gives one) a progress line with rows and rate.
if command -v script >/dev/null; then
	{ echo "email"; for i in $(seq 1 60000); do echo "tty$i@example.org"; done; } >"$T/tty.csv"
	script -qec "$BS subscriber import '$T/tty.csv'" /dev/null >"$T/tty.out" 2>&1
	if grep -qE 'importing: [0-9]+ rows, [0-9]+ rows/s' "$T/tty.out"; then
		ok "progress line on a terminal"
	else
		not_ok "progress line on a terminal"; head -c 300 "$T/tty.out" | sed 's/^/#   /'
	fi
	script -qec "$BS subscriber export '$T/tty-export.csv'" /dev/null >/dev/null 2>&1
	is "export to a file streams every row" "$(wc -l <"$T/tty-export.csv" | tr -d ' ')" \
		"$(( $(sql 'SELECT count(*) FROM subscribers') + 1 ))"
fi
