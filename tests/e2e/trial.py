"""trial.py - a free reader starts the trial from the call to action and
drops back to free when it ends (issue 18), on the real daemon.

With list.upgrade_url empty, every free copy's call to action is the
reader's own signed /trial/TOKEN link, and every copy's "View online" its
own /i/ISSUE/TOKEN. A free reader gets a copy (tests/smtpd.py captures it),
a prefetcher GETs every link in it (nothing changes), the reader opens the
trial page in headless Chromium (screenshots at desktop and phone width in
$BROADSIDE_BUILD/artifacts/trial/) and presses Start: paid with an end
date (`subscriber show --json`), the next issue arrives whole, view_url
shows it whole, the private feed (feedparser) has full content and answers
conditional GETs with 304. Then the daemon's wall clock is stepped past the
trial's end (Debian's libfaketime, as fault_clock.py does; the product's
own clock is not touched): the daemon makes the reader free with a "trial
ended" event, the private feed answers 403, view_url shows the free cut,
and a second trial is refused. Hostile: forged, truncated, cross-issue and
expired (key rotated) tokens on every new URL get the 404 page and change
nothing; a second POST changes nothing; `subscriber set --until` refuses a
bad date or an unknown address with a sysexits code, and a past end makes
the daemon drop the reader with a "paid period ended" event.
"""
import atexit
import calendar
import email
import email.policy
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import feedparser

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import Env, Smtpd, ok, exit_code, free_port  # noqa: E402
from chrome import Chrome, By, available  # noqa: E402

LIBS = sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))
if not LIBS:
    ok("libfaketime is installed (Debian package faketime, in the Makefile's DEB_TEST)", False)
    sys.exit(1)
if not available():
    ok("chromium, chromedriver and python3-selenium are installed (make deps)", False)
    sys.exit(1)

PORT = free_port()
URL = "http://127.0.0.1:%d" % PORT
DAY = 86400


class Pre:
    dir = tempfile.mkdtemp(prefix="broadside-e2e-pre.")
    procs = []


relay = Smtpd(Pre, "relay")
env = Env([{"port": relay.port}], extra='keys: { grace = "1d"; };')
env.procs += Pre.procs
atexit.register(shutil.rmtree, Pre.dir, True)
conf = open(env.conf).read()
conf = re.sub(r'base_url = "[^"]*"', 'base_url = "%s"' % URL, conf)
conf = re.sub(r'upgrade_url = "[^"]*"', 'upgrade_url = ""', conf)   # the trial page
conf = re.sub(r'listen = "127.0.0.1:\d+"', 'listen = "127.0.0.1:%d"' % PORT, conf)
open(env.conf, "w").write(conf)

READER, PAID, OTHER = "reader@example.com", "paid@example.com", "other@example.com"
env.subscribers([(READER, "Reader", "free"), (PAID, "Paid", "paid"), (OTHER, "Other", "free")])


def write_issue(name, subject, body):
    p = os.path.join(env.dir, name)
    with open(p, "w") as f:
        f.write("---\nsubject: %s\npreheader: about %s\naudience: all\n---\n\n%s\n"
                % (subject, name, body))
    return int(env.bs("issue", "create", p).stdout.strip())


def curl(path, *args, method=None):
    cmd = ["curl", "-s", "-i", "--path-as-is", "--max-time", "20"]
    if method:
        cmd += ["-X", method]
    url = path if path.startswith("http") else URL + path
    r = subprocess.run(cmd + list(args) + [url], capture_output=True)
    out = r.stdout.decode("utf-8", "replace")
    m = re.match(r"HTTP/1\.1 (\d+)", out)
    return (int(m.group(1)) if m else 0), out


def header(out, name):
    m = re.search(r"^%s: (.*?)\r$" % re.escape(name), out, re.I | re.M)
    return m and m.group(1)


def body_of(out):
    return out.split("\r\n\r\n", 1)[1] if "\r\n\r\n" in out else ""


def show(addr):
    import json
    return json.loads(env.bs("subscriber", "show", addr, "--json").stdout)


def state(addr):
    """What a forged or prefetched request must never change."""
    return env.sql("SELECT tier, status, paid_until, paid_kind, trial_at FROM subscribers "
                   "WHERE email_key = ?", addr)[0]


def copies(rcpt, issue):
    """The decoded text and HTML bodies of rcpt's copies of an issue (the
    Message-ID starts with the delivery's id)."""
    out = []
    for m in relay.log():
        if rcpt not in m["rcpt"]:
            continue
        msg = email.message_from_bytes(open(os.path.join(relay.dir, m["file"]), "rb").read(),
                                       policy=email.policy.default)
        did = (msg["Message-ID"] or "").strip("<>").split(".")[0]
        if did.isdigit() and env.one("SELECT issue_id FROM deliveries WHERE id = ?",
                                     int(did)) == issue:
            out.append((msg.get_body(("plain",)).get_content(),
                        msg.get_body(("html",)).get_content()))
    return out


def wait_copy(rcpt, issue):
    got = env.wait(lambda: copies(rcpt, issue), timeout=60, step=0.2)
    return got[0] if got else ("", "")


first = write_issue("first.md", "First Trial Issue",
                    "FREEPART1 for everyone.\n\n<!-- paywall -->\n\nPAIDPART1 for paid readers.")
second = write_issue("second.md", "Second Trial Issue",
                     "FREEPART2 for everyone.\n\n<!-- paywall -->\n\nPAIDPART2 for paid readers.")
draft = write_issue("draft.md", "Draft Trial Issue", "DRAFTBODY")

# The daemon's wall clock is libfaketime's (an offset in a file); the CLI's is real.
stamp = os.path.join(env.dir, "faketime")
with open(stamp, "w") as f:
    f.write("+0\n")
asan = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"), "verify_asan_link_order=0"]))
faked = dict(os.environ, LD_PRELOAD=LIBS[0], FAKETIME_TIMESTAMP_FILE=stamp,
             FAKETIME_NO_CACHE="1", FAKETIME_DONT_FAKE_MONOTONIC="1", ASAN_OPTIONS=asan)
env.start(env=faked)
ok("daemon answers", env.wait(lambda: curl("/healthz")[0] == 200, timeout=30))

env.bs("issue", "schedule", first, "--now")
ok("first issue sent", env.wait(lambda: env.status(first) == "sent", timeout=60))
text, html = wait_copy(READER, first)
ok("the free reader's copy: free cut, call to action with the trial length",
   "FREEPART1" in text and "PAIDPART1" not in text and
   "Keep reading with a 7-day free trial" in text and "7 days of" in html, text[-600:])
trial = re.search(re.escape(URL) + r"/trial/[0-9a-z]+\.[A-Za-z0-9_-]{22}", text)
view1 = re.search(re.escape(URL) + r"/i/%d/[0-9a-z]+\.[A-Za-z0-9_-]{22}" % first, text)
unsub = re.search(re.escape(URL) + r"/u/[0-9a-z]+\.[A-Za-z0-9_-]{22}", text)
ok("it carries the reader's own trial link, view link and unsubscribe link",
   bool(trial and view1 and unsub), text[-600:])
ok("the HTML part links the same trial page and view link",
   trial and view1 and ('href="%s"' % trial.group(0)) in html and
   ('href="%s"' % view1.group(0)) in html)
ok("a free copy has no private feed link", "/feed/" not in text and "/feed/" not in html)
trial, view1, unsub = trial.group(0), view1.group(0), unsub.group(0)
ptext, phtml = wait_copy(PAID, first)
pfeed = re.search(re.escape(URL) + r"/feed/[0-9a-z]+\.[A-Za-z0-9_-]{22}\.xml", ptext)
ok("the paid copy: whole, no call to action, the reader's private feed link",
   "PAIDPART1" in ptext and "Keep reading" not in ptext and pfeed and pfeed.group(0) in phtml,
   ptext[-600:])
ok("paid reader's show --json gives the same feed link",
   pfeed and show(PAID)["feed_url"] == pfeed.group(0))

# A prefetcher (a mail scanner) fetches every link of the copy: nothing changes.
before = state(READER)
for link in (trial, view1, unsub):
    for method in ("GET", "HEAD"):
        curl(link, method=method)
ok("GET and HEAD of every link in the copy changed nothing", state(READER) == before, state(READER))

code, out = curl(view1)
ok("view_url (free reader): 200, the free cut and their own trial link, never the paid part",
   code == 200 and "FREEPART1" in out and "PAIDPART1" not in out and
   ('href="%s"' % trial) in out and "7-day free trial" in out, code)
ok("view_url: a personal page: not stored, not indexed",
   header(out, "Cache-Control") == "no-store" and header(out, "X-Robots-Tag"))

# Forged, truncated and misused tokens: the 404 page, nothing changed.
tok = trial.rsplit("/", 1)[1]
vtok = view1.rsplit("/", 1)[1]
forged = tok[:-1] + ("A" if tok[-1] != "A" else "B")
hostile = [("/trial/" + forged, None), ("/trial/" + forged, "POST"), ("/trial/" + tok[:-3], "POST"),
           ("/trial/" + vtok, "POST"), ("/i/%d/%s" % (first, vtok[:-1] + "x"), None),
           ("/i/%d/%s" % (second, vtok), None), ("/i/%d/%s" % (draft, vtok), None),
           ("/i/0/" + vtok, None), ("/feed/%s.xml" % tok, None), ("/feed/%s.xml" % forged, None),
           ("/feed/" + tok, None), ("/trial/../u/" + tok, None)]
bad = [(p, m, c) for p, m in hostile for c in [curl(p, method=m)[0]] if c != 404]
ok("forged, truncated, cross-issue, other-purpose tokens: 404 on every new URL", not bad, bad)
code, out = curl("/trial/" + forged, method="POST")
ok("a forged trial POST gets the 404 page (clear words), nothing changed",
   "Link not found" in out and state(READER) == before)
code, out = curl("/feed/%s.xml" % tok, method="POST")
ok("POST to a feed: 405", code == 405)

# The reader, in a real browser: the trial page, then Start.
browser = Chrome(env, "trial")
drv, shoot, h1_says = browser.drv, browser.shoot, browser.h1_says
drv.get(trial)
btn = drv.find_elements(By.XPATH, "//button[normalize-space()='Start my free trial']")
ok("the trial page in Chromium: what the trial is (7 days, the end date), a Start button",
   h1_says("Your 7-day free trial") and len(btn) == 1 and "back on the free edition" in
   drv.page_source, drv.title)
ok("trial page: its title names the list", drv.title == "Start your free trial - Growth Dragons",
   drv.title)
ok("opening the trial page changed nothing", state(READER) == before)
ok("trial page fits a phone's width", shoot("trial"))
t0 = int(time.time())
if btn:
    btn[0].click()
ok("Start pressed: 'Your free trial has started'", h1_says("Your free trial has started"),
   drv.page_source[-600:])
shoot("trial-started")
s = show(READER)
ok("the reader is paid on a trial ending in 7 days (subscriber show --json)",
   s["tier"] == "paid" and s["on_trial"] and s["trial_started_at"] and s["paid_until"] and
   abs(calendar.timegm(time.strptime(s["paid_until"], "%Y-%m-%dT%H:%M:%SZ")) -
       (t0 + 7 * DAY)) < 120, s)
ok("the history says the trial started",
   [h for h in s["history"] if h["event"] == "trial started"], s["history"])
feed = s["feed_url"]
ok("show --json gives the reader's private feed link",
   feed and feed.startswith(URL + "/feed/") and feed.endswith(".xml"), feed)
ok("the started page links the private feed", feed and feed in drv.page_source)
drv.quit()

after = state(READER)
code, out = curl(trial, method="POST")
ok("a second POST: 409, 'You already read it in full', nothing changed",
   code == 409 and "You already read it in full" in out and state(READER) == after, code)
code, out = curl(trial)
ok("GET of the trial page now says the reader is paid on a trial (200)",
   code == 200 and "free trial until" in out and state(READER) == after, code)

env.bs("issue", "schedule", second, "--now")
ok("second issue sent", env.wait(lambda: env.status(second) == "sent", timeout=60))
text2, html2 = wait_copy(READER, second)
ok("the reader gets the next issue whole, no call to action, their feed link",
   "PAIDPART2" in text2 and "Keep reading" not in text2 and feed in text2, text2[-500:])
view2 = re.search(re.escape(URL) + r"/i/%d/[0-9a-z]+\.[A-Za-z0-9_-]{22}" % second, text2)
code, out = curl(view2.group(0) if view2 else "/none")
ok("view_url of the new issue shows it whole", code == 200 and "PAIDPART2" in out and
   "7-day free trial" not in out, code)
code, out = curl(view1)
ok("the old view link shows the first issue whole now", code == 200 and "PAIDPART1" in out)

code, out = curl(feed)
f = feedparser.parse(body_of(out))
contents = " ".join(e.content[0].value for e in f.entries) if f.entries else ""
ok("private feed: 200 Atom, parsed by feedparser, two entries, full content",
   code == 200 and not f.bozo and len(f.entries) == 2 and "PAIDPART1" in contents and
   "PAIDPART2" in contents and "Keep reading" not in contents,
   (code, f.bozo_exception if f.bozo else len(f.entries)))
ok("private feed: entries link to the reader's own view pages, ids stable like the public feed",
   f.entries and all(e.link.startswith(URL + "/i/") for e in f.entries) and
   all(e.id.startswith("tag:growth-dragons.example.com,") for e in f.entries))
pub = feedparser.parse(body_of(curl("/feed.xml")[1]))
ok("the public feed keeps the cut", pub.entries and "PAIDPART1" not in
   " ".join(e.content[0].value for e in pub.entries) and f.feed.id != pub.feed.id)
etag, lm = header(out, "ETag"), header(out, "Last-Modified")
ok("private feed: ETag, Last-Modified, private caching only",
   etag and lm and header(out, "Cache-Control") == "private, no-cache", header(out, "Cache-Control"))
ok("private feed: If-None-Match -> 304", curl(feed, "-H", "If-None-Match: " + (etag or ""))[0] == 304)
ok("private feed: If-Modified-Since -> 304",
   curl(feed, "-H", "If-Modified-Since: " + (lm or ""))[0] == 304)

# The trial ends: the daemon's clock steps 8 days ahead.
with open(stamp + ".tmp", "w") as f_:
    f_.write("+%d\n" % (8 * DAY))
os.replace(stamp + ".tmp", stamp)
ok("past the trial's end the daemon makes the reader free again",
   env.wait(lambda: state(READER)[0] == "free", timeout=60), state(READER))
s = show(READER)
ok("the history says the trial ended; show has no end date or feed now",
   [h for h in s["history"] if h["event"] == "trial ended"] and s["paid_until"] is None and
   not s["on_trial"] and s["feed_url"] is None and s["trial_started_at"], s)
ok("the daemon's log says so", "paid period ended" in env.log() or "paid periods ended" in env.log())
code, out = curl(feed)
ok("the private feed stops: 403 with a clear page, no content",
   code == 403 and "This private feed has stopped" in out and "PAIDPART" not in out, code)
code, out = curl(view1)
ok("view_url shows the free cut again, with the trial link", code == 200 and
   "PAIDPART1" not in out and "FREEPART1" in out)
ended = state(READER)
code, out = curl(trial)
ok("the trial page now: 'You have had your free trial' (GET, 200)",
   code == 200 and "You have had your free trial" in out and state(READER) == ended, code)
code, out = curl(trial, method="POST")
ok("a second trial is refused: 409, nothing changed",
   code == 409 and "once per reader" in out and state(READER) == ended, code)

# A reader who left since: a clear page, nothing changed.
otext = wait_copy(OTHER, first)[0]
otrial = re.search(re.escape(URL) + r"/trial/[0-9a-z]+\.[A-Za-z0-9_-]{22}", otext)
env.bs("subscriber", "set", OTHER, "--status", "unsubscribed")
left = state(OTHER)
code, out = curl(otrial.group(0) if otrial else "/trial/x", method="POST")
ok("an unsubscribed reader's trial POST: 409 'not subscribed', nothing changed",
   code == 409 and "This address is not subscribed" in out and state(OTHER) == left, code)
env.bs("subscriber", "set", OTHER, "--status", "active")

# Paid periods from outside: subscriber set --tier paid --until.
r = env.bs("subscriber", "set", OTHER, "--tier", "paid", "--until", "2026-13-40", check=False)
ok("--until with a bad date: exit 64, says what is wrong, nothing changed",
   r.returncode == 64 and "--until '2026-13-40'" in r.stderr and state(OTHER)[0] == "free", r.stderr)
r = env.bs("subscriber", "set", "nobody@example.com", "--tier", "paid", "--until",
           "2030-01-01T00:00:00Z", check=False)
ok("--until for an unknown address: exit 67, names it",
   r.returncode == 67 and "nobody@example.com" in r.stderr, (r.returncode, r.stderr))
r = env.bs("subscriber", "set", OTHER, "--until", "2030-01-01T00:00:00Z", check=False)
ok("--until without --tier paid: exit 64", r.returncode == 64 and state(OTHER)[0] == "free",
   r.stderr)
r = env.bs("subscriber", "set", OTHER, "--tier", "paid", "--until", "2099-01-01T00:00:00Z")
s = show(OTHER)
ok("--tier paid --until: paid with that end, not a trial, a feed link",
   s["tier"] == "paid" and s["paid_until"] == "2099-01-01T00:00:00Z" and not s["on_trial"] and
   s["feed_url"], s)
out = env.bs("subscriber", "show", OTHER).stdout
ok("subscriber show (text) shows the paid-until date and the private feed",
   "paid until:   2099-01-01T00:00:00Z" in out and "private feed: " + URL + "/feed/" in out, out)
r = env.bs("subscriber", "set", OTHER, "--tier", "paid", "--until", "2020-01-01T00:00:00Z")
ok("an end in the past is taken, and said to be over", "over" in r.stdout, r.stdout)
ok("the daemon drops a period that is over: free, 'paid period ended'",
   env.wait(lambda: state(OTHER)[0] == "free", timeout=60) and
   [h for h in show(OTHER)["history"] if h["event"] == "paid period ended"], state(OTHER))
env.bs("subscriber", "set", OTHER, "--tier", "paid")
ok("--tier paid without --until: no end", state(OTHER)[0] == "paid" and state(OTHER)[2] is None)

# Expired tokens: after a key rotation past keys.grace (the daemon's clock
# is 8 days on, grace 1 day) the old links no longer open anything.
env.bs("key", "rotate")
ended = state(READER)
exp = [(p, c) for p in (trial, view1, view2.group(0) if view2 else view1, feed)
       for c in [curl(p)[0]] if c != 404]
code, out = curl(trial, method="POST")
ok("expired tokens (key rotated past keys.grace): 404 on every new URL, nothing changed",
   not exp and code == 404 and state(READER) == ended, exp)

shots = browser.shots()
ok("screenshots kept: %d in %s" % (len(shots), browser.art), len(shots) >= 4, shots)
rc = env.stop()
ok("daemon stops cleanly", rc == 0, env.log()[-800:])
sys.exit(exit_code())
