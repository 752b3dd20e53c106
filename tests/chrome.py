"""chrome.py - a reader's real browser for the end-to-end tests: headless
Chromium driven by Selenium (Debian chromium, chromium-driver,
python3-selenium; `make deps` installs them).

    from chrome import Chrome, available
    if not available(): ...
    b = Chrome(env, "trial")    # screenshots go to $BROADSIDE_BUILD/artifacts/trial/
    b.drv.get(url); b.shoot("page"); b.h1_says("Heading")
"""
import atexit
import os
import time

from harness import BUILD

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By  # noqa: F401 (for the tests)
except ImportError:
    webdriver = None

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def available():
    return webdriver is not None and os.path.exists(CHROMIUM) and os.path.exists(DRIVER)


class Chrome:
    def __init__(self, env, artifacts):
        self.art = os.path.join(BUILD, "artifacts", artifacts)
        os.makedirs(self.art, exist_ok=True)
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--window-size=1280,900",
                  "--user-data-dir=" + os.path.join(env.dir, "chrome-" + artifacts)]:
            opts.add_argument(a)
        self.drv = webdriver.Chrome(service=Service(DRIVER), options=opts)
        atexit.register(self.drv.quit)
        self.drv.set_page_load_timeout(30)

    def shoot(self, name):
        """Desktop and phone screenshots of the page as it is now; True
        when it fits a phone's width."""
        for label, (w, h) in (("desktop", (1280, 900)), ("phone", (390, 844))):
            self.drv.set_window_size(w, h)
            time.sleep(0.2)
            self.drv.save_screenshot(os.path.join(self.art, "%s-%s.png" % (name, label)))
        fits = self.drv.execute_script(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1")
        self.drv.set_window_size(1280, 900)
        return fits

    def h1_says(self, text, timeout=15):
        """Waits for the page after a click: its h1 holds text (the old
        page's elements go stale meanwhile)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if text in self.drv.find_element(By.TAG_NAME, "h1").text:
                    return True
            except Exception:
                pass
            time.sleep(0.1)
        return False

    def shots(self):
        return sorted(f for f in os.listdir(self.art) if f.endswith(".png"))
