#!/usr/bin/python3
"""slow_clients.py PORT SECONDS [LOCAL OTHERS NADDR] - a flood of slow HTTP
clients against 127.0.0.1:PORT, for tests/e2e/flood.py and make bench.

LOCAL clients connect from 127.0.0.1 and OTHERS from 127.0.0.2 up to
127.0.0.(NADDR+1), spread evenly (defaults 100, 200, 20). Each trickles a
request that never ends (a byte every 0.5 s: a request line, then header
after header) and connects again 50 ms after it is cut off, until SECONDS
have passed or SIGTERM. Prints "connects N cut M" at the end.
"""
import asyncio
import signal
import socket
import sys
import time

LINE = b"POST /u/" + b"x" * 40 + b" HTTP/1.1\r\nHost: flood\r\n"


async def slow_client(port, src, stop, stats):
    """Trickles until stop["at"] (monotonic time, may move); bounded."""
    loop = asyncio.get_running_loop()
    for _ in range(5000):
        if time.monotonic() >= stop["at"]:
            return
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.bind((src, 0))
            await asyncio.wait_for(loop.sock_connect(s, ("127.0.0.1", port)),
                                   max(0.1, stop["at"] - time.monotonic()))
            stats["connects"] += 1
            i = 0
            while time.monotonic() < stop["at"]:
                b = LINE[i:i + 1] if i < len(LINE) else b"X"
                i += 1
                if i >= len(LINE) and (i - len(LINE)) % 20 == 19:
                    b = b":\r\n"              # header after header, never the end
                await loop.sock_sendall(s, b)
                await asyncio.sleep(0.5)
                try:                          # the server cut it off: read sees the end
                    if s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                        raise ConnectionResetError
                except BlockingIOError:
                    pass
            return
        except (ConnectionError, OSError, asyncio.TimeoutError):
            stats["cut"] += 1
        finally:
            s.close()
        await asyncio.sleep(0.05)


def start(port, stop, stats, local=100, others=200, naddr=20):
    """The clients as tasks of the running loop."""
    addrs = ["127.0.0.%d" % i for i in range(2, 2 + naddr)]
    tasks = [asyncio.ensure_future(slow_client(port, "127.0.0.1", stop, stats))
             for _ in range(local)]
    tasks += [asyncio.ensure_future(slow_client(port, addrs[i % naddr], stop, stats))
              for i in range(others)]
    return tasks


async def main(port, seconds, local, others, naddr):
    stop = {"at": time.monotonic() + seconds}
    stats = {"connects": 0, "cut": 0}
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM,
                                                  lambda: stop.update(at=0.0))
    await asyncio.gather(*start(port, stop, stats, local, others, naddr))
    print("connects %d cut %d" % (stats["connects"], stats["cut"]), flush=True)


if __name__ == "__main__":
    a = [int(x) for x in sys.argv[1:]]
    asyncio.run(main(a[0], a[1], *(a[2:5] or [100, 200, 20])))
