"""harness.py - what Broadside's end-to-end delivery tests share (Python).

Env() makes a temporary directory with a config and an initialised
database, starts test SMTP servers (tests/smtpd.py) and the real daemon
(broadsided of $BROADSIDE_BUILD), and stops every process it started, by
PID, at exit. Results are printed as "ok - name" / "not ok - name" lines.
"""
import atexit
import csv
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BROADSIDE_BUILD", os.path.join(TOP, "build"))
BS = os.path.join(BUILD, "broadside")
BSD = os.path.join(BUILD, "broadsided")
PY = "/usr/bin/python3"
SMTPD = os.path.join(TOP, "tests", "smtpd.py")
FAILED = []


def ok(name, cond, detail=""):
    print("%s - %s" % ("ok" if cond else "not ok", name), flush=True)
    if not cond:
        FAILED.append(name)
        if detail:
            for line in str(detail).splitlines()[:8]:
                print("#   " + line, flush=True)
    return cond


def stop_at_exit(proc):
    """Kills proc (by its PID) when the test ends, however it ends: a test
    that dies before its Env exists must not leave a server behind."""
    def stop():
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    atexit.register(stop)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Smtpd:
    def __init__(self, env, name, rules=None, bodies=True, greeting=None, auth=None, tls=None):
        self.dir = os.path.join(env.dir, name)
        os.makedirs(self.dir)
        self.port = free_port()
        self.rules = os.path.join(self.dir, "rules.json")
        with open(self.rules, "w") as f:
            json.dump(rules or [], f)
        cmd = [PY, SMTPD, "--port", str(self.port), "--dir", self.dir, "--rules", self.rules]
        if not bodies:
            cmd.append("--no-bodies")
        if greeting:
            cmd += ["--greeting", str(greeting)]
        if auth:
            cmd += ["--auth", auth]
        if tls:
            cmd += ["--tls", tls]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.dir, "stderr"), "w"))
        env.procs.append(self.proc)
        stop_at_exit(self.proc)
        deadline = time.time() + 90  # a loaded machine: python and aiosmtpd start slowly
        while not os.path.exists(os.path.join(self.dir, "ready")):
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError("smtpd did not start: " + open(os.path.join(self.dir, "stderr")).read())
            time.sleep(0.05)

    def log(self):
        p = os.path.join(self.dir, "log.jsonl")
        if not os.path.exists(p):
            return []
        out = []
        with open(p) as f:
            for line in f:
                if line.endswith("\n"):
                    out.append(json.loads(line))
        return out

    def count(self):
        p = os.path.join(self.dir, "log.jsonl")
        if not os.path.exists(p):
            return 0
        with open(p, "rb") as f:
            return f.read().count(b"\n")

    def rcpt_log(self):
        p = os.path.join(self.dir, "rcpt.jsonl")
        return [json.loads(l) for l in open(p)] if os.path.exists(p) else []


class Env:
    def __init__(self, relays, retry='min_backoff = "1s"; max_backoff = "2s"; max_age = "1h";',
                 extra="", log_level="info", database=None,
                 relay_backoff=("1s", "2s")):
        self.dir = tempfile.mkdtemp(prefix="broadside-e2e.")
        # database: another path for the database file (e.g. on a small tmpfs)
        self.db = database or os.path.join(self.dir, "broadside.db")
        self.procs = []
        self.daemon = None
        self.conf = os.path.join(self.dir, "broadside.conf")
        rel = ",\n  ".join(
            '{ host = "%s"; port = %d; connections = %d; rate = %d; '
            'messages_per_session = %d; %s }' % (r.get("host", "127.0.0.1"), r["port"],
                                                 r.get("connections", 2),
                                                 r.get("rate", 0), r.get("per_session", 100),
                                                 r.get("extra", ""))
            for r in relays)
        with open(self.conf, "w") as f:
            f.write('''database = "%s";
templates = "%s/templates";
log_level = "%s";
list: { name = "Growth Dragons"; id = "growth-dragons.example.com";
        from = "Growth Dragons <news@example.com>"; base_url = "http://127.0.0.1:8025";
        upgrade_url = "https://news.example.com/subscribe"; address = "1 Example Street"; };
bounces: { address = "bounces@example.com"; };
http: { listen = "127.0.0.1:%d"; };
relays = (
  %s
);
retry: { %s relay_min_backoff = "%s"; relay_max_backoff = "%s"; };
%s
''' % (self.db, TOP, log_level, free_port(), rel, retry, relay_backoff[0], relay_backoff[1],
       extra))
        os.environ["BROADSIDE_CONFIG"] = self.conf
        atexit.register(self.cleanup)
        self.bs("init")

    def bs(self, *args, check=True):
        r = subprocess.run([BS] + [str(a) for a in args], capture_output=True, text=True)
        if check and r.returncode != 0:
            raise RuntimeError("broadside %s: exit %d: %s" % (" ".join(map(str, args)),
                                                             r.returncode, r.stderr))
        return r

    def sql(self, q, *params):
        con = sqlite3.connect(self.db, timeout=10)
        try:
            rows = con.execute(q, params).fetchall()
            con.commit()
            return rows
        finally:
            con.close()

    def one(self, q, *params):
        rows = self.sql(q, *params)
        return rows[0][0] if rows else None

    def subscribers(self, rows):
        """rows: (email, name, tier) tuples, imported with the CLI."""
        p = os.path.join(self.dir, "subs-%d.csv" % len(os.listdir(self.dir)))
        with open(p, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["email", "name", "tier"])
            w.writerows(rows)
        self.bs("subscriber", "import", p)

    def issue(self, path=None, audience=None):
        src = path or os.path.join(TOP, "examples", "growth-dragons-weekly.md")
        if audience:
            text = open(src).read().replace("audience: all", "audience: " + audience, 1)
            src = os.path.join(self.dir, "issue-%s.md" % audience)
            with open(src, "w") as f:
                f.write(text)
        return int(self.bs("issue", "create", src).stdout.strip())

    def start(self, env=None, argv=None):
        """argv: another command line that execs the daemon (a wrapper)."""
        self.daemon_err = open(os.path.join(self.dir, "daemon.log"), "a")
        self.daemon = subprocess.Popen(argv or [BSD], stdout=self.daemon_err,
                                       stderr=self.daemon_err, env=env)
        self.procs.append(self.daemon)
        return self.daemon

    def stop(self, sig=signal.SIGTERM, timeout=30):
        self.daemon.send_signal(sig)
        try:
            rc = self.daemon.wait(timeout)
        except subprocess.TimeoutExpired:
            self.daemon.kill()
            rc = "timeout"
        return rc

    def log(self):
        p = os.path.join(self.dir, "daemon.log")
        return open(p).read() if os.path.exists(p) else ""

    def wait(self, cond, timeout=60, step=0.05):
        deadline = time.time() + timeout
        while time.time() < deadline:
            v = cond()
            if v:
                return v
            if self.daemon and self.daemon.poll() is not None:
                return cond()
            time.sleep(step)
        return cond()

    def status(self, issue):
        return self.one("SELECT status FROM issues WHERE id = ?", issue)

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if FAILED and os.environ.get("KEEP"):
            print("# kept " + self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def web_env(extra="", relay_kw=None):
    """An Env with a capturing relay (Smtpd) whose list.base_url is its own
    HTTP endpoint, so that the links of captured copies can be followed:
    (env, relay, url). The daemon is not started."""
    class Pre:
        dir = tempfile.mkdtemp(prefix="broadside-e2e-pre.")
        procs = []

    relay = Smtpd(Pre, "relay", **(relay_kw or {}))
    env = Env([{"port": relay.port}], extra=extra)
    env.procs += Pre.procs
    atexit.register(shutil.rmtree, Pre.dir, True)
    conf = open(env.conf).read()
    port = int(re.search(r'listen = "127\.0\.0\.1:(\d+)"', conf).group(1))
    url = "http://127.0.0.1:%d" % port
    conf = re.sub(r'base_url = "[^"]*"', 'base_url = "%s"' % url, conf)
    open(env.conf, "w").write(conf)
    return env, relay, url


def exit_code():
    return 1 if FAILED else 0
