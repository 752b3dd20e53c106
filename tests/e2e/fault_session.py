#!/usr/bin/python3
"""fault_session.py - sessions that break: a relay that stalls after its
greeting, drops one message's connection in the middle of DATA, or closes
the connection right after accepting (issue 14).

  - stall: the relay greets, then answers nothing; with the SMTP timeouts
    at 2 s nothing is lost or given up, and once the relay answers again
    (rules changed mid-send) every copy goes once.
  - drop mid-DATA for one recipient, every time: that is the message's
    fault (poison), not the relay's: the others all go within 60 s, the
    dropped one ends deferred with attempts >= 1 (min_backoff 1 h), and
    nobody gets a copy twice.
  - accept-then-close, for every message: the 250 is recorded although the
    connection dies right after it, so nothing goes twice, and the rest of
    each batch goes over new sessions."""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import ok, exit_code  # noqa: E402
from faults import FaultRelay, copies, make_env, started, tally  # noqa: E402

SHORT = ('smtp: { timeout_greeting = "2s"; timeout_envelope = "2s"; timeout_data = "2s"; '
         'timeout_block = "2s"; };')


class Pre:
    dir = tempfile.mkdtemp(prefix="broadside-fault.")
    procs = []


def states(env, issue):
    return dict(env.sql("SELECT state, count(*) FROM deliveries WHERE issue_id = ? "
                        "GROUP BY state", issue))


def once(name, env, relay, issue, rcpts, extra_state=None):
    got = copies(relay)
    missed, twice, strangers = tally(got, rcpts)
    print("# %s: %d accepted, %d missed, %d twice" % (name, sum(got.values()), len(missed), twice))
    ok("%s: nobody missed (%d of %d)" % (name, len(rcpts) - len(missed), len(rcpts)),
       not missed, missed[:10])
    ok("%s: no copy twice (%d)" % (name, twice), twice == 0,
       [r for r, n in got.items() if n > 1][:10])
    ok("%s: no copy to anyone else" % name, not strangers, strangers)
    want = {"sent": len(rcpts)}
    want.update(extra_state or {})
    st = states(env, issue)
    ok("%s: deliveries end %s (%s)" % (name, want, st), st == want)


pre = Pre()

# Stall after the greeting, then a relay that answers again.
N = 40
relay = FaultRelay(pre, "stall", stall=True)
env = make_env([{"port": relay.port, "connections": 2, "per_session": 10}],
               extra='sending: { lease = "3s"; };\n' + SHORT)
env.procs += pre.procs
rcpts = ["stall%02d@example.com" % i for i in range(N)]
env.subscribers([(r, "", "free") for r in rcpts])
issue = env.issue()
env.bs("issue", "schedule", issue, "--now")
started(env)
time.sleep(6)
stalls = len(relay.faults())
st = states(env, issue)
ok("stall: sessions were tried and nothing given up or lost meanwhile (%d stalled sessions, %s)"
   % (stalls, st), stalls >= 1 and relay.count() == 0 and
   set(st) <= {"queued", "sending", "deferred"} and sum(st.values()) == N)
relay.set()
t0 = time.time()
done = env.wait(lambda: env.status(issue) == "sent", 90, 0.1)
ok("stall: once the relay answers, the issue is sent (%.1f s)" % (time.time() - t0), done,
   env.status(issue))
once("stall", env, relay, issue, rcpts)
ok("stall: SIGTERM: exit 0", env.stop() == 0)

# Drop mid-DATA for one recipient, every time.
N = 100
DROP = "drop@example.com"
relay = FaultRelay(pre, "drop", drop_data="^drop@example\\.com$")
env = make_env([{"port": relay.port, "connections": 2, "per_session": 20}],
               retry='min_backoff = "1h"; max_backoff = "2h"; max_age = "5d";',
               relay_backoff=("30s", "10m"), extra='sending: { lease = "3s"; };\n' + SHORT)
env.procs += pre.procs
others = ["d%03d@example.com" % i for i in range(N)]
env.subscribers([(r, "", "free") for r in others[:N // 2] + [DROP] + others[N // 2:]])
issue = env.issue()
env.bs("issue", "schedule", issue, "--now")
t0 = time.time()
started(env)
done = env.wait(lambda: all(copies(relay)[r] for r in others), 60, 0.2)
ok("drop mid-DATA for one message: the other %d all accepted within 60 s (%.1f s)" % (
    N, time.time() - t0), done, "%d of %d" % (sum(1 for r in others if copies(relay)[r]), N))
row = env.wait(lambda: env.sql("SELECT d.attempts FROM deliveries d JOIN subscribers s ON "
                               "s.id = d.subscriber_id WHERE s.email = ? AND "
                               "d.state = 'deferred' AND d.attempts >= 1", DROP), 30, 0.2)
ok("drop mid-DATA: the dropped message ends deferred with attempts >= 1 (%s)" % env.sql(
    "SELECT d.state, d.attempts, d.last_text FROM deliveries d JOIN subscribers s ON "
    "s.id = d.subscriber_id WHERE s.email = ?", DROP), bool(row))
drops = len(relay.faults())
time.sleep(5)
ok("drop mid-DATA: then it is left alone (%d drops, %d after 5 s more)" % (
    drops, len(relay.faults())), bool(row) and drops >= 1 and len(relay.faults()) == drops)
once("drop mid-DATA", env, relay, issue, others, {"deferred": 1})
ok("drop mid-DATA: SIGTERM: exit 0", env.stop() == 0)

# Accept, then close the connection at once, every message.
N = 40
relay = FaultRelay(pre, "close", accept_close=".")
env = make_env([{"port": relay.port, "connections": 2, "per_session": 10}],
               extra='sending: { lease = "3s"; };\n' + SHORT)
env.procs += pre.procs
rcpts = ["close%02d@example.com" % i for i in range(N)]
env.subscribers([(r, "", "free") for r in rcpts])
issue = env.issue()
env.bs("issue", "schedule", issue, "--now")
t0 = time.time()
started(env)
done = env.wait(lambda: env.status(issue) == "sent", 120, 0.1)
ok("accept-then-close: the issue is sent, one message a session (%.1f s, %d sessions closed)" % (
    time.time() - t0, len(relay.faults())), done, env.status(issue))
once("accept-then-close", env, relay, issue, rcpts)
ok("accept-then-close: SIGTERM: exit 0", env.stop() == 0)
sys.exit(exit_code())
