"""browser.py - a reader in a real browser (headless Chromium via Selenium).

Loads the signup page, fills it in as a person would (the honeypot stays
hidden and empty), submits, follows the link of the confirmation email that
tests/smtpd.py captured, presses Confirm, and reads the archive and an issue.
The reader is pending until the button is pressed, active after, and then
receives the welcome email and the latest issue (catch-up, the free cut). Screenshots
of the signup, confirm, archive and issue pages at desktop and phone widths
are kept in $BROADSIDE_BUILD/artifacts/browser/. Skipped when chromium,
chromedriver or python3-selenium is missing (make deps installs them).
"""
import atexit
import os
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import Env, Smtpd, ok, exit_code, free_port  # noqa: E402
from chrome import Chrome, By, available  # noqa: E402

if not available():
    print("ok - browser test # SKIP chromium, chromedriver or python3-selenium not installed")
    sys.exit(0)

PORT = free_port()
URL = "http://127.0.0.1:%d" % PORT


class Pre:
    dir = tempfile.mkdtemp(prefix="broadside-e2e-pre.")
    procs = []


relay = Smtpd(Pre, "relay")
env = Env([{"port": relay.port}], extra='signup: { min_fill_time = "1s"; };')
env.procs += Pre.procs
atexit.register(shutil.rmtree, Pre.dir, True)
conf = open(env.conf).read()
conf = re.sub(r'base_url = "[^"]*"', 'base_url = "%s"' % URL, conf)
conf = re.sub(r'listen = "127.0.0.1:\d+"', 'listen = "127.0.0.1:%d"' % PORT, conf)
open(env.conf, "w").write(conf)
env.subscribers([("old@example.com", "Old", "free")])
issue = env.issue()
env.start()
env.bs("issue", "schedule", issue, "--now")
ok("an issue is sent first (the archive has something)",
   env.wait(lambda: env.status(issue) == "sent", timeout=60))
slug = env.one("SELECT slug FROM issues WHERE id = ?", issue)

browser = Chrome(env, "browser")
drv, shoot, h1_says = browser.drv, browser.shoot, browser.h1_says


def status(addr):
    return env.one("SELECT status FROM subscribers WHERE email_key = ?", addr)


drv.get(URL + "/subscribe")
email_in = drv.find_element(By.ID, "email")
hp = drv.find_element(By.NAME, "website")
ok("signup page in Chromium: title, an email field, the honeypot not shown",
   drv.title == "Subscribe - Growth Dragons" and email_in.is_displayed() and not hp.is_displayed(),
   drv.title)
ok("signup page fits a phone's width", shoot("signup"))
email_in.send_keys("Browser.Reader@example.com")
drv.find_element(By.ID, "name").send_keys("Bro <Reader>")
time.sleep(1.2)     # a person takes a moment (signup.min_fill_time)
drv.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
ok("submitted: 'Check your inbox'", h1_says("Check your inbox"), drv.page_source[-500:])
shoot("signup-done")
ok("the reader is pending", status("browser.reader@example.com") == "pending")

mail = env.wait(lambda: [m for m in relay.log() if "Browser.Reader@example.com" in m["rcpt"]],
                timeout=30)
ok("the confirmation email was captured", bool(mail))
raw = open(os.path.join(relay.dir, mail[0]["file"]), "rb").read().decode() if mail else ""
raw = re.sub(r"=\r?\n", "", raw)      # quoted-printable soft breaks
link = re.search(re.escape(URL) + r"/confirm/[0-9a-z]+\.[A-Za-z0-9_-]{22}", raw)
ok("it carries the confirm link", bool(link))
if link:
    drv.get(link.group(0))
    btn = drv.find_elements(By.XPATH, "//button[normalize-space()='Confirm']")
    ok("the link opens a page with a Confirm button; opening it changed nothing",
       len(btn) == 1 and status("browser.reader@example.com") == "pending")
    ok("confirm page fits a phone's width", shoot("confirm"))
    btn[0].click()
    ok("Confirm pressed: 'You are subscribed', the reader active",
       h1_says("You are subscribed") and status("browser.reader@example.com") == "active")
    shoot("confirmed")
    # The welcome and the latest issue follow (welcome.c).
    got = env.wait(lambda: len([m for m in relay.log()
                                if "Browser.Reader@example.com" in m["rcpt"]]) >= 3 and
                   [m for m in relay.log() if "Browser.Reader@example.com" in m["rcpt"]],
                   timeout=60) or []
    bodies = [re.sub(r"=\r?\n", "", open(os.path.join(relay.dir, m["file"]), "rb").read()
                     .decode()) for m in got]
    ok("then the reader receives the welcome email and the latest issue",
       len(got) == 3 and any("Welcome to Growth Dragons: you are in" in b for b in bodies) and
       any("Happy Lunar New Year" in b and "Start your free trial" in b for b in bodies),
       [b[:200] for b in bodies])
    ok("the latest issue came as a catch-up copy",
       env.one("SELECT d.catch_up FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id "
               "WHERE s.email_key = 'browser.reader@example.com' AND d.issue_id = ?", issue) == 1)

drv.get(URL + "/archive")
links = drv.find_elements(By.CSS_SELECTOR, ".issues a")
ok("archive in Chromium lists the sent issue", len(links) == 1 and "Growth Dragons Weekly" in links[0].text)
ok("archive page fits a phone's width", shoot("archive"))
links[0].click() if links else drv.get(URL + "/p/" + slug)
ok("the archive's link opens the issue: free cut and the call to action",
   h1_says("Growth Dragons Weekly") and drv.current_url == URL + "/p/" + slug and "Happy Lunar New Year" in drv.page_source and
   "Start your free trial" in drv.page_source and "paid edition" not in drv.page_source)
ok("issue page fits a phone's width", shoot("issue"))
shots = browser.shots()
ok("screenshots kept: %d in %s" % (len(shots), browser.art), len(shots) >= 12, shots)
drv.quit()
rc = env.stop()
ok("daemon stops cleanly", rc == 0, env.log()[-800:])
sys.exit(exit_code())
