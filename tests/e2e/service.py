#!/usr/bin/python3
"""service.py - the daemon as a service: SMTP AUTH to a relay that needs it
(and a wrong password backs that relay off without costing an attempt),
what systemd hears (READY, STATUS with the counts, WATCHDOG, RELOADING,
STOPPING) on a NOTIFY_SOCKET, and SIGHUP reloading the config mid-send."""
import collections
import os
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import Env, Smtpd, ok, exit_code  # noqa: E402


class Pre:
    dir = tempfile.mkdtemp(prefix="broadside-smtpd.")
    procs = []


pre = Pre()
good = Smtpd(pre, "auth", bodies=False, auth="sender:s3cret")
wrong = Smtpd(pre, "wrongauth", bodies=False, auth="sender:other")
env = Env([{"port": wrong.port, "connections": 1, "per_session": 20,
            "extra": 'username = "sender"; password = "s3cret"; allow_plaintext_auth = true;'},
           {"port": good.port, "connections": 2, "rate": 400, "per_session": 50,
            "extra": 'username = "sender"; password = "s3cret"; allow_plaintext_auth = true;'}])
env.procs += pre.procs
N = 1200
env.subscribers([("s%04d@example.com" % i, "", "free") for i in range(N)])
issue = env.issue()

# A NOTIFY_SOCKET of our own, as systemd would give.
sock_path = os.path.join(env.dir, "notify.sock")
ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
ns.bind(sock_path)
ns.settimeout(0.2)
heard = []
done = threading.Event()


def listen():
    while not done.is_set():
        try:
            heard.append((time.time(), ns.recv(4096).decode()))
        except socket.timeout:
            pass


threading.Thread(target=listen, daemon=True).start()
environ = dict(os.environ, NOTIFY_SOCKET=sock_path, WATCHDOG_USEC="2000000")
env.start(environ)
ok("READY=1 once started", env.wait(lambda: any("READY=1" in m for _, m in heard), 15), heard)
env.bs("issue", "schedule", issue, "--now")
env.wait(lambda: good.count() >= N // 4, 30, 0.02)

# SIGHUP mid-send: a new rate, nothing lost, nothing twice.
with open(env.conf) as f:
    text = f.read()
with open(env.conf, "w") as f:
    f.write(text.replace("rate = 400;", "rate = 800;"))
env.daemon.send_signal(1)
ok("SIGHUP: reloaded", env.wait(lambda: "reloaded from" in env.log(), 15), env.log())
ok("the issue is sent after the reload", env.wait(lambda: env.status(issue) == "sent", 60),
   env.status(issue))
got = collections.Counter(r for m in good.log() for r in m["rcpt"])
ok("AUTH relay: everyone exactly once across the reload (%d)" % len(got),
   len(got) == N and max(got.values()) == 1)
auths = [l for l in open(os.path.join(good.dir, "auth.jsonl"))]
ok("the relay saw AUTH with the configured login (%d sessions)" % len(auths),
   auths and all('"ok": true' in a and '"user": "sender"' in a for a in auths))
ok("a relay refusing the login took nothing", wrong.count() == 0)
ok("... and no attempt was counted for it",
   env.sql("SELECT DISTINCT attempts FROM deliveries") == [(1,)])
ok("... and it is backed off, logged", "relay 127.0.0.1:%d: down" % wrong.port in env.log(),
   env.log())
time.sleep(2.5)   # one more STATUS after the last send
rc = env.stop()
done.set()
time.sleep(0.3)
msgs = [m for _, m in heard]
ok("SIGTERM: exit 0", rc == 0, rc)
ok("RELOADING=1 then READY=1 on SIGHUP",
   any("RELOADING=1" in m for m in msgs) and
   sum("READY=1" in m for m in msgs) >= 2, msgs[:10])
status = [m for m in msgs if m.startswith("STATUS=sent")]
ok("STATUS tells sent, queued and rate (%s)" % (status[-1] if status else None),
   status and status[-1].startswith("STATUS=sent %d, queued 0, " % N) and
   status[-1].endswith("messages/s"), status[-3:])
ok("WATCHDOG=1 pinged (%d times)" % sum("WATCHDOG=1" in m for m in msgs),
   sum("WATCHDOG=1" in m for m in msgs) >= 2)
ok("STOPPING=1 on SIGTERM", any("STOPPING=1" in m for m in msgs))
sys.exit(exit_code())
