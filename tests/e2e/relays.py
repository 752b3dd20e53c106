#!/usr/bin/python3
"""relays.py - a pool of relays: one down (nothing listening), one refusing
at the greeting (421), one required to use TLS that offers no STARTTLS:
the fourth delivers everything, no attempt is counted
for the relays' trouble, and each relay's state change is logged once."""
import collections
import os
import re
import sys
import time
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import Env, Smtpd, ok, exit_code, free_port  # noqa: E402


class Pre:
    dir = tempfile.mkdtemp(prefix="broadside-smtpd.")
    procs = []


pre = Pre()
good = Smtpd(pre, "good", bodies=False)
refusing = Smtpd(pre, "refusing", greeting=421)
plain = Smtpd(pre, "plain", bodies=False)   # offers no STARTTLS
down = free_port()
# Small sessions, so that every relay's threads get to claim while the
# good one sends.
env = Env([{"port": down, "connections": 2, "per_session": 10},
           {"port": refusing.port, "connections": 2, "per_session": 10},
           {"port": plain.port, "connections": 1, "per_session": 10,
            "extra": 'tls = "required";'},
           {"port": good.port, "connections": 2, "per_session": 10}])
env.procs += pre.procs
n = 1500
env.subscribers([("reader%03d@example.com" % i, "", "free" if i % 2 else "paid") for i in range(n)])
issue = env.issue()
env.bs("issue", "schedule", issue, "--now")
t0 = time.time()
env.start()
ok("the issue is sent", env.wait(lambda: env.status(issue) == "sent", 60), env.status(issue))
took = time.time() - t0
got = collections.Counter(r for m in good.log() for r in m["rcpt"])
ok("the working relay delivered every copy exactly once (%d)" % len(got),
   len(got) == n and max(got.values()) == 1)
ok("the refusing relay took none", refusing.count() == 0)
ok("a relay that must use TLS but offers no STARTTLS took none", plain.count() == 0)
ok("every delivery went through the working relay",
   env.sql("SELECT DISTINCT relay FROM deliveries") == [("127.0.0.1:%d" % good.port,)],
   env.sql("SELECT relay, count(*) FROM deliveries GROUP BY relay"))
ok("no attempt was counted for the relays' trouble",
   env.sql("SELECT DISTINCT attempts FROM deliveries") == [(1,)],
   env.sql("SELECT attempts, count(*) FROM deliveries GROUP BY attempts"))
log = env.log()
ok("the down relay's breaker is logged", "relay 127.0.0.1:%d: down" % down in log, log)
ok("the refusing relay's breaker is logged, with its reply",
   re.search(r"relay 127\.0\.0\.1:%d: down \(.*421 4\.3\.2 Not accepting" % refusing.port, log), log)
ok("the TLS-less relay's breaker is logged, saying why",
   "relay 127.0.0.1:%d: down (it offers no STARTTLS and tls = required)" % plain.port in log, log)
# A breaker is tried again every 1-2 s (relay_min/max_backoff): at most one
# line per failing relay per retry, however slow the machine, and nowhere
# near one per message (1,500).
bound = 3 * (2 + int(took))
ok("breaker logs are per state change, not per message (%d in %.1f s, at most %d)" % (
   log.count(": down ("), took, bound), log.count(": down (") <= bound, log.count(": down ("))
ok("SIGTERM: exit 0", env.stop() == 0)
sys.exit(exit_code())
