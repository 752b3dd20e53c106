# issues.sh - broadside issue create|list|show|schedule|pause|resume|cancel, stats.
. "$(dirname "$0")/../lib.sh"
write_config </dev/null
$BS init >/dev/null

expect_out "create the weekly example" 0 '^1$' $BS issue create "$TOP/examples/growth-dragons-weekly.md"
expect_out "create the long post" 0 '^2$' $BS issue create "$TOP/examples/alibaba-deepseek.md"
is "subject stored exactly" "$(sql 'SELECT subject FROM issues WHERE id = 1')" \
	"$(head -1 "$TOP/tests/fixtures/seeds/growth-dragons-weekly.txt")"
is "cut kept in the source" "$(sql "SELECT instr(source, '<!-- paywall -->') > 0 FROM issues WHERE id = 1")" 1
expect_out "list" 0 'Why Alibaba’s DeepSeek Partnership' $BS issue list
is "list --json" "$($BS issue list --json | $PY -c 'import json,sys; print([i["status"] for i in json.load(sys.stdin)])')" "['draft', 'draft']"
expect_out "show" 0 'paywall:   yes' $BS issue show 1
is "show --json" "$($BS issue show 2 --json | $PY -c 'import json,sys; j=json.load(sys.stdin); print(j["paywall"], j["deliveries"]["total"])')" "False 0"
expect_out "show unknown issue" 66 'issue 99: no such issue' $BS issue show 99
expect_out "show bad id" 64 "'abc' is not an issue id" $BS issue show abc

expect_out "schedule --at RFC 3339" 0 'scheduled for 2099-01-02T09:00:00Z' $BS issue schedule 1 --at 2099-01-02T10:00:00+01:00
is "send_at stored" "$(sql 'SELECT send_at FROM issues WHERE id = 1')" 4071027600
expect_out "schedule local time" 0 'scheduled for' $BS issue schedule 1 --at "2099-01-02 09:30"
expect_out "schedule in the past refused" 65 'in the past' $BS issue schedule 2 --at 2001-01-01T00:00:00Z
expect_out "bad date refused" 65 "--at 'next tuesday': not a time" $BS issue schedule 2 --at "next tuesday"
expect_out "impossible date refused" 65 "not a time" $BS issue schedule 2 --at 2099-02-30T00:00:00Z
expect_out "--at and --now together refused" 64 'exactly one of' $BS issue schedule 2 --now --at 2099-01-01T00:00:00Z
is "refused schedules changed nothing" "$(sql 'SELECT status FROM issues WHERE id = 2')" draft

expect_out "pause a scheduled issue" 0 'issue 1 paused' $BS issue pause 1
expect_out "resume goes back to scheduled" 0 'issue 1 scheduled' $BS issue resume 1
expect_out "resume of an unpaused issue refused" 65 'not paused' $BS issue resume 1
expect_out "pause a draft refused" 65 'issue 2 is draft; it cannot become paused' $BS issue pause 2
expect_out "cancel" 0 'issue 1 cancelled' $BS issue cancel 1
expect_out "schedule a cancelled issue refused" 65 'cancelled; it cannot become scheduled' $BS issue schedule 1 --now
expect_out "schedule --now" 0 'issue 2 scheduled' $BS issue schedule 2 --now
is "events recorded for the issue" "$(sql "SELECT group_concat(event, ',') FROM events WHERE kind = 'issue' AND ref_id = 1")" \
	"created,scheduled,send_at,scheduled,send_at,paused,scheduled,cancelled"

bad_issue() {	# name rc pattern content
	printf -- "$4" >"$T/bad.md"
	local n=$(sql 'SELECT count(*) FROM issues')
	expect_out "$1" "$2" "$3" $BS issue create "$T/bad.md"
	is "$1: nothing stored" "$(sql 'SELECT count(*) FROM issues')" "$n"
}
bad_issue "missing subject" 65 'bad.md: missing subject' '---\npreheader: x\n---\nbody\n'
bad_issue "unknown front-matter key" 65 "bad.md:3: unknown front-matter key 'color'" '---\nsubject: x\ncolor: red\n---\nbody\n'
bad_issue "unknown audience" 65 "bad.md:2: audience 'vip'" '---\naudience: vip\nsubject: x\n---\nbody\n'
bad_issue "no front matter" 65 'bad.md:1: expected front matter' '# Just markdown\n'
bad_issue "two cuts" 65 '2 paywall cuts' '---\nsubject: x\n---\na\n<!-- paywall -->\nb\n<!-- paywall -->\n'
bad_issue "invalid UTF-8" 65 'not valid UTF-8' '---\nsubject: x\n---\n\xff\xfe\n'
expect_out "missing file" 66 'nope.md: No such file' $BS issue create "$T/nope.md"

$BS subscriber import "$TOP/examples/subscribers.csv" >/dev/null
expect_out "stats" 0 'subscribers  active 9, unsubscribed 1' $BS stats
is "stats --json" "$($BS stats --json | $PY -c 'import json,sys; j=json.load(sys.stdin); print(j["active"]["paid"], len(j["issues"]))')" "4 2"

# The mark shown in a code block is code: not a second cut, and alone not a cut.
printf -- '---\nsubject: How to cut\n---\nWrite:\n\n```\n<!-- paywall -->\n```\n\n<!-- paywall -->\nPaid.\n```\n<!-- paywall -->\n```\n' >"$T/code.md"
cid=$($BS issue create "$T/code.md")
is "mark in code blocks around one cut: created" "$?" 0
expect_out "mark in code blocks around one cut: show" 0 'paywall:   yes' $BS issue show "$cid"
printf -- '---\nsubject: Only code\n---\n~~~\n<!-- paywall -->\n~~~\n' >"$T/code2.md"
cid=$($BS issue create "$T/code2.md")
expect_out "mark only in a code block: no cut" 0 'paywall:   no' $BS issue show "$cid"

# A fan-out under way (the daemon stopped between two chunks) is shown.
fid=$($BS issue create "$TOP/examples/growth-dragons-weekly.md")
sql "UPDATE issues SET status = 'sending', fanout_cursor = 4, fanout_done = 0 WHERE id = $fid"
expect_out "issue show: a fan-out under way and how far" 0 'fan-out:   under way \(subscribers up to id 4 done\)' \
	$BS issue show "$fid"
is "issue show --json: fanned_out false" "$($BS issue show "$fid" --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["fanned_out"])')" False
