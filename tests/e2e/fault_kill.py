#!/usr/bin/python3
"""fault_kill.py - kill -9 at random moments loses nothing, and re-sends at
most what was on the wire (issue 14).

4 sends of an issue to 2,000 subscribers over 2 connections, each with 5
kill -9 at seeded random moments (a random count of accepted copies, then
a random 0-20 ms; never before the restarted daemon has sent again), the
daemon restarted at once each time: 20 kills. Every
run ends with every copy accepted at least once and every delivery sent;
each duplicate is put down to the kill that cut its first copy's session
short, and no kill may cause more than one per connection (the SMTP
transactions in flight at that instant). FAULT_SEED=N picks another seed."""
import collections
import os
import random
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import ok, exit_code  # noqa: E402
from faults import FaultRelay, copies, make_env, tally  # noqa: E402

N = 2000
RUNS = 4
KILLS = 5
CONNECTIONS = 2
SEED = int(os.environ.get("FAULT_SEED", "14"))
rng = random.Random(SEED)


class Pre:
    dir = tempfile.mkdtemp(prefix="broadside-fault.")
    procs = []


pre = Pre()
relay = FaultRelay(pre, "relay")
env = make_env([{"port": relay.port, "connections": CONNECTIONS}],
               extra='sending: { lease = "5s"; };')
env.procs += pre.procs
rcpts = ["kill%04d@example.com" % i for i in range(N)]
env.subscribers([(r, "", "paid" if i % 4 == 0 else "free") for i, r in enumerate(rcpts)])
print("# seed %d" % SEED)

per_kill = []           # (run, kill, accepted at the kill, duplicates put down to it)
total_twice = 0
for run in range(RUNS):
    base = relay.count()
    since = {relay: base}
    issue = env.issue()
    env.bs("issue", "schedule", issue, "--now")
    targets = sorted(rng.sample(range(20, N - 200), KILLS))
    kills = []          # (time, accepted in this run)
    env.start()
    for target in targets:
        # Never twice in a row before the restarted daemon sends again.
        target = max(target, relay.count() - base + rng.randint(1, 40))
        if not env.wait(lambda: relay.count() - base >= target, 60, 0.002):
            break
        time.sleep(rng.uniform(0, 0.02))
        t = time.time()
        env.daemon.send_signal(signal.SIGKILL)
        env.daemon.wait()
        kills.append((t, relay.count() - base))
        env.start()
    ok("run %d: %d kill -9 mid-send (at %s copies)" % (run + 1, len(kills),
                                                       [k[1] for k in kills]),
       len(kills) == KILLS and all(k[1] < N for k in kills))
    done = env.wait(lambda: env.status(issue) == "sent", 120, 0.1)
    ok("run %d: the issue is sent after the last restart" % (run + 1), done, env.status(issue))
    log = relay.log()[base:]
    got = copies(relay, since=since)
    missed, twice, strangers = tally(got, rcpts)
    total_twice += twice
    # Each copy beyond the first: put down to the kill that ended the
    # daemon which sent the copy before it (the first kill after that
    # copy's connection was opened): it cut the session before the copy
    # was recorded.
    times = collections.defaultdict(list)
    for m in log:
        for r in m["rcpt"]:
            times[r].append(m["conn"])
    blame = collections.Counter()
    for r, ts in times.items():
        ts.sort()
        for earlier in ts[:-1]:
            k = next((i for i, (t, _) in enumerate(kills) if t >= earlier), None)
            blame[k] += 1
    for i, (t, at) in enumerate(kills):
        per_kill.append((run + 1, i + 1, at, blame[i]))
    print("# run %d: %d accepted, %d missed, %d twice; per kill %s" % (
        run + 1, len(log), len(missed), twice, [blame[i] for i in range(len(kills))]))
    ok("run %d: nobody missed (%d of %d)" % (run + 1, N - len(missed), N), not missed,
       missed[:10])
    ok("run %d: no copy to anyone else" % (run + 1), not strangers, strangers)
    ok("run %d: no copy twice without a kill to explain it (%d)" % (run + 1, blame[None]),
       blame[None] == 0)
    states = dict(env.sql("SELECT state, count(*) FROM deliveries WHERE issue_id = ? "
                          "GROUP BY state", issue))
    ok("run %d: every delivery recorded sent (%s)" % (run + 1, states), states == {"sent": N})
    ok("run %d: SIGTERM: exit 0" % (run + 1), env.stop() == 0)

worst = max(per_kill, key=lambda k: k[3]) if per_kill else (0, 0, 0, 0)
print("# %d kills: %d copies twice in all (%.3f %% of %d); worst: run %d kill %d at %d "
      "accepted, %d twice" % (len(per_kill), total_twice, 100.0 * total_twice / (N * RUNS),
                              N * RUNS, worst[0], worst[1], worst[2], worst[3]))
ok("at least 20 kills (%d)" % len(per_kill), len(per_kill) >= 20)
ok("no kill re-sent more than the %d transactions in flight (worst %d)" % (
    CONNECTIONS, worst[3]), worst[3] <= CONNECTIONS,
   "\n".join("run %d kill %d at %d: %d twice" % k for k in per_kill if k[3] > CONNECTIONS))
sys.exit(exit_code())
