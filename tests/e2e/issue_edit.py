"""issue_edit.py - an issue edited before it goes out, on the real daemon.

An issue is created, its subject edited (and edited back and forth), then
sent through a real SMTP capture: the copies carry the last subject and
Markdown; /p/NEWSLUG answers 200; every earlier slug answers 301 (GET and
HEAD) with Location BASE_URL/p/NEWSLUG, which curl -L follows to the page;
before it is public every one of them is 404. A new issue of an earlier
subject gets its own slug ("-2"), never the edited issue's old one, and an
issue:OLDSLUG link in another issue still reaches the edited one. Once sent,
the issue cannot be edited and nothing changes.
"""
import email
import email.policy
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import web_env, ok, exit_code  # noqa: E402

env, relay, URL = web_env()


def curl(path, *args):
    r = subprocess.run(["curl", "-s", "-i", "--max-time", "20"] + list(args) + [URL + path],
                       capture_output=True)
    out = r.stdout.decode("utf-8", "replace")
    # With -L the last response's status line is the one that counts.
    codes = [int(l.split()[1]) for l in out.split("\r\n") if l.startswith("HTTP/1.1 ")]
    return (codes[-1] if codes else 0), out


def header(out, name):
    for line in out.split("\r\n"):
        if line.lower().startswith(name.lower() + ":"):
            return line.split(":", 1)[1].strip()
    return None


def write(name, subject, body):
    p = os.path.join(env.dir, name)
    with open(p, "w") as f:
        f.write("---\nsubject: %s\npreheader: pre\naudience: all\n---\n\n%s\n" % (subject, body))
    return p


def slug(i):
    return env.one("SELECT slug FROM issues WHERE id = ?", i)


env.subscribers([("free@example.com", "Free", "free"), ("paid@example.com", "Paid", "paid")])
iid = int(env.bs("issue", "create", write("a.md", "Old Title", "OLDBODY")).stdout.strip())
env.bs("issue", "edit", iid, write("b.md", "Middle Title", "MIDDLEBODY"))
env.bs("issue", "edit", iid, write("c.md", "Old Title", "OLDBODY again"))
ok("edited back to its first subject: its first slug again", slug(iid) == "old-title", slug(iid))
env.bs("issue", "edit", iid, write("d.md", "New Title", "NEWBODY is the last text."))
ok("edited to a new subject: a new slug", slug(iid) == "new-title", slug(iid))
ok("both earlier slugs kept as its aliases",
   env.sql("SELECT old_slug, issue_id FROM issue_slug_alias ORDER BY old_slug") ==
   [("middle-title", iid), ("old-title", iid)])
other = int(env.bs("issue", "create", write("e.md", "Old Title", "OTHERBODY")).stdout.strip())
ok("a new issue of an earlier subject gets its own slug", slug(other) == "old-title-2",
   slug(other))
linker = int(env.bs("issue", "create", write("f.md", "Linker",
                                             "Read [the edited one](issue:old-title).")).stdout.strip())
ok("issue:OLDSLUG accepted at create", linker > 0)

env.start()
ok("daemon answers", env.wait(lambda: curl("/healthz")[0] == 200, timeout=60))
for p in ["/p/new-title", "/p/old-title", "/p/middle-title"]:
    ok("draft: GET %s is 404" % p, curl(p)[0] == 404)

env.bs("issue", "schedule", iid, "--now")
ok("the edited issue is sent", env.wait(lambda: env.status(iid) == "sent", timeout=90),
   env.status(iid))
dids = {d for (d,) in env.sql("SELECT id FROM deliveries WHERE issue_id = ?", iid)}
mails = [m for m in relay.log() if int(m["message_id"].split(".")[0]) in dids]
good = len(mails) == 2
for m in mails:
    msg = email.message_from_bytes(open(os.path.join(relay.dir, m["file"]), "rb").read(),
                                   policy=email.policy.default)
    text = msg.get_body(("plain",)).get_content()
    good &= msg["Subject"] == "New Title" and "NEWBODY" in text and "OLDBODY" not in text
ok("two copies, with the edited subject and Markdown", good, len(mails))

code, out = curl("/p/new-title")
ok("GET /p/NEWSLUG: 200 with the edited text", code == 200 and "NEWBODY" in out and
   "New Title" in out, code)
for old in ["old-title", "middle-title"]:
    code, out = curl("/p/" + old)
    ok("GET /p/%s: 301 to BASE_URL/p/new-title" % old,
       code == 301 and header(out, "Location") == URL + "/p/new-title",
       (code, header(out, "Location")))
    code, out = curl("/p/" + old, "-I")
    ok("HEAD /p/%s: 301 with the Location" % old,
       code == 301 and header(out, "Location") == URL + "/p/new-title", code)
    code, out = curl("/p/" + old, "-L")
    ok("curl -L /p/%s ends at the page, 200" % old, code == 200 and "NEWBODY" in out, code)
ok("GET /p/old-title-2 (another issue, a draft): 404, not a redirect",
   curl("/p/old-title-2")[0] == 404)
ok("an unknown slug: still 404", curl("/p/never-was")[0] == 404)

env.bs("issue", "schedule", linker, "--now")
ok("the linking issue is sent", env.wait(lambda: env.status(linker) == "sent", timeout=90))
code, out = curl("/p/" + slug(linker))
ok("its page links to BASE_URL/p/old-title", code == 200 and
   'href="%s/p/old-title"' % URL in out, code)
code, out = curl("/p/old-title", "-L")
ok("which reaches the edited issue's page", code == 200 and "NEWBODY" in out, code)

before = env.sql("SELECT subject, source, slug, updated_at FROM issues WHERE id = ?", iid)
r = env.bs("issue", "edit", iid, write("g.md", "Too Late", "LATE"), check=False)
ok("a sent issue cannot be edited (exit 65, says it is sent)",
   r.returncode == 65 and "is sent" in r.stderr, (r.returncode, r.stderr))
ok("... and nothing changed",
   env.sql("SELECT subject, source, slug, updated_at FROM issues WHERE id = ?", iid) == before and
   env.one("SELECT count(*) FROM issue_slug_alias") == 2)

rc = env.stop()
ok("daemon stops cleanly", rc == 0, env.log()[-800:])
sys.exit(exit_code())
