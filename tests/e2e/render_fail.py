#!/usr/bin/python3
"""render_fail.py - an issue whose copies cannot be rendered stops cleanly:
paused with the reason (issue show, the log), its claims released once and
no copy sent or counted as an attempt; 'issue resume' compiles first and
says why it still fails; once fixed it resumes and everyone gets it once."""
import collections
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import Env, Smtpd, ok, exit_code, TOP  # noqa: E402


class Pre:
    dir = tempfile.mkdtemp(prefix="broadside-smtpd.")
    procs = []


pre = Pre()
smtpd = Smtpd(pre, "relay", bodies=False)
tpl = os.path.join(pre.dir, "tpl")
shutil.copytree(os.path.join(TOP, "templates"), tpl)
env = Env([{"port": smtpd.port, "connections": 2}])
env.procs += pre.procs
with open(env.conf) as f:
    conf = f.read().replace('templates = "%s/templates";' % TOP, 'templates = "%s";' % tpl)
with open(env.conf, "w") as f:
    f.write(conf)
N = 40
env.subscribers([("r%02d@example.com" % i, "Reader %d" % i, "free") for i in range(N)])
issue = env.issue()
env.start()
time.sleep(0.5)
# The template goes missing after the daemon started (its start-up check
# passed): the issue cannot be compiled when it is due.
layout = os.path.join(tpl, "layout.txt")
os.rename(layout, layout + ".away")
env.bs("issue", "schedule", issue, "--now")
ok("the issue is paused", env.wait(lambda: env.status(issue) == "paused", 30), env.status(issue))
time.sleep(1.5)  # a few passes of the queue thread: nothing more happens
show = env.bs("issue", "show", issue).stdout
ok("issue show says why", "paused by the daemon: cannot be rendered" in show and "layout.txt" in show,
   show)
stats = env.bs("stats").stdout
ok("stats says why too", "paused by the daemon: cannot be rendered" in stats, stats)
js = json.loads(env.bs("stats", "--json").stdout)
ok("stats --json carries the reason", any("layout.txt" in (i.get("pause_reason") or "")
                                           for i in js["issues"]), js["issues"])
log = env.log()
ok("the log says why, once", log.count("cannot be rendered") == 1, log)
ok("nothing sent", smtpd.count() == 0, smtpd.count())
ok("claims released untouched: queued, no attempt", env.one(
    "SELECT count(*) FROM deliveries WHERE issue_id = ? AND state = 'queued' AND attempts = 0 "
    "AND lease_owner IS NULL", issue) == N)
r = env.bs("issue", "resume", issue, check=False)
ok("resume while still broken: refused with the reason (exit %d)" % r.returncode,
   r.returncode != 0 and "still cannot be rendered" in r.stderr and "layout.txt" in r.stderr,
   r.stderr)
ok("... and the issue stays paused", env.status(issue) == "paused")
os.rename(layout + ".away", layout)
r = env.bs("issue", "resume", issue, check=False)
ok("resume once fixed", r.returncode == 0, r.stderr)
ok("then it is sent", env.wait(lambda: env.status(issue) == "sent", 60), env.status(issue))
got = collections.Counter(x for m in smtpd.log() for x in m["rcpt"])
ok("everyone got it once (%d of %d, max %d)" % (len(got), N, max(got.values() or [0])),
   len(got) == N and max(got.values()) == 1)
ok("stopped cleanly", env.stop() == 0)
sys.exit(exit_code())
