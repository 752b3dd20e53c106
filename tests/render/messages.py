#!/usr/bin/python3
"""messages - every rendered copy read back by an independent MIME parser.

Creates the two example issues and a few subscribers (some hostile) with the
real CLI, renders copies with `broadside issue preview`, and checks them with
Python's `email` package: structure, headers, encoded subject, line lengths
and CRLF, decoded text against the Markdown source, the paywall cut, header
injection, a 5 MB issue, an issue without a cut and a cut on the first line.
Prints one "ok - ..." / "not ok - ..." line per check.
"""
import email
import email.policy
from email.header import decode_header, make_header
import html
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("BROADSIDE_BUILD", os.path.join(TOP, "build"))
BS = os.path.join(BUILD, "broadside")

# The seed titles, verbatim (tests/fixtures/seeds/*.txt, first line).
WEEKLY_TITLE = ("Growth Dragons Weekly: DeepSeek\u2019s AI Disruption, Alibaba\u2019s "
                "Robot Spectacle, and China\u2019s Memory Chip Strides")
POST_TITLE = ("Why Alibaba\u2019s DeepSeek Partnership is a Strategic "
              "Masterstroke\u2014and a Hidden Risk")
CTA_TITLE = "Keep reading with a 7-day free trial"
CTA_TEXT = ("Subscribe to Growth Dragons to keep reading this post and get 7 days "
            "of free access to the full post archives.")
HEADERS = ["From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "List-Id",
           "List-Unsubscribe", "List-Unsubscribe-Post", "Feedback-ID", "Content-Type"]

failed = 0

# The sample posts the examples were made from: the titles above must be theirs.
SEEDS = os.path.join(TOP, "tests", "fixtures", "seeds")


def ok(cond, name, detail=""):
    global failed
    if cond:
        print("ok - " + name)
    else:
        failed += 1
        print("not ok - " + name)
        if detail:
            for line in str(detail).splitlines()[:6]:
                print("#   " + line)
    return cond


tmp = tempfile.mkdtemp(prefix="broadside-render.")
conf = os.path.join(tmp, "broadside.conf")
with open(conf, "w") as f:
    f.write(f'''database = "{tmp}/broadside.db";
templates = "{TOP}/templates";
list: {{ name = "Growth Dragons"; id = "growth-dragons.example.com";
        from = "Growth Dragons <news@example.com>"; base_url = "https://news.example.com/";
        upgrade_url = "https://news.example.com/subscribe?plan=paid&trial=7";
        address = "1 Example Street, Springfield"; }};
bounces: {{ address = "bounces@mail.example.com"; }};
''')
env = dict(os.environ, BROADSIDE_CONFIG=conf)


def bs(*args, check=True):
    p = subprocess.run([BS, *args], env=env, capture_output=True)
    if check and p.returncode != 0:
        raise RuntimeError(f"broadside {' '.join(args)}: exit {p.returncode}: "
                           + p.stderr.decode(errors="replace"))
    return p


def norm(s):
    return re.sub(r"\s+", " ", s).strip()


def html_text(h):
    h = re.sub(r"(?is)<(style|title)[^>]*>.*?</\1>", " ", h)
    h = re.sub(r"(?i)</?(a|strong|em|b|i|code|del|span)\b[^>]*>", "", h)
    return norm(html.unescape(re.sub(r"<[^>]+>", " ", h)))


def md_blocks(path):
    """The example's body as plain sentences (Markdown syntax removed)."""
    text = open(path, encoding="utf-8").read()
    body = text.split("\n---\n", 1)[1] if text.startswith("---\n") else text
    before, _, after = body.partition("<!-- paywall -->")

    def blocks(s):
        """(as in the text part, as in the html part) per source line."""
        out = []
        for line in s.splitlines():
            line = line.strip()
            if not line:
                continue
            line = re.sub(r"^#+\s+", "", line)
            line = re.sub(r"^[-*]\s+", "", line)
            line = re.sub(r"\*\*?([^*]+)\*\*?", r"\1", line)
            link = r"\[([^\]]+)\]\(([^)\s]+)\)"
            out.append((norm(re.sub(link, r"\1 <\2>", line)), norm(re.sub(link, r"\1", line))))
        return out
    return blocks(before), blocks(after)


def check_message(label, raw, *, title, to_addr, to_name, issue, free_blocks,
                  paid_blocks, cut, tier):
    lines = raw.split(b"\r\n")
    ok(lines[-1] == b"" and all(b"\n" not in l and b"\r" not in l for l in lines),
       f"{label}: CRLF only, no bare CR or LF")
    hdr_end = lines.index(b"")
    ok(all(len(l) <= 78 for l in lines[:hdr_end]), f"{label}: header lines <= 78",
       [l for l in lines[:hdr_end] if len(l) > 78])
    long_body = [l for l in lines[hdr_end:] if len(l) > 76]
    ok(not long_body, f"{label}: body lines <= 76 (quoted-printable)", long_body[:2])
    ok(all(b < 128 for b in raw), f"{label}: the message is 7-bit ASCII")

    msg = email.message_from_bytes(raw, policy=email.policy.default)
    names = [k for k in msg.keys()]
    ok(names == HEADERS, f"{label}: exactly the headers, in order", names)
    ok(not msg.defects, f"{label}: no defects in the headers", msg.defects)
    ok(str(msg["Subject"]) == title, f"{label}: Subject decodes to the seed title",
       str(msg["Subject"]))
    frm = msg["From"].addresses
    ok(len(frm) == 1 and frm[0].addr_spec == "news@example.com"
       and frm[0].display_name == "Growth Dragons", f"{label}: From")
    to = msg["To"].addresses
    # CPython's address parser keeps the space between two adjacent
    # encoded-words that RFC 2047 6.2 says to drop (only a name too long
    # for one word has them); decode_header follows the RFC.
    shown = to[0].display_name if to else None
    if shown != to_name:
        raw_to = re.search(rb"\r\nTo: (.*?)\r\n(?! )", raw, re.S).group(1).decode()
        full = str(make_header(decode_header(raw_to.replace("\r\n", ""))))
        shown = full[:-len(to_addr) - 3] if full.endswith(f" <{to_addr}>") else full
    ok(len(to) == 1 and to[0].addr_spec == to_addr and shown == to_name,
       f"{label}: To is the one subscriber, name decoded",
       f"{[(a.display_name, a.addr_spec) for a in to]} want {(to_name, to_addr)}")
    ok(msg["Date"].datetime is not None and abs(msg["Date"].datetime.timestamp() - time.time()) < 300,
       f"{label}: Date in RFC 5322 form, now")
    ok(re.fullmatch(r"<0\.[0-9a-f]{16}@example\.com>", str(msg["Message-ID"])) is not None,
       f"{label}: Message-ID <delivery.random@sending domain>", msg["Message-ID"])
    ok(str(msg["MIME-Version"]) == "1.0", f"{label}: MIME-Version")
    ok(str(msg["List-Id"]) == '"Growth Dragons" <growth-dragons.example.com>',
       f"{label}: List-Id", msg["List-Id"])
    m = re.fullmatch(r"<https://news\.example\.com/u/([0-9a-z]+\.[A-Za-z0-9_-]{22})>, "
                     r"<mailto:unsubscribe\+\1@mail\.example\.com>", str(msg["List-Unsubscribe"]))
    ok(m is not None, f"{label}: List-Unsubscribe https + mailto, one token",
       msg["List-Unsubscribe"])
    ok(str(msg["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click",
       f"{label}: List-Unsubscribe-Post")
    ok(str(msg["Feedback-ID"]) == f"{issue}:growth-dragons.example.com:broadside",
       f"{label}: Feedback-ID")

    ok(msg.get_content_type() == "multipart/alternative", f"{label}: multipart/alternative")
    parts = list(msg.iter_parts())
    ok([p.get_content_type() for p in parts] == ["text/plain", "text/html"],
       f"{label}: text/plain then text/html")
    ok(all(p.get_content_charset() == "utf-8" and p["Content-Transfer-Encoding"] ==
           "quoted-printable" and not p.defects for p in parts),
       f"{label}: both parts UTF-8 quoted-printable, no defects")
    text = parts[0].get_content()
    page = parts[1].get_content()
    nt, nh = norm(text), html_text(page)

    want = free_blocks + (paid_blocks if tier == "paid" or not cut else [])
    missing = [t for t, h in want if t not in nt]
    ok(not missing, f"{label}: text part holds the source ({len(want)} blocks)", missing[:3])
    missing = [h for t, h in want if h not in nh]
    ok(not missing, f"{label}: html part holds the source", missing[:3])
    if tier == "free" and cut:
        leaked = [t for t, h in paid_blocks if t in nt or h in nh]
        ok(not leaked, f"{label}: nothing after the cut", leaked[:3])
        ok(CTA_TITLE in nt and CTA_TEXT in nt and CTA_TITLE in nh and CTA_TEXT in nh,
           f"{label}: the call to action, text and html")
        ok('href="https://news.example.com/subscribe?plan=paid&amp;trial=7"' in page
           and "https://news.example.com/subscribe?plan=paid&trial=7" in text,
           f"{label}: upgrade button to upgrade_url")
    else:
        ok(CTA_TITLE not in nt and CTA_TITLE not in nh, f"{label}: no call to action")
    ok("paywall" not in text and "paywall" not in page, f"{label}: the cut mark never shows")
    # the subject line and the greeting are slot values, not wrapped
    over = [l for l in text.splitlines()[1:] if len(l) > 72 and " " in l
            and not l.startswith("Hi ")]
    ok(not over, f"{label}: text wrapped at 72 columns", over[:2])
    token = m.group(1) if m else "?"
    ok(f'href="https://news.example.com/u/{token}"' in page and
       f"https://news.example.com/u/{token}" in text, f"{label}: footer unsubscribe link")
    ok("1 Example Street, Springfield" in nt and "1 Example Street, Springfield" in nh,
       f"{label}: postal address line")
    ok('width="600"' in page and "display:none" in page and "color-scheme" in page,
       f"{label}: 600px table layout, hidden preheader, dark-mode meta")
    return msg, text, page


try:
    for seed, title in (("growth-dragons-weekly.txt", WEEKLY_TITLE),
                        ("alibaba-deepseek-post.txt", POST_TITLE)):
        with open(os.path.join(SEEDS, seed), encoding="utf-8") as f:
            ok(f.readline().strip() == title, f"seed title of {seed} is the one checked")

    bs("init")
    weekly = os.path.join(TOP, "examples", "growth-dragons-weekly.md")
    post = os.path.join(TOP, "examples", "alibaba-deepseek.md")
    w_id = bs("issue", "create", weekly).stdout.decode().strip()
    p_id = bs("issue", "create", post).stdout.decode().strip()
    bs("subscriber", "add", "ada@example.com", "--name", "Ada Lovelace")
    bs("subscriber", "add", "zoe@example.com", "--name", "Zo\u00eb \u201cZ\u201d O'Brien", "--tier", "paid")

    wf, wp = md_blocks(weekly)
    pf, pp = md_blocks(post)
    for issue, title, fb, pb, cut in ((w_id, WEEKLY_TITLE, wf, wp, True),
                                      (p_id, POST_TITLE, pf, pp, bool(pp))):
        for tier, addr, name in (("free", "ada@example.com", "Ada Lovelace"),
                                 ("paid", "zoe@example.com", "Zo\u00eb \u201cZ\u201d O'Brien")):
            raw = bs("issue", "preview", issue, "--to", addr).stdout
            label = f"issue {issue} {tier}"
            msg, text, page = check_message(label, raw, title=title, to_addr=addr, to_name=name,
                                            issue=issue, free_blocks=fb, paid_blocks=pb,
                                            cut=cut, tier=tier)
            ok(("Hi " + name + ",") in text and ("Hi " + name + ",") in html.unescape(page),
               f"{label}: greeting with the name slot")
            t2 = bs("issue", "preview", issue, "--to", addr, "--format", "text").stdout.decode()
            h2 = bs("issue", "preview", issue, "--to", addr, "--format", "html").stdout.decode()
            ok(t2 == text.replace("\r\n", "\n") and h2 == page.replace("\r\n", "\n"),
               f"{label}: --format text/html equal the decoded parts")
    ok(not pp, "the long post has no cut: free readers get it whole")

    # Message-ID is unique per copy.
    ids = {str(email.message_from_bytes(bs("issue", "preview", w_id).stdout,
                                        policy=email.policy.default)["Message-ID"]) for _ in range(5)}
    ok(len(ids) == 5, "Message-ID differs in every copy")

    # Hostile names, stored past the CLI's checks (as a buggy import might).
    db = sqlite3.connect(os.path.join(tmp, "broadside.db"))
    hostile = [
        ("eve@example.com", "Eve\r\nBcc: all@example.com\r\n\r\nInjected body", "Eve Bcc: all@example.com Injected body"),
        ("quote@example.com", 'Joe "The Man" \\ O\'Neil, Jr.', 'Joe "The Man" \\ O\'Neil, Jr.'),
        ("brace@example.com", "{{name}} {{unsubscribe_url}} <b>x</b> &amp; =?UTF-8?Q?x?=",
         "{{name}} {{unsubscribe_url}} <b>x</b> &amp; =?UTF-8?Q?x?="),
        ("long@example.com", "\u00e9" * 400 + " x" * 300, norm("\u00e9" * 400 + " x" * 300)),
    ]
    for addr, name, shown in hostile:
        db.execute("INSERT INTO subscribers (email, email_key, name, created_at, updated_at) "
                   "VALUES (?, ?, ?, 0, 0)", (addr, addr, name))
    db.commit()
    for addr, name, shown in hostile:
        label = f"hostile name {addr}"
        raw = bs("issue", "preview", w_id, "--to", addr).stdout
        msg, text, page = check_message(label, raw, title=WEEKLY_TITLE, to_addr=addr,
                                        to_name=shown, issue=w_id, free_blocks=wf,
                                        paid_blocks=wp, cut=True, tier="free")
        ok("Bcc" not in msg and len(msg.get_all("To")) == 1, f"{label}: no header injected")
        ok(("Hi " + shown + ",") in text and ("Hi " + shown + ",") in html.unescape(page),
           f"{label}: name literal in text, escaped in html")
        ok("<b>x</b>" not in page, f"{label}: no raw HTML from a name")

    # An issue without a cut, a cut on the first line, a 5 MB issue.
    def create(name, body, subject="Edge case \u2014 \u201ctest\u201d"):
        path = os.path.join(tmp, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(f"---\nsubject: {subject}\naudience: all\n---\n{body}")
        return bs("issue", "create", path).stdout.decode().strip()

    first = create("first.md", "<!-- paywall -->\nOnly for paid readers.\n")
    raw = bs("issue", "preview", first, "--tier", "free").stdout
    parts = list(email.message_from_bytes(raw, policy=email.policy.default).iter_parts())
    t = norm(parts[0].get_content())
    ok(CTA_TITLE in t and "Only for paid readers" not in t, "cut on the first line: CTA only")
    raw = bs("issue", "preview", first, "--tier", "paid").stdout
    parts = list(email.message_from_bytes(raw, policy=email.policy.default).iter_parts())
    ok("Only for paid readers" in parts[0].get_content() and CTA_TITLE not in parts[0].get_content(),
       "cut on the first line: paid copy whole")

    nocut = create("nocut.md", "All of it for everyone.\n\n<script>alert(1)</script>\n")
    raw = bs("issue", "preview", nocut, "--tier", "free").stdout
    parts = list(email.message_from_bytes(raw, policy=email.policy.default).iter_parts())
    ok("All of it for everyone." in parts[0].get_content() and CTA_TITLE not in parts[0].get_content(),
       "no cut: free copy whole, no CTA")
    ok("<script>" not in parts[1].get_content() and "&lt;script&gt;" in parts[1].get_content(),
       "raw HTML in Markdown escaped (allow_html false)")

    para = ("DeepSeek\u2019s \u201cmodel\u201d runs\u2014cheaply\u2014on [Ascend](https://example.com/a?b=1&c=2) "
            "chips; =equals= and trailing space \n")
    big = []
    size = 0
    i = 0
    while size < 5 * 1024 * 1024:
        chunk = f"## Section {i}\n\n{para * 6}\n- item {i}\n- item {i}b\n\n"
        big.append(chunk)
        size += len(chunk.encode())
        i += 1
    half = len(big) // 2
    body = "".join(big[:half]) + "<!-- paywall -->\n\n" + "".join(big[half:])
    t0 = time.time()
    bigid = create("big.md", body, subject="A 5 MB issue")
    for tier in ("free", "paid"):
        raw = bs("issue", "preview", bigid, "--tier", tier).stdout
        lines = raw.split(b"\r\n")
        ok(len(raw) > (2_000_000 if tier == "free" else 5_000_000) and
           all(len(l) <= 998 for l in lines) and
           all(len(l) <= 76 for l in lines[lines.index(b""):]),
           f"5 MB issue, {tier}: {len(raw)} bytes, lines within limits")
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        text = list(msg.iter_parts())[0].get_content()
        last = f"Section {len(big) - 1}"
        ok((last + "\n" in text.replace("\r\n", "\n")) == (tier == "paid") and
           (f"Section {half - 1}\n" in text.replace("\r\n", "\n")),
           f"5 MB issue, {tier}: cut at the right place")
    print(f"# 5 MB issue: create + 2 previews in {time.time() - t0:.2f}s")

    # A template error names file, line and column; nothing is printed.
    bad = os.path.join(tmp, "badtpl")
    os.mkdir(bad)
    for n in ("layout.html", "layout.txt", "paywall.html", "paywall.txt"):
        with open(os.path.join(TOP, "templates", n), encoding="utf-8") as f:
            s = f.read()
        if n == "paywall.html":
            s = s.replace("{{upgrade_url}}", "{{upgrade_ur}}")
        with open(os.path.join(bad, n), "w", encoding="utf-8") as f:
            f.write(s)
    with open(conf) as f:
        c = f.read().replace(f'templates = "{TOP}/templates";', f'templates = "{bad}";')
    with open(conf, "w") as f:
        f.write(c)
    p = bs("issue", "preview", w_id, check=False)
    err = p.stderr.decode()
    ok(p.returncode == 78 and re.search(r"badtpl/paywall\.html:\d+:\d+: unknown slot 'upgrade_ur'", err)
       and p.stdout == b"", "template error: file:line:column, exit 78, no output", err)
except Exception as e:  # a crash is a failure, not a silent pass
    ok(False, "render messages test ran to the end", repr(e))
finally:
    subprocess.run(["rm", "-rf", tmp])

sys.exit(1 if failed else 0)
