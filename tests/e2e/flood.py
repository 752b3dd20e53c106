"""flood.py - one-click unsubscribes get through a flood of slow clients.

300 clients trickle a request that never ends (a byte every 0.5 s, and they
connect again as soon as they are cut off) for FLOOD_S seconds, and on
until the one-clicks below are done (at most their curl --max-time more): 100 from
127.0.0.1 (far over http.per_ip_connections, 16) and 200 from 127.0.0.2 to
127.0.0.21, 10 each (under the per-client cap: only the request deadline,
http.request_timeout, frees their slots). The connection limit is 128 here
so that those 200 alone could hold every slot. Meanwhile 6 readers
one-click their List-Unsubscribe link (curl, POST
List-Unsubscribe=One-Click, RFC 8058) from 127.0.0.250: each must be
answered 200 within a generous bound (curl --max-time 60) and the reader be
unsubscribed. The figures (answered, latencies, connections the flood
made and the daemon cut) are printed as comments; the daemon's
broadside_http_deadline_closed_total shows the deadline at work; after the
flood 127.0.0.1 is answered again (its last connections may linger up to
the deadline). Speed is not judged here (make bench does that).
"""
import asyncio
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import Env, Smtpd, ok, exit_code  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import slow_clients  # noqa: E402

FLOOD_S = float(os.environ.get("FLOOD_SECONDS", "30"))
N_LOCAL, N_OTHERS, OTHERS = 100, 200, ["127.0.0.%d" % i for i in range(2, 22)]  # slow_clients
READERS = 6
LEGIT_IP = "127.0.0.250"


class Pre:
    dir = __import__("tempfile").mkdtemp(prefix="broadside-e2e-pre.")
    procs = []


relay = Smtpd(Pre, "relay", bodies=False)
env = Env([{"port": relay.port}])
env.procs += Pre.procs
__import__("atexit").register(__import__("shutil").rmtree, Pre.dir, True)
conf = open(env.conf).read()
port = int(re.search(r'listen = "127\.0\.0\.1:(\d+)"', conf).group(1))
# FLOOD_UNGUARDED=1: no per-client cap and no request deadline, to see the
# flood win (the one-clicks then fail: this test's assertions do).
unguarded = ' per_ip_connections = 0; request_timeout = "1h";' \
    if os.environ.get("FLOOD_UNGUARDED") else ""
conf = conf.replace('http: { listen = "127.0.0.1:%d"; };' % port,
                    'http: { listen = "127.0.0.1:%d"; max_connections = 128;%s };'
                    % (port, unguarded))
open(env.conf, "w").write(conf)
base = "http://127.0.0.1:%d" % port
emails = ["reader%d@example.com" % i for i in range(READERS)]
env.subscribers([(e, "", "free") for e in emails])
issue = env.issue()


def unsub_url(email):
    eml = env.bs("issue", "preview", issue, "--tier", "free", "--to", email).stdout
    head = eml.split("\r\n\r\n", 1)[0].replace("\r\n ", " ").replace("\r\n\t", " ")
    m = re.search(r"^List-Unsubscribe: <https?://[^/>]+(/u/[^>]+)>", head, re.M | re.I)
    return base + m.group(1) if m else None


def curl(*args):
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time",
                        "10"] + list(args), capture_output=True, text=True)
    return r.stdout


urls = [unsub_url(e) for e in emails]
ok("every reader's copy has a one-click link", all(urls), urls)
env.start()
ok("daemon up", env.wait(lambda: curl(base + "/healthz") == "200", 30), env.log()[-500:])
if not unguarded:
    ok("the log states the limits", env.wait(lambda: "128 connections, 16 per client, "
                                             "5s a request" in env.log(), 10), env.log()[-500:])

stats = {"connects": 0, "cut": 0}
STOP = {"at": 0.0}     # when the flood ends (moved on while one-clicks wait)


async def one_click(url):
    t0 = time.monotonic()
    p = await asyncio.create_subprocess_exec(
        "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "60",
        "--interface", LEGIT_IP, "-X", "POST",
        "-H", "Content-Type: application/x-www-form-urlencoded",
        "--data", "List-Unsubscribe=One-Click", url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    out, _ = await p.communicate()
    return out.decode(), time.monotonic() - t0


async def flood():
    t0 = time.monotonic()
    STOP["at"] = t0 + FLOOD_S + 75        # a bound whatever happens
    clients = slow_clients.start(port, STOP, stats, N_LOCAL, N_OTHERS, len(OTHERS))
    await asyncio.sleep(min(8.0, FLOOD_S / 3))     # the flood holds its slots by now
    results = await asyncio.gather(*[one_click(u) for u in urls])
    held = stats["connects"]
    # The flood lasts FLOOD_S at least, and never ends before the one-clicks.
    STOP["at"] = max(t0 + FLOOD_S, time.monotonic())
    await asyncio.gather(*clients)
    return results, held, time.monotonic() - t0


results, held, lasted = asyncio.run(flood())
codes = [c for c, _ in results]
lat = sorted(t for _, t in results)
print("# flood: %d slow clients (%d from 127.0.0.1, %d from %d other addresses) for %.0f s: "
      "%d connections made, %d cut off or refused" % (N_LOCAL + N_OTHERS, N_LOCAL, N_OTHERS,
                                                      len(OTHERS), lasted, stats["connects"],
                                                      stats["cut"]))
print("# one-click during the flood: %d of %d answered 200; latency min %.2f s, median %.2f s, "
      "max %.2f s" % (codes.count("200"), len(codes), lat[0], lat[len(lat) // 2], lat[-1]))
ok("the flood was a flood: at least 300 connections made", held >= 300, stats)
ok("every one-click POST during the flood answered 200 (within curl --max-time 60)",
   codes.count("200") == READERS, codes)
ok("every reader who one-clicked is unsubscribed",
   env.one("SELECT count(*) FROM subscribers WHERE status = 'unsubscribed'") == READERS)
# The flood's own connections close as it ends; 127.0.0.1 may be at its
# cap for a moment while the daemon sees them go.
t_end = time.monotonic()
back = env.wait(lambda: curl(base + "/healthz") == "200", timeout=30, step=0.2)
print("# after the flood: /healthz from 127.0.0.1 answered again after %.1f s"
      % (time.monotonic() - t_end))
ok("after the flood the endpoint answers again (within 30 s)", back)
m = subprocess.run(["curl", "-s", "--max-time", "20", base + "/metrics"], capture_output=True,
                   text=True).stdout
cut = re.search(r"^broadside_http_deadline_closed_total (\d+)", m, re.M)
print("# the daemon cut %s connections past http.request_timeout" % (cut and cut.group(1)))
ok("the request deadline cut slow clients off (metric)", cut and int(cut.group(1)) >= N_OTHERS,
   m[-600:])
rc = env.stop()
ok("daemon stops cleanly", rc == 0, env.log()[-800:])
sys.exit(exit_code())
