#!/usr/bin/python3
"""smtpd.py - a scriptable SMTP server for Broadside's tests (aiosmtpd).

    smtpd.py --port PORT --dir DIR [--rules FILE] [--no-bodies] [--greeting CODE]

Listens on 127.0.0.1:PORT, offers PIPELINING and DSN, and records:
  DIR/log.jsonl    one JSON line per accepted message: from, rcpt, mail and
                   rcpt options (DSN parameters included), size, message_id,
                   file (DIR/msgs/NNNNNN.eml unless --no-bodies)
  DIR/rcpt.jsonl   one JSON line per RCPT TO: the address and the reply given
  DIR/ready        written once listening (holds the PID)
It answers per recipient on cue. The rules file (JSON, re-read when it
changes) is a list of {"match": REGEX on the address, "action": ACTION,
"times": N (only the first N matching RCPTs; default always), "delay": SECS}.
Without a matching rule the local part decides (prefix before '-' or '.'):
  accept (default) | tempfail: 451 4.3.0 | reject: 550 5.1.1 user unknown |
  drop: 421 4.3.2 then close the connection | slow: wait 2 s then accept |
  datafail: 451 after the data | datareject: 554 5.6.0 after the data
--greeting 421 (or 554) refuses every connection at the greeting.
--auth USER:PASS requires SMTP AUTH (PLAIN, LOGIN; without TLS: loopback)
before MAIL; the logins tried go to DIR/auth.jsonl.
--tls CERT:KEY offers STARTTLS with that certificate and requires it before
MAIL; log.jsonl then says whether each message came over TLS.
"""
import argparse
import asyncio
import json
import os
import re
import signal
import ssl
import sys
import time
from asyncio import sslproto

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult

REPLIES = {
    "tempfail": "451 4.3.0 Temporary failure, try again later",
    "reject": "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown",
    "drop": "421 4.3.2 Service shutting down, closing connection",
    "policy": "550 5.7.1 Message rejected by policy",
    "datafail": "451 4.3.0 Queue temporarily unavailable",
    "datareject": "554 5.6.0 Message content rejected",
}


class Rules:
    def __init__(self, path):
        self.path, self.mtime, self.rules, self.counts = path, None, [], {}

    def action(self, rcpt):
        if self.path and os.path.exists(self.path):
            m = os.stat(self.path).st_mtime_ns
            if m != self.mtime:
                with open(self.path) as f:
                    self.rules = json.load(f)
                self.mtime, self.counts = m, {}
        for i, r in enumerate(self.rules):
            if re.search(r["match"], rcpt):
                key = (i, rcpt)
                self.counts[key] = self.counts.get(key, 0) + 1
                if "times" in r and self.counts[key] > r["times"]:
                    return "accept", 0
                return r.get("action", "accept"), r.get("delay", 0)
        local = rcpt.split("@")[0].lower()
        cue = re.split(r"[-.+]", local)[0]
        if cue == "slow":
            return "accept", 2
        if cue in REPLIES:
            return cue, 0
        return "accept", 0


class DsnSMTP(SMTP):
    """aiosmtpd does not know DSN: keep its parameters aside, pass the rest."""
    DSN = re.compile(r"\s+(RET|ENVID|NOTIFY|ORCPT)=(\S+)", re.I)

    def _strip(self, arg):
        found = self.DSN.findall(arg or "")
        return self.DSN.sub("", arg or ""), ["%s=%s" % (k.upper(), v) for k, v in found]

    async def smtp_STARTTLS(self, arg):
        """aiosmtpd switches to TLS only after "220" is flushed; a client as
        quick as ours has sent its TLS hello by then, which the SMTP parser
        reads and loses, and both sides wait. Reading stops until the TLS
        layer is in place."""
        if arg or not self.tls_context:
            return await super().smtp_STARTTLS(arg)
        raw = self.transport
        raw.pause_reading()
        await self.push("220 Ready to start TLS")
        done = self.loop.create_future()
        self._tls_protocol = sslproto.SSLProtocol(self.loop, self, self.tls_context, done,
                                                  server_side=True)
        self._original_transport = raw
        raw.set_protocol(self._tls_protocol)
        self.transport = self._tls_protocol._app_transport
        self._tls_protocol.connection_made(raw)
        raw.resume_reading()
        await done

    async def smtp_MAIL(self, arg):
        arg, self.session.dsn_mail = self._strip(arg)
        self.session.dsn_rcpt = []
        return await super().smtp_MAIL(arg)

    async def smtp_RCPT(self, arg):
        arg, found = self._strip(arg)
        self.session.dsn_rcpt = getattr(self.session, "dsn_rcpt", []) + found
        return await super().smtp_RCPT(arg)


class Handler:
    def __init__(self, args):
        self.dir, self.bodies, self.greeting = args.dir, not args.no_bodies, args.greeting
        self.auth = args.auth
        self.tls = None
        if args.tls:
            cert, key = args.tls.split(":", 1)
            self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.tls.load_cert_chain(cert, key)
        self.rules = Rules(args.rules)
        self.n = 0
        os.makedirs(os.path.join(self.dir, "msgs"), exist_ok=True)
        self.log = open(os.path.join(self.dir, "log.jsonl"), "a", buffering=1)
        self.rlog = open(os.path.join(self.dir, "rcpt.jsonl"), "a", buffering=1)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        return responses[:1] + ["250-PIPELINING", "250-DSN", "250-ENHANCEDSTATUSCODES"] + responses[1:]

    async def handle_RCPT(self, server, session, envelope, address, options):
        action, delay = self.rules.action(address)
        if delay:
            await asyncio.sleep(delay)
        reply = "250 2.1.5 OK"
        if action in ("tempfail", "reject", "drop", "policy"):
            reply = REPLIES[action].format(rcpt=address)
        self.rlog.write(json.dumps({"t": time.time(), "rcpt": address, "reply": reply}) + "\n")
        if action == "drop":
            asyncio.get_event_loop().call_later(0.05, server.transport.close)
            return reply
        if reply.startswith("250"):
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(options)
            session.cue = action
        return reply

    async def handle_DATA(self, server, session, envelope):
        cue = getattr(session, "cue", "accept")
        if cue in ("datafail", "datareject"):
            return REPLIES[cue]
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode()
        self.n += 1
        name = ""
        if self.bodies:
            name = os.path.join("msgs", "%06d-%d.eml" % (self.n, os.getpid()))
            with open(os.path.join(self.dir, name), "wb") as f:
                f.write(data)
        head = data.split(b"\r\n\r\n", 1)[0]
        m = re.search(rb"^Message-ID:\s*<([^>]*)>", head, re.I | re.M)
        self.log.write(json.dumps({
            "t": time.time(), "from": envelope.mail_from, "rcpt": envelope.rcpt_tos,
            "mail_options": getattr(session, "dsn_mail", []) + envelope.mail_options,
            "rcpt_options": getattr(session, "dsn_rcpt", []),
            "size": len(data), "message_id": m.group(1).decode() if m else None,
            "tls": tls_version(server),
            "file": name}) + "\n")
        return "250 2.0.0 OK queued as %d" % self.n


def tls_version(server):
    """The TLS version the message came over ("TLSv1.3"), or None."""
    obj = server.transport.get_extra_info("ssl_object") if server.transport else None
    return obj.version() if obj else None


class Refuser(SMTP):
    async def _handle_client(self):
        await self.push("%s 4.3.2 Not accepting mail now" % self.event_handler.greeting
                        if self.event_handler.greeting.startswith("4") else
                        "%s 5.3.2 No mail here" % self.event_handler.greeting)
        self.transport.close()


def authenticator(handler):
    def check(server, session, envelope, mechanism, auth_data):
        user = auth_data.login.decode() if isinstance(auth_data.login, bytes) else auth_data.login
        pw = auth_data.password.decode() if isinstance(auth_data.password, bytes) \
            else auth_data.password
        good = "%s:%s" % (user, pw) == handler.auth
        with open(os.path.join(handler.dir, "auth.jsonl"), "a") as f:
            f.write(json.dumps({"mechanism": mechanism, "user": user, "ok": good}) + "\n")
        return AuthResult(success=good, handled=False)
    return check


class TestController(Controller):
    def factory(self):
        cls = Refuser if self.handler.greeting else DsnSMTP
        kw = {}
        if self.handler.auth:
            kw = dict(auth_required=True, auth_require_tls=False,
                      authenticator=authenticator(self.handler))
        if self.handler.tls:
            kw.update(tls_context=self.handler.tls, require_starttls=True)
        return cls(self.handler, decode_data=False, enable_SMTPUTF8=True,
                   hostname="smtpd.test", **kw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--rules")
    ap.add_argument("--no-bodies", action="store_true")
    ap.add_argument("--greeting", default="")
    ap.add_argument("--auth")
    ap.add_argument("--tls")
    args = ap.parse_args()
    handler = Handler(args)
    ctl = TestController(handler, hostname="127.0.0.1", port=args.port,
                         data_size_limit=0, ready_timeout=60)
    ctl.start()
    with open(os.path.join(args.dir, "ready"), "w") as f:
        f.write("%d\n" % os.getpid())
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    signal.signal(signal.SIGINT, lambda *a: stop.append(1))
    while not stop:
        time.sleep(0.1)
    ctl.stop()


if __name__ == "__main__":
    sys.exit(main())
