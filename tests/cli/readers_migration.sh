# readers_migration.sh - migration 0007 on a database made by 0001-0006:
# every subscriber row, id, status and index kept, the id sequence not set
# back, 'pending' accepted by the rebuilt CHECK, old issues given a slug and
# kind 'issue', foreign keys intact; a pending subscriber gets no issue.
. "$(dirname "$0")/../lib.sh"

write_config
OLD=$T/broadside.db
for f in "$TOP"/db/000[1-6]_*.sql; do cat "$f"; done | sqlite3 "$OLD"
sqlite3 "$OLD" "PRAGMA user_version = 6;
INSERT INTO subscribers (id, email, email_key, name, tier, status, bounce_score, last_bounce_at, created_at, updated_at) VALUES
  (1, 'Ann@Example.org', 'ann@example.org', 'Ann', 'paid', 'active', 0, NULL, 1, 2),
  (2, 'bob@example.org', 'bob@example.org', '', 'free', 'unsubscribed', 0, NULL, 1, 3),
  (3, 'cy@example.org', 'cy@example.org', 'Cy', 'free', 'bounced', 4, 99, 1, 4),
  (7, 'dee@example.org', 'dee@example.org', '', 'free', 'complained', 0, NULL, 1, 5);
UPDATE sqlite_sequence SET seq = 20 WHERE name = 'subscribers';
INSERT INTO issues (subject, source, status, created_at, updated_at) VALUES ('one', 'x', 'sent', 1, 1), ('two', 'y', 'draft', 1, 1);
INSERT INTO deliveries (issue_id, subscriber_id, state, created_at, updated_at) VALUES
  (1, 1, 'sent', 1, 1), (1, 3, 'failed', 1, 1);
INSERT INTO bounces (delivery_id, subscriber_id, kind, created_at) VALUES (2, 3, 'hard', 1);"
[ "$(sqlite3 "$OLD" 'SELECT seq FROM sqlite_sequence WHERE name = "subscribers"')" = 20 ] || not_ok "setup: sequence"
expect "the old database opens (migrated)" 0 $BS stats
m() { sqlite3 "$OLD" "$@"; }
is "schema version 7 or later" "$([ "$(m 'PRAGMA user_version')" -ge 7 ] && echo yes)" yes
is "every row kept with its id, address, name, tier, status, score and times" \
	"$(m "SELECT group_concat(id || ':' || email || ':' || name || ':' || tier || ':' || status || ':' || bounce_score || ':' || coalesce(last_bounce_at, '') || ':' || created_at || ':' || updated_at, ' ') FROM (SELECT * FROM subscribers ORDER BY id)")" \
	"1:Ann@Example.org:Ann:paid:active:0::1:2 2:bob@example.org::free:unsubscribed:0::1:3 3:cy@example.org:Cy:free:bounced:4:99:1:4 7:dee@example.org::free:complained:0::1:5"
is "indexes kept" "$(m "SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_schema WHERE tbl_name = 'subscribers' AND type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name)")" \
	"subscribers_paid_until subscribers_pending subscribers_status"
is "email_key still unique" "$(m "SELECT count(*) FROM sqlite_schema WHERE tbl_name = 'subscribers' AND name LIKE 'sqlite_autoindex%'")" 1
is "AUTOINCREMENT kept" "$(m "SELECT sql LIKE '%AUTOINCREMENT%' FROM sqlite_schema WHERE name = 'subscribers'")" 1
is "references kept" "$(m "SELECT group_concat(subscriber_id, ' ') FROM (SELECT subscriber_id FROM deliveries ORDER BY id)") / $(m "SELECT subscriber_id FROM bounces")" "1 3 / 3"
is "foreign keys hold" "$(m "PRAGMA foreign_key_check" | wc -l)" 0
$BS subscriber add next@example.org >/dev/null
is "the id sequence is not set back (next id 21, not 8)" "$(m "SELECT id FROM subscribers WHERE email = 'next@example.org'")" 21
is "'pending' is a status now" "$(m "UPDATE subscribers SET status = 'pending', pending_since = 1 WHERE id = 21; SELECT status FROM subscribers WHERE id = 21")" pending
if m "UPDATE subscribers SET status = 'bogus' WHERE id = 21" 2>/dev/null; then
	not_ok "other statuses still refused"; else ok "other statuses still refused"; fi
is "old issues: kind 'issue', slug issue-ID" "$(m "SELECT group_concat(kind || ':' || slug, ' ') FROM issues")" "issue:issue-1 issue:issue-2"
expect_out "subscriber list shows a pending reader" 0 "pending" $BS subscriber list --status pending
printf -- '---\nsubject: Three\n---\n\nbody\n' >"$T/three.md"
id=$($BS issue create "$T/three.md")
is "a new issue gets its slug from the subject" "$(m "SELECT slug FROM issues WHERE id = $id")" three
