#!/usr/bin/python3
"""retention.py - the daemon folds old delivery rows into per-issue counts:
two issues sent for real, their copies aged past retention.deliveries in
SQLite, and at the next start the scheduler deletes them in small
transactions while issue show and stats keep every total; the database
does not grow from one issue to the next; db stats says what is left."""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import Env, Smtpd, ok, exit_code  # noqa: E402


class Pre:
    dir = tempfile.mkdtemp(prefix="broadside-smtpd.")
    procs = []


pre = Pre()
smtpd = Smtpd(pre, "relay", bodies=False,
              rules=[{"match": "^gone@", "action": "reject", "times": 1000}])
env = Env([{"port": smtpd.port, "connections": 2}])
env.procs += pre.procs
N = 3000
env.subscribers([("r%05d@example.com" % i, "Reader %d" % i, "paid" if i % 3 == 0 else "free")
                 for i in range(N)] + [("gone@example.com", "Gone", "free")])
DAY = 86400


def send_and_age(round_no):
    issue = env.issue()
    env.bs("issue", "schedule", issue, "--now")
    env.start()
    sent = env.wait(lambda: env.status(issue) == "sent", timeout=120)
    env.stop()
    before = json.loads(env.bs("issue", "show", issue, "--json").stdout)["deliveries"]
    ok("round %d: issue %s sent (%s)" % (round_no, issue, before), sent and before["sent"] == N)
    # 100 days pass for every copy made so far.
    env.sql("UPDATE deliveries SET created_at = created_at - ?1, updated_at = updated_at - ?1, "
            "sent_at = sent_at - ?1", 100 * DAY)
    return issue, before


issue1, before1 = send_and_age(1)
stats_before = json.loads(env.bs("stats", "--json").stdout)
env.start()
# The newest row always stays, so that no delivery id is handed out twice.
top1 = env.one("SELECT max(id) FROM deliveries")
folded = env.wait(lambda: env.one("SELECT count(*) FROM deliveries") == 1, timeout=60)
ok("at start the daemon folds the aged copies but the newest (%d rows left)"
   % env.one("SELECT count(*) FROM deliveries"), folded and
   env.one("SELECT id FROM deliveries") == top1)
ok("it says so once", env.wait(lambda: "retention: %d deliveries older than 90d" % N
                               in env.log(), timeout=10), env.log())
env.stop()
after1 = json.loads(env.bs("issue", "show", issue1, "--json").stdout)["deliveries"]
ok("issue show: the same counts after folding", after1 == before1, (before1, after1))
stats_after = json.loads(env.bs("stats", "--json").stdout)
ok("stats: the same per-state totals", stats_after["deliveries"] == stats_before["deliveries"],
   (stats_before["deliveries"], stats_after["deliveries"]))
mine = [i for i in stats_after["issues"] if i["id"] == int(issue1)][0]
ok("stats: the issue's sent and failed counts stay", mine["sent"] == N and mine["failed"] == 1,
   mine)
ok("a 5.1.1 failure stays in the subscriber's history (the events log)",
   "bounced" in env.bs("subscriber", "show", "gone@example.com").stdout)
pages1 = env.one("PRAGMA page_count")

issue2, before2 = send_and_age(2)
ok("the next issue's copies get ids above every earlier one (%s > %s)"
   % (env.one("SELECT min(id) FROM deliveries WHERE issue_id = ?", issue2), top1),
   env.one("SELECT min(id) FROM deliveries WHERE issue_id = ?", issue2) > top1)
env.start()
folded = env.wait(lambda: env.one("SELECT count(*) FROM deliveries") == 1, timeout=60)
env.stop()
ok("round 2: folded too", folded)
pages2 = env.one("PRAGMA page_count")
ok("the database is bounded: %d pages after the second issue, %d after the first"
   % (pages2, pages1), pages2 <= pages1 * 1.1 + 20)
ok("both issues keep their totals",
   json.loads(env.bs("issue", "show", issue2, "--json").stdout)["deliveries"] == before2 and
   json.loads(env.bs("issue", "show", issue1, "--json").stdout)["deliveries"] == before1)
db = json.loads(env.bs("db", "stats", "--json").stdout)
tables = {t["name"]: t for t in db["tables"]}
ok("db stats: deliveries down to the newest, delivery_counts holds the folded counts, sizes in bytes",
   tables["deliveries"]["rows"] == 1 and tables["delivery_counts"]["rows"] >= 2 and
   db["bytes"] > 0 and db["bytes_per_subscriber"] > 0, db)
text = env.bs("db", "stats").stdout
ok("db stats (text): tables with rows and bytes, bytes per subscriber and per delivery",
   "subscribers" in text and "bytes per subscriber:" in text and "bytes per delivery:" in text,
   text)
sys.exit(exit_code())
