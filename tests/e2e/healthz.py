#!/usr/bin/python3
"""healthz.py - /healthz and /metrics follow a relay's circuit breaker: a
relay that refuses connections opens it ("degraded", circuit "open", gauge
1) while the database is fine (still 200)."""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import Env, ok, exit_code, free_port  # noqa: E402


def get(url):
    return subprocess.run(["curl", "-s", url], capture_output=True, text=True).stdout


def health():
    try:
        return json.loads(get(base + "/healthz"))
    except ValueError:
        return {}


dead = free_port()			# nothing listens here
env = Env([{"port": dead}])
port = int(re.search(r'listen = "127\.0\.0\.1:(\d+)"', open(env.conf).read()).group(1))
base = "http://127.0.0.1:%d" % port
relay = "127.0.0.1:%d" % dead
env.subscribers([("h%d@example.com" % i, "", "free") for i in range(3)])
issue = env.issue()
env.start()
ok("daemon up", env.wait(lambda: health().get("status") == "ok", 15), env.log())
ok("before any trouble: the relay's circuit is closed",
   {"relay": relay, "circuit": "closed"} in health().get("relays", []), health())
env.bs("issue", "schedule", issue, "--now")
h = env.wait(lambda: health() if health().get("status") == "degraded" else None, 30)
ok("relay refusing connections: /healthz degraded, circuit open",
   h and {"relay": relay, "circuit": "open"} in h.get("relays", []) and h.get("database") == "ok", h)
m = get(base + "/metrics")
ok("/metrics: circuit gauge 1 (open)", 'broadside_relay_circuit{relay="%s"} 1' % relay in m,
   "\n".join(l for l in m.splitlines() if "circuit" in l))
ok("degraded is still 200 (the database is fine)",
   subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", base + "/healthz"],
                  capture_output=True, text=True).stdout == "200")
ok("daemon stops cleanly", env.stop() == 0, env.log()[-2000:])
sys.exit(exit_code())
