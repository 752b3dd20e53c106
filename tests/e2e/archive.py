"""archive.py - the public archive and the Atom feed on the real daemon.

Issues are sent through a real SMTP capture; then /archive lists the sent ones
newest first (title, date, preheader) and never a draft, a scheduled issue or
the confirmation issue; /p/SLUG shows the free cut and the call to action,
never the paid part (nor the body of a paid-only issue); slugs come from the
subject, unique (-2) and stable; /feed.xml is parsed by Debian's feedparser
(one entry per sent issue, stable ids, free cut only); pages and feed answer
conditional GETs (ETag / Last-Modified) with 304, and every page shares one
frame. All with curl, statuses checked.
"""
import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import feedparser

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import Env, Smtpd, ok, exit_code, free_port, TOP  # noqa: E402

PORT = free_port()
URL = "http://127.0.0.1:%d" % PORT


class Pre:
    dir = tempfile.mkdtemp(prefix="broadside-e2e-pre.")
    procs = []


relay = Smtpd(Pre, "relay")
env = Env([{"port": relay.port}])
env.procs += Pre.procs
atexit.register(shutil.rmtree, Pre.dir, True)
conf = open(env.conf).read()
conf = re.sub(r'base_url = "[^"]*"', 'base_url = "%s"' % URL, conf)
conf = re.sub(r'listen = "127.0.0.1:\d+"', 'listen = "127.0.0.1:%d"' % PORT, conf)
open(env.conf, "w").write(conf)


def curl(path, *args, method=None):
    cmd = ["curl", "-s", "-i", "--path-as-is", "--max-time", "20"]
    if method:
        cmd += ["-X", method]
    r = subprocess.run(cmd + list(args) + [URL + path], capture_output=True)
    out = r.stdout.decode("utf-8", "replace")
    m = re.match(r"HTTP/1\.1 (\d+)", out)
    return (int(m.group(1)) if m else 0), out


def header(out, name):
    m = re.search(r"^%s: (.*?)\r$" % re.escape(name), out, re.I | re.M)
    return m and m.group(1)


def write_issue(name, subject, body, audience="all", preheader=""):
    p = os.path.join(env.dir, name)
    with open(p, "w") as f:
        f.write("---\nsubject: %s\npreheader: %s\naudience: %s\n---\n\n%s\n"
                % (subject, preheader, audience, body))
    return int(env.bs("issue", "create", p).stdout.strip())


env.subscribers([("free@example.com", "Free", "free"), ("paid@example.com", "Paid", "paid")])
weekly = os.path.join(TOP, "examples", "growth-dragons-weekly.md")
subject = open(weekly).read().split("subject: ", 1)[1].split("\n", 1)[0]
first = int(env.bs("issue", "create", weekly).stdout.strip())
second = write_issue("second.md", subject, "Second body FREEPART2.\n\n<!-- paywall -->\n\n"
                     "PAIDPART2 is for paid readers.", preheader="the second one")
paidonly = write_issue("paid.md", "Paid Only Special", "PAIDONLYBODY text.", audience="paid",
                       preheader="for paid readers")
draft = write_issue("draft.md", "Secret Draft Subject", "DRAFTBODY")
future = write_issue("future.md", "Future Scheduled Subject", "FUTUREBODY")
env.bs("issue", "schedule", future, "--at", "2099-01-01T00:00:00Z")
slugs = dict(env.sql("SELECT id, slug FROM issues"))
ok("slugs from the subject, unique: the second issue of the same subject gets -2",
   slugs[first] == "growth-dragons-weekly-deepseeks-ai-disruption-alibabas-robot" and
   slugs[second] == slugs[first] + "-2" and slugs[paidonly] == "paid-only-special", slugs)

env.start()
for _ in range(100):
    if curl("/healthz")[0] == 200:
        break
    time.sleep(0.1)

code, out = curl("/archive")
ok("an empty archive: 200, says so", code == 200 and "Nothing here yet" in out, code)
code, out = curl("/feed.xml")
f = feedparser.parse(out.split("\r\n\r\n", 1)[1])
ok("an empty feed: 200, well formed, no entries", code == 200 and not f.bozo and
   len(f.entries) == 0, f.bozo_exception if f.bozo else "")
ok("a draft's slug: 404", curl("/p/secret-draft-subject")[0] == 404)

for i in (first, second, paidonly):
    env.bs("issue", "schedule", i, "--now")
    ok("issue %d sent" % i, env.wait(lambda: env.status(i) == "sent", timeout=60), env.status(i))
    time.sleep(1.1)     # distinct start times: the order is the newest first
env.sql("UPDATE issues SET started_at = started_at - 3600 * (3 - id) WHERE id IN (?, ?, ?)",
        first, second, paidonly)

code, out = curl("/archive")
titles = re.findall(r'<li><a href="p/([a-z0-9-]+)">([^<]*)</a>', out)
ok("/archive: 200, the sent issues newest first, by slug",
   code == 200 and [t[0] for t in titles] == [slugs[paidonly], slugs[second], slugs[first]],
   titles)
ok("/archive: title (escaped), date and preheader of each",
   "DeepSeek’s AI Disruption" in out and "the second one" in out and
   "DeepSeek shakes up AI" in out and re.search(r'<time datetime="\d{4}-\d\d-\d\dT', out))
ok("/archive: never a draft, a scheduled issue or the confirmation issue",
   "Secret Draft" not in out and "Future Scheduled" not in out and "Signup confirmations" not in out)
ok("/archive: the shared frame, indexable, revalidated",
   'href="%s/subscribe"' % URL in out and header(out, "X-Robots-Tag") is None and
   header(out, "Cache-Control") == "no-cache" and header(out, "ETag") and
   header(out, "Last-Modified"))

code, out = curl("/p/" + slugs[first])
ok("/p/SLUG: 200, the free cut and the call to action",
   code == 200 and "Happy Lunar New Year" in out and "Keep reading with a 7-day free trial" in out
   and 'href="https://news.example.com/subscribe"' in out, code)
ok("/p/SLUG: never the paid part", "The full story is in this section of the paid edition"
   not in out and "Memory Chip Technology Against South Korea</h2>" not in out)
code, out = curl("/p/" + slugs[second])
ok("/p/SLUG-2: its own issue", code == 200 and "FREEPART2" in out and "PAIDPART2" not in out)
code, out = curl("/p/paid-only-special")
ok("a paid-only issue without a cut: title and call to action, no body",
   code == 200 and "Paid Only Special" in out and "PAIDONLYBODY" not in out and
   "Keep reading" in out)
for bad in ["/p/secret-draft-subject", "/p/future-scheduled-subject", "/p/no-such",
            "/p/UPPER", "/p/a%2e%2e", "/p/../archive", "/p/" + "a" * 300, "/p/"]:
    ok("GET %s: 404" % bad[:40], curl(bad)[0] == 404)
ok("POST /archive, /p/SLUG, /feed.xml: 405",
   all(curl(p, method="POST")[0] == 405 for p in ["/archive", "/p/" + slugs[first], "/feed.xml"]))

fp = lambda: (env.sql("SELECT id, status, updated_at FROM issues ORDER BY id"),  # noqa: E731
               env.one("SELECT count(*) FROM events"),
               env.sql("SELECT id, status FROM subscribers ORDER BY id"))
before = fp()
for p in ["/archive", "/feed.xml", "/p/" + slugs[first], "/p/" + slugs[second], "/p/nope"]:
    curl(p)
    curl(p, "-I")
ok("GETs and HEADs of every public page change nothing", fp() == before)

# --- the feed, read by a real feed parser ---
code, out = curl("/feed.xml")
xml = out.split("\r\n\r\n", 1)[1]
f = feedparser.parse(xml)
ok("/feed.xml: 200, Atom content type, well formed for feedparser",
   code == 200 and header(out, "Content-Type").startswith("application/atom+xml") and
   not f.bozo and f.version == "atom10", f.get("bozo_exception"))
ok("feed: one entry per sent issue, newest first, with the alternate link to /p/SLUG",
   [e.link for e in f.entries] == [URL + "/p/" + slugs[i] for i in (paidonly, second, first)],
   [e.link for e in f.entries])
ok("feed: title, updated, self and alternate links",
   f.feed.title == "Growth Dragons" and f.feed.get("updated") and
   any(l.rel == "self" for l in f.feed.links))
contents = [e.content[0].value for e in f.entries]
ok("feed: free cut only, with the call to action",
   "Happy Lunar New Year" in contents[2] and "paid edition" not in contents[2] and
   "PAIDPART2" not in contents[1] and "PAIDONLYBODY" not in contents[0] and
   all("free trial" in c for c in contents))
ids = [e.id for e in f.entries]
env.bs("issue", "create", os.path.join(env.dir, "draft.md"))
f2 = feedparser.parse(curl("/feed.xml")[1].split("\r\n\r\n", 1)[1])
ok("feed: entry ids are tag: URIs, unique and stable", len(set(ids)) == 3 and
   all(i.startswith("tag:growth-dragons.example.com,") for i in ids) and
   [e.id for e in f2.entries] == ids, ids)

# --- conditional GET ---
for path in ["/feed.xml", "/archive", "/p/" + slugs[first]]:
    code, out = curl(path)
    etag, lm = header(out, "ETag"), header(out, "Last-Modified")
    c1, o1 = curl(path, "-H", "If-None-Match: " + (etag or '"x"'))
    c2, o2 = curl(path, "-H", "If-Modified-Since: " + (lm or "x"))
    c3, _ = curl(path, "-H", 'If-None-Match: "stale"', "-H", "If-Modified-Since: " + (lm or "x"))
    c4, _ = curl(path, "-H", "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT")
    ok("%s: ETag and Last-Modified; 304 on If-None-Match and If-Modified-Since, "
       "200 when stale" % path,
       etag and lm and c1 == 304 and c2 == 304 and c3 == 200 and c4 == 200 and
       o1.split("\r\n\r\n", 1)[1] == "" and header(o1, "ETag") == etag, (etag, lm, c1, c2, c3, c4))
ok("HEAD /feed.xml: 200 with the ETag", header(curl("/feed.xml", "-I")[1], "ETag") is not None)
code, out = curl("/feed.xml")
etag = header(out, "ETag")
later = write_issue("later.md", "A Later Issue", "LATER")
env.bs("issue", "schedule", later, "--now")
env.wait(lambda: env.status(later) == "sent", timeout=60)
c, o = curl("/feed.xml", "-H", "If-None-Match: " + etag)
ok("a new issue sent: the old ETag gets 200 and the new entry", c == 200 and "A Later Issue" in o, c)

rc = env.stop()
ok("daemon stops cleanly", rc == 0, env.log()[-800:])
sys.exit(exit_code())
