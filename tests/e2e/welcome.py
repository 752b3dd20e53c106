"""welcome.py - welcome and catch-up on the real daemon, with curl and a real SMTP capture.

A reader who signs up and confirms (POST of the link in the captured
confirmation email) gets the welcome email (templates/welcome.*, the list's
layout) and the latest issue sent within welcome.catch_up_age, cut for their
tier (free: up to the paywall and the call to action), as ordinary
deliveries marked catch-up ('issue show' and 'stats' count them apart). An
issue too old, a paid-only issue for a free reader, a second confirmation,
and signing up again after leaving send nothing more (UNIQUE (issue,
subscriber)). With welcome.on_import, 'subscriber import' welcomes the
active rows it adds (paid ones get the paid issues, whole), never an
unsubscribed or bounced row or someone already on the list. Hostile input: a
welcome template with an unknown slot is refused by 'config check' naming
file:line, and welcome.catch_up out of its limits is refused.
"""
import email
import email.policy
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import ok, exit_code, web_env, BS, TOP  # noqa: E402

env, relay, URL = web_env('signup: { min_fill_time = "1s"; };\nwelcome: { catch_up = 2; };')


def curl(path, *args, data=None, method=None):
    cmd = ["curl", "-s", "-i", "--max-time", "20"]
    if method:
        cmd += ["-X", method]
    if data is not None:
        cmd += ["--data-binary", "@-"]
    r = subprocess.run(cmd + list(args) + [URL + path], input=(data or "").encode(),
                       capture_output=True)
    out = r.stdout.decode("utf-8", "replace")
    m = re.match(r"HTTP/1\.1 (\d+)", out)
    return (int(m.group(1)) if m else 0), out


def mails_to(addr):
    return [m for m in relay.log() if addr in m["rcpt"]]


def parse(m):
    return email.message_from_bytes(open(os.path.join(relay.dir, m["file"]), "rb").read(),
                                    policy=email.policy.default)


def text_of(m):
    return parse(m).get_body(("plain",)).get_content()


def sub(addr):
    rows = env.sql("SELECT id, status, tier FROM subscribers WHERE email_key = ?", addr.lower())
    return rows[0] if rows else None


def copies(addr):
    """{issue id: catch_up} of the reader's deliveries, and their states."""
    return {i: (c, s) for i, c, s in env.sql(
        "SELECT d.issue_id, d.catch_up, d.state FROM deliveries d JOIN subscribers s "
        "ON s.id = d.subscriber_id WHERE s.email_key = ?", addr.lower())}


def signup_and_confirm(addr):
    """Signs up on the form, confirms with the captured link's POST; the link."""
    n0 = len(mails_to(addr))
    code, out = curl("/subscribe")
    tok = re.search(r'name="form" value="([^"]+)"', out).group(1)
    time.sleep(1.05)
    curl("/subscribe", "-H", "Content-Type: application/x-www-form-urlencoded",
         data="email=%s&name=&website=&form=%s" % (addr.replace("@", "%40"), tok))
    if not env.wait(lambda: len(mails_to(addr)) > n0, timeout=30):
        return None
    link = re.search(re.escape(URL) + r"(/confirm/\S+)", text_of(mails_to(addr)[-1]))
    if not link:
        return None
    curl(link.group(1), method="POST", data="confirm=yes")
    return link.group(1)


def send(iid):
    env.bs("issue", "schedule", iid, "--now")
    return env.wait(lambda: env.status(iid) == "sent", timeout=90)


env.start()
ok("daemon answers", env.wait(lambda: curl("/healthz")[0] == 200, timeout=30))
env.subscribers([("early@example.com", "Early", "free")])

# Three issues went out: one 40 days ago (too old for catch-up), a paid-only
# one, and the latest weekly (with its paywall cut).
old = env.issue(os.path.join(TOP, "examples", "alibaba-deepseek.md"))
paid = env.issue(audience="paid")
weekly = env.issue()
ok("three issues sent", send(old) and send(paid) and send(weekly))
env.sql("UPDATE issues SET started_at = started_at - 40 * 86400 WHERE id = ?", old)
delivered = env.one("SELECT count(*) FROM deliveries")

# --- a reader signs up and confirms ---
link = signup_and_confirm("reader@example.com")
ok("the reader confirmed", link and sub("reader@example.com")[1] == "active", sub("reader@example.com"))
welcome_id = env.one("SELECT id FROM issues WHERE kind = 'welcome'")
ok("the confirmation queued the welcome and one catch-up copy (the latest free issue)",
   copies("reader@example.com").keys() - {env.one("SELECT id FROM issues WHERE kind = "
                                                  "'confirmation'")} == {welcome_id, weekly},
   copies("reader@example.com"))
got = env.wait(lambda: len(mails_to("reader@example.com")) >= 3 and mails_to("reader@example.com"),
               timeout=60)
ok("the reader receives the confirmation, the welcome and the latest issue", got and len(got) == 3,
   [parse(m)["Subject"] for m in (got or [])])
subjects = {parse(m)["Subject"]: m for m in (got or [])}
w = subjects.get("Welcome to Growth Dragons")
ok("the welcome email: its subject, the template's words, the list's layout and unsubscribe",
   w and "Welcome to Growth Dragons: you are in" in text_of(w) and
   "Unsubscribe: %s/u/" % URL in text_of(w) and parse(w)["List-Unsubscribe-Post"] and
   "reader@example.com" in text_of(w), w and text_of(w)[:400])
cu = [m for s, m in subjects.items() if s.startswith("Growth Dragons Weekly")]
ok("the catch-up copy is the latest issue, cut for a free reader (call to action, no paid part)",
   cu and "Keep reading with a 7-day free trial" in text_of(cu[0]) and
   "#1 DeepSeek Shows" in text_of(cu[0]) and "Smithfield Foods IPO: Largest" in text_of(cu[0]),
   cu and text_of(cu[0])[-600:])
ok("no copy of the paid-only issue nor of the 40-day-old one",
   paid not in copies("reader@example.com") and old not in copies("reader@example.com"))
ok("the catch-up delivery is marked catch-up and recorded sent",
   env.wait(lambda: copies("reader@example.com").get(weekly) == (1, "sent"), timeout=30),
   copies("reader@example.com"))
ok("the weekly stays 'sent' (its catch-up copy went without reopening it)",
   env.status(weekly) == "sent")

show = env.bs("issue", "show", weekly).stdout
js = json.loads(env.bs("issue", "show", weekly, "--json").stdout)
ok("issue show counts the catch-up copies apart",
   "catch-up:  1 of them for new readers, 1 sent" in show and
   js["catch_up"] == {"total": 1, "sent": 1}, show)
st = json.loads(env.bs("stats", "--json").stdout)
row = [i for i in st["issues"] if i["id"] == weekly]
ok("stats counts the catch-up copies apart", row and row[0]["catch_up"] == 1 and
   row[0]["catch_up_sent"] == 1 and "catch-up 1 (1 sent)" in env.bs("stats").stdout, row)

# --- never twice ---
n_mails = len(mails_to("reader@example.com"))
curl(link, method="POST", data="")
time.sleep(1)
ok("a second POST of the link queues nothing more", len(copies("reader@example.com")) == 3
   and len(mails_to("reader@example.com")) == n_mails)
env.sql("UPDATE subscribers SET status = 'unsubscribed' WHERE email_key = 'reader@example.com'")
signup_and_confirm("reader@example.com")
ok("left and signed up again: active, but no second welcome nor catch-up copy",
   env.wait(lambda: sub("reader@example.com")[1] == "active", timeout=10) and
   env.one("SELECT count(*) FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id "
           "WHERE s.email_key = 'reader@example.com' AND d.issue_id IN (?, ?)",
           welcome_id, weekly) == 2)

# --- import with welcome.on_import ---
p = os.path.join(env.dir, "import.csv")
open(p, "w").write("email,name,tier,status\nimp-free@example.com,F,free,active\n"
                   "imp-paid@example.com,P,paid,active\ngone@example.com,G,free,unsubscribed\n"
                   "dead@example.com,D,free,bounced\nearly@example.com,E,free,active\n")
r = env.bs("subscriber", "import", p)
ok("without welcome.on_import an import queues nothing",
   not copies("imp-free@example.com") and "welcome" not in r.stdout, r.stdout)
env.sql("DELETE FROM subscribers WHERE email_key LIKE 'imp-%' OR email_key IN "
        "('gone@example.com', 'dead@example.com')")
open(env.conf, "a").write('welcome: { on_import = true; catch_up = 2; };\n')
conf = open(env.conf).read().replace("welcome: { catch_up = 2; };", "")
open(env.conf, "w").write(conf)
r = env.bs("subscriber", "import", p)
ok("import with welcome.on_import says what it queued",
   "queued 2 welcome emails and 3 catch-up copies" in r.stdout, r.stdout)
ok("the free row: the welcome and the latest free issue",
   copies("imp-free@example.com") == {welcome_id: (0, "queued"), weekly: (1, "queued")} or
   set(copies("imp-free@example.com")) == {welcome_id, weekly}, copies("imp-free@example.com"))
ok("the paid row: the welcome, the paid-only issue and the weekly (2 latest of its tier)",
   set(copies("imp-paid@example.com")) == {welcome_id, weekly, paid},
   copies("imp-paid@example.com"))
ok("unsubscribed and bounced rows, and someone already on the list, get nothing new",
   not copies("gone@example.com") and not copies("dead@example.com") and
   set(copies("early@example.com")) == {old, weekly})
pm = env.wait(lambda: [m for m in mails_to("imp-paid@example.com")
                       if parse(m)["Subject"].startswith("Growth Dragons Weekly")], timeout=60)
ok("the paid reader's catch-up copy is whole (no call to action, the paid part)",
   pm and "Keep reading with a 7-day free trial" not in text_of(pm[0]) and
   "Smithfield Foods IPO: Largest" in text_of(pm[0]), pm and text_of(pm[0])[-500:])
ok("every catch-up copy leaves", env.wait(lambda: env.one(
    "SELECT count(*) FROM deliveries WHERE catch_up = 1 AND state <> 'sent'") == 0, timeout=60))
r = env.bs("subscriber", "add", "added@example.com", "--tier", "paid")
ok("subscriber add with welcome.on_import welcomes too",
   "queued 1 welcome email and 2 catch-up copies" in r.stdout, r.stdout)

# --- hostile configuration ---
tdir = os.path.join(env.dir, "templates")
__import__("shutil").copytree(os.path.join(TOP, "templates"), tdir)
with open(os.path.join(tdir, "welcome.txt"), "a") as f:
    f.write("\nSee {{nmae}}.\n")
bad = os.path.join(env.dir, "bad.conf")
open(bad, "w").write(open(env.conf).read().replace('templates = "%s/templates"' % TOP,
                                                   'templates = "%s"' % tdir))
r = subprocess.run([BS, "config", "check", bad], capture_output=True, text=True)
ok("a welcome template with an unknown slot: config check fails naming file:line",
   r.returncode != 0 and "welcome.txt:7" in r.stderr and "nmae" in r.stderr,
   (r.returncode, r.stderr))
open(bad, "w").write(open(env.conf).read().replace(
    "welcome: {", 'welcome: { subject = "Hi\\r\\nBcc: victim@example.net";'))
r = subprocess.run([BS, "--config", bad, "issue", "preview", str(welcome_id), "--to",
                    "imp-free@example.com"], capture_output=True, text=True)
head = r.stdout.split("\r\n\r\n", 1)[0]
ok("CR/LF in welcome.subject cannot add a header to the welcome email",
   r.returncode == 0 and "Subject: Hi" in head and "\r\nBcc:" not in head, (r.returncode, head[:300], r.stderr))
for v in ("11", "-1"):
    open(bad, "w").write(open(env.conf).read().replace("catch_up = 2;", "catch_up = %s;" % v))
    r = subprocess.run([BS, "config", "check", bad], capture_output=True, text=True)
    ok("welcome.catch_up = %s refused with its limits" % v,
       r.returncode == 78 and "welcome.catch_up" in r.stderr, (r.returncode, r.stderr))

rc = env.stop()
ok("daemon stops cleanly", rc == 0, env.log()[-800:])
ok("the database has every earlier copy still", env.one("SELECT count(*) FROM deliveries") > delivered)
sys.exit(exit_code())
