#!/usr/bin/python3
"""starved.py - the queue thread (claims, rendering, outcomes) runs as
SCHED_IDLE, on CPU time nothing else wants. With both cores taken by two
busy loops at normal priority it would hardly run at all: it must be raised
when the senders wait on it, so the send still completes, every copy once,
and /metrics counts the times it fell behind. Then it goes back: with the
busy loops gone, a second send does not keep it raised."""
import collections
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import Env, Smtpd, ok, exit_code  # noqa: E402


class Pre:
    dir = tempfile.mkdtemp(prefix="broadside-smtpd.")
    procs = []


def behind(port):
    r = subprocess.run(["curl", "-s", "http://127.0.0.1:%d/metrics" % port],
                       capture_output=True, text=True)
    m = re.search(r"^broadside_queue_behind_total (\d+)$", r.stdout, re.M)
    return int(m.group(1)) if m else None


def queue_policy(pid):
    """The scheduling policies of the daemon's threads (/proc/PID/task/*/sched)."""
    out = []
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/sched" % (pid, tid)) as f:
                m = re.search(r"^policy\s*:\s*(\d+)", f.read(), re.M)
            out.append(int(m.group(1)))
        except OSError:
            pass
    return out


pre = Pre()
smtpd = Smtpd(pre, "relay", bodies=False)
env = Env([{"port": smtpd.port, "connections": 2}], log_level="notice")
env.procs += pre.procs
port = int(re.search(r'listen = "127\.0\.0\.1:(\d+)"', open(env.conf).read()).group(1))
N = 2000
env.subscribers([("h%04d@example.com" % i, "", "free") for i in range(N)])
issue = env.issue()
env.start()
# On a loaded machine the idle queue thread may already have been raised
# at start-up (a worker asking for its first batch): counted from here.
base = env.wait(lambda: behind(port) is not None and behind(port) + 1, 15)
ok("daemon up, broadside_queue_behind_total served", base, behind(port))
base = (base or 1) - 1
SCHED_IDLE = 5
ok("one thread runs as SCHED_IDLE: the queue thread",
   env.wait(lambda: queue_policy(env.daemon.pid).count(SCHED_IDLE) == 1, 5),
   queue_policy(env.daemon.pid))

hogs = [subprocess.Popen(["/bin/sh", "-c", "while :; do :; done"]) for _ in range(2)]
env.procs += hogs
seen = collections.Counter()


def sent_yet():
    """Meanwhile, sample the queue thread's policy: raised or not."""
    seen["raised" if SCHED_IDLE not in queue_policy(env.daemon.pid) else "idle"] += 1
    return env.status(issue) == "sent"


t0 = time.time()
env.bs("issue", "schedule", issue, "--now")
sent = env.wait(sent_yet, 300, 0.02)
took = time.time() - t0
for h in hogs:
    h.kill()
    h.wait()
print("# %d copies in %.1f s beside two busy loops; queue thread seen raised %d, idle %d times" % (
    N, took, seen["raised"], seen["idle"]))
ok("both cores busy at normal priority: the issue is still sent", sent, env.status(issue))
ok("meanwhile the queue thread was seen raised to SCHED_OTHER", seen["raised"] > 0, dict(seen))
got = collections.Counter(r for m in smtpd.log() for r in m["rcpt"])
ok("every copy once (%d of %d)" % (len(got), N), len(got) == N and all(v == 1 for v in got.values()))
n = behind(port)
print("# the queue thread was raised %s times" % n)
ok("the queue thread fell behind and was raised (%s times, %d at start)" % (n, base),
   n is not None and n > base)

# Idle machine: a second issue, and the queue thread is SCHED_IDLE again
# once it has caught up.
issue2 = env.issue()
env.bs("issue", "schedule", issue2, "--now")
ok("second issue sent", env.wait(lambda: env.status(issue2) == "sent", 120), env.status(issue2))
ok("the queue thread is back to SCHED_IDLE",
   env.wait(lambda: queue_policy(env.daemon.pid).count(SCHED_IDLE) == 1, 10),
   queue_policy(env.daemon.pid))
ok("SIGTERM: exit 0", env.stop() == 0)
sys.exit(exit_code())
