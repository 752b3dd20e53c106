"""issue_links.py - [title](issue:SLUG) links between issues, on the real daemon.

The long seed (examples/alibaba-deepseek.md) names two related reads; here
they are issues of their own, and the post links to them with issue:SLUG.
'issue create' refuses an unknown slug, a malformed one and a cancelled
target, naming the file and line, and stores nothing; a draft target is
accepted at create. 'issue schedule' refuses a target that would not be
public when this one goes out (a draft, one scheduled later), naming the
slug and the line. Once the targets went out, the post is sent: every copy
(text and HTML, captured by tests/smtpd.py) and its archive page link to
BASE_URL/p/SLUG, and those pages answer 200. A target cancelled after the
check: the daemon pauses the linking issue with the reason instead of
mailing a dead link.
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
from harness import ok, exit_code, web_env, TOP  # noqa: E402

env, relay, URL = web_env()
env.subscribers([("reader@example.com", "Reader", "free"), ("payer@example.com", "P", "paid")])

SEED = open(os.path.join(TOP, "examples", "alibaba-deepseek.md")).read()
TIKTOK = "Why America’s Obsession With Banning TikTok Misses the Real Tech War"
RISE = "Why DeepSeek’s Rise Could Shake the AI World"


def write(name, text):
    p = os.path.join(env.dir, name)
    open(p, "w").write(text)
    return p


def create(name, text):
    return env.bs("issue", "create", write(name, text), check=False)


def issue_file(subject, body="A related read.\n"):
    return "---\nsubject: %s\npreheader: related\naudience: all\n---\n\n%s" % (subject, body)


def slug(iid):
    return json.loads(env.bs("issue", "show", iid, "--json").stdout)["slug"]


def count():
    return env.one("SELECT count(*) FROM issues")


def line_of(text, needle):
    return text[:text.index(needle)].count("\n") + 1


t1 = int(create("tiktok.md", issue_file(TIKTOK)).stdout)
t2 = int(create("rise.md", issue_file(RISE)).stdout)
s1, s2 = slug(t1), slug(t2)
ok("the related reads are issues with slugs from their subjects",
   s1 == "why-americas-obsession-with-banning-tiktok-misses-the-real" and
   s2 == "why-deepseeks-rise-could-shake-the-ai-world", (s1, s2))
show = env.bs("issue", "show", t1).stdout
ok("issue show tells the archive address and how to link to it",
   "archive:   %s/p/%s (link to it with issue:%s)" % (URL, s1, s1) in show, show)

post = SEED.replace("https://news.example.com/p/tiktok-ban", "issue:" + s1) \
           .replace("https://news.example.com/p/deepseek-rise", "issue:" + s2)
ok("the seed's related reads now link with issue:SLUG", post.count("](issue:") == 2)

# --- hostile input at create: nothing stored ---
n0 = count()
bad = post.replace("issue:" + s2, "issue:deepseek-rise")
r = create("unknown.md", bad)
ok("an unknown slug: exit 65, the file, the line and the slug named, nothing stored",
   r.returncode == 65 and "unknown.md:%d: issue:deepseek-rise: no issue has this slug"
   % line_of(bad, "issue:deepseek-rise") in r.stderr and count() == n0, r.stderr)
for junk in ("issue:../../etc/passwd", "issue:UPPER", "issue:", "issue:a%0Db"):
    r = create("junk.md", post.replace("issue:" + s1, junk))
    ok("a malformed target %r refused naming the line, nothing stored" % junk,
       r.returncode == 65 and ("junk.md:%d:" % line_of(post, "issue:" + s1)) in r.stderr and
       count() == n0, r.stderr)
t3 = int(create("gone.md", issue_file("A Post We Dropped")).stdout)
env.bs("issue", "cancel", t3)
r = create("cancelled.md", post.replace("issue:" + s1, "issue:" + slug(t3)))
ok("a cancelled target refused at create", r.returncode == 65 and "cancelled" in r.stderr and
   count() == n0 + 1, r.stderr)

# --- create with draft targets: fine; schedule: refused until they go first ---
r = create("post.md", post)
ok("the post with links to two drafts is created", r.returncode == 0, r.stderr)
pid = int(r.stdout)
r = env.bs("issue", "schedule", pid, "--now", check=False)
ok("scheduling it while a target is a draft: exit 65 naming the slug and the line, still a draft",
   r.returncode == 65 and "issue %d, line %d of its Markdown: issue:%s: that issue (%d) is draft"
   % (pid, line_of(post.split("---\n", 2)[2], "issue:" + s1), s1, t1) in r.stderr and
   env.status(pid) == "draft", r.stderr)
env.bs("issue", "schedule", t1, "--at", "2099-01-01T10:00:00Z")
env.bs("issue", "schedule", t2, "--at", "2099-01-01T09:00:00Z")
r = env.bs("issue", "schedule", pid, "--at", "2099-01-01T09:30:00Z", check=False)
ok("a target scheduled after this one: refused, the target's time named",
   r.returncode == 65 and "issue:%s" % s1 in r.stderr and "2099-01-01T10:00:00Z" in r.stderr and
   env.status(pid) == "draft", r.stderr)
r = env.bs("issue", "schedule", pid, "--at", "2099-01-01T10:00:00Z", check=False)
ok("both targets out no later than this one: scheduled", r.returncode == 0, r.stderr)

# --- sent: every copy and the archive link to the targets' pages ---
env.start()
env.bs("issue", "schedule", t1, "--now")
env.bs("issue", "schedule", t2, "--now")
ok("the targets go out", env.wait(lambda: env.status(t1) == env.status(t2) == "sent", timeout=90))
env.bs("issue", "schedule", pid, "--now")
ok("the post goes out", env.wait(lambda: env.status(pid) == "sent", timeout=90),
   env.bs("issue", "show", pid).stdout)
dids = {d for (d,) in env.sql("SELECT id FROM deliveries WHERE issue_id = ?", pid)}
mails = [m for m in relay.log() if int(m["message_id"].split(".")[0]) in dids]
ok("two copies of the post captured", len(mails) == 2, len(mails))
good = True
for m in mails:
    msg = email.message_from_bytes(open(os.path.join(relay.dir, m["file"]), "rb").read(),
                                   policy=email.policy.default)
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    good &= ("%s/p/%s" % (URL, s1) in text and 'href="%s/p/%s"' % (URL, s2) in html and
             "issue:" not in text and "issue:" not in html)
ok("each copy links to BASE_URL/p/SLUG in text and HTML, no issue: left", mails and good)


def curl(path):
    r = subprocess.run(["curl", "-s", "-i", "--max-time", "20", URL + path], capture_output=True)
    out = r.stdout.decode("utf-8", "replace")
    m = re.match(r"HTTP/1\.1 (\d+)", out)
    return (int(m.group(1)) if m else 0), out


code, page = curl("/p/" + slug(pid))
ok("the archive page of the post links to the related reads",
   code == 200 and 'href="%s/p/%s"' % (URL, s1) in page and 'href="%s/p/%s"' % (URL, s2) in page,
   page[-800:])
ok("and those pages answer 200", curl("/p/" + s1)[0] == 200 and curl("/p/" + s2)[0] == 200)

# --- the daemon's own check: a target cancelled after scheduling ---
t4 = int(create("later.md", issue_file("A Follow-up Coming Soon")).stdout)
q = int(create("q.md", issue_file("Read the Follow-up", "See [the follow-up](issue:%s).\n"
                                  % slug(t4))).stdout)
env.bs("issue", "schedule", t4, "--at", "2099-01-01T10:00:00Z")
env.bs("issue", "schedule", q, "--at", "2099-01-01T10:00:00Z")
env.bs("issue", "cancel", t4)
sent_before = relay.count()
env.sql("UPDATE issues SET send_at = 1 WHERE id = ?", q)   # its time came
ok("a target cancelled after the check: the daemon pauses the issue, naming the link",
   env.wait(lambda: env.status(q) == "paused", timeout=60) and
   "issue:%s" % slug(t4) in env.one("SELECT pause_reason FROM issues WHERE id = ?", q),
   (env.status(q), env.one("SELECT pause_reason FROM issues WHERE id = ?", q)))
time.sleep(1)
ok("no copy with the dead link left", relay.count() == sent_before)

rc = env.stop()
ok("daemon stops cleanly", rc == 0, env.log()[-800:])
sys.exit(exit_code())
