#!/usr/bin/python3
"""keyrotate.py - `broadside key rotate` while the daemon runs: the daemon
notices the new key file by itself, so mail sent after the rotation carries
links made with the new key, and they keep working once the old key's grace
period is over. A link of the old key stops working then."""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import Env, Smtpd, ok, exit_code  # noqa: E402


class Pre:
    dir = __import__("tempfile").mkdtemp(prefix="broadside-smtpd.")
    procs = []


def post(url):
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
                        "--data", "List-Unsubscribe=One-Click", url],
                       capture_output=True, text=True)
    return r.stdout


pre = Pre()
smtpd = Smtpd(pre, "relay")
env = Env([{"port": smtpd.port}], extra='keys: { grace = "2s"; };')
env.procs += pre.procs
port = int(re.search(r'listen = "127\.0\.0\.1:(\d+)"', open(env.conf).read()).group(1))
env.subscribers([("old@example.com", "", "free"), ("new@example.com", "", "free")])


def link(text):
    text = text.split("\r\n\r\n", 1)[0].replace("\r\n ", " ").replace("\r\n\t", " ")
    m = re.search(r"^List-Unsubscribe: <https?://[^/>]+(/u/[^>]+)>", text, re.M | re.I)
    return "http://127.0.0.1:%d%s" % (port, m.group(1)) if m else None


issue = env.issue()
old_link = link(env.bs("issue", "preview", issue, "--to", "old@example.com").stdout)
env.start()
ok("daemon started", env.wait(lambda: "started:" in env.log(), 30), env.log())
r = env.bs("key", "rotate")
ok("key rotate", r.returncode == 0, r.stderr)
ok("the daemon notices the new key file by itself",
   env.wait(lambda: "key file" in env.log() and "changed" in env.log(), 15), env.log())
time.sleep(3.2)     # past keys.grace (2 s; key times are whole seconds): the old key is refused
env.bs("issue", "schedule", issue, "--now")
ok("issue sent", env.wait(lambda: env.status(issue) == "sent", 30), env.status(issue))
sent = {m["rcpt"][0]: open(os.path.join(smtpd.dir, m["file"]), newline="").read()
        for m in smtpd.log()}
new_link = link(sent.get("new@example.com", ""))
ok("a copy sent after the rotation has a link", new_link is not None, list(sent))
ok("its link works after the old key's grace (new key)", new_link and post(new_link) == "200")
ok("a link of the old key is refused after the grace", old_link and post(old_link) == "404")
ok("SIGTERM: exit 0", env.stop() == 0)
sys.exit(exit_code())
