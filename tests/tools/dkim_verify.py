#!/usr/bin/python3
"""dkim_verify.py MESSAGE DNSFILE - checks every DKIM-Signature of MESSAGE with
python3-dkim (Debian's independent verifier), its key lookups answered from
DNSFILE (the zone-file lines `broadside dkim dns` prints: no network).

Prints one line per signature, "<index> <s=> pass|fail"; exits 0 when there
is at least one signature and all pass, 1 otherwise."""
import re
import sys

import dkim

def main():
    msg = open(sys.argv[1], "rb").read()
    recs = {}
    for line in open(sys.argv[2]):
        if " IN TXT " not in line:
            continue
        name, rest = line.split(" IN TXT ", 1)
        recs[name.strip().encode()] = "".join(re.findall(r'"([^"]*)"', rest)).encode()

    def dnsfunc(name, timeout=5):
        return recs.get(name)

    head = re.sub(rb"\r\n[ \t]", b" ", msg.split(b"\r\n\r\n", 1)[0])
    sigs = [l for l in head.split(b"\r\n") if l.lower().startswith(b"dkim-signature:")]
    d = dkim.DKIM(msg)
    good = 0
    for i in range(len(sigs)):
        try:
            ok = d.verify(idx=i, dnsfunc=dnsfunc)
        except dkim.DKIMException as e:
            ok = False
            print("#", e)
        sel = re.search(rb"\bs=([^;\s]+)", sigs[i])
        print(i, sel.group(1).decode() if sel else "?", "pass" if ok else "fail")
        good += bool(ok)
    sys.exit(0 if sigs and good == len(sigs) else 1)

main()
