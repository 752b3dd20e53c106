#!/bin/bash
# deliverability.sh - complaint and bounce rates in `broadside stats` (text
# and JSON), their warnings, and the deliverability settings' checks.
. "$(dirname "$0")/../lib.sh"

write_config </dev/null
expect "init" 0 $BS init
expect "create an issue" 0 $BS issue create "$TOP/examples/growth-dragons-weekly.md"
now=$(date +%s)
sql "UPDATE issues SET status = 'sending', started_at = $now WHERE id = 1;
WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 1000)
INSERT INTO subscribers (id, email, email_key, created_at, updated_at)
SELECT i, 'r' || i || '@example.com', 'r' || i || '@example.com', 0, 0 FROM k;
INSERT INTO deliveries (issue_id, subscriber_id, state, created_at, updated_at, sent_at)
SELECT 1, id, 'sent', $now, $now, $now FROM subscribers;
UPDATE deliveries SET state = 'failed', last_code = 550, last_status = '5.1.1' WHERE id <= 25;
INSERT INTO bounces (delivery_id, subscriber_id, kind, created_at)
SELECT id, subscriber_id, 'complaint', $now FROM deliveries WHERE id BETWEEN 100 AND 103;"

expect_out "stats: per-issue rates" 0 'complaints 0\.4% \(4 of 1000\), hard bounces 2\.5% \(25 of 1000\)' $BS stats
grep -q 'WARNING: complaint rate 0.4% is over 0.1%' <<<"$OUT" && ok "stats: complaint warning" \
	|| not_ok "stats: complaint warning"
grep -q 'WARNING: hard bounce rate 2.5% is over 2%' <<<"$OUT" && ok "stats: bounce warning" \
	|| not_ok "stats: bounce warning"
grep -A1 '^last 30 days:' <<<"$OUT" | grep -q 'complaints 0.4% (4 of 1000)' \
	&& ok "stats: the last 30 days" || not_ok "stats: the last 30 days"
is "stats changes nothing (no pause, no event)" "$(sql "SELECT status FROM issues WHERE id = 1;
SELECT count(*) FROM events WHERE event LIKE '%rate-warning';" | tr '\n' ' ')" "sending 0 "

expect "stats --json" 0 $BS stats --json
$PY - "$OUT" <<'EOF' && ok "stats --json: rates, warnings, 30 days" || not_ok "stats --json: rates, warnings, 30 days"
import json, sys
s = json.loads(sys.argv[1])
i = s["issues"][0]
assert i["complaints"] == 4 and abs(i["complaint_rate"] - 0.004) < 1e-9, i
assert i["hard_bounces"] == 25 and abs(i["bounce_rate"] - 0.025) < 1e-9, i
assert len(i["warnings"]) == 2 and i["warnings"][0].startswith("complaint rate 0.4%"), i
w = s["last_30_days"]
assert w["deliveries"] == 1000 and w["complaints"] == 4 and len(w["warnings"]) == 2, w
EOF

# Settings: percentages, checked.
write_config <<'EOF'
deliverability: { pause_complaint_rate = "0.3%"; pause_bounce_rate = 0; min_deliveries = 500; };
EOF
expect "config: percentages accepted" 0 $BS config check
write_config <<'EOF'
deliverability: { pause_complaint_rate = "0.3"; };
EOF
expect_out "config: a percentage needs %" 78 'pause_complaint_rate: "0.3": not a percentage' $BS config check
write_config <<'EOF'
deliverability: { warn_bounce_rate = "150%"; };
EOF
expect_out "config: over 100% refused" 78 'warn_bounce_rate: "150%": not a percentage' $BS config check
write_config <<'EOF'
deliverability: { warn_bounce_rate = 0.02; };
EOF
expect_out "config: a bare number refused" 78 'warn_bounce_rate: expected a percentage' $BS config check
write_config <<'EOF'
deliverability: { min_deliveries = 0; };
EOF
expect_out "config: min_deliveries at least 1" 78 'min_deliveries: "0": out of range' $BS config check

# The pause, end to end: ARF complaints fed to `broadside bounce` past
# deliverability.pause_complaint_rate pause the issue still sending.
rm -f "$T/broadside.db"*
write_config <<'EOF2'
deliverability: { pause_complaint_rate = "1%"; min_deliveries = 100; };
EOF2
expect "init (pause)" 0 $BS init
expect "create the issue" 0 $BS issue create "$TOP/examples/alibaba-deepseek.md"
now=$(date +%s)
sql "UPDATE issues SET status = 'sending', started_at = $now WHERE id = 1;
WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 200)
INSERT INTO subscribers (id, email, email_key, created_at, updated_at)
SELECT i, 'reader' || i || '@example.net', 'reader' || i || '@example.net', 0, 0 FROM k;
INSERT INTO deliveries (id, issue_id, subscriber_id, state, message_id, created_at, updated_at, sent_at)
SELECT id, 1, id, 'sent', '<' || id || '.abcdef@example.com>', $now, $now, $now FROM subscribers;"
arf() {	# N: an ARF abuse report about the copy sent to reader N (delivery N),
	# returning its headers and so its MAC-bearing Message-ID (the proof)
	cat <<ARF
From: feedback@fbl.example.org
To: fbl@example.com
Subject: FBL report
Date: Mon, 23 Nov 2026 18:00:00 +0000
Message-ID: <fbl-$1@fbl.example.org>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="b$1"

--b$1
Content-Type: text/plain

This is an email abuse report.

--b$1
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: FBL/1.0
Version: 1
Original-Rcpt-To: <reader$1@example.net>

--b$1
Content-Type: message/rfc822

From: Growth Dragons <news@example.com>
To: reader$1@example.net
Subject: Alibaba
Message-ID: $(proof msgid $1 $1)

body
--b$1--
ARF
}
for n in 1 2; do arf $n >"$T/arf$n.eml"; $BS bounce "$T/arf$n.eml" >/dev/null 2>&1; done
is "2 complaints of 200 (1%, not past): still sending" "$(sql "SELECT status FROM issues WHERE id = 1")" sending
is "the complaints were recorded" "$(sql "SELECT count(*) FROM bounces WHERE kind = 'complaint'")" 2
arf 3 >"$T/arf3.eml"
expect_out "the third complaint (1.5%) pauses the issue" 0 '' $BS bounce "$T/arf3.eml"
grep -q "issue 1 paused: complaint rate 1.5% passed 1%" <<<"$OUT" && ok "the log says why it paused" \
	|| { not_ok "the log says why it paused"; echo "$OUT" | sed 's/^/#   /'; }
is "the issue is paused" "$(sql "SELECT status FROM issues WHERE id = 1")" paused
is "an event says why" "$(sql "SELECT detail FROM events WHERE event = 'auto-paused'" | cut -c1-37)" \
	"complaint rate 1.5% passed 1% (delive"
is "the subscribers complained" "$(sql "SELECT count(*) FROM subscribers WHERE status = 'complained'")" 3
