#!/usr/bin/python3
"""relay_reload.py - after a SIGHUP that changes a relay's address, /healthz
and /metrics report the relay by its new name: its circuit and what it sends
are under "host:new-port", and the old name's circuit is not shown as if it
were still there."""
import atexit
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import Env, Smtpd, ok, exit_code  # noqa: E402


class Pre:
    dir = tempfile.mkdtemp(prefix="broadside-smtpd.")
    procs = []


def get(url):
    return subprocess.run(["curl", "-s", url], capture_output=True, text=True).stdout


def health():
    try:
        return json.loads(get(base + "/healthz"))
    except ValueError:
        return {}


pre = Pre()
atexit.register(shutil.rmtree, pre.dir, True)
old_relay = Smtpd(pre, "old", bodies=False)
new_relay = Smtpd(pre, "new", bodies=False)
env = Env([{"port": old_relay.port}])
env.procs += pre.procs
port = int(re.search(r'listen = "127\.0\.0\.1:(\d+)"', open(env.conf).read()).group(1))
base = "http://127.0.0.1:%d" % port
OLD = "127.0.0.1:%d" % old_relay.port
NEW = "127.0.0.1:%d" % new_relay.port

env.start()
ok("daemon up, the relay under its configured name",
   env.wait(lambda: health().get("relays") == [{"relay": OLD, "circuit": "closed"}], 15), health())

# The relay moves: same place in the config, another address.
conf = open(env.conf).read()
open(env.conf, "w").write(conf.replace("port = %d;" % old_relay.port, "port = %d;" % new_relay.port))
env.daemon.send_signal(signal.SIGHUP)
ok("after SIGHUP /healthz reports the relay by its new name only",
   env.wait(lambda: health().get("relays") == [{"relay": NEW, "circuit": "closed"}], 15),
   health())

N = 5
env.subscribers([("r%d@example.com" % i, "", "free") for i in range(N)])
issue = env.issue()
env.bs("issue", "schedule", issue, "--now")
ok("the issue is sent through the new address",
   env.wait(lambda: env.status(issue) == "sent", 60) and new_relay.count() == N
   and old_relay.count() == 0, env.log()[-2000:])
m = get(base + "/metrics")
ok("/metrics: the sends are counted under the new name",
   'broadside_relay_sent_total{relay="%s"} %d' % (NEW, N) in m,
   "\n".join(l for l in m.splitlines() if l.startswith("broadside_relay_")))
ok("/metrics: nothing was sent under the old name",
   'broadside_relay_sent_total{relay="%s"} %d' % (OLD, N) not in m)
ok("/metrics: the circuit gauge is the new name's, not the old one's",
   'broadside_relay_circuit{relay="%s"} 0' % NEW in m and
   'broadside_relay_circuit{relay="%s"}' % OLD not in m,
   "\n".join(l for l in m.splitlines() if "circuit" in l))
ok("daemon stops cleanly", env.stop() == 0, env.log()[-2000:])
sys.exit(exit_code())
