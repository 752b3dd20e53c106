#!/usr/bin/python3
"""fault_envelope.py - one copy the relay chokes on before its data does not
stall an issue, nor stay queued for ever.

A relay that drops the connection at one recipient's RCPT TO, or answers it
421, or refuses one copy's envelope sender (its VERP address, told apart by
bounces+<delivery id>.MAC), every time. Each looks like the relay's trouble, and
the first time it is taken so (the copy goes back untouched, the relay is
backed off); but it recurs for that copy alone, so the second time it is
the copy's: deferred with its attempt counted (so retry.max_age ends it),
the relay left alone. The 200 others are all accepted within 90 s although
the relay's breaker backs off 30 s, doubling to 10 min (a breaker opened at
every try, as before, held them for minutes); the poisoned copy ends
'deferred', attempts >= 1, with the relay's words for `issue deliveries`,
and is then left alone; its reader stays active; nobody gets a copy twice."""
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import ok, exit_code  # noqa: E402
from faults import FaultRelay, copies, make_env, one_poisoned, started  # noqa: E402

N = 200
BOUND = 90
POISON = "poison@example.com"
RE = "^" + re.escape(POISON) + "$"


class Pre:
    dir = tempfile.mkdtemp(prefix="broadside-fault.")
    procs = []


pre = Pre()
relay = FaultRelay(pre, "policy")
env = make_env([{"port": relay.port, "connections": 2, "per_session": 20}],
               retry='min_backoff = "1h"; max_backoff = "2h"; max_age = "5d";',
               relay_backoff=("30s", "10m"))
env.procs += pre.procs
others = ["p%03d@example.com" % i for i in range(N)]
# The poisoned reader in the middle of the list, so that copies wait behind it.
env.subscribers([(r, "", "free") for r in others[:N // 2] + [POISON] + others[N // 2:]])
started(env)
since = {}


def poisoned(issue, cols="d.id"):
    return env.sql("SELECT %s FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id "
                   "WHERE d.issue_id = ? AND s.email = ?" % cols, issue, POISON)


for kind, what in (("rcpt_drop", "the connection dropped at its RCPT TO"),
                   ("rcpt_421", "421 at its RCPT TO"),
                   ("mail_refuse", "its MAIL FROM refused (553)")):
    # Copies of the issue before still due would be counted as this one's.
    env.wait(lambda: env.one("SELECT count(*) FROM deliveries WHERE state IN "
                             "('queued', 'sending')") == 0, 60, 0.2)
    since[relay] = relay.count()
    hits0 = sum(1 for f in relay.faults() if f["fault"] == kind.replace("_", "-"))
    issue = env.issue()
    if kind == "mail_refuse":
        # The copy is told apart by its envelope: the relay holds its
        # replies until the delivery's id is known and in the rules.
        relay.set(hold=True)
        env.bs("issue", "schedule", issue, "--now")
        row = env.wait(lambda: poisoned(issue), 60, 0.1)
        relay.set(mail_refuse=r"<[^<>+]*\+%d\." % row[0][0] if row else "^$")
    else:
        relay.set(**{kind: RE})
        env.bs("issue", "schedule", issue, "--now")
    t0 = time.time()
    done = env.wait(lambda: sum(1 for r in others if copies(relay, since=since)[r]) == N,
                    BOUND, 0.2)
    took = time.time() - t0
    ok("%s for one copy: the other %d all accepted within %d s (%.1f s)" % (
        what, N, BOUND, took), done,
       "%d of %d" % (sum(1 for r in others if copies(relay, since=since)[r]), N))
    row = env.wait(lambda: env.sql("SELECT d.state FROM deliveries d JOIN subscribers s "
                                   "ON s.id = d.subscriber_id WHERE d.issue_id = ? AND "
                                   "s.email = ? AND d.state = 'deferred' AND d.attempts >= 1",
                                   issue, POISON), 60, 0.2)
    state = poisoned(issue, "d.state, d.attempts, d.faults, d.last_code, d.last_text")
    ok("%s: the copy ends deferred, its attempt counted (%s)" % (what, state), bool(row))
    hits = sum(1 for f in relay.faults() if f["fault"] == kind.replace("_", "-")) - hits0
    time.sleep(5)
    later = sum(1 for f in relay.faults() if f["fault"] == kind.replace("_", "-")) - hits0
    print("# %s: the poisoned copy was tried %d times; the others took %.1f s" % (
        what, hits, took))
    ok("%s: once deferred the copy is left alone (%d tries, %d after 5 s more)" % (
        what, hits, later), bool(row) and hits >= 2 and later == hits)
    out = env.bs("issue", "deliveries", issue, "--state", "deferred").stdout
    line = [l for l in out.splitlines() if POISON in l]
    ok("%s: issue deliveries names the copy with the reason" % what,
       len(line) == 1 and re.search(r"relay|refused|421", line[0]) is not None, out)
    one_poisoned(env, relay, since, others, POISON, issue, what)
    ok("%s: its reader is still active (a relay's trouble says nothing of the address)" % what,
       env.one("SELECT status FROM subscribers WHERE email = ?", POISON) == "active")
    relay.set()

ok("the daemon is still running", env.daemon.poll() is None)
ok("SIGTERM: exit 0", env.stop() == 0)
sys.exit(exit_code())
