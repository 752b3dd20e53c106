# identity.sh - tokens bound to a person and one person per address (issue
# 15): a removed subscriber's id is never given to anyone else, so their old
# unsubscribe link, one-click and mailto do nothing to a newcomer; addresses
# are one person whatever their case (add, import, suppression, remove,
# unsubscribe); and migration 0006 brings an old database there keeping its
# rows, references and indexes.
. "$(dirname "$0")/../lib.sh"

PORT=$(free_port)
URL=http://127.0.0.1:$PORT
write_config <<CONF
http: { listen = "127.0.0.1:$PORT"; };
CONF
sed -i "s|base_url = \"http://127.0.0.1:8025\"|base_url = \"$URL\"|" "$CONF"
LID=growth-dragons.example.com
$BS init >/dev/null || { not_ok "init"; exit 1; }

# ---- ids never reused
$BS subscriber add first@example.com >/dev/null
$BS subscriber add leaving@example.com >/dev/null
old=$(sql "SELECT id FROM subscribers WHERE email = 'leaving@example.com'")
tok=$(proof unsub "$old" $LID)
expect "remove the newest subscriber" 0 $BS subscriber remove leaving@example.com
$BS subscriber add newcomer@example.com >/dev/null
new=$(sql "SELECT id FROM subscribers WHERE email = 'newcomer@example.com'")
[ "$new" -gt "$old" ] && ok "the newcomer gets a new id ($new), not the removed one ($old)" \
	|| not_ok "the newcomer got id $new, the removed reader had $old"

$BSD >>"$T/daemon.log" 2>&1 &
DPID=$!
on_exit 'kill $DPID 2>/dev/null; wait $DPID 2>/dev/null'
for _ in $(seq 50); do curl -s -o /dev/null "$URL/healthz" && break; sleep 0.1; done
code() { local m=$1 p=$2; shift 2; curl -s -o "$T/body" -w '%{http_code}' -X "$m" "$@" "$URL$p"; }
is "old link: GET answers 404" "$(code GET "/u/$tok")" 404
grep -q "newcomer" "$T/body" && not_ok "old link shows the newcomer's address" \
	|| ok "old link shows nothing of the newcomer"
is "old link: one-click POST answers 404" \
	"$(code POST "/u/$tok" -d List-Unsubscribe=One-Click)" 404
printf 'From: x@example.net\nTo: unsubscribe+%s@example.com\nSubject: unsubscribe\n\n' "$tok" >"$T/mailto.eml"
expect_out "old mailto unsubscribe: unverified" 0 'unverified' $BS bounce "$T/mailto.eml"
is "the newcomer is still active" "$(sql "SELECT status FROM subscribers WHERE id = $new")" active
curl -s "$URL/metrics" >"$T/metrics"
grep -q '^broadside_feedback_unverified_total{format="unsubscribe"} 1$' "$T/metrics" \
	&& ok "metrics count the unverified unsubscribe mail" \
	|| { not_ok "metrics count the unverified unsubscribe mail"; grep unverified "$T/metrics" | sed 's/^/#   /'; }
is "the newcomer's own link works" \
	"$(code POST "/u/$(proof unsub "$new" $LID)" -d List-Unsubscribe=One-Click)" 200
is "and unsubscribes the newcomer" "$(sql "SELECT status FROM subscribers WHERE id = $new")" unsubscribed
kill $DPID; wait $DPID 2>/dev/null

# ---- one person, one address
expect_out "add: another case of a subscriber is the same person" 65 'already' \
	$BS subscriber add FIRST@Example.com
expect "remove: any case" 0 $BS subscriber remove First@EXAMPLE.COM
expect_out "the removed reader re-added in other case: suppressed" 65 'suppressed' \
	$BS subscriber add fIrSt@example.COM
printf 'email\nFIRST@example.com\n' >"$T/back.csv"
expect_out "the removed reader re-imported in other case: skipped" 0 '1 suppressed' \
	$BS subscriber import "$T/back.csv"
printf 'email\nBob@example.org\nann@example.org\nbob@EXAMPLE.org\n' >"$T/dup.csv"
expect_out "import: duplicates by case named in the error" 65 \
	'dup.csv:4: bob@EXAMPLE.org: duplicate address in the file \(line 2 has Bob@example.org' \
	$BS subscriber import "$T/dup.csv"
is "import with a duplicate: nothing imported" "$(sql "SELECT count(*) FROM subscribers WHERE email_key LIKE '%example.org'")" 0
printf 'email\nAnn.Lee@Example.org\n' >"$T/ann.csv"
expect "import keeps the spelling" 0 $BS subscriber import "$T/ann.csv"
is "spelling kept for sending, key lower case" \
	"$(sql "SELECT email || ' ' || email_key FROM subscribers WHERE email_key = 'ann.lee@example.org'")" \
	"Ann.Lee@Example.org ann.lee@example.org"
printf 'email\nANN.LEE@example.org\nann.lee@example.ORG\n' >"$T/ann2.csv"
expect_out "re-import under other spellings: the same person" 65 'duplicate' $BS subscriber import "$T/ann2.csv"
printf 'email\nann.LEE@example.org\n' >"$T/ann3.csv"
expect_out "re-import under another spelling: already on the list" 0 '1 already on the list' \
	$BS subscriber import "$T/ann3.csv"
is "one row for the person" "$(sql "SELECT count(*) FROM subscribers WHERE email_key = 'ann.lee@example.org'")" 1
expect "set --status under another spelling" 0 $BS subscriber set ANN.LEE@EXAMPLE.ORG --status unsubscribed
is "unsubscribing one spelling unsubscribes the person" \
	"$(sql "SELECT status FROM subscribers WHERE email_key = 'ann.lee@example.org'")" unsubscribed

# ---- migration 0006 on a database made by the previous schema (0001-0004)
OLD=$T/old.db
for f in "$TOP"/db/000[1-4]_*.sql; do cat "$f"; done | sqlite3 "$OLD"
sqlite3 "$OLD" "PRAGMA user_version = 4;
INSERT INTO subscribers (id, email, email_key, status, created_at, updated_at) VALUES
  (1, 'Ann@Example.org', 'Ann@example.org', 'active', 1, 1),
  (2, 'ann@example.org', 'ann@example.org', 'unsubscribed', 1, 1),
  (3, 'ANN@example.org', 'ANN@example.org', 'active', 1, 1),
  (4, 'Zed@example.org', 'Zed@example.org', 'active', 1, 1);
INSERT INTO suppressions (hash, reason, created_at) VALUES ('x', 'removed', 1);
INSERT INTO events (at, kind, ref_id, event, detail) VALUES (1, 'subscriber', 9, 'removed', '');
INSERT INTO issues (subject, source, created_at, updated_at) VALUES ('one', 'x', 1, 1);
INSERT INTO deliveries (issue_id, subscriber_id, state, created_at, updated_at) VALUES
  (1, 1, 'queued', 1, 1), (1, 3, 'sent', 1, 1), (1, 4, 'queued', 1, 1);
INSERT INTO bounces (delivery_id, subscriber_id, kind, created_at) VALUES (2, 3, 'soft', 1);"
sed -i "s|^database = .*|database = \"$OLD\";|" "$CONF"
expect "an old database opens (migrated)" 0 $BS stats
m() { sqlite3 "$OLD" "$@"; }
is "schema version 6 or later" "$([ "$(m 'PRAGMA user_version')" -ge 6 ] && echo yes)" yes
is "every row kept, ids unchanged" "$(m "SELECT group_concat(id || ':' || email, ' ') FROM (SELECT * FROM subscribers ORDER BY id)")" \
	"1:Ann@Example.org 2:ann@example.org 3:ANN@example.org 4:Zed@example.org"
is "keys lower case; later spellings merged into the first" \
	"$(m "SELECT group_concat(email_key, '|') FROM (SELECT email_key FROM subscribers ORDER BY id)")" \
	"ann@example.org|ann@example.org #2 merged into #1|ann@example.org #3 merged into #1|zed@example.org"
is "the person takes the gravest status; later spellings stop" \
	"$(m "SELECT group_concat(status, ' ') FROM (SELECT status FROM subscribers ORDER BY id)")" "unsubscribed unsubscribed unsubscribed active"
is "references kept (not set NULL by the rebuild)" \
	"$(m "SELECT group_concat(subscriber_id, ' ') FROM (SELECT subscriber_id FROM deliveries ORDER BY id)") / $(m "SELECT subscriber_id FROM bounces")" "1 3 4 / 3"
is "the merged person's queued copy dropped, others untouched" \
	"$(m "SELECT group_concat(state, ' ') FROM (SELECT state FROM deliveries ORDER BY id)")" "dropped sent queued"
is "index kept" "$(m "SELECT count(*) FROM sqlite_schema WHERE name = 'subscribers_status'")" 1
is "AUTOINCREMENT" "$(m "SELECT sql LIKE '%AUTOINCREMENT%' FROM sqlite_schema WHERE name = 'subscribers'")" 1
is "merges recorded as events" "$(m "SELECT count(*) FROM events WHERE event = 'merged'")" 2
$BS subscriber add next@example.org >/dev/null
is "the next id is above every id ever mentioned (9 was removed before)" \
	"$(m "SELECT id FROM subscribers WHERE email = 'next@example.org'")" 10
is "foreign keys hold" "$(m "PRAGMA foreign_key_check" | wc -l)" 0
