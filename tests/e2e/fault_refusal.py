#!/usr/bin/python3
"""fault_refusal.py - a relay that refuses every copy with the same 5xx (Amazon
SES once an account's sending is paused: "554 Message rejected: Sending
paused for this account.") does not fail a whole issue in seconds.

Each such reply alone reads as that copy's permanent failure; the same one
retry.relay_refusals (20) times in a row is the relay refusing all mail, the
relay's trouble: the 19 before it stay failed, the rest wait untouched with
the relay backed off, the log says so once and names the command that sends
the failed again. Once the relay is mended the rest go out by themselves,
`issue retry --state failed` sends the 19, and every reader has exactly one
copy, every reader still active. Refusals that alternate with copies taken
(one reader in two refused, 550 5.7.1) are each that reader's: failed, and
never taken for the relay's."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import ok, exit_code  # noqa: E402
from faults import FaultRelay, copies, make_env, started, tally  # noqa: E402

N = 300
LIMIT = 20


class Pre:
    dir = tempfile.mkdtemp(prefix="broadside-fault.")
    procs = []


pre = Pre()
relay = FaultRelay(pre, "paused", refuse=".")
env = make_env([{"port": relay.port, "connections": 2, "per_session": 20}],
               retry='min_backoff = "1h"; max_backoff = "2h"; max_age = "5d";',
               relay_backoff=("1s", "4s"))
env.procs += pre.procs
readers = ["r%03d@example.com" % i for i in range(N)]
env.subscribers([(r, "", "free") for r in readers])
started(env)


def states(issue):
    return dict(env.sql("SELECT state, count(*) FROM deliveries WHERE issue_id = ? "
                        "GROUP BY state", issue))


def warned():
    return env.log().count("copies refused in a row")


issue = env.issue()
env.bs("issue", "schedule", issue, "--now")
said = env.wait(lambda: warned() >= 1, 90, 0.2)
ok("the relay refusing every copy is said in the log", said, env.log()[-1500:])
# What was failed before the 20th is all that ever fails: wait until the
# relay has refused a few more (held back) and look.
refused0 = len(relay.faults())
env.wait(lambda: len(relay.faults()) >= refused0 + 4, 60, 0.2)
st = states(issue)
ok("the %d refused in a row before the %dth failed, not one more (%s)" % (LIMIT - 1, LIMIT, st),
   st.get("failed") == LIMIT - 1, st)
ok("the rest wait untouched, none sent (%s)" % st,
   st.get("sent", 0) == 0 and st.get("failed", 0) + st.get("queued", 0) +
   st.get("sending", 0) == N)
ok("waiting copies have no attempt counted",
   env.one("SELECT count(*) FROM deliveries WHERE issue_id = ? AND state = 'queued' AND "
           "attempts > 0", issue) == 0)
ok("the log says it once, with the reply and the way back",
   warned() == 1 and "issue retry ISSUE --state failed" in env.log(), env.log()[-1500:])
ok("the relay is backed off (its breaker)", "relay 127.0.0.1:%d: down" % relay.port in env.log())

relay.set()     # the account is mended
done = env.wait(lambda: states(issue).get("sent", 0) == N - (LIMIT - 1), 120, 0.2)
ok("mended: the %d that waited go out by themselves (%s)" % (N - LIMIT + 1, states(issue)), done)
r = env.bs("issue", "retry", issue, "--state", "failed", check=False)
ok("issue retry --state failed queues the %d again (exit %d)" % (LIMIT - 1, r.returncode),
   r.returncode == 0, r.stdout + r.stderr)
done = env.wait(lambda: states(issue) == {"sent": N}, 120, 0.2)
ok("then every copy is sent (%s)" % states(issue), done)
got = copies(relay)
missed, twice, strangers = tally(got, readers)
ok("nobody missed (%d)" % len(missed), not missed, missed)
ok("nobody got a copy twice (%d twice)" % twice, twice == 0, [x for x, n in got.items() if n > 1])
ok("every reader still active (a relay's refusal says nothing of them)",
   env.one("SELECT count(*) FROM subscribers WHERE status = 'active'") == N)

# Refusals between copies taken are each reader's own answer.
relay.set(refuse=r"^r\d\d[13579]@", refuse_reply="550 5.7.1 recipient refused by policy")
issue2 = env.issue()
env.bs("issue", "schedule", issue2, "--now")
done = env.wait(lambda: states(issue2) == {"sent": N // 2, "failed": N // 2}, 120, 0.2)
ok("one reader in two refused: those %d failed, the others sent (%s)" % (N // 2, states(issue2)),
   done)
ok("...and that is never taken for the relay refusing all mail", warned() == 1)

ok("the daemon is still running", env.daemon.poll() is None)
ok("SIGTERM: exit 0", env.stop() == 0)
sys.exit(exit_code())
