#!/usr/bin/python3
"""postfix_bounce.py - genuine feedback end to end through a real MTA, which
no one tuned the parser on: the daemon sends an issue through a private
Postfix instance on loopback (the relay); Postfix delivers to a test server
that refuses one reader (550 5.1.1) and keeps deferring another (451 4.3.0),
and returns its own DSNs to the VERP envelope sender, which its pipe
transport hands to the real `broadside bounce -` (as user nobody, like a
real install). Then:
  - the refused reader is `bounced` (a hard bounce, proof: verp);
  - a delay notice Postfix writes ("Delayed Mail (still being retried)",
    Action: delayed) is recorded as a delay and never scored;
  - the deferred reader's final expiry (Action: failed, after
    maximal_queue_lifetime) is a soft bounce: score 1, still active;
  - a policy refusal (550 5.7.1) is soft: score 1, still active;
  - a success notice (NOTIFY=SUCCESS, Postfix's discard transport) is not
    a bounce: the reader whose copy was delivered is untouched;
  - forged reports sent through the same Postfix to the bounce address
    (no VERP, a forged VERP MAC) change nobody and are counted unverified.
It prints the live figure: DSNs Postfix produced, and how many were read as
Postfix meant them."""
import atexit
import os
import pwd
import shutil
import smtplib
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import BS, TOP, Env, Smtpd, free_port, ok, exit_code  # noqa: E402

POSTFIX = "/usr/sbin/postfix"
if not os.path.exists(POSTFIX) or os.geteuid() != 0:
    print("ok - # SKIP postfix_bounce: needs Postfix and root")
    sys.exit(0)


class Pre:
    dir = None
    procs = []


pf_port = free_port()
env = Env([{"port": pf_port, "connections": 1}])
pre = Pre()
pre.dir = env.dir
mx = Smtpd(pre, "mx")
env.procs += pre.procs

# ---- a private Postfix: its own config, queue and data under the test dir
pf = os.path.join(env.dir, "pf")
# The pipe runs the CLI as nobody, who may not enter the clone (a clone in
# /root, 0700, as on a fresh machine): a copy of it in the test dir.
bs_copy = os.path.join(env.dir, "bin", "broadside")
os.makedirs(os.path.dirname(bs_copy))
shutil.copy(BS, bs_copy)
os.chmod(bs_copy, 0o755)
os.chmod(os.path.dirname(bs_copy), 0o755)
os.makedirs(os.path.join(pf, "etc"))
os.makedirs(os.path.join(pf, "queue"))
os.makedirs(os.path.join(pf, "data"))
pw = pwd.getpwnam("postfix")
os.chown(os.path.join(pf, "data"), pw.pw_uid, pw.pw_gid)
with open(os.path.join(pf, "etc", "main.cf"), "w") as f:
    f.write(f"""compatibility_level = 3.6
config_directory = {pf}/etc
queue_directory = {pf}/queue
data_directory = {pf}/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = loopback-only
inet_protocols = ipv4
myhostname = mx.broadside.test
mydomain = broadside.test
myorigin = broadside.test
mydestination =
relayhost =
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
transport_maps = inline:{{ example.com=broadside: , example.org=smtp:[127.0.0.1]:{mx.port} , example.net=discard: }}
default_transport = error:no other destinations here
maillog_file = /dev/stdout
delay_warning_time = 1s
maximal_queue_lifetime = 40s
bounce_queue_lifetime = 40s
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
smtp_dns_support_level = disabled
broadside_destination_recipient_limit = 1
alias_maps =
alias_database =
""")
with open(os.path.join(pf, "etc", "master.cf"), "w") as f:
    f.write(f"""127.0.0.1:{pf_port} inet n - n - - smtpd
cleanup   unix n - n - 0 cleanup
qmgr      unix n - n 300 1 qmgr
rewrite   unix - - n - - trivial-rewrite
bounce    unix - - n - 0 bounce
defer     unix - - n - 0 bounce
trace     unix - - n - 0 bounce
verify    unix - - n - 1 verify
flush     unix n - n 1000? 0 flush
proxymap  unix - - n - - proxymap
smtp      unix - - n - - smtp
relay     unix - - n - - smtp
showq     unix n - n - - showq
error     unix - - n - - error
retry     unix - - n - - error
discard   unix - - n - - discard
anvil     unix - - n - 1 anvil
scache    unix - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
broadside unix - n n - - pipe
  flags=Rq user=nobody argv={bs_copy} --config {env.conf} bounce -
""")
# The pipe runs as nobody, as a real install runs it as its own user: the
# database, its directory and the key file are theirs.
nobody = pwd.getpwnam("nobody")
os.chmod(env.dir, 0o755)
for name in os.listdir(env.dir):
    p = os.path.join(env.dir, name)
    if name.startswith("broadside."):
        os.chown(p, nobody.pw_uid, nobody.pw_gid)
os.chown(env.dir, nobody.pw_uid, nobody.pw_gid)
pflog = open(os.path.join(env.dir, "postfix.log"), "w")
master = subprocess.Popen([POSTFIX, "-c", os.path.join(pf, "etc"), "start-fg"],
                          stdout=pflog, stderr=pflog)
env.procs.append(master)
# Stopped by its own command first (its children with it), whatever happens.
atexit.register(lambda: subprocess.run([POSTFIX, "-c", os.path.join(pf, "etc"), "stop"],
                                       capture_output=True))


def postfix_up():
    try:
        smtplib.SMTP("127.0.0.1", pf_port, timeout=2).quit()
        return True
    except OSError:
        return False


ok("a private Postfix listens on loopback", env.wait(postfix_up, timeout=20),
   open(os.path.join(env.dir, "postfix.log")).read()[-800:])

# ---- send an issue through it
subs = [("ok-reader@example.org", "Kept", "free"),
        ("reject-dead@example.org", "Dead", "free"),
        ("tempfail-slow@example.org", "Slow", "free"),
        ("policy-blocked@example.org", "Blocked", "free")]
env.subscribers(subs)
sid = {e: env.one("SELECT id FROM subscribers WHERE email = ?", e) for e, _, _ in subs}
issue = env.issue()
env.bs("issue", "schedule", issue, "--now")
env.start()
# Each copy is accepted by Postfix ('sent'); Postfix's own refusals come
# back as DSNs and may turn a copy 'bounced' before this looks.
ok("the issue leaves through Postfix", env.wait(
    lambda: env.one("SELECT count(*) FROM deliveries WHERE state IN ('sent', 'bounced')") == 4,
    timeout=60),
    env.sql("SELECT subscriber_id, state, last_text FROM deliveries"))


def status(email):
    return env.one("SELECT status || ' ' || bounce_score FROM subscribers WHERE email = ?", email)


ok("Postfix's DSN for the refused reader: bounced (hard, proof: VERP)",
   env.wait(lambda: status("reject-dead@example.org") == "bounced 0", timeout=30),
   status("reject-dead@example.org"))

ok("Postfix's DSN for a policy refusal (550 5.7.1): soft, score 1, still active",
   env.wait(lambda: status("policy-blocked@example.org") == "active 1", timeout=30),
   status("policy-blocked@example.org"))

# A delay notice: the same copy as the daemon made it (its VERP sender), sent
# again with NOTIFY=DELAY, which the daemon does not ask for.
did = env.one("SELECT id FROM deliveries WHERE subscriber_id = ?", sid["tempfail-slow@example.org"])
verp = subprocess.run([sys.executable, os.path.join(TOP, "tests", "tools", "proof.py"),
                       os.path.join(env.dir, "broadside.key"), "verp", str(did)],
                      capture_output=True, text=True).stdout.strip()
s = smtplib.SMTP("127.0.0.1", pf_port)
s.sendmail(verp, ["tempfail-slow@example.org"],
           "From: news@example.com\r\nTo: tempfail-slow@example.org\r\nSubject: again\r\n\r\nhi\r\n",
           mail_options=["RET=HDRS"], rcpt_options=["NOTIFY=DELAY,FAILURE"])
s.quit()
# A success notice (NOTIFY=SUCCESS, delivered by Postfix's discard
# transport): a DSN that is not a bounce, for the delivered reader's copy.
did_ok = env.one("SELECT id FROM deliveries WHERE subscriber_id = ?", sid["ok-reader@example.org"])
verp_ok = subprocess.run([sys.executable, os.path.join(TOP, "tests", "tools", "proof.py"),
                          os.path.join(env.dir, "broadside.key"), "verp", str(did_ok)],
                         capture_output=True, text=True).stdout.strip()
s = smtplib.SMTP("127.0.0.1", pf_port)
s.sendmail(verp_ok, ["reader@example.net"],
           "From: news@example.com\r\nTo: reader@example.net\r\nSubject: again\r\n\r\nhi\r\n",
           mail_options=["RET=HDRS"], rcpt_options=["NOTIFY=SUCCESS"])
s.quit()
ok("Postfix's delay notice: recorded as a delay", env.wait(
    lambda: env.one("SELECT count(*) FROM events WHERE event = 'delay' AND ref_id = ?",
                    sid["tempfail-slow@example.org"]) >= 1, timeout=30))
ok("the delay is never scored", status("tempfail-slow@example.org") == "active 0",
   status("tempfail-slow@example.org"))
ok("Postfix's final expiry (Action: failed after maximal_queue_lifetime): a soft bounce",
   env.wait(lambda: status("tempfail-slow@example.org") == "active 1", timeout=90),
   status("tempfail-slow@example.org"))

# ---- forged reports through the same Postfix: no VERP, a forged VERP MAC
forged = ("From: MAILER-DAEMON@mx.attacker.example\r\nTo: %s\r\nSubject: Undelivered Mail\r\n"
          "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; "
          "boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nx\r\n--B\r\n"
          "Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\n"
          "Final-Recipient: rfc822; ok-reader@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n"
          "\r\n--B--\r\n")
for to in ("bounces@example.com", "bounces+%d.0123456789@example.com" % sid["ok-reader@example.org"]):
    s = smtplib.SMTP("127.0.0.1", pf_port)
    s.sendmail("attacker@attacker.example", [to], forged % to)
    s.quit()
ok("forged reports through Postfix are counted unverified", env.wait(
    lambda: env.one("SELECT count(*) FROM events WHERE event = 'bounce-unverified'") >= 2,
    timeout=30), env.sql("SELECT event, detail FROM events ORDER BY id DESC LIMIT 3"))
ok("Postfix's success notice for the delivered reader's copy: ignored",
   env.wait(lambda: "sender delivery status notification" in
            open(os.path.join(env.dir, "postfix.log")).read(), timeout=20))
time.sleep(1)
ok("the delivered reader is untouched", status("ok-reader@example.org") == "active 0",
   status("ok-reader@example.org"))

# ---- the live figure, once Postfix has nothing left to try or to return
def queue_empty():
    q = subprocess.run(["/usr/sbin/postqueue", "-c", os.path.join(pf, "etc"), "-p"],
                       capture_output=True, text=True).stdout
    return "Mail queue is empty" in q


ok("Postfix's queue empties (every copy delivered, refused or expired)",
   env.wait(queue_empty, timeout=60))
time.sleep(1)
log = open(os.path.join(env.dir, "postfix.log")).read()
made = (log.count("sender non-delivery notification") + log.count("sender delay notification") +
        log.count("sender delivery status notification"))
success = log.count("sender delivery status notification")
applied = (env.one("SELECT count(*) FROM bounces") +
           env.one("SELECT count(*) FROM events WHERE event = 'delay'"))
right = env.one("SELECT count(*) FROM bounces WHERE (kind = 'hard' AND subscriber_id = ?) OR "
                "(kind = 'soft' AND subscriber_id IN (?, ?))", sid["reject-dead@example.org"],
                sid["tempfail-slow@example.org"], sid["policy-blocked@example.org"]) + \
    env.one("SELECT count(*) FROM events WHERE event = 'delay'")
# The success notice is right when it changed nothing: no bounce, no event.
if success and status("ok-reader@example.org") == "active 0" and not env.one(
        "SELECT count(*) FROM bounces WHERE subscriber_id = ?", sid["ok-reader@example.org"]):
    right += success
print("# live MTA: Postfix made %d DSNs (%d success notices); %d applied, %d read as Postfix "
      "meant them" % (made, success, applied, right))
ok("every DSN Postfix made was read as it meant (%d of %d)" % (right, made), made >= 6 and right == made,
   log[-1500:])
env.stop()
sys.exit(exit_code())
