#!/usr/bin/python3
"""fault_slow.py - a slow relay is not a reason to send twice (issue 14).

A relay that answers every command (greeting and final dot included) after
1.5 s, a lease of 3 s (sending.lease), 2 connections of 6 messages a
session, 24 subscribers: each message takes longer than a lease, so only
leases that a live session renews keep its rows from being claimed again.
Every copy goes exactly once, no delivery is ever seen held under two
leases (owner + token; polled every 50 ms while the send runs), and the
leases are seen renewed (lease_expires moves under the same holder)."""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import ok, exit_code  # noqa: E402
from faults import FaultRelay, LeaseWatch, copies, make_env, started, tally  # noqa: E402

LEASE = 3.0
N = 24


class Pre:
    dir = tempfile.mkdtemp(prefix="broadside-fault.")
    procs = []


pre = Pre()
relay = FaultRelay(pre, "slow", delay=1.5)
env = make_env([{"port": relay.port, "connections": 2, "per_session": 6}],
               extra='sending: { lease = "%ds"; };' % LEASE)
env.procs += pre.procs
rcpts = ["slow%02d@example.com" % i for i in range(N)]
env.subscribers([(r, "", "free") for r in rcpts])
issue = env.issue()
env.bs("issue", "schedule", issue, "--now")

watch = LeaseWatch(env)
watch.start()
t0 = time.time()
started(env)
done = env.wait(lambda: env.status(issue) == "sent", 240, 0.2)
took = time.time() - t0
watch.stop()
ok("the issue is sent through a relay answering every command after 1.5 s (%.0f s)" % took,
   done, env.status(issue))
ok("the send outlasted several leases (%.0f s > 4 x %.0f s), so renewal was needed" % (
    took, LEASE), took > 4 * LEASE)

got = copies(relay)
missed, twice, strangers = tally(got, rcpts)
print("# slow relay: %d accepted, %d missed, %d copies twice" % (sum(got.values()),
                                                                  len(missed), twice))
ok("nobody missed (%d of %d)" % (N - len(missed), N), not missed, missed)
ok("every copy exactly once (%d twice)" % twice, twice == 0,
   [r for r, n in got.items() if n > 1])
ok("no copy to anyone else", not strangers, strangers)
states = dict(env.sql("SELECT state, count(*) FROM deliveries WHERE issue_id = ? GROUP BY state",
                      issue))
ok("every delivery recorded sent (%s)" % states, states == {"sent": N})
ok("the lease poll ran (%d polls, %d deliveries seen leased)" % (watch.polls, len(watch.held)),
   not watch.errors and watch.polls > 100 and len(watch.held) > 0, watch.errors)
shared = watch.shared()
ok("no delivery ever held under two leases (%d were)" % len(shared), not shared,
   "\n".join("%d: %s" % (i, sorted(map(str, s))) for i, s in list(shared.items())[:5]))
ok("a live session's leases were renewed (%d deliveries seen with a later expiry)" %
   len(watch.renewed()), len(watch.renewed()) > 0)
ok("SIGTERM: exit 0", env.stop() == 0)
sys.exit(exit_code())
