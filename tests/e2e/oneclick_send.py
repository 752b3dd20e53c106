#!/usr/bin/python3
"""oneclick_send.py - one-click unsubscribes as a real send sees them: the
List-Unsubscribe URL of a rendered copy, POSTed with curl before an issue
goes out, keeps that subscriber out of the send; POSTed while an issue is
being sent, it drops the subscriber's queued copy, which never reaches the
relay. /healthz and /metrics show the relay."""
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import Env, Smtpd, ok, exit_code  # noqa: E402


class Pre:
    dir = tempfile.mkdtemp(prefix="broadside-smtpd.")
    procs = []


def curl(*args):
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}"] + list(args),
                       capture_output=True, text=True)
    return r.stdout


pre = Pre()
smtpd = Smtpd(pre, "relay", bodies=False)
N = 300
RATE = 100
env = Env([{"port": smtpd.port, "connections": 2, "rate": RATE}])
env.procs += pre.procs
port = int(re.search(r'listen = "127\.0\.0\.1:(\d+)"', open(env.conf).read()).group(1))
base = "http://127.0.0.1:%d" % port
env.subscribers([("p%04d@example.com" % i, "", "free") for i in range(N)])


def unsub_url(issue, email):
    """The https URL of the List-Unsubscribe header of email's rendered copy,
    pointed at this test's daemon (the config's base_url has port 8025)."""
    eml = env.bs("issue", "preview", issue, "--tier", "free", "--to", email).stdout
    head = eml.split("\r\n\r\n", 1)[0].replace("\r\n ", " ").replace("\r\n\t", " ")
    m = re.search(r"^List-Unsubscribe: <(https?://[^/>]+)(/u/[^>]+)>", head, re.M | re.I)
    post = re.search(r"^List-Unsubscribe-Post: List-Unsubscribe=One-Click$", head, re.M | re.I)
    return base + m.group(2) if m and post else None


issue = env.issue()
env.start()
ok("daemon up", env.wait(lambda: curl(base + "/healthz") == "200", 15), env.log())

# Before the send: p0001 one-clicks the link of its rendered copy.
url = unsub_url(issue, "p0001@example.com")
ok("rendered copy has a one-click List-Unsubscribe URL", url is not None)
ok("GET of it changes nothing", curl(url or base) == "200" and
   env.one("SELECT status FROM subscribers WHERE email = 'p0001@example.com'") == "active")
ok("one-click POST: 200", curl("-X", "POST", "-H", "Content-Type: application/x-www-form-urlencoded",
                               "--data", "List-Unsubscribe=One-Click", url or base) == "200")

# During the send: the last subscriber one-clicks once sending is under
# way (the relay's rate leaves its copy queued for a few seconds).
last = "p%04d@example.com" % (N - 1)
late_url = unsub_url(issue, last)
env.bs("issue", "schedule", issue, "--now")
env.wait(lambda: smtpd.count() >= 30, 30, 0.01)
queued = env.one("SELECT d.state FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id "
                 "WHERE s.email = ?", last)
code = curl("-X", "POST", "-F", "List-Unsubscribe=One-Click", late_url or base)
ok("mid-send one-click (multipart) of a still queued copy: 200 (copy was %s)" % queued,
   code == "200" and queued == "queued", code)
ok("issue sent", env.wait(lambda: env.status(issue) == "sent", 60), env.status(issue))

got = [r for m in smtpd.log() for r in m["rcpt"]]
ok("everyone else got exactly one copy (%d of %d)" % (len(set(got)), N - 2),
   len(got) == N - 2 and len(set(got)) == N - 2)
ok("unsubscribed before the send: no copy", "p0001@example.com" not in got)
ok("unsubscribed mid-send: no copy, its delivery dropped", last not in got and env.one(
    "SELECT d.state FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id "
    "WHERE s.email = ?", last) == "dropped")

h = subprocess.run(["curl", "-s", base + "/healthz"], capture_output=True, text=True).stdout
try:
    hj = json.loads(h)
except ValueError:
    hj = {}
ok("/healthz names the relay and its circuit", hj.get("status") == "ok" and any(
    r.get("relay") == "127.0.0.1:%d" % smtpd.port and r.get("circuit") == "closed"
    for r in hj.get("relays", [])), h)
m = subprocess.run(["curl", "-s", base + "/metrics"], capture_output=True, text=True).stdout
want = 'broadside_deliveries{relay="127.0.0.1:%d",state="sent"} %d' % (smtpd.port, N - 2)
ok("/metrics: deliveries sent by relay", want in m,
   "\n".join(l for l in m.splitlines() if l.startswith("broadside_deliveries")))
ok("/metrics: one-click unsubscribes counted",
   'broadside_unsubscribes_total{via="one-click"} 2' in m)
ok("daemon stops cleanly", env.stop() == 0, env.log()[-2000:])
sys.exit(exit_code())
