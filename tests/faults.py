"""faults.py - what the fault tests (tests/e2e/fault_*.py) share.

FaultRelay starts tests/faultrelay.py (rules changed with set()); tally()
counts the copies each recipient got at the relays; LeaseWatch polls the
leases held while a send runs; env() makes an Env and says "not ok" (rather
than a traceback) when the daemon's config refuses the settings a test
needs.
"""
import collections
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, PY, TOP, free_port, ok, stop_at_exit  # noqa: E402

RELAY = os.path.join(TOP, "tests", "faultrelay.py")


class FaultRelay:
    def __init__(self, env, name, **rules):
        """env: anything with .dir and .procs (an Env, or a holder made
        before the Env, as crash.py does)."""
        self.dir = os.path.join(env.dir, name)
        os.makedirs(self.dir)
        self.port = free_port()
        self.rules = os.path.join(self.dir, "rules.json")
        self.set(**rules)
        self.proc = subprocess.Popen([PY, RELAY, "--port", str(self.port), "--dir", self.dir,
                                      "--rules", self.rules], stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.dir, "stderr"), "w"))
        env.procs.append(self.proc)
        stop_at_exit(self.proc)
        deadline = time.time() + 90  # a loaded machine: python and aiosmtpd start slowly
        while not os.path.exists(os.path.join(self.dir, "ready")):
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError("faultrelay did not start: " +
                                   open(os.path.join(self.dir, "stderr")).read())
            time.sleep(0.05)

    def set(self, **rules):
        """New rules, seen by the relay at its next command."""
        tmp = self.rules + ".tmp"
        with open(tmp, "w") as f:
            json.dump(rules, f)
        os.replace(tmp, self.rules)

    def _lines(self, name):
        p = os.path.join(self.dir, name)
        if not os.path.exists(p):
            return []
        with open(p) as f:
            return [json.loads(l) for l in f if l.endswith("\n")]

    def log(self):
        return self._lines("log.jsonl")

    def faults(self):
        return self._lines("faults.jsonl")

    def count(self):
        p = os.path.join(self.dir, "log.jsonl")
        if not os.path.exists(p):
            return 0
        with open(p, "rb") as f:
            return f.read().count(b"\n")


def copies(*relays, since=None):
    """Counter: recipient -> copies accepted (since: {relay: log index})."""
    got = collections.Counter()
    for r in relays:
        for m in r.log()[(since or {}).get(r, 0):]:
            got.update(m["rcpt"])
    return got


def tally(got, expected):
    """(missed, twice, strangers): recipients without a copy, copies beyond
    the first, copies to addresses not expected."""
    missed = sorted(set(expected) - set(got))
    twice = sum(n - 1 for n in got.values() if n > 1)
    strangers = sorted(set(got) - set(expected))
    return missed, twice, strangers


def one_poisoned(env, relay, since, others, poison, issue, what):
    """The checks after one copy the relay keeps choking on, among others:
    nobody else missed or written twice, that copy never accepted, the
    others recorded sent and that one deferred."""
    got = copies(relay, since=since)
    missed, twice, strangers = tally(got, others)
    ok("%s: nobody else missed (%d)" % (what, len(missed)), not missed, missed)
    ok("%s: nobody got a copy twice (%d twice)" % (what, twice), twice == 0,
       [r for r, n in got.items() if n > 1])
    ok("%s: the poisoned copy never accepted, nobody else written to" % what,
       not strangers and got[poison] == 0, strangers)
    states = dict(env.sql("SELECT state, count(*) FROM deliveries WHERE issue_id = ? "
                          "GROUP BY state", issue))
    ok("%s: the others recorded sent, the poisoned one deferred (%s)" % (what, states),
       states == {"sent": len(others), "deferred": 1})


def make_env(relays, **kw):
    try:
        return Env(relays, **kw)
    except RuntimeError as e:
        ok("the daemon takes this test's settings", False, e)
        sys.exit(1)


def started(e, **kw):
    """Starts the daemon of Env e (kw: Env.start's env, argv); not ok and
    exit if it is gone within a second."""
    e.start(**kw)
    time.sleep(1.0)
    if e.daemon.poll() is not None:
        ok("the daemon starts with this test's settings (exit %s)" % e.daemon.returncode,
           False, e.log()[-1500:])
        sys.exit(1)
    return e.daemon


class LeaseWatch(threading.Thread):
    """Polls the leases of deliveries in state 'sending' every `step` s.
    held[id] is the set of (lease_owner, lease_token) seen for it, expires[id]
    the lease_expires values (more than one: the lease was renewed); errors
    holds what the query said if it failed (e.g. no such column)."""

    def __init__(self, env, step=0.05):
        super().__init__(daemon=True)
        self.env, self.step = env, step
        self.held = collections.defaultdict(set)
        self.expires = collections.defaultdict(set)
        self.errors, self.polls = [], 0
        self.halt = threading.Event()

    def run(self):
        import sqlite3
        con = sqlite3.connect(self.env.db, timeout=5)
        while not self.halt.is_set():
            try:
                for i, owner, token, exp in con.execute(
                        "SELECT id, lease_owner, lease_token, lease_expires FROM deliveries "
                        "WHERE state = 'sending'"):
                    self.held[i].add((owner, token))
                    self.expires[i].add(exp)
                self.polls += 1
            except sqlite3.Error as e:
                if len(self.errors) < 5:
                    self.errors.append(str(e))
            self.halt.wait(self.step)
        con.close()

    def stop(self):
        self.halt.set()
        self.join(10)

    def renewed(self):
        """Deliveries whose lease was seen renewed (expiry moved, same holder)."""
        return [i for i, s in self.expires.items() if len(s) > 1 and len(self.held[i]) == 1]

    def shared(self):
        """Deliveries seen held under more than one (owner, token)."""
        return {i: s for i, s in self.held.items() if len(s) > 1}


def duration(text):
    """'10m', '600s', '1h', 600 -> seconds (None if not a duration)."""
    t = str(text).strip().strip('"')
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        if t and t[-1] in units:
            return float(t[:-1]) * units[t[-1]]
        return float(t)
    except ValueError:
        return None
