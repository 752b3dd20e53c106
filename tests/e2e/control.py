#!/usr/bin/python3
"""control.py - while an issue is being sent: pause stops it within seconds
and resume finishes it; cancel drops what waits; an unsubscribe (CLI) or a
status changed under the daemon's feet stops that subscriber's copy; the
relay's rate limit holds."""
import collections
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import Env, Smtpd, ok, exit_code  # noqa: E402


class Pre:
    dir = tempfile.mkdtemp(prefix="broadside-smtpd.")
    procs = []


pre = Pre()
smtpd = Smtpd(pre, "relay", bodies=False)
RATE = 200
env = Env([{"port": smtpd.port, "connections": 2, "rate": RATE, "per_session": 50}])
env.procs += pre.procs
N = 800
env.subscribers([("p%04d@example.com" % i, "", "free") for i in range(N)])
issue = env.issue()
env.bs("issue", "schedule", issue, "--now")
env.start()


def settled(issue):
    """Waits until no copy of the issue is leased (in flight)."""
    ok("in-flight batches of issue %s finish" % issue, env.wait(lambda: env.one(
        "SELECT count(*) FROM deliveries WHERE issue_id = ? AND state = 'sending'",
        issue) == 0, 60), env.log())


# Unsubscribe the last one with the CLI, and bounce the one before it
# behind the daemon's back (only the claim-time check can catch that).
env.wait(lambda: smtpd.count() >= 50, 30, 0.01)
env.bs("subscriber", "set", "p%04d@example.com" % (N - 1), "--status", "unsubscribed")
env.sql("UPDATE subscribers SET status = 'bounced' WHERE email = ?", "p%04d@example.com" % (N - 2))

env.wait(lambda: smtpd.count() >= 200, 30, 0.01)
t0 = time.time()
r = env.bs("issue", "pause", issue)
ok("pause mid-send", "paused" in r.stdout, r.stdout + r.stderr)
# In-flight batches finish (a rate-limited relay gets ~2 s worth at most):
# once no copy of the issue is leased, all that was sent has reached the relay.
settled(issue)
during = smtpd.count()
time.sleep(1.5)
after = smtpd.count()
ok("paused: nothing more is sent (%d then %d of %d)" % (during, after, N),
   during == after and after < N)
ok("the pause is logged", "issue %d: paused" % issue in env.log(), env.log())
env.bs("issue", "resume", issue)
ok("resumed: the issue is sent", env.wait(lambda: env.status(issue) == "sent", 60),
   env.status(issue))
got = collections.Counter(r for m in smtpd.log() for r in m["rcpt"])
ok("resumed: every active subscriber got exactly one copy",
   len(got) == N - 2 and max(got.values()) == 1, (len(got), max(got.values())))
ok("the unsubscribed one got nothing and the copy is dropped",
   "p%04d@example.com" % (N - 1) not in got and env.one(
       "SELECT d.state FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id "
       "WHERE s.email = ?", "p%04d@example.com" % (N - 1)) == "dropped")
ok("a status changed since the fan-out is seen at claim time: dropped",
   "p%04d@example.com" % (N - 2) not in got and env.one(
       "SELECT d.state FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id "
       "WHERE s.email = ?", "p%04d@example.com" % (N - 2)) == "dropped")
times = sorted(m["t"] for m in smtpd.log())
# The rate: the busiest second holds at most RATE plus the one-second burst.
busiest = max(sum(1 for t in times if s <= t < s + 1.0) for s in times[::10])
ok("rate %d/s per relay holds (busiest second: %d)" % (RATE, busiest), busiest <= 2 * RATE + 5)
out = env.bs("issue", "show", issue).stdout
ok("issue show: sent and dropped counts", "sent %d" % (N - 2) in out and "dropped 2" in out, out)

# Cancel mid-send: what waits is dropped, the issue stays cancelled.
issue2 = env.issue()
base = smtpd.count()
env.bs("issue", "schedule", issue2, "--now")
env.wait(lambda: smtpd.count() - base >= 100, 30, 0.01)
env.bs("issue", "cancel", issue2)
settled(issue2)
during = smtpd.count()
time.sleep(1.5)
ok("cancelled: nothing more is sent (%d of %d)" % (during - base, N - 2),
   smtpd.count() == during and during - base < N - 2)
states = dict(env.sql("SELECT state, count(*) FROM deliveries WHERE issue_id = ? GROUP BY state",
                      issue2))
ok("cancelled: sent + dropped = all, nothing waits (%s)" % states,
   states.get("sent", 0) == during - base and states.get("sent", 0) + states.get("dropped", 0)
   == N - 2 and not states.get("queued") and not states.get("sending"))
ok("cancelled issue stays cancelled", env.status(issue2) == "cancelled")
ok("SIGTERM: exit 0", env.stop() == 0)
sys.exit(exit_code())
