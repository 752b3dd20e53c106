#!/usr/bin/python3
"""postfix_relay.py - a small issue through a real Postfix on loopback.

The README's "A relay that exists": a local Postfix as Broadside's relay,
configured with the README's postconf lines (loopback only, no local
delivery, relays for 127.0.0.0/8). Here it is a private instance: its own
config folder, queue and port, started with `postfix -c DIR start` and
stopped by its master's PID; instead of a next hop on the Internet it
delivers example.com to one local maildir (virtual), everything else to an
error (no network), and refuses one address at RCPT with 550 5.1.1 (a
dead address, as a real relay would). Checks: every live subscriber's copy
is in the maildir, whole (headers, the subject, the unsubscribe pair);
Postfix's log says delivered; the dead one is failed 5.1.1 in the queue.

Postfix's smtpd offers CHUNKING, so libesmtp sends each copy with BDAT (no
dot-stuffing: the body goes as it is, in one chunk): Postfix's log must say
so, every copy carries an RSA-2048 and an Ed25519 DKIM signature that
python3-dkim verifies on the delivered file (the body and the signed
headers arrived as signed), and Broadside's SMTP layer alone
(bench_session) sends a message full of lines that begin with a dot, the
last one a lone ".", whose copies must arrive byte for byte.
Needs root (Postfix's master); says "# SKIP" otherwise.
"""
import email
import email.policy
import glob
import os
import re
import subprocess
import sys
import time

import dkim

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import BS, BUILD, Env, free_port, ok, exit_code  # noqa: E402

if os.geteuid() != 0:
    print("ok - a small issue through a real Postfix # SKIP not root (Postfix's master needs it)")
    sys.exit(0)
ok("postfix is installed (make deps)", os.path.exists("/usr/sbin/postfix"))
if not os.path.exists("/usr/sbin/postfix"):
    sys.exit(exit_code())

port = free_port()
keys = []
env = Env([{"port": port, "connections": 2}])
for sel, typ in (("s1", "rsa"), ("e1", "ed25519")):
    keys.append(os.path.join(env.dir, sel + ".key"))
    subprocess.run([BS, "dkim", "keygen", "--selector", sel, "--domain", "example.com",
                    "--type", typ, "--out", keys[-1]], check=True, capture_output=True)
with open(env.conf, "a") as f:
    f.write('dkim = ( { selector = "s1"; domain = "example.com"; key_file = "%s"; },\n'
            '         { selector = "e1"; domain = "example.com"; key_file = "%s"; } );\n'
            % tuple(keys))
recs = {}
for line in env.bs("dkim", "dns").stdout.splitlines():
    name, rest = line.split(" IN TXT ", 1)
    recs[name.encode()] = "".join(re.findall(r'"([^"]*)"', rest)).encode()
pf = os.path.join(env.dir, "postfix")
etc, queue, data, mail = (os.path.join(pf, d) for d in ("etc", "queue", "data", "mail"))
for d in (etc, queue, data, mail):
    os.makedirs(d)
os.chmod(env.dir, 0o755)
os.chmod(pf, 0o755)
subprocess.run(["chown", "postfix", data], check=True)
subprocess.run(["chown", "nobody:nogroup", mail], check=True)
maillog = os.path.join(pf, "maillog")

# Debian's starting main.cf (the README copies it when make deps left none),
# then the instance: where it keeps things, and the private port in master.cf.
with open("/usr/share/postfix/main.cf.debian") as f:
    debian = f.read()
with open(os.path.join(etc, "main.cf"), "w") as f:
    f.write(debian + f"""
queue_directory = {queue}
data_directory = {data}
maillog_file = {maillog}
maillog_file_prefixes = {pf}
myhostname = relay.test.example
inet_protocols = ipv4
smtputf8_enable = no
""")
with open("/etc/postfix/master.cf") as f:
    master = f.read()
with open(os.path.join(etc, "master.cf"), "w") as f:
    f.write(master.replace("\nsmtp      inet", "\n127.0.0.1:%d inet" % port, 1))


def postconf(*args):
    return subprocess.run(["postconf", "-c", etc] + list(args), capture_output=True, text=True)


# The README's lines, as written there.
r = postconf("-e", "inet_interfaces = loopback-only", "mydestination =",
             "mynetworks = 127.0.0.0/8",
             "smtpd_relay_restrictions = permit_mynetworks, reject",
             "local_transport = error:local delivery is disabled",
             "smtp_tls_security_level = may")
ok("the README's postconf lines are accepted", r.returncode == 0, r.stderr)
# Only for this test: the last mile is a local maildir, nothing leaves.
r = postconf("-e", "virtual_mailbox_domains = example.com",
             "virtual_mailbox_base = " + mail, "virtual_mailbox_maps = static:inbox/",
             "virtual_uid_maps = static:65534", "virtual_gid_maps = static:65534",
             "default_transport = error:no network in this test",
             "relay_transport = error:no network in this test",
             "smtp_dns_support_level = disabled",
             "smtpd_recipient_restrictions = check_recipient_access texthash:%s/dead, "
             "permit_mynetworks, reject" % etc)
with open(os.path.join(etc, "dead"), "w") as f:
    f.write("gone@example.com 550 5.1.1 <gone@example.com>: Recipient address rejected: "
            "User unknown\n")
r2 = postconf("-F", "*/*/chroot = n")
ok("test instance configured", r.returncode == 0 and r2.returncode == 0, r.stderr + r2.stderr)

r = subprocess.run(["postfix", "-c", etc, "start"], capture_output=True, text=True)
pidfile = os.path.join(queue, "pid", "master.pid")
master_pid = None
deadline = time.time() + 20
while time.time() < deadline and master_pid is None:
    try:
        master_pid = int(open(pidfile).read().strip())
    except (OSError, ValueError):
        time.sleep(0.1)


def stop_postfix():
    if master_pid:
        try:
            os.kill(master_pid, 15)
        except ProcessLookupError:
            pass
        for _ in range(100):	# its children leave with it
            try:
                os.kill(master_pid, 0)
                time.sleep(0.1)
            except ProcessLookupError:
                break


import atexit  # noqa: E402
atexit.register(stop_postfix)
ok("postfix started on 127.0.0.1:%d (master %s)" % (port, master_pid), r.returncode == 0 and
   master_pid is not None, r.stdout + r.stderr + (open(maillog).read() if os.path.exists(maillog) else ""))

live = [("reader%d@example.com" % i, "Reader %d" % i, "paid" if i % 2 else "free") for i in range(5)]
env.subscribers(live + [("gone@example.com", "Gone", "free")])
issue = env.issue()
env.bs("issue", "schedule", issue, "--now")
env.start()
sent = env.wait(lambda: env.status(issue) == "sent", timeout=60)
ok("the issue is sent through Postfix", sent, env.status(issue))
states = dict(env.sql("SELECT s.email, d.state || ' ' || coalesce(d.last_status, '') "
                      "FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id"))
ok("5 live addresses sent", sorted(e for e, st in states.items() if st.startswith("sent")) ==
   sorted(e for e, _, _ in live), states)
ok("the address Postfix refuses: failed 5.1.1, suppressed",
   states.get("gone@example.com") == "failed 5.1.1" and
   env.one("SELECT status FROM subscribers WHERE email = 'gone@example.com'") == "bounced",
   states.get("gone@example.com"))

files = []
deadline = time.time() + 30
while time.time() < deadline:	# Postfix delivers from its queue, a moment later
    files = glob.glob(os.path.join(mail, "inbox", "new", "*"))
    if len(files) >= len(live):
        break
    time.sleep(0.2)
ok("every live copy delivered to the maildir (%d)" % len(files), len(files) == len(live))
got, raw = {}, {}
for p in files:
    with open(p, "rb") as f:
        raw_bytes = f.read()
    m = email.message_from_bytes(raw_bytes, policy=email.policy.default)
    got[m["Delivered-To"]] = m
    raw[m["Delivered-To"]] = raw_bytes
ok("one copy per subscriber", sorted(got) == sorted(e for e, _, _ in live), sorted(got))
# The maildir keeps LF line ends; the signatures were made over CRLF.
for rcpt in sorted(raw):
    data = raw[rcpt].replace(b"\n", b"\r\n")
    d = dkim.DKIM(data)
    good = [bool(d.verify(idx=i, dnsfunc=lambda name, timeout=5: recs.get(name)))
            for i in range(2)]
    ok("%s: as delivered, both DKIM signatures (rsa-sha256, ed25519-sha256) verify" % rcpt,
       good == [True, True], good)
for rcpt, m in sorted(got.items())[:2]:
    ok("%s: Postfix's Received on top, our headers kept" % rcpt,
       "relay.test.example" in str(m["Received"]) and
       m["Subject"].startswith("Growth Dragons Weekly: DeepSeek\u2019s") and
       "List-Unsubscribe=One-Click" in str(m["List-Unsubscribe-Post"]) and
       m["Return-Path"].startswith("<bounces+"), m.as_string()[:400])
log = open(maillog).read() if os.path.exists(maillog) else ""
ok("Postfix's log: delivered to maildir, 5 times", log.count("status=sent (delivered to maildir)") == 5,
   log[-600:])
sessions = [l for l in log.splitlines() if "smtpd" in l and "disconnect from" in l and "mail=" in l]
ok("Postfix offered CHUNKING and the copies went by BDAT, not DATA",
   sessions and all(" bdat=" in l and " data=" not in l for l in sessions), sessions)
env.stop()

# Broadside's SMTP layer alone (smtp_send and libesmtp, as the senders
# drive them) sends one message 3 times by BDAT: lines that begin with a
# dot, a lone "." in the middle and as the last line, a line of spaces,
# and a body larger than libesmtp's 2 KB buffer. Each copy must arrive as
# it was: Postfix puts its Return-Path, Delivered-To and Received on top,
# and the maildir ends lines with LF.
body = [b".", b"..", b".leading dot", b"a line", b".", b"  ", b"..."]
body += [b"line %04d of filler text so that the body spans several buffers" % i
         for i in range(120)]
body += [b".", b"."]
sent = (b"From: Test <news@example.com>\r\nTo: reader@example.com\r\n"
        b"Subject: dots\r\nDate: Sat, 05 Dec 2026 00:00:00 +0000\r\n"
        b"Message-ID: <dots.1@example.com>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=us-ascii\r\n\r\n" + b"\r\n".join(body) + b"\r\n")
mfile = os.path.join(env.dir, "dots.eml")
with open(mfile, "wb") as f:
    f.write(sent)
r = subprocess.run([os.path.join(BUILD, "bench", "bench_session"), "127.0.0.1", str(port),
                    mfile, "3", "1", "3"], capture_output=True, text=True, timeout=120)
ok("the SMTP layer sent 3 copies through Postfix", r.returncode == 0, r.stderr)
dots = []
deadline = time.time() + 30
while time.time() < deadline and len(dots) < 3:
    dots = []
    for p in glob.glob(os.path.join(mail, "inbox", "new", "*")):
        with open(p, "rb") as f:
            data = f.read()
        if b"\nDelivered-To: reader@example.com\n" in data:
            dots.append(data)
    time.sleep(0.2)
ok("3 copies delivered", len(dots) == 3, len(dots))
for i, data in enumerate(dots):
    own = data[data.find(b"\nFrom: Test") + 1:].replace(b"\n", b"\r\n")
    ok("copy %d: byte for byte the message sent (%d bytes)" % (i + 1, len(sent)), own == sent,
       own[-200:])
log = open(maillog).read()
last = [l for l in log.splitlines() if "smtpd" in l and "disconnect from" in l and "mail=3" in l]
ok("... by BDAT", last and " bdat=" in last[-1] and " data=" not in last[-1], last)
stop_postfix()
ok("postfix stopped", not os.path.exists("/proc/%d" % master_pid) if master_pid else False)
sys.exit(exit_code())
