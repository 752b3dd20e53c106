#!/usr/bin/python3
"""fault_key.py - a missing key_file is an error, never a new key (issue 14).

A new secret key would make every unsubscribe link and VERP address in
mail already sent worthless. On a database that has sent mail, a daemon
whose key_file has a typo must refuse to start, naming the file, and
create no key; `broadside init` with the same typo must not make one
either. The same daemon with the right key_file starts and sends; and on a
fresh, empty state directory the daemon still makes its key (first init)."""
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import BS, BSD, free_port, ok, exit_code  # noqa: E402
from faults import FaultRelay, copies, make_env, started  # noqa: E402


class Pre:
    dir = tempfile.mkdtemp(prefix="broadside-fault.")
    procs = []


def digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


pre = Pre()
relay = FaultRelay(pre, "relay")
env = make_env([{"port": relay.port, "connections": 1}])
env.procs += pre.procs
rcpts = ["key%d@example.com" % i for i in range(5)]
env.subscribers([(r, "", "free") for r in rcpts])
issue = env.issue()
env.bs("issue", "schedule", issue, "--now")
started(env)
ok("a first issue is sent", env.wait(lambda: env.status(issue) == "sent", 60), env.status(issue))
ok("SIGTERM: exit 0", env.stop() == 0)
state = os.path.dirname(env.db)
key = os.path.join(state, "broadside.key")
before = digest(key)
files = set(os.listdir(state))

good = open(env.conf).read()
typo = os.path.join(state, "broadside.kye")
bad = os.path.join(pre.dir, "typo.conf")
with open(bad, "w") as f:
    f.write(good + '\nkey_file = "%s";\n' % typo)
cfg = dict(os.environ, BROADSIDE_CONFIG=bad)
d = subprocess.Popen([BSD], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=cfg)
env.procs.append(d)
try:
    out, _ = d.communicate(timeout=10)
    rc = d.returncode
except subprocess.TimeoutExpired:
    d.terminate()
    out, _ = d.communicate(timeout=30)
    rc = "still running after 10 s"
ok("the daemon with a key_file typo refuses to start (exit %s)" % rc,
   isinstance(rc, int) and rc != 0, out)
ok("it names the missing file", "broadside.kye" in out, out)
ok("it made no key (%s)" % typo, not os.path.exists(typo))
new = set(os.listdir(state)) - files
ok("no new file in the state folder (%s)" % sorted(new),
   not [f for f in new if not f.endswith(".lock")], sorted(new))
# What an operator told "key file missing" may try next: init is
# idempotent, but a database that has sent mail is no first init.
r = subprocess.run([BS, "init"], capture_output=True, text=True, env=cfg)
ok("`broadside init` with the typo on a database that has sent mail makes no key "
   "(exit %d)" % r.returncode, not os.path.exists(typo), r.stdout + r.stderr)
ok("the secret key is unchanged", digest(key) == before)

# The right key_file: the daemon starts and sends.
issue2 = env.issue()
env.bs("issue", "schedule", issue2, "--now")
started(env)
ok("with the right key_file the daemon starts and sends",
   env.wait(lambda: env.status(issue2) == "sent", 60), env.status(issue2))
ok("every reader has both issues", all(n == 2 for n in copies(relay).values()) and
   len(copies(relay)) == len(rcpts), copies(relay))
ok("SIGTERM: exit 0", env.stop() == 0)

# A fresh, empty state directory: the first start makes the key.
fresh = os.path.join(env.dir, "fresh")
os.makedirs(fresh)
conf = os.path.join(fresh, "broadside.conf")
text = good.replace('database = "%s";' % env.db,
                    'database = "%s";' % os.path.join(fresh, "broadside.db"))
with open(conf, "w") as f:
    f.write(re.sub(r'listen = "127\.0\.0\.1:\d+"', 'listen = "127.0.0.1:%d"' % free_port(), text))
log = open(os.path.join(fresh, "daemon.log"), "w")
d = subprocess.Popen([BSD, "--config", conf], stdout=log, stderr=log)
env.procs.append(d)
for _ in range(200):     # 10 s
    made = os.path.exists(os.path.join(fresh, "broadside.key"))
    if made or d.poll() is not None:
        break
    time.sleep(0.05)
ok("a first start on an empty state folder makes the key", made,
   open(os.path.join(fresh, "daemon.log")).read())
d.terminate()
ok("and stops on SIGTERM (exit %s)" % d.wait(30), d.returncode == 0)
sys.exit(exit_code())
