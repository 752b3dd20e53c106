#!/usr/bin/python3
"""fault_disk.py - a full disk loses nothing and sends nothing twice (issue 14).

The database lives on a small tmpfs of its own. In the middle of a send a
file fills it, so that SQLite's writes (and the outcome journal's) fail
with SQLITE_FULL / ENOSPC; after ~10 s the file goes. Outcomes received
meanwhile must be kept until they can be committed, and nothing new sent
while they wait: 0 copies twice, 0 missed, every delivery sent, and the
time the send takes to pick up again once the space is back is reported.
Needs mount(2) (root): without it the test says "# SKIP" and why."""
import atexit
import errno
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import ok, exit_code  # noqa: E402
from faults import FaultRelay, copies, make_env, started, tally  # noqa: E402

N = 600
FULL_FOR = 10.0

mnt = tempfile.mkdtemp(prefix="broadside-tmpfs.")
r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m,mode=0700", "tmpfs", mnt],
                   capture_output=True, text=True)
if r.returncode != 0:
    os.rmdir(mnt)
    print("ok - disk full during a send # SKIP mount refused: %s" % (
        r.stderr.strip() or "exit %d" % r.returncode))
    sys.exit(0)


def unmount():
    subprocess.run(["umount", "-l", mnt], capture_output=True)
    os.rmdir(mnt)


atexit.register(unmount)    # registered first: runs after the daemon is stopped


class Pre:
    dir = tempfile.mkdtemp(prefix="broadside-fault.")
    procs = []


pre = Pre()
relay = FaultRelay(pre, "relay", delay=0.01)
env = make_env([{"port": relay.port, "connections": 2, "per_session": 20}],
               database=os.path.join(mnt, "broadside.db"))
env.procs += pre.procs
rcpts = ["disk%03d@example.com" % i for i in range(N)]
env.subscribers([(x, "", "free") for x in rcpts])
issue = env.issue()
env.bs("issue", "schedule", issue, "--now")
t0 = time.time()
started(env)
env.wait(lambda: relay.count() >= N // 5, 120, 0.01)

# Fill the tmpfs to the last byte.
filler = os.path.join(mnt, "filler")
fill_start = relay.count()
with open(filler, "wb", buffering=0) as f:
    for size in (1 << 20, 1 << 16, 4096, 512, 1):
        try:
            while True:
                f.write(b"\0" * size)
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
try:
    with open(os.path.join(mnt, "probe"), "wb", buffering=0) as f:
        f.write(b"x" * 4096)
    full = False
except OSError as e:
    full = e.errno == errno.ENOSPC
ok("the database's file system is full (%d copies accepted so far)" % fill_start, full)
time.sleep(FULL_FOR)
during = relay.count() - fill_start
t_free = time.time()
os.unlink(filler)
os.unlink(os.path.join(mnt, "probe"))
at_free = relay.count()
resumed = env.wait(lambda: relay.count() > at_free, 120, 0.01)
t_resume = time.time() - t_free
done = env.wait(lambda: env.status(issue) == "sent", 180, 0.1)
t_done = time.time() - t_free
ok("the issue is sent once the space is back (%s)" % env.status(issue), done)

log = env.log()
hit = [l for l in log.splitlines() if re.search(r"disk is full|no space left", l, re.I)]
ok("the daemon met the full disk (%d log lines say so)" % len(hit), len(hit) > 0, log[-1500:])
for l in hit[:3]:
    print("#   " + l)
got = copies(relay)
missed, twice, strangers = tally(got, rcpts)
print("# disk full for %.0f s at %d accepted: %d accepted while full, %d twice, %d missed; "
      "sending again %.1f s after the space came back, all sent after %.1f s" % (
          FULL_FOR, fill_start, during, twice, len(missed), t_resume, t_done))
ok("nobody missed (%d of %d)" % (N - len(missed), N), not missed, missed[:10])
ok("no copy twice (%d)" % twice, twice == 0, [x for x, n in got.items() if n > 1][:10])
ok("no copy to anyone else", not strangers, strangers)
states = dict(env.sql("SELECT state, count(*) FROM deliveries WHERE issue_id = ? GROUP BY state",
                      issue))
ok("every delivery recorded sent (%s)" % states, states == {"sent": N})
ok("sending picks up within 30 s of the space coming back (%.1f s)" % t_resume,
   resumed and t_resume < 30)
ok("the daemon kept running through it", env.daemon.poll() is None)
ok("SIGTERM: exit 0", env.stop() == 0)
sys.exit(exit_code())
