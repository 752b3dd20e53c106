#!/usr/bin/python3
"""tls.py - STARTTLS with real certificates. A test CA signs the relays'
certificates (made here with openssl); each relay requires STARTTLS before
MAIL and records whether a message came over TLS.

  tls = required, ca_file = the test CA     -> sent, over TLS
  tls = required, host "localhost"          -> sent (a DNS name checked too)
  tls = required, no ca_file                -> relay down: not trusted, says why
  tls = required, certificate for another   -> relay down: names both
  tls = starttls, no ca_file                -> sent over TLS (encryption
                                               when offered, like Postfix "may")
  ca_file that holds no certificate         -> config check and the daemon
                                               refuse it (exit 78)
TLS 1.2 at most (libesmtp mistakes a TLS 1.3 server's session tickets for a
reply: see daemon/smtp.c); the server offers 1.3, so the cap is tested too.
"""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import BSD, Env, Smtpd, ok, exit_code  # noqa: E402


class Pre:
    dir = tempfile.mkdtemp(prefix="broadside-tls.")
    procs = []


pre = Pre()


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, cwd=pre.dir,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def server_cert(name, san):
    openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key",
            "-subj", "/CN=" + name, "-out", name + ".csr")
    with open(os.path.join(pre.dir, name + ".ext"), "w") as f:
        f.write("subjectAltName = %s\nextendedKeyUsage = serverAuth\n" % san)
    openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", name + ".ext", "-out", name + ".pem")
    return "%s/%s.pem:%s/%s.key" % (pre.dir, name, pre.dir, name)


openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-days", "2",
        "-subj", "/CN=Broadside Test CA", "-out", "ca.pem")
ca = os.path.join(pre.dir, "ca.pem")
good_cert = server_cert("relay", "DNS:localhost, IP:127.0.0.1")
other_cert = server_cert("other", "DNS:mail.example.net")

trusted = Smtpd(pre, "trusted", bodies=False, tls=good_cert)
by_name = Smtpd(pre, "byname", bodies=False, tls=good_cert)
untrusted = Smtpd(pre, "untrusted", bodies=False, tls=good_cert)
misnamed = Smtpd(pre, "misnamed", bodies=False, tls=other_cert)
lenient = Smtpd(pre, "lenient", bodies=False, tls=good_cert)

# Each relay serves its own issue (one relay in each daemon's config).
cases = [
    ("trusted", trusted, {"extra": 'tls = "required"; ca_file = "%s";' % ca}),
    ("by name", by_name, {"host": "localhost", "extra": 'tls = "required"; ca_file = "%s";' % ca}),
    ("untrusted", untrusted, {"extra": 'tls = "required";'}),
    ("misnamed", misnamed, {"extra": 'tls = "required"; ca_file = "%s";' % ca}),
    ("lenient", lenient, {"extra": 'tls = "starttls";'}),
]
n = 20
logs = {}
for name, srv, rel in cases:
    rel = dict(rel, port=srv.port, connections=1)
    env = Env([rel])
    if name == "trusted":
        env.procs += pre.procs      # the servers stop with the first daemon's cleanup
    env.subscribers([("reader%02d@example.com" % i, "", "paid") for i in range(n)])
    issue = env.issue()
    env.bs("issue", "schedule", issue, "--now")
    env.start()
    if name in ("trusted", "by name", "lenient"):
        ok("%s: the issue is sent" % name,
           env.wait(lambda: env.status(issue) == "sent", 60), env.status(issue))
        got = srv.log()
        ok("%s: every copy arrived, each over TLS 1.2" % name,
           len(got) == n and all(m["tls"] == "TLSv1.2" for m in got), got[:2])
    else:
        env.wait(lambda: ": down (" in env.log(), 30)
        ok("%s: nothing was sent" % name, srv.count() == 0, srv.count())
        ok("%s: no delivery was attempted or failed" % name,
           env.sql("SELECT DISTINCT state, attempts FROM deliveries") in
           ([("queued", 0)], [("queued", 0), ("sending", 0)], [("sending", 0)]),
           env.sql("SELECT state, attempts, count(*) FROM deliveries GROUP BY 1, 2"))
    logs[name] = env.log()
    ok("%s: SIGTERM, exit 0" % name, env.stop() == 0)

ok("an untrusted certificate is logged as such, with the way out",
   re.search(r"relay 127\.0\.0\.1:%d: down \(its TLS certificate is not trusted: "
             r"[^)]*\(a private CA goes in ca_file\)\)" % untrusted.port, logs["untrusted"]),
   logs["untrusted"])
ok("a certificate for another name is logged with both names",
   "relay 127.0.0.1:%d: down (its TLS certificate is for mail.example.net, not 127.0.0.1)"
   % misnamed.port in logs["misnamed"], logs["misnamed"])

# A ca_file that is not a PEM bundle: refused when the config is read.
bad = os.path.join(pre.dir, "notpem.txt")
with open(bad, "w") as f:
    f.write("not a certificate\n")
env = Env([{"port": trusted.port, "extra": 'tls = "required"; ca_file = "%s";' % bad}])
r = env.bs("config", "check", check=False)
ok("config check: a ca_file without certificates is exit 78", r.returncode == 78, r)
ok("config check: the error names the setting and the file",
   "relays[0].ca_file: %s: cannot load CA certificates" % bad in r.stderr, r.stderr)
d = subprocess.run([BSD, "--config", env.conf], capture_output=True, text=True, timeout=30)
ok("broadsided: the same ca_file stops it at start with exit 78", d.returncode == 78,
   (d.returncode, d.stderr))
sys.exit(exit_code())
