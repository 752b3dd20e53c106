#!/usr/bin/python3
"""fault_poison.py - one poisoned message does not stall an issue (issue 14).

A relay answers "421 4.3.0 content scanner failed" (and closes) for one
recipient's message, every time: first after the final dot, then, for a
second issue, at DATA. A reply that blames the connection but recurs for
the same message is that message's failure: the 200 others are all
accepted within 60 s although the relay's breaker backs off 30 s to 10 min
(so a breaker opened by the poison would hold them up), the poisoned
delivery ends 'deferred' with attempts >= 1 (min_backoff 1 h keeps it
there) and is then left alone, and nobody gets a copy twice."""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import ok, exit_code  # noqa: E402
from faults import FaultRelay, copies, make_env, one_poisoned, started  # noqa: E402

N = 200
BOUND = 60
POISON = "poison@example.com"


class Pre:
    dir = tempfile.mkdtemp(prefix="broadside-fault.")
    procs = []


pre = Pre()
relay = FaultRelay(pre, "scanner", poison="^" + POISON.replace(".", r"\.") + "$",
                   poison_at="dot")
env = make_env([{"port": relay.port, "connections": 2, "per_session": 20}],
               retry='min_backoff = "1h"; max_backoff = "2h"; max_age = "5d";',
               relay_backoff=("30s", "10m"))
env.procs += pre.procs
others = ["p%03d@example.com" % i for i in range(N)]
# The poisoned reader in the middle of the list, so that copies wait behind it.
env.subscribers([(r, "", "free") for r in others[:N // 2] + [POISON] + others[N // 2:]])
started(env)
since = {}

for at in ("dot", "data"):
    # Copies of the first issue still due would be counted as the second's.
    env.wait(lambda: env.one("SELECT count(*) FROM deliveries WHERE state IN "
                             "('queued', 'sending')") == 0, 30, 0.2)
    relay.set(poison="^" + POISON.replace(".", r"\.") + "$", poison_at=at)
    since[relay] = relay.count()
    hits0 = len(relay.faults())
    issue = env.issue()
    t0 = time.time()
    env.bs("issue", "schedule", issue, "--now")
    done = env.wait(lambda: sum(1 for r in others if copies(relay, since=since)[r]) == N,
                    BOUND, 0.2)
    took = time.time() - t0
    ok("421 at the %s for one message: the other %d all accepted within %d s (%.1f s)" % (
        at, N, BOUND, took), done,
       "%d of %d" % (sum(1 for r in others if copies(relay, since=since)[r]), N))
    row = env.wait(lambda: env.sql("SELECT d.state, d.attempts FROM deliveries d "
                                   "JOIN subscribers s ON s.id = d.subscriber_id "
                                   "WHERE d.issue_id = ? AND s.email = ? AND "
                                   "d.state = 'deferred' AND d.attempts >= 1",
                                   issue, POISON), 30, 0.2)
    state = env.sql("SELECT d.state, d.attempts, d.last_code, d.last_text FROM deliveries d "
                    "JOIN subscribers s ON s.id = d.subscriber_id "
                    "WHERE d.issue_id = ? AND s.email = ?", issue, POISON)
    ok("421 at the %s: the poisoned delivery ends deferred with attempts >= 1 (%s)" % (
        at, state), bool(row))
    hits = len(relay.faults()) - hits0
    time.sleep(5)
    later = len(relay.faults()) - hits0
    print("# 421 at the %s: the poisoned message was tried %d times; the others took %.1f s" % (
        at, hits, took))
    ok("421 at the %s: once deferred the poisoned message is left alone (%d tries, %d after "
       "5 s more)" % (at, hits, later), bool(row) and hits >= 1 and later == hits)
    one_poisoned(env, relay, since, others, POISON, issue, "421 at the " + at)
    ok("421 at the %s: the issue is not marked sent while a copy is deferred (%s)" % (
        at, env.status(issue)), env.status(issue) != "sent")

ok("the daemon is still running", env.daemon.poll() is None)
ok("SIGTERM: exit 0", env.stop() == 0)
sys.exit(exit_code())
