#!/usr/bin/python3
"""proof.py - the proofs a genuine copy carries, computed from the key file
independently of the C code (token.h describes the formats), for tests that
must build genuine bounces and complaints next to forged ones.

  proof.py KEYFILE verp DELIVERY [BOUNCE_ADDRESS]   bounces+ID.MAC@domain
  proof.py KEYFILE msgid DELIVERY SUBSCRIBER [DOMAIN]  <ID.RRRRRRMAC@domain>
  proof.py KEYFILE unsub SUBSCRIBER LIST_ID          ID36.MAC (unsubscribe token)
"""
import base64, hashlib, hmac, sys


def key(path):
    with open(path) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                return bytes.fromhex(line.split()[1])
    sys.exit(f"{path}: no key")


def mac(k, *parts):
    return hmac.new(k, b"\0".join(p.encode() for p in parts), hashlib.sha256).digest()


def base36(n):
    s = ""
    while True:
        s = "0123456789abcdefghijklmnopqrstuvwxyz"[n % 36] + s
        n //= 36
        if n == 0:
            return s


def main(a):
    k = key(a[1])
    if a[2] == "verp":
        bounce = a[4] if len(a) > 4 else "bounces@example.com"
        local, dom = bounce.rsplit("@", 1)
        print(f"{local}+{a[3]}.{mac(k, 'verp', a[3])[:5].hex()}@{dom}")
    elif a[2] == "msgid":
        dom = a[5] if len(a) > 5 else "example.com"
        rnd = "a1b2c3"
        print(f"<{a[3]}.{rnd}{mac(k, 'mid', a[3], a[4], rnd)[:5].hex()}@{dom}>")
    elif a[2] == "unsub":
        id36 = base36(int(a[3]))
        m = base64.urlsafe_b64encode(mac(k, "unsub", a[4], id36)[:16]).decode().rstrip("=")
        print(f"{id36}.{m}")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
