#!/usr/bin/python3
"""fault_clock.py - a wall-clock step re-sends nothing (issue 14).

The daemon runs under Debian's libfaketime (LD_PRELOAD) with
FAKETIME_TIMESTAMP_FILE, FAKETIME_NO_CACHE=1 and
FAKETIME_DONT_FAKE_MONOTONIC=1, so that only its wall clock moves when the
file changes. In the middle of a send (default 10 min lease) the wall
clock steps +601 s, as NTP does after a suspended VM; then, during a
second issue, back by the same. Neither re-sends anything: every copy
once, and the issue is not marked sent while copies are still in flight
(no copy is accepted after the status reads 'sent', nothing is leased
then)."""
import glob
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import ok, exit_code  # noqa: E402
from faults import FaultRelay, copies, make_env, started, tally  # noqa: E402

N = 300
libs = sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))
if not libs:
    ok("libfaketime is installed (Debian package faketime, in the Makefile's DEB_TEST)", False)
    sys.exit(1)


class Pre:
    dir = tempfile.mkdtemp(prefix="broadside-fault.")
    procs = []


class Watch(threading.Thread):
    """Notes when the issue first reads 'sent', and what was leased then."""

    def __init__(self, env, issue):
        super().__init__(daemon=True)
        self.env, self.issue = env, issue
        self.t_sent, self.leased, self.halt = None, None, False

    def run(self):
        while not self.halt and self.t_sent is None:
            rows = self.env.sql("SELECT status, (SELECT count(*) FROM deliveries WHERE "
                                "issue_id = ?1 AND state IN ('sending', 'queued', 'deferred')) "
                                "FROM issues WHERE id = ?1", self.issue)
            if rows and rows[0][0] == "sent":
                self.t_sent, self.leased = time.time(), rows[0][1]
            time.sleep(0.02)


pre = Pre()
relay = FaultRelay(pre, "relay", delay=0.05)
env = make_env([{"port": relay.port, "connections": 2, "per_session": 20}])
env.procs += pre.procs
rcpts = ["clock%03d@example.com" % i for i in range(N)]
env.subscribers([(r, "", "free") for r in rcpts])
stamp = os.path.join(env.dir, "faketime")
with open(stamp, "w") as f:
    f.write("+0\n")
# Under ASan the preloaded library comes before ASan's runtime: allowed.
asan = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"), "verify_asan_link_order=0"]))
faked = dict(os.environ, LD_PRELOAD=libs[0], FAKETIME_TIMESTAMP_FILE=stamp,
             FAKETIME_NO_CACHE="1", FAKETIME_DONT_FAKE_MONOTONIC="1", ASAN_OPTIONS=asan)
started(env, env=faked)

for step in ("+601", "+0"):
    jump = "+601 s" if step == "+601" else "-601 s"
    since = {relay: relay.count()}
    issue = env.issue()
    watch = Watch(env, issue)
    watch.start()
    env.bs("issue", "schedule", issue, "--now")
    env.wait(lambda: relay.count() - since[relay] >= N // 3, 120, 0.01)
    at_step = relay.count() - since[relay]
    leased = env.one("SELECT count(*) FROM deliveries WHERE issue_id = ? AND state = 'sending'",
                     issue)
    with open(stamp + ".tmp", "w") as f:
        f.write(step + "\n")
    os.replace(stamp + ".tmp", stamp)
    ok("wall clock stepped %s mid-send (%d of %d accepted, %d leased)" % (
        jump, at_step, N, leased), 0 < at_step < N and leased > 0)
    done = env.wait(lambda: watch.t_sent is not None, 180, 0.1)
    ok("%s: the issue is sent" % jump, done, env.status(issue))
    time.sleep(5)       # anything still in flight shows up meanwhile
    watch.halt = True
    log = relay.log()[since[relay]:]
    late = [m for m in log if watch.t_sent and m["time"] > watch.t_sent]
    got = copies(relay, since=since)
    missed, twice, strangers = tally(got, rcpts)
    print("# clock step %s at %d accepted: %d twice, %d missed, %d accepted after 'sent'" % (
        jump, at_step, twice, len(missed), len(late)))
    ok("%s: nobody missed (%d of %d)" % (jump, N - len(missed), N), not missed, missed[:10])
    ok("%s: no copy twice (%d)" % (jump, twice), twice == 0,
       [r for r, n in got.items() if n > 1][:10])
    ok("%s: no copy to anyone else" % jump, not strangers, strangers)
    ok("%s: not marked sent while copies were due or in flight (%s then, %d accepted after)" % (
        jump, watch.leased, len(late)), watch.leased == 0 and not late)
    # The last copy accepted: its sent_at (the daemon's clock) beside the
    # relay's clock says whether the step took.
    last = max(log, key=lambda m: m["time"])
    stamp_at = env.one("SELECT sent_at FROM deliveries WHERE message_id LIKE ?",
                       "%" + last["message_id"] + "%")
    ahead = (stamp_at - last["time"]) if stamp_at is not None else None
    ok("%s: the daemon's wall clock did step (the last copy's sent_at is %s s from the "
       "relay's clock)" % (jump, "%+.0f" % ahead if ahead is not None else "?"),
       ahead is not None and ((ahead > 590) if step == "+601" else (abs(ahead) < 10)))
    states = dict(env.sql("SELECT state, count(*) FROM deliveries WHERE issue_id = ? "
                          "GROUP BY state", issue))
    ok("%s: every delivery recorded sent (%s)" % (jump, states), states == {"sent": N})

ok("SIGTERM: exit 0", env.stop() == 0)
sys.exit(exit_code())
