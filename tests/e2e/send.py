#!/usr/bin/python3
"""send.py - the daemon sends an issue: one copy each with the right cut,
VERP and DSN envelope, retries after backoff, failures and suppression,
relay trouble counted as no attempt, the issue marked sent."""
import collections
import email
import email.policy
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import Env, Smtpd, ok, exit_code  # noqa: E402

import tempfile  # noqa: E402
tmp = tempfile.mkdtemp(prefix="broadside-smtpd.")


class Pre:  # the server starts before the config that names its port
    dir = tmp
    procs = []


pre = Pre()
rules = [
    {"match": "^tempfail-once@", "action": "tempfail", "times": 1},
    {"match": "^drop-once@", "action": "drop", "times": 1},
]
smtpd = Smtpd(pre, "relay", rules=rules)
env = Env([{"port": smtpd.port, "connections": 2}],
          retry='min_backoff = "2s"; max_backoff = "3s"; max_age = "5s";')
env.procs += pre.procs

normal = [("free%02d@example.com" % i, "Free %d" % i, "free") for i in range(12)] + \
         [("paid%02d@example.org" % i, "Paid %d" % i, "paid") for i in range(8)]
special = [("tempfail-once@example.com", "Once", "free"),
           ("tempfail-always@example.com", "Always", "free"),
           ("reject-user@example.com", "Gone", "paid"),
           ("policy-block@example.com", "Policy", "free"),
           ("datareject-x@example.com", "Content", "free"),
           ("drop-once@example.com", "Drop", "paid"),
           ("slow-reader@example.com", "Slow", "free")]
env.subscribers(normal + special)
env.bs("subscriber", "add", "left@example.com", "--tier", "paid")
env.bs("subscriber", "set", "left@example.com", "--status", "unsubscribed")
issue = env.issue()
env.bs("issue", "schedule", issue, "--now")
env.start()

done = env.wait(lambda: env.status(issue) == "sent", timeout=60)
ok("the issue becomes sent when every copy is final", done, env.status(issue))

log = smtpd.log()
got = collections.Counter(r for m in log for r in m["rcpt"])
expected = {e for e, _, _ in normal} | {"tempfail-once@example.com", "drop-once@example.com",
                                        "slow-reader@example.com"}
ok("every deliverable subscriber got exactly one copy",
   set(got) == expected and all(v == 1 for v in got.values()),
   "missing %s, extra %s, twice %s" % (expected - set(got), set(got) - expected,
                                       [k for k, v in got.items() if v > 1]))
ok("the unsubscribed one got nothing, and had no delivery",
   "left@example.com" not in got and env.one(
       "SELECT count(*) FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id "
       "WHERE s.email = 'left@example.com'") == 0)

# The cut: free readers get the call to action, paid readers the rest.
cuts_ok, cut_detail = True, []
tiers = {e: t for e, _, t in normal + special}
for m in log:
    rcpt = m["rcpt"][0]
    if not m["file"]:
        continue
    msg = email.message_from_binary_file(open(os.path.join(smtpd.dir, m["file"]), "rb"),
                                         policy=email.policy.default)
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    paid_part = "most watched television broadcast"
    cta = "Keep reading with a 7-day free trial"
    want_paid = tiers[rcpt] == "paid"
    good = (paid_part in text) == want_paid and (cta in text) != want_paid and \
        (paid_part in html) == want_paid and msg["To"] and rcpt in msg["To"]
    if not good:
        cuts_ok = False
        cut_detail.append("%s (%s): paid part %s, call to action %s" % (
            rcpt, tiers[rcpt], paid_part in text, cta in text))
ok("free copies end at the cut with the call to action; paid copies are whole",
   cuts_ok and len(log) == len(expected), "\n".join(cut_detail))

# Envelope: VERP sender naming the delivery, DSN parameters.
env_ok, env_detail = True, []
for m in log:
    did = env.one("SELECT d.id FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id "
                  "WHERE s.email = ? AND d.issue_id = ?", m["rcpt"][0], issue)
    if not re.fullmatch(r"bounces\+%d\.[0-9a-f]{10}@example\.com" % did, m["from"]) or \
            "RET=HDRS" not in m["mail_options"] or "ENVID=%d" % did not in m["mail_options"] or \
            m["rcpt_options"] != ["NOTIFY=FAILURE"]:
        env_ok = False
        env_detail.append(str(m))
ok("MAIL FROM is the VERP address of the delivery, with RET=HDRS ENVID=id; "
   "RCPT has NOTIFY=FAILURE", env_ok, "\n".join(env_detail))
mids = {r[0]: r[1] for r in env.sql(
    "SELECT s.email, d.message_id FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id "
    "WHERE d.state = 'sent'")}
ok("the Message-ID sent is stored with the delivery",
   all(mids.get(m["rcpt"][0]) == m["message_id"] and m["message_id"] for m in log),
   [(m["rcpt"][0], m["message_id"], mids.get(m["rcpt"][0])) for m in log][:3])


def row(addr):
    return env.sql("SELECT d.state, d.attempts, d.last_code, d.last_status, d.last_text, "
                   "s.status FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id "
                   "WHERE s.email = ?", addr)[0]


r = row("tempfail-once@example.com")
tries = [x["t"] for x in smtpd.rcpt_log() if x["rcpt"] == "tempfail-once@example.com"]
ok("4xx: deferred, then delivered on the next attempt", r[0] == "sent" and r[1] == 2, r)
# Attempts are due by the second: a 2 s backoff waits more than 1 s.
ok("the retry waited for the backoff (> 1 s, got %.2f s)" % (tries[1] - tries[0]
   if len(tries) > 1 else -1), len(tries) == 2 and tries[1] - tries[0] > 1.0, tries)

r = row("tempfail-always@example.com")
tries = [x["t"] for x in smtpd.rcpt_log() if x["rcpt"] == "tempfail-always@example.com"]
ok("4xx until max_age: failed, with the last reply kept",
   r[0] == "failed" and r[1] >= 2 and r[2] == 451 and r[3] == "4.3.0" and "Temporary" in r[4], r)
ok("it was retried with backoff until max_age (5 s) had passed (%d tries over %.1f s)"
   % (len(tries), tries[-1] - tries[0]),
   len(tries) >= 3 and tries[-1] - tries[0] >= 4.0 and r[5] == "active", tries)

r = row("reject-user@example.com")
ok("550 5.1.1 on RCPT: failed and the subscriber suppressed (bounced)",
   r[0] == "failed" and r[2] == 550 and r[3] == "5.1.1" and r[5] == "bounced" and r[1] == 1, r)
ok("the suppression is in the events log", env.one(
    "SELECT count(*) FROM events e JOIN subscribers s ON s.id = e.ref_id WHERE e.kind = "
    "'subscriber' AND s.email = 'reject-user@example.com' AND e.detail LIKE '%5.1.1%'") == 1)
r = row("policy-block@example.com")
ok("550 5.7.1 (policy): failed, subscriber not suppressed",
   r[0] == "failed" and r[3] == "5.7.1" and r[5] == "active", r)
r = row("datareject-x@example.com")
ok("554 after DATA: failed", r[0] == "failed" and r[2] == 554, r)
r = row("drop-once@example.com")
ok("421 and a dropped connection: the relay's fault, no attempt counted, then delivered",
   r[0] == "sent" and r[1] == 1, r)
ok("the relay's trouble is logged once per state change, and its recovery",
   "relay 127.0.0.1:%d: down" % smtpd.port in env.log() and "up again" in env.log(), env.log())
ok("no line per message in the log at level info",
   env.log().count("\n") < 15, env.log())

out = env.bs("issue", "show", issue).stdout
ok("issue show: counts by state and the rate",
   re.search(r"sent 23, failed 4", out) and re.search(r"rate: .* msg/s", out), out)
import json  # noqa: E402
st = json.loads(env.bs("stats", "--json").stdout)
mine = [i for i in st["issues"] if i["id"] == issue][0]
ok("stats --json: the issue's counts and sending rate (%.1f/s in the last minute)"
   % mine["rate_last_minute_per_s"],
   mine["sent"] == 23 and mine["rate_last_minute_per_s"] > 0, mine)
js = json.loads(env.bs("issue", "show", issue, "--json").stdout)
ok("issue show --json: counts by state and rates",
   js["deliveries"]["sent"] == 23 and js["rate_last_minute_per_s"] > 0 and "rate_per_s" in js, js)
r = row("slow-reader@example.com")
ok("a relay slow to answer (2 s): sent, one attempt", r[0] == "sent" and r[1] == 1, r)

rc = env.stop()
ok("SIGTERM: exit 0", rc == 0, rc)
sys.exit(exit_code())
