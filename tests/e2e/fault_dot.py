#!/usr/bin/python3
"""fault_dot.py - a slow answer to the final dot is waited for (issue 14).

RFC 5321 4.5.3.2 gives a client 10 minutes for the reply to the final dot:
a server that has the whole message will usually deliver it, so a client
that gives up sooner sends it twice. Here the relay answers the dot after
8 s (and keeps the message even if the client has gone). With
smtp.timeout_dot "30s" and every other SMTP timeout at 2 s (so a single
timeout for all phases cannot pass), and a 3 s lease, every copy goes once.
With smtp.timeout_dot "3s" the same relay makes the client give up: the
copy is deferred, which shows that the setting is the one obeyed. And
without settings, `broadside config example` shows RFC 5321's defaults."""
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import BS, ok, exit_code  # noqa: E402
from faults import FaultRelay, copies, duration, make_env, started, tally  # noqa: E402
import subprocess  # noqa: E402

N = 8
SHORT = ('timeout_greeting = "2s"; timeout_envelope = "2s"; timeout_data = "2s"; '
         'timeout_block = "2s";')

# RFC 5321 4.5.3.2 (as Postfix): the defaults, seen without any setting.
ex = subprocess.run([BS, "config", "example"], capture_output=True, text=True)
want = {"timeout_greeting": 300, "timeout_envelope": 300, "timeout_data": 120,
        "timeout_block": 180, "timeout_dot": 600}
for key, secs in want.items():
    m = re.search(r"^\s*%s\s*=\s*\"?([^\";\s]+)" % key, ex.stdout, re.M)
    got = duration(m.group(1)) if m else None
    ok("config example: smtp.%s defaults to %d s (%s)" % (key, secs, m.group(1) if m else "absent"),
       got == secs)
m = re.search(r"^\s*lease\s*=\s*\"?([^\";\s]+)", ex.stdout, re.M)
ok("config example: sending.lease defaults to 10 min (%s)" % (m.group(1) if m else "absent"),
   m is not None and duration(m.group(1)) == 600)


class Pre:
    dir = tempfile.mkdtemp(prefix="broadside-fault.")
    procs = []


pre = Pre()
relay = FaultRelay(pre, "slowdot", dot_delay=8)
env = make_env([{"port": relay.port, "connections": 2, "per_session": 2}],
               extra='sending: { lease = "3s"; };\nsmtp: { %s timeout_dot = "30s"; };' % SHORT)
env.procs += pre.procs
rcpts = ["dot%02d@example.com" % i for i in range(N)]
env.subscribers([(r, "", "free") for r in rcpts])
issue = env.issue()
env.bs("issue", "schedule", issue, "--now")
t0 = time.time()
started(env)
done = env.wait(lambda: env.status(issue) == "sent", 120, 0.2)
took = time.time() - t0
ok("the issue is sent through a relay answering the final dot after 8 s (%.0f s)" % took,
   done, env.status(issue))
got = copies(relay)
missed, twice, strangers = tally(got, rcpts)
print("# dot after 8 s, timeout_dot 30 s: %d accepted, %d missed, %d twice" % (
    sum(got.values()), len(missed), twice))
ok("nobody missed (%d of %d)" % (N - len(missed), N), not missed, missed)
ok("every copy exactly once (%d twice)" % twice, twice == 0,
   [r for r, n in got.items() if n > 1])
ok("no copy to anyone else", not strangers, strangers)
states = dict(env.sql("SELECT state, count(*) FROM deliveries WHERE issue_id = ? GROUP BY state",
                      issue))
ok("every delivery recorded sent (%s)" % states, states == {"sent": N})
ok("SIGTERM: exit 0", env.stop() == 0)

# The same relay, smtp.timeout_dot "3s": the client gives up on the dot.
relay2 = FaultRelay(pre, "slowdot2", dot_delay=8)
env2 = make_env([{"port": relay2.port, "connections": 1, "per_session": 1}],
                retry='min_backoff = "1h"; max_backoff = "1h"; max_age = "1d";',
                extra='sending: { lease = "3s"; };\nsmtp: { %s timeout_dot = "3s"; };' % SHORT)
env2.procs += pre.procs
env2.subscribers([("short@example.com", "", "free")])
issue2 = env2.issue()
env2.bs("issue", "schedule", issue2, "--now")
t0 = time.time()
started(env2)
row = env2.wait(lambda: env2.sql("SELECT state, attempts FROM deliveries WHERE issue_id = ? "
                                 "AND state = 'deferred'", issue2), 30, 0.2)
took = time.time() - t0
ok("timeout_dot 3 s: the copy is deferred once the dot is not answered (%s after %.1f s)" % (
    row, took), bool(row) and took < 8, env2.sql("SELECT state, attempts FROM deliveries"))
ok("timeout_dot 3 s: nothing was accepted by then (the relay answers at 8 s)",
   relay2.count() == 0 or min(m["time"] for m in relay2.log()) >= t0 + 7)
ok("SIGTERM: exit 0", env2.stop() == 0)
sys.exit(exit_code())
