#!/usr/bin/python3
"""dkim_verify.py DNSFILE MESSAGE... - checks every DKIM-Signature of each
MESSAGE with python3-dkim (Debian's independent verifier), its key lookups
answered from DNSFILE (the zone-file lines `broadside dkim dns` prints: no
network).

Prints one line per signature, "<message> <index> <s=> pass|fail"; exits 0
when every message has at least one signature and all pass, 1 otherwise."""
import re
import sys

import dkim

def main():
    recs = {}
    for line in open(sys.argv[1]):
        if " IN TXT " not in line:
            continue
        name, rest = line.split(" IN TXT ", 1)
        recs[name.strip().encode()] = "".join(re.findall(r'"([^"]*)"', rest)).encode()

    def dnsfunc(name, timeout=5):
        return recs.get(name)

    all_good = True
    for path in sys.argv[2:]:
        msg = open(path, "rb").read()
        head = re.sub(rb"\r\n[ \t]", b" ", msg.split(b"\r\n\r\n", 1)[0])
        sigs = [l for l in head.split(b"\r\n") if l.lower().startswith(b"dkim-signature:")]
        d = dkim.DKIM(msg)
        good = 0
        for i in range(len(sigs)):
            try:
                ok = d.verify(idx=i, dnsfunc=dnsfunc)
            except dkim.DKIMException as e:
                ok = False
                print("#", path, e)
            sel = re.search(rb"\bs=([^;\s]+)", sigs[i])
            print(path, i, sel.group(1).decode() if sel else "?", "pass" if ok else "fail")
            good += bool(ok)
        all_good = all_good and bool(sigs) and good == len(sigs)
    sys.exit(0 if all_good else 1)

main()
