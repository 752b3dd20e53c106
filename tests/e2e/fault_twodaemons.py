#!/usr/bin/python3
"""fault_twodaemons.py - one daemon per database file, whatever path names
it (issue 14).

While a daemon sends, a second one is started on the same database through
another path: a symlink to the database file, then a symlinked folder
(each with its own HTTP port, so that only the database can stop it). Each
must refuse to start (exit 75, EX_TEMPFAIL) with a message about the lock,
and no copy goes out twice."""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import BSD, free_port, ok, exit_code  # noqa: E402
from faults import FaultRelay, copies, make_env, started, tally  # noqa: E402

N = 300


class Pre:
    dir = tempfile.mkdtemp(prefix="broadside-fault.")
    procs = []


pre = Pre()
relay = FaultRelay(pre, "relay", delay=0.02)
env = make_env([{"port": relay.port, "connections": 2, "per_session": 20}])
env.procs += pre.procs
rcpts = ["two%03d@example.com" % i for i in range(N)]
env.subscribers([(r, "", "free") for r in rcpts])
issue = env.issue()
env.bs("issue", "schedule", issue, "--now")
started(env)
env.wait(lambda: relay.count() >= N // 4, 60, 0.01)

other = os.path.join(env.dir, "elsewhere")
os.makedirs(other)
os.symlink(env.db, os.path.join(other, "news.db"))
os.symlink(os.path.dirname(env.db), os.path.join(other, "state"))
good = open(env.conf).read()
for name, path in (("a symlink to the database file", os.path.join(other, "news.db")),
                   ("a symlinked folder", os.path.join(other, "state",
                                                       os.path.basename(env.db)))):
    conf = os.path.join(other, "second-%d.conf" % len(os.listdir(other)))
    text = good.replace('database = "%s";' % env.db, 'database = "%s";' % path)
    text = re.sub(r'listen = "127\.0\.0\.1:\d+"', 'listen = "127.0.0.1:%d"' % free_port(), text)
    with open(conf, "w") as f:
        f.write(text)
    at = relay.count()
    second = subprocess.Popen([BSD, "--config", conf], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    env.procs.append(second)
    try:
        out, _ = second.communicate(timeout=10)
        rc = second.returncode
    except subprocess.TimeoutExpired:
        second.terminate()
        out, _ = second.communicate(timeout=30)
        rc = "still running after 10 s"
    ok("a second daemon through %s refuses to start: exit 75 (%s; %d accepted then)" % (
        name, rc, at), rc == 75, out)
    ok("it says why: the database is locked by another daemon",
       re.search(r"lock", out, re.I) is not None, out)
    ok("the first daemon goes on", env.daemon.poll() is None)

done = env.wait(lambda: env.status(issue) == "sent", 120, 0.1)
ok("the issue is sent", done, env.status(issue))
got = copies(relay)
missed, twice, strangers = tally(got, rcpts)
print("# two daemons: %d accepted, %d missed, %d twice" % (sum(got.values()), len(missed),
                                                           twice))
ok("nobody missed (%d of %d)" % (N - len(missed), N), not missed, missed[:10])
ok("no copy twice (%d)" % twice, twice == 0, [r for r, n in got.items() if n > 1][:10])
ok("no copy to anyone else", not strangers, strangers)
states = dict(env.sql("SELECT state, count(*) FROM deliveries WHERE issue_id = ? GROUP BY state",
                      issue))
ok("every delivery recorded sent (%s)" % states, states == {"sent": N})
ok("SIGTERM: exit 0", env.stop() == 0)
sys.exit(exit_code())
