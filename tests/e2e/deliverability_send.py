#!/usr/bin/python3
"""deliverability_send.py - deliverability in the daemon's own sending.

1. What the daemon sends is DKIM-signed: an issue sent through the test SMTP
   server with an RSA and an Ed25519 key configured; every copy received
   carries both signatures, python3-dkim (Debian's verifier, its DNS answered
   from our own records: no network) verifies them, and h= covers the
   one-click unsubscribe pair.
2. Dead addresses refused at RCPT (550 5.1.1) past
   deliverability.pause_bounce_rate pause the issue while it sends: the
   rest stays queued. Twice: the dead addresses first, and spread through
   the list (one in 15: 6.7 %) with the default min_deliveries (100), the
   case where the share passes 5 % when the issue becomes big enough to
   judge. Neither depends on timing: the check runs on every hard bounce
   (the run under two CPU hogs is in the README)."""
import os
import re
import sys

import dkim

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import BS, Env, Smtpd, ok, exit_code  # noqa: E402

import subprocess  # noqa: E402
import tempfile  # noqa: E402

tmp = tempfile.mkdtemp(prefix="broadside-dkim.")


class Pre:  # the server starts before the config that names its port
    dir = tmp
    procs = []


pre = Pre()
smtpd = Smtpd(pre, "relay")
for sel, typ in (("s1", "rsa"), ("e1", "ed25519")):
    subprocess.run([BS, "dkim", "keygen", "--selector", sel, "--domain", "example.com",
                    "--type", typ, "--out", os.path.join(tmp, sel + ".key")],
                   check=True, capture_output=True)
env = Env([{"port": smtpd.port, "connections": 2}], extra='''dkim = (
  { selector = "s1"; domain = "example.com"; key_file = "%s/s1.key"; },
  { selector = "e1"; domain = "example.com"; key_file = "%s/e1.key"; } );
''' % (tmp, tmp))
env.procs += pre.procs

recs = {}
for line in env.bs("dkim", "dns").stdout.splitlines():
    name, rest = line.split(" IN TXT ", 1)
    recs[name.encode()] = "".join(re.findall(r'"([^"]*)"', rest)).encode()


def dnsfunc(name, timeout=5):
    return recs.get(name)


subs = [("free%d@example.com" % i, "Free %d" % i, "free") for i in range(3)] + \
       [("paid%d@example.org" % i, "Paid “%d”" % i, "paid") for i in range(3)]
env.subscribers(subs)
issue = env.issue()
env.bs("issue", "schedule", issue, "--now")
env.start()
ok("the issue is sent", env.wait(lambda: env.status(issue) == "sent", timeout=60),
   env.status(issue))

log = smtpd.log()
ok("every subscriber got a copy", sorted(r for m in log for r in m["rcpt"]) ==
   sorted(e for e, _, _ in subs), [m["rcpt"] for m in log])
for m in log:
    data = open(os.path.join(smtpd.dir, m["file"]), "rb").read()
    head = re.sub(rb"\r\n[ \t]", b" ", data.split(b"\r\n\r\n", 1)[0])
    sigs = [l for l in head.split(b"\r\n") if l.lower().startswith(b"dkim-signature:")]
    d = dkim.DKIM(data)
    good = [bool(d.verify(idx=i, dnsfunc=dnsfunc)) for i in range(len(sigs))]
    ok("%s: two signatures (rsa-sha256, ed25519-sha256), both verify" % m["rcpt"][0],
       len(sigs) == 2 and all(good) and b"a=rsa-sha256" in sigs[0] and
       b"a=ed25519-sha256" in sigs[1], "%d signatures, %s" % (len(sigs), good))
    hl = re.search(rb"h=([^;]*);", sigs[0]).group(1).replace(b" ", b"") if sigs else b""
    ok("%s: h= covers List-Unsubscribe and List-Unsubscribe-Post" % m["rcpt"][0],
       b"list-unsubscribe:" in hl and b"list-unsubscribe-post" in hl, hl)
    tampered = data.replace(b"\r\nTo: ", b"\r\nTo: x", 1)
    d = dkim.DKIM(tampered)
    ok("%s: a changed To fails both" % m["rcpt"][0],
       not any(d.verify(idx=i, dnsfunc=dnsfunc) for i in range(len(sigs))))
env.stop()

# 2. The pause on hard bounces. 20 dead addresses first, then 280 good ones,
# at 50 messages/s: the rate passes 5 % within the first batches.
smtpd2 = Smtpd(pre, "relay2")
env2 = Env([{"port": smtpd2.port, "connections": 1, "rate": 50}],
           extra='deliverability: { pause_bounce_rate = "5%"; min_deliveries = 20; };')
env2.procs += pre.procs
env2.subscribers([("reject-%02d@example.com" % i, "Gone %d" % i, "free") for i in range(20)] +
                 [("reader%03d@example.com" % i, "Reader %d" % i, "free") for i in range(280)])
issue2 = env2.issue()
env2.bs("issue", "schedule", issue2, "--now")
env2.start()
# Bounded generously: a loaded machine runs an ASan daemon many times slower.
paused = env2.wait(lambda: env2.status(issue2) in ("paused", "sent"), timeout=240) and \
    env2.status(issue2) == "paused"
ok("past 5 % hard bounces (550 5.1.1 at RCPT) the issue is paused", paused,
   env2.status(issue2))
ok("the log says why", "paused: hard bounce rate" in env2.log(), env2.log()[-600:])
queued = env2.one("SELECT count(*) FROM deliveries WHERE issue_id = ? AND state = 'queued'",
                  issue2)
ok("what was not sent stays queued (%s of 300)" % queued, queued and queued > 100)
ok("an event records the pause", env2.one(
    "SELECT count(*) FROM events WHERE ref_id = ? AND event = 'auto-paused'", issue2) == 1)
env2.stop()

# 3. The same 300 copies, the 20 dead addresses spread through the list
# (every 15th), min_deliveries at its default (100).
smtpd3 = Smtpd(pre, "relay3")
env3 = Env([{"port": smtpd3.port, "connections": 1, "rate": 50}],
           extra='deliverability: { pause_bounce_rate = "5%"; };')
env3.procs += pre.procs
env3.subscribers([("reject-%03d@example.com" % i if i % 15 == 7 else "reader%03d@example.com" % i,
                   "Reader %d" % i, "free") for i in range(300)])
issue3 = env3.issue()
env3.bs("issue", "schedule", issue3, "--now")
env3.start()
paused = env3.wait(lambda: env3.status(issue3) in ("paused", "sent"), timeout=240) and \
    env3.status(issue3) == "paused"
ok("dead addresses spread (1 in 15): paused, not sent to the end", paused,
   "%s, %d copies at the relay; log: %s" % (env3.status(issue3), smtpd3.count(), env3.log()[-800:]))
why = env3.one("SELECT detail FROM events WHERE ref_id = ? AND event = 'auto-paused'", issue3)
ok("the pause came at about the 100th copy: %s" % why, why is not None and
   re.search(r"hard bounces [0-9.]+% \(([0-9]+) of ([0-9]+)\)", why) is not None and
   int(re.search(r"\(([0-9]+) of ([0-9]+)\)", why.split("hard bounces")[1]).group(2)) <= 120)
env3.stop()
sys.exit(exit_code())
