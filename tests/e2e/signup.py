"""signup.py - double opt-in on the real daemon, with curl and a real SMTP capture.

GET /subscribe serves the form (honeypot, signed load time); POST answers the
same page for a new, an active and a complained address and mails only the
new one; the confirmation email (tests/smtpd.py) carries a /confirm/TOKEN link
whose GET (a prefetcher) changes nothing and whose POST makes the reader
active. Hostile input: the honeypot, a form sent back too fast, a forged or
missing form token, CR/LF in the address, HTML in the name (escaped in the
page and in the email), a huge body (413), a malformed body (400), another
content type (415), a flood from one client address (429, the list
unharmed), the per-address limit and the daily cap of confirmations, forged
and expired confirmation tokens (404, nothing changed); expiry forgets a new
address, an unsubscribed reader may sign up again, and `subscriber import`
still needs no confirmation.
"""
import atexit
import email
import email.policy
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import Env, Smtpd, ok, exit_code, free_port, BS  # noqa: E402

PORT = free_port()
URL = "http://127.0.0.1:%d" % PORT
class Pre:
    dir = tempfile.mkdtemp(prefix="broadside-e2e-pre.")
    procs = []


relay = Smtpd(Pre, "relay")
env = Env([{"port": relay.port}], extra='signup: { min_fill_time = "1s"; ip_limit = 12; '
          'address_limit = 3; confirmations_per_day = 2; trust_forwarded_for = true; };')
env.procs += Pre.procs
atexit.register(shutil.rmtree, Pre.dir, True)
conf = open(env.conf).read()
conf = re.sub(r'base_url = "[^"]*"', 'base_url = "%s"' % URL, conf)
conf = re.sub(r'listen = "127.0.0.1:\d+"', 'listen = "127.0.0.1:%d"' % PORT, conf)
open(env.conf, "w").write(conf)
env.start()


def curl(path, *args, data=None, ip=None, method=None):
    """(status, headers+body text) of one request with curl."""
    cmd = ["curl", "-s", "-i", "--path-as-is", "--max-time", "20"]
    if method:
        cmd += ["-X", method]
    if ip:
        cmd += ["-H", "X-Forwarded-For: 203.0.113.250, " + ip]
    if data is not None:
        cmd += ["--data-binary", "@-"]
    cmd += list(args) + [URL + path]
    r = subprocess.run(cmd, input=(data or "").encode(), capture_output=True)
    out = r.stdout.decode("utf-8", "replace")
    m = re.match(r"HTTP/1\.1 (\d+)", out)
    return (int(m.group(1)) if m else 0), out


def body(out):
    return out.split("\r\n\r\n", 1)[1] if "\r\n\r\n" in out else ""


def form_token():
    code, out = curl("/subscribe")
    m = re.search(r'name="form" value="([^"]+)"', out)
    return m.group(1) if m else ""


def quote(s):
    from urllib.parse import quote_plus
    return quote_plus(s)


def submit(addr, name="", ip="198.51.100.1", honeypot="", token=None, wait=True):
    tok = form_token() if token is None else token
    if wait:
        time.sleep(1.05)
    data = "email=%s&name=%s&website=%s&form=%s" % (quote(addr), quote(name), quote(honeypot),
                                                     tok)
    return curl("/subscribe", "-H", "Content-Type: application/x-www-form-urlencoded",
                data=data, ip=ip)


def sub(addr):
    rows = env.sql("SELECT id, status, name FROM subscribers WHERE email_key = ?", addr.lower())
    return rows[0] if rows else None


def state():
    return (env.sql("SELECT id, status, coalesce(pending_since, 0) FROM subscribers ORDER BY id"),
            env.one("SELECT count(*) FROM events"))


def mails_to(addr):
    return [m for m in relay.log() if addr in m["rcpt"]]


def wait_mails(addr, n, timeout=20):
    return env.wait(lambda: len(mails_to(addr)) >= n, timeout=timeout) and mails_to(addr)


def parse(m):
    return email.message_from_bytes(open(os.path.join(relay.dir, m["file"]), "rb").read(),
                                    policy=email.policy.default)


for _ in range(100):
    if curl("/healthz")[0] == 200:
        break
    time.sleep(0.1)

# --- the form ---
code, out = curl("/subscribe")
ok("GET /subscribe: 200, a form with email, optional name, honeypot and signed load time",
   code == 200 and 'name="email"' in out and 'name="name"' in out and
   'name="website"' in out and re.search(r'name="form" value="[0-9a-z]+\.[A-Za-z0-9_-]{22}"', out)
   and '<form method="post"' in out, out[:600])
ok("GET /subscribe: the shared page frame (header links to archive and subscribe, feed link)",
   'href="%s/archive"' % URL in out and 'href="%s/feed.xml"' % URL in out, out[:400])
ok("HEAD /subscribe: 200", curl("/subscribe", "-I")[0] == 200)
code, out = curl("/subscribe?email=embed%2Btag%40example.com%22%3E%3Cb%3E")
ok("GET /subscribe?email=... (the README's embedded form) fills the field in, escaped",
   code == 200 and 'value="embed+tag@example.com&quot;&gt;&lt;b&gt;"' in out, out[-900:])
before = state()
for _ in range(3):
    curl("/subscribe")
ok("GET /subscribe changes nothing", state() == before)

# --- a new reader: pending, one confirmation email ---
env.bs("subscriber", "add", "active@example.com")
env.bs("subscriber", "add", "angry@example.com")
env.sql("UPDATE subscribers SET status = 'complained' WHERE email_key = 'angry@example.com'")
c_new, o_new = submit("Reader@Example.com", "Rea <b>der</b>", ip="198.51.100.10")
s = sub("reader@example.com")
ok("POST /subscribe (new): 200 'check your inbox', subscriber pending",
   c_new == 200 and "Check your inbox" in o_new and s and s[1] == "pending", (c_new, s))
c_act, o_act = submit("active@example.com", ip="198.51.100.11")
c_cmp, o_cmp = submit("angry@example.com", ip="198.51.100.12")
ok("POST /subscribe answers an active and a complained address with the very same page",
   c_act == c_cmp == c_new == 200 and body(o_act) == body(o_new) == body(o_cmp))
mails = wait_mails("Reader@Example.com", 1)
ok("the confirmation email arrives through the relay", bool(mails), relay.log())
time.sleep(1.5)
ok("nothing is mailed to the active or the complained address",
   not mails_to("active@example.com") and not mails_to("angry@example.com"))
msg = parse(mails[0]) if mails else None
link = None
if msg:
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    m = re.search(re.escape(URL) + r"/confirm/([0-9a-z]+\.[A-Za-z0-9_-]{22})", text)
    link = m and m.group(0)
    ok("confirmation email: subject, the link, List-Unsubscribe, the name escaped in HTML",
       "Confirm your subscription to Growth Dragons" in msg["Subject"] and link and
       msg["List-Unsubscribe"] and "Rea &lt;b&gt;der&lt;/b&gt;" in html and "<b>der" not in html,
       (msg["Subject"], link))
    d_id = env.one("SELECT d.id FROM deliveries d JOIN issues i ON i.id = d.issue_id "
                   "WHERE i.kind = 'confirmation'")
    ok("it is a delivery of the confirmation issue, recorded sent",
       env.wait(lambda: env.one("SELECT state FROM deliveries WHERE id = ?", d_id) == "sent",
                timeout=15))
else:
    ok("confirmation email parsed", False)

# --- the confirmation link: GET shows, POST confirms ---
if link:
    path = link[len(URL):]
    before = state()
    code, out = curl(path)
    curl(path, "-A", "Mozilla/5.0 (compatible; SafeLinks link scanner)")
    curl(path, "-I")
    unsub = re.search(r"<(http[^>]+/u/[^>]+)>", msg["List-Unsubscribe"]).group(1)
    curl(unsub[len(URL):])
    ok("GET of the confirm link (and of every link in the email): a Confirm button, nothing changed",
       code == 200 and '<button type="submit">Confirm</button>' in out and
       "R***@Example.com" in out and state() == before and sub("reader@example.com")[1] == "pending",
       out[-600:])
    code, out = curl(path, method="POST", data="confirm=yes")
    ok("POST of the confirm link: 200 'You are subscribed', the reader active, an event",
       code == 200 and "You are subscribed" in out and sub("reader@example.com")[1] == "active"
       and env.one("SELECT count(*) FROM events WHERE ref_id = ? AND event = 'confirmed'",
                   sub("reader@example.com")[0]) == 1)
    code2, out2 = curl(path, method="POST", data="")
    ok("a second POST changes nothing and says so", code2 == 200 and "You are subscribed" in out2
       and env.one("SELECT count(*) FROM events WHERE event = 'confirmed'") == 1)

# --- forged and expired confirmation tokens ---
before = state()
rid = sub("reader@example.com")[0]
for bad in ["/confirm/1.AAAAAAAAAAAAAAAAAAAAAA", "/confirm/%s.short" % rid, "/confirm/",
            "/confirm/../u/x", "/confirm/" + "a" * 200]:
    c1 = curl(bad)[0]
    c2 = curl(bad, method="POST", data="")[0]
    ok("forged confirm %s: 404 on GET and POST" % bad[:30], c1 == 404 and c2 == 404, (c1, c2))
ok("forged tokens changed nothing", state() == before)

c, _ = submit("late@example.com", ip="198.51.100.13")
lm = wait_mails("late@example.com", 1)
late_link = lm and re.search(re.escape(URL) + r"(/confirm/[^\s]+)",
                             parse(lm[0]).get_body(("plain",)).get_content()).group(1)
env.sql("UPDATE subscribers SET pending_since = pending_since - 8 * 86400 "
        "WHERE email_key = 'late@example.com'")
before = state()
c1, o1 = curl(late_link)
c2, o2 = curl(late_link, method="POST", data="")
ok("an expired confirmation link: 404 'does not work' on GET and POST, nothing changed",
   c1 == 404 and c2 == 404 and "does not work" in o1 and state() == before and
   sub("late@example.com")[1] == "pending", (c1, c2))
submit("trigger@example.com", ip="198.51.100.14")
ok("the next signup forgets the expired new address (row deleted, event kept)",
   sub("late@example.com") is None and
   env.one("SELECT count(*) FROM events WHERE event = 'expired'") == 1)

# --- hostile input ---
n0 = env.one("SELECT count(*) FROM subscribers")
c, o = submit("bot@example.com", ip="198.51.100.20", honeypot="http://spam.example")
ok("honeypot filled: the same 200 page, nobody added", c == 200 and body(o) == body(o_new)
   and sub("bot@example.com") is None)
c, o = submit("quick@example.com", ip="198.51.100.21", wait=False)
ok("form sent back at once: 400 with the form again, nobody added",
   c == 400 and "very quick" in o and sub("quick@example.com") is None, c)
c, o = submit("forged@example.com", ip="198.51.100.22", token="zzzzzz.AAAAAAAAAAAAAAAAAAAAAA")
c2, o2 = submit("forged@example.com", ip="198.51.100.22", token="")
ok("forged or missing form token: 400, nobody added",
   c == 400 and c2 == 400 and sub("forged@example.com") is None, (c, c2))
c, o = submit("evil@example.com\r\nBcc: victim@example.net", ip="198.51.100.23")
c2, o2 = submit("evil@example.com%0d%0aBcc:x@example.net", ip="198.51.100.23")
ok("CR/LF in the address: 400 'does not look like an email address', nobody added",
   c == 400 and c2 == 400 and "does not look like" in o and
   env.one("SELECT count(*) FROM subscribers") == n0 and "\r\nBcc" not in body(o), (c, c2))
c, o = submit("not-an-address", "<script>alert(1)</script>", ip="198.51.100.24")
ok("HTML in the name is escaped in the page sent back",
   c == 400 and "&lt;script&gt;alert(1)&lt;/script&gt;" in o and "<script>" not in o, c)
c, o = curl("/subscribe", "-H", "Content-Type: application/x-www-form-urlencoded",
            data="email=" + "a" * 200000, ip="198.51.100.25")
ok("a huge form body: 413", c == 413, c)
c, o = curl("/subscribe", "-H", "Content-Type: application/x-www-form-urlencoded",
            "-H", "Transfer-Encoding: chunked", data="email=" + "b" * 50000, ip="198.51.100.25")
ok("a huge chunked form body: 413", c == 413, c)
c, o = curl("/subscribe", "-H", "Content-Type: application/x-www-form-urlencoded",
            data="email=%zz&form=%", ip="198.51.100.26")
ok("a malformed form body: 400 with the form", c == 400 and 'name="email"' in o, c)
c, o = curl("/subscribe", "-H", "Content-Type: application/x-www-form-urlencoded",
            data="email=x%00y%40example.com", ip="198.51.100.26")
ok("a NUL in the form: 400", c == 400, c)
c, o = curl("/subscribe", "-F", "email=multi@example.com", ip="198.51.100.27")
ok("another content type (multipart): 415", c == 415, c)
c, o = curl("/subscribe", method="PUT", data="x")
ok("PUT /subscribe: 405", c == 405, c)
ok("hostile input added nobody", env.one("SELECT count(*) FROM subscribers") == n0)

# --- a flood from one client address ---
codes = []
for i in range(14):
    tok = form_token()
    codes.append(curl("/subscribe", "-H", "Content-Type: application/x-www-form-urlencoded",
                      data="email=flood%d@example.com&form=%s" % (i, tok), ip="192.0.2.66")[0])
ok("a flood from one client address: refused after signup.ip_limit (429)",
   codes.count(429) >= 2 and 429 in codes[:13] and codes[-1] == 429, codes)
n = env.one("SELECT count(*) FROM subscribers WHERE email_key LIKE 'flood%'")
c, o = submit("other@example.com", ip="198.51.100.30")
ok("the flood added nobody past the limit, and another client still signs up",
   n <= 12 and c == 200 and sub("other@example.com")[1] == "pending", n)

codes6 = []
for i in range(13):
    tok = form_token()
    codes6.append(curl("/subscribe", "-H", "Content-Type: application/x-www-form-urlencoded",
                       data="email=six%d@example.com&form=%s" % (i, tok),
                       ip="2001:db8:7:7::%x" % (i + 1))[0])
ok("IPv6 clients hopping inside one /64 count as one client (429 past the limit)",
   codes6[-1] == 429 and codes6.count(429) >= 1, codes6)
ok("the limits key: the /64", env.one("SELECT count(*) FROM signups WHERE ip = '2001:db8:7:7::/64'") == 13)

# --- per-address limit and the daily cap on confirmations ---
twice_state = lambda: env.one(  # noqa: E731
    "SELECT d.state FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id "
    "WHERE s.email_key = 'twice@example.com'")
for i in range(5):
    submit("twice@example.com", ip="198.51.100.%d" % (40 + i))
    wait_mails("twice@example.com", min(i + 1, 2), timeout=10)
    env.wait(lambda: twice_state() in ("sent", "failed", "dropped"), timeout=10)
time.sleep(2)
ok("one address asked 5 times: at most signup.confirmations_per_day (2) emails",
   len(mails_to("twice@example.com")) == 2, len(mails_to("twice@example.com")))
ok("attempts past signup.address_limit are recorded as such",
   env.one("SELECT count(*) FROM signups WHERE email_key = 'twice@example.com' "
           "AND outcome = 'address limit'") == 2 and
   env.one("SELECT count(*) FROM signups WHERE email_key = 'twice@example.com' "
           "AND outcome = 'capped'") == 1)

# --- an unsubscribed reader may sign up again; import needs no confirmation ---
env.bs("subscriber", "add", "back@example.com")
env.sql("UPDATE subscribers SET status = 'unsubscribed' WHERE email_key = 'back@example.com'")
submit("back@example.com", ip="198.51.100.50")
bm = wait_mails("back@example.com", 1)
ok("an unsubscribed reader who signs up again is pending and gets a confirmation",
   sub("back@example.com")[1] == "pending" and bm)
p = os.path.join(env.dir, "consent.csv")
open(p, "w").write("email,name,tier\nimported@example.com,Imp,free\n")
env.bs("subscriber", "import", p)
ok("subscriber import of a consented list: active at once, no confirmation",
   sub("imported@example.com")[1] == "active")
time.sleep(1)
ok("nothing mailed to the imported reader", not mails_to("imported@example.com"))

# --- a confirmation that bounces: the address is bounced, never mailed again ---
submit("bouncy@example.com", ip="198.51.100.60")
bm = wait_mails("bouncy@example.com", 1)
if bm:
    dsn = """From: MAILER-DAEMON@mx.example.net
To: %s
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="BB"

--BB
Content-Type: text/plain

Sorry.

--BB
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; bouncy@example.com
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 user unknown

--BB
Content-Type: text/rfc822-headers

From: news@example.com
To: bouncy@example.com
Message-ID: <%s>

--BB--
""" % (bm[0]["from"], bm[0]["message_id"])
    r = subprocess.run([BS, "bounce"], input=dsn.encode(), capture_output=True)
    ok("a hard bounce of the confirmation email marks the pending signup bounced",
       sub("bouncy@example.com")[1] == "bounced", (r.returncode, r.stdout, r.stderr))
    submit("bouncy@example.com", ip="198.51.100.61")
    time.sleep(1.5)
    ok("signing up again with a bounced address mails nothing",
       len(mails_to("bouncy@example.com")) == 1)
else:
    ok("bouncy confirmation captured", False)

# --- an issue goes to readers, never to a pending signup ---
iid = env.issue()
env.bs("issue", "schedule", iid, "--now")
env.wait(lambda: env.status(iid) == "sent", timeout=60)
got = {r for m in relay.log() for r in m["rcpt"]
       if m.get("message_id") and m["message_id"].startswith(
           tuple("%d." % d for (d,) in env.sql("SELECT id FROM deliveries WHERE issue_id = ?", iid)))}
pending = {e for (e,) in env.sql("SELECT email FROM subscribers WHERE status = 'pending'")}
ok("an issue sent: the confirmed reader gets it, no pending signup does",
   env.status(iid) == "sent" and "Reader@Example.com" in got and pending and not (got & pending),
   (sorted(got), sorted(pending)))
ok("the confirmation issue is not in 'issue list' and never finishes",
   "Signup confirmations" not in env.bs("issue", "list").stdout and
   env.one("SELECT status FROM issues WHERE kind = 'confirmation'") == "sending")

cid = env.one("SELECT id FROM issues WHERE kind = 'confirmation'")
never = env.sql("SELECT s.email FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id "
                "WHERE d.issue_id = ? AND s.email_key IN ('active@example.com', "
                "'angry@example.com', 'imported@example.com', 'old@example.com')", cid)
ok("the confirmation issue is never fanned out to readers who did not sign up", never == [], never)
r_cancel = env.bs("issue", "cancel", cid, check=False)
r_pause = env.bs("issue", "pause", cid, check=False)
r_resume = env.bs("issue", "resume", cid, check=False)
ok("the confirmation issue can be paused and resumed, never cancelled",
   r_cancel.returncode == 65 and "signup confirmation" in r_cancel.stderr and
   r_pause.returncode == 0 and r_resume.returncode == 0 and
   env.one("SELECT status FROM issues WHERE id = ?", cid) == "sending",
   (r_cancel.returncode, r_cancel.stderr, r_pause.stderr, r_resume.stderr))

# --- signup.enabled = false ---
conf = open(env.conf).read().replace("signup: {", "signup: { enabled = false;")
open(env.conf, "w").write(conf)
env.daemon.send_signal(1)
ok("signup.enabled = false (after SIGHUP): /subscribe 404",
   env.wait(lambda: curl("/subscribe")[0] == 404, timeout=10))

rc = env.stop()
ok("daemon stops cleanly", rc == 0, env.log()[-800:])
sys.exit(exit_code())
