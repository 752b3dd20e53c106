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
