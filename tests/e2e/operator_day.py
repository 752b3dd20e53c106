#!/usr/bin/python3
"""operator_day.py - the operator's day against a real daemon and SMTP server:
`issue deliveries` says who did not get an issue and why, `issue retry`
queues the failed copies again while the daemon runs (never the copy of a
suppressed address), `subscriber show` tells a bounced reader's history, and
`issue send-test` sends one real, marked copy through the relay without
touching a delivery."""
import atexit
import email
import email.policy
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import BS, Env, PY, TOP, Smtpd, ok, exit_code  # noqa: E402



class Pre:
    dir = tempfile.mkdtemp(prefix="broadside-smtpd.")
    procs = []


pre = Pre()
atexit.register(shutil.rmtree, pre.dir, True)
relay = Smtpd(pre, "relay", rules=[{"match": "^blocked@", "action": "policy", "times": 1}])
subprocess.run([BS, "dkim", "keygen", "--selector", "s1", "--domain", "example.com",
                "--out", os.path.join(pre.dir, "s1.key")], check=True, capture_output=True)
env = Env([{"port": relay.port, "connections": 1}],
          extra='dkim = ( { selector = "s1"; domain = "example.com"; key_file = "%s/s1.key"; } );'
          % pre.dir)
env.procs += pre.procs
with open(os.path.join(pre.dir, "dns.txt"), "w") as f:
    f.write(env.bs("dkim", "dns").stdout)

env.subscribers([("ok1@example.com", "One", "free"), ("ok2@example.com", "Two", "paid"),
                 ("blocked@example.com", "Blocked", "free"),
                 ("reject-dead@example.com", "Dead", "free")])
issue = env.issue()
env.start()
env.bs("issue", "schedule", issue, "--now")
ok("the issue is sent", env.wait(lambda: env.status(issue) == "sent", 60), env.log()[-2000:])


def bs(*args):
    return env.bs(*args, check=False)


def state_of(addr):
    return env.one("SELECT d.state FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id "
                   "WHERE s.email = ? AND d.issue_id = ?", addr, issue)


def rcpts(addr):
    return [r for r in relay.rcpt_log() if r["rcpt"] == addr]


# --- who did not get it and why ---
r = bs("issue", "deliveries", issue, "--state", "failed", "--json")
rows = json.loads(r.stdout) if r.returncode == 0 else []
got = sorted((x["email"], x["state"], x["code"], x["enhanced_status"], x["subscriber_status"])
             for x in rows)
ok("deliveries --state failed --json: both failures with the relay's reply", got == [
    ("blocked@example.com", "failed", 550, "5.7.1", "active"),
    ("reject-dead@example.com", "failed", 550, "5.1.1", "bounced")], r.stdout + r.stderr)
ok("deliveries --json: reply text, attempts and relay recorded",
   all(x["text"] and x["attempts"] == 1 and x["relay"] == "127.0.0.1:%d" % relay.port
       and x["next_attempt_at"] is None for x in rows), rows)
r = bs("issue", "deliveries", issue)
ok("deliveries: the table names the failures, not the sent copies",
   "blocked@example.com" in r.stdout and "5.7.1" in r.stdout and "ok1@example.com" not in r.stdout,
   r.stdout)

# --- retry while the daemon runs ---
before = env.sql("SELECT id, state, attempts FROM deliveries ORDER BY id")
r = bs("issue", "retry", issue, "--to", "reject-dead@example.com")
ok("retry --to a bounced address: refused (65), named, nothing changed",
   r.returncode == 65 and "reject-dead@example.com" in r.stderr and "bounced" in r.stderr
   and env.sql("SELECT id, state, attempts FROM deliveries ORDER BY id") == before, r.stderr)
r = bs("issue", "retry", issue, "--state", "sendt")
ok("retry --state with a bad word: 64, nothing changed",
   r.returncode == 64 and "'sendt'" in r.stderr
   and env.sql("SELECT id, state, attempts FROM deliveries ORDER BY id") == before, r.stderr)
r = bs("issue", "retry", issue)
ok("retry: one copy queued again, the bounced one skipped",
   r.returncode == 0 and "1 failed copy queued again; 1 skipped, never mailed again (bounced 1)"
   in r.stdout, r.stdout + r.stderr)
ok("the daemon sends the retried copy",
   env.wait(lambda: state_of("blocked@example.com") == "sent", 30), env.log()[-2000:])
ok("the issue is finished again", env.wait(lambda: env.status(issue) == "sent", 30))
ok("the relay saw blocked@ twice (refused, then accepted) and reject-dead@ once",
   len(rcpts("blocked@example.com")) == 2 and len(rcpts("reject-dead@example.com")) == 1,
   relay.rcpt_log())
ok("nothing already sent went twice",
   sorted(m["rcpt"][0] for m in relay.log()) ==
   ["blocked@example.com", "ok1@example.com", "ok2@example.com"], relay.log())
ok("the bounced copy stays failed", state_of("reject-dead@example.com") == "failed")

# --- a subscriber's history ---
r = bs("subscriber", "show", "reject-dead@example.com", "--json")
j = json.loads(r.stdout) if r.returncode == 0 else {}
ok("subscriber show --json: bounced, with its history",
   j.get("status") == "bounced" and [h["event"] for h in j.get("history", [])] == ["imported", "bounced"]
   and "5.1.1" in j["history"][1]["detail"], r.stdout + r.stderr)
r = bs("subscriber", "show", "nobody@example.com")
ok("subscriber show of an unknown email: 67, named", r.returncode == 67
   and "nobody@example.com: no such subscriber" in r.stderr, r.stderr)

# --- send-test ---
deliveries = env.sql("SELECT * FROM deliveries ORDER BY id")
n_msgs = relay.count()
r = bs("issue", "send-test", issue, "--to", "tester@example.org", "--tier", "paid")
ok("send-test: exit 0, says where it went", r.returncode == 0
   and "tester@example.org" in r.stdout and "127.0.0.1:%d" % relay.port in r.stdout,
   r.stdout + r.stderr)
msgs = [m for m in relay.log() if "tester@example.org" in json.dumps(m["rcpt"])]
ok("send-test: one copy reached the relay", len(msgs) == 1 and relay.count() == n_msgs + 1,
   relay.log())
if msgs:
    with open(os.path.join(relay.dir, msgs[0]["file"]), "rb") as f:
        msg = email.message_from_binary_file(f, policy=email.policy.default)
    subject = str(msg["Subject"])
    ok("send-test: the subject says [TEST]", subject.startswith("[TEST] "), subject)
    ok("send-test: marked by a header", "not a delivery" in str(msg["X-Broadside-Test"]),
       msg["X-Broadside-Test"])
    v = subprocess.run([PY, os.path.join(TOP, "tests", "tools", "dkim_verify.py"),
                        os.path.join(pre.dir, "dns.txt"), os.path.join(relay.dir, msgs[0]["file"])],
                       capture_output=True, text=True)
    ok("send-test: DKIM-signed like a real copy, and the signature verifies",
       v.returncode == 0 and " pass" in v.stdout, v.stdout + v.stderr)
    text = msg.get_body(("plain",)).get_content()
    ok("send-test: rendered like a real paid copy (all of it, no call to action)",
       "Keep reading" not in text and "List-Unsubscribe" in msg and len(text) > 1000,
       text[:300])
ok("send-test: no delivery row touched", env.sql("SELECT * FROM deliveries ORDER BY id") == deliveries)
r = bs("issue", "send-test", issue, "--to", "reject-x@example.org")
ok("send-test to an address the relay refuses: 69, the reply named, no row",
   r.returncode == 69 and "550" in r.stderr and "5.1.1" in r.stderr
   and env.sql("SELECT * FROM deliveries ORDER BY id") == deliveries, r.stderr)
r = bs("issue", "send-test", 99, "--to", "tester@example.org")
ok("send-test of an unknown issue: 66", r.returncode == 66 and "issue 99: no such issue" in r.stderr,
   r.stderr)
r = bs("issue", "send-test", issue)
ok("send-test without --to: 64", r.returncode == 64 and "--to EMAIL is needed" in r.stderr, r.stderr)
r = bs("issue", "send-test", issue, "--to", "not an address")
ok("send-test to a bad address: 65", r.returncode == 65 and "'not an address'" in r.stderr, r.stderr)
r = bs("issue", "send-test", issue, "--to", "tester@example.org", "--tier", "gold")
ok("send-test with a bad tier: 64", r.returncode == 64 and "'gold'" in r.stderr, r.stderr)
ok("bad send-tests sent nothing", relay.count() == n_msgs + 1)

ok("daemon stops cleanly", env.stop() == 0, env.log()[-2000:])
sys.exit(exit_code())
