# issue_edit.sh - broadside issue edit ID FILE.md: a draft or a scheduled
# issue that has not started is rewritten (same checks as create); a new
# subject makes a new slug and keeps the old one as an alias; any other
# status, a bad file or an unknown id changes nothing.
. "$(dirname "$0")/../lib.sh"
write_config </dev/null
$BS init >/dev/null

md() {	# FILE SUBJECT BODY
	printf -- '---\nsubject: %s\npreheader: pre %s\n---\n%s\n' "$2" "$2" "$3" >"$T/$1"
}
# Everything an edit may change, of one issue, and every alias.
snap() {
	sql "SELECT subject, preheader, source, audience, slug, status, updated_at FROM issues WHERE id = $1"
	sql "SELECT old_slug, issue_id FROM issue_slug_alias ORDER BY old_slug"
}

md first.md "First subject" "Hello."
id=$($BS issue create "$T/first.md")
is "created with the subject's slug" "$(sql "SELECT slug FROM issues WHERE id = $id")" first-subject

printf -- '---\nsubject: Second subject\npreheader: a new line\naudience: paid\n---\nRewritten.\n\n<!-- paywall -->\nMore.\n' >"$T/second.md"
expect_out "edit a draft" 0 "issue $id edited \(draft\); archive name second-subject" \
	$BS issue edit "$id" "$T/second.md"
is "subject, preheader, audience replaced" \
	"$(sql "SELECT subject || '|' || preheader || '|' || audience FROM issues WHERE id = $id")" \
	"Second subject|a new line|paid"
is "Markdown replaced" "$(sql "SELECT source FROM issues WHERE id = $id")" \
	"$(printf 'Rewritten.\n\n<!-- paywall -->\nMore.')"
is "new slug from the new subject" "$(sql "SELECT slug FROM issues WHERE id = $id")" second-subject
is "old slug kept as an alias" "$(sql "SELECT old_slug || '>' || issue_id FROM issue_slug_alias")" "first-subject>$id"
expect_out "show names the new archive address" 0 'archive:   http://127.0.0.1:8025/p/second-subject' \
	$BS issue show "$id"
is "events: created, slug, edited" \
	"$(sql "SELECT group_concat(event || ':' || detail, ',') FROM events WHERE kind = 'issue' AND ref_id = $id")" \
	"created:First subject,slug:first-subject -> second-subject,edited:Second subject"

# The old slug stays this issue's: a new issue of that subject gets another,
# and issue: links by the old slug still find it.
md again.md "First subject" "Again."
id2=$($BS issue create "$T/again.md")
is "an alias is not handed to a new issue" "$(sql "SELECT slug FROM issues WHERE id = $id2")" first-subject-2
md link.md "Linker" "See [it](issue:first-subject)."
expect_out "issue:OLDSLUG link accepted at create" 0 '^[0-9]+$' $BS issue create "$T/link.md"

# Same subject again (the Markdown alone changes): slug kept, no alias.
md second2.md "Second subject" "Body only."
expect_out "edit keeping the subject" 0 'archive name second-subject' $BS issue edit "$id" "$T/second2.md"
is "no alias for an unchanged subject" "$(sql 'SELECT count(*) FROM issue_slug_alias')" 1

# Back to the first subject: it takes its own old slug back.
expect_out "edit back to the first subject" 0 'archive name first-subject$' $BS issue edit "$id" "$T/first.md"
is "aliases after going back" "$(sql "SELECT group_concat(old_slug || '>' || issue_id, ',') FROM issue_slug_alias")" \
	"second-subject>$id"
is "no slug both current and an alias" \
	"$(sql 'SELECT count(*) FROM issues JOIN issue_slug_alias ON old_slug = slug')" 0
is "every current slug unique" "$(sql 'SELECT count(*) - count(DISTINCT slug) FROM issues WHERE slug IS NOT NULL')" 0
# Another issue edited to a subject whose slug is an alias of issue $id.
md taken.md "Second subject" "Other."
expect_out "another issue's alias is not taken" 0 'archive name second-subject-2$' \
	$BS issue edit "$id2" "$T/taken.md"

# Refusals: nothing changes.
before=$(snap "$id")
refused() {	# NAME RC PATTERN ARGS...
	local name=$1 rc=$2 pat=$3; shift 3
	expect_out "$name" "$rc" "$pat" $BS issue edit "$@"
	is "$name: nothing changed" "$(snap "$id")" "$before"
}
printf -- '---\npreheader: x\n---\nbody\n' >"$T/bad.md"
refused "file without a subject" 65 'bad.md: missing subject' "$id" "$T/bad.md"
printf -- '---\nsubject: x\n---\na\n<!-- paywall -->\nb\n<!-- paywall -->\n' >"$T/bad.md"
refused "two cuts" 65 '2 paywall cuts' "$id" "$T/bad.md"
printf -- '---\nsubject: x\n---\n\xff\xfe\n' >"$T/bad.md"
refused "invalid UTF-8" 65 'not valid UTF-8' "$id" "$T/bad.md"
printf -- '---\nsubject: A third subject\n---\nLine one.\n\nSee [x](issue:no-such-issue).\n' >"$T/bad.md"
refused "unknown issue: link (its slug change rolled back)" 65 \
	'bad.md:6: issue:no-such-issue: no issue has this slug' "$id" "$T/bad.md"
refused "missing file" 66 'nope.md: No such file' "$id" "$T/nope.md"
refused "unknown issue" 66 'issue 99: no such issue' 99 "$T/second.md"
refused "bad id" 64 "'abc' is not an issue id" abc "$T/second.md"
refused "no file" 64 'ID and one FILE.md' "$id"

# Scheduled, not started: editable, stays scheduled.
expect_out "schedule" 0 'scheduled for 2099' $BS issue schedule "$id" --at 2099-01-02T10:00:00Z
at=$(sql "SELECT send_at FROM issues WHERE id = $id")
expect_out "edit a scheduled issue" 0 "issue $id edited \(scheduled\)" $BS issue edit "$id" "$T/second2.md"
is "still scheduled, same time" "$(sql "SELECT status || ' ' || send_at FROM issues WHERE id = $id")" "scheduled $at"

# Paused (even before it started), sending, sent, cancelled: refused.
expect_out "pause it" 0 'paused' $BS issue pause "$id"
before=$(snap "$id")
refused "a paused issue is refused" 65 "issue $id is paused: only a draft or a scheduled issue that has not started" \
	"$id" "$T/first.md"
sql "UPDATE issues SET status = 'scheduled', started_at = strftime('%s') WHERE id = $id"
before=$(snap "$id")
refused "a scheduled issue that has started is refused" 65 "issue $id is scheduled: only" "$id" "$T/first.md"
sql "UPDATE issues SET status = 'sending' WHERE id = $id"
before=$(snap "$id")
refused "a sending issue is refused" 65 "issue $id is sending: only" "$id" "$T/first.md"
sql "UPDATE issues SET status = 'sent', finished_at = strftime('%s') WHERE id = $id"
before=$(snap "$id")
refused "a sent issue is refused" 65 "issue $id is sent: only" "$id" "$T/first.md"
md c.md "To cancel" "x"
cid=$($BS issue create "$T/c.md")
$BS issue cancel "$cid" >/dev/null
c_before=$(sql "SELECT subject, slug, status FROM issues WHERE id = $cid")
expect_out "a cancelled issue is refused" 65 "issue $cid is cancelled: only" $BS issue edit "$cid" "$T/first.md"
is "cancelled: nothing changed" "$(sql "SELECT subject, slug, status FROM issues WHERE id = $cid")" "$c_before"

expect_out "--help lists issue edit" 0 'issue edit ID FILE.md' $BS --help
