#!/usr/bin/python3
"""faultrelay.py - an SMTP relay that misbehaves on cue, for the fault tests.

    faultrelay.py --port PORT --dir DIR --rules FILE

Raw asyncio streams (no aiosmtpd), so that the timing of every reply is
exactly what the rules say. Listens on 127.0.0.1:PORT; EHLO offers
PIPELINING, 8BITMIME, SIZE and ENHANCEDSTATUSCODES. Commands are read line
by line from a buffered stream and answered in order (pipelining); the
message is dot-unstuffed.

The rules file is one JSON object, re-read whenever it changes (so a test
can change the relay's behaviour in the middle of a send); every key is
optional:
  "delay": SECS        wait this long before every reply (greeting included)
  "dot_delay": SECS    wait this long before the reply to the final dot
                       (the message is kept and logged all the same, even if
                       the client has gone meanwhile: a real MTA that has the
                       whole message delivers it)
  "stall": true        send the greeting, then never answer anything
  "drop_data": REGEX   close the connection in the middle of DATA (after a
                       few lines) when a recipient matches
  "poison": REGEX      answer "421 4.3.0 content scanner failed" and close
                       when the recipients or the message match...
  "poison_at": "dot"   ...after the final dot (default) or "data": at DATA
                       (then only the recipients are matched)
  "accept_close": REGEX  accept a message whose recipients or content match
                       ("." for all), then close the connection at once
  "refuse": REGEX      answer "refuse_reply" after the final dot of a message
                       whose recipients or content match ("." for all), and
                       go on with the session
  "refuse_reply": TEXT the reply for "refuse" (default Amazon SES's answer to
                       an account whose sending is paused)
  "mail_refuse": REGEX answer "553 5.7.1 sender refused" to a MAIL FROM whose
                       line (sender and parameters: ENVID) matches
  "rcpt_421": REGEX    answer "421 4.7.0 policy service failed" and close at
                       the RCPT TO of a matching recipient
  "rcpt_drop": REGEX   close the connection, without a word, at the RCPT TO of
                       a matching recipient
  "hold": true         hold every reply (greeting included) while this is set,
                       up to 120 s: a test can then read what the client is
                       about to send before the rules it needs are written
A REGEX is matched (re.search, re.M) against the recipients, one a line,
then the message's text.

Records in DIR:
  log.jsonl      one JSON line per message ACCEPTED (250 after the final
                 dot): {"rcpt": [...], "message_id": ..., "time": ..., "conn":
                 when its connection was accepted}
  faults.jsonl   one JSON line per fault played: {"fault", "rcpt", "time"}
  ready          written once listening (holds the PID)
"""
import argparse
import asyncio
import json
import os
import re
import signal
import sys
import time

POISON = b"421 4.3.0 content scanner failed"


class Relay:
    def __init__(self, args):
        self.path, self.mtime, self.r = args.rules, None, {}
        self.log = open(os.path.join(args.dir, "log.jsonl"), "a", buffering=1)
        self.faults = open(os.path.join(args.dir, "faults.jsonl"), "a", buffering=1)
        self.n = 0

    def rules(self):
        try:
            m = os.stat(self.path).st_mtime_ns
            if m != self.mtime:
                with open(self.path) as f:
                    self.r = json.load(f)
                self.mtime = m
        except (OSError, ValueError):
            pass            # a rules file being rewritten: keep the last one
        return self.r

    def matches(self, key, rcpt, text=""):
        pat = self.rules().get(key)
        return bool(pat) and re.search(pat, "\n".join(rcpt) + "\n" + text, re.M) is not None

    def fault(self, kind, rcpt):
        self.faults.write(json.dumps({"fault": kind, "rcpt": rcpt, "time": time.time()}) + "\n")

    async def reply(self, w, line, extra_delay=0):
        for _ in range(2400):
            if not self.rules().get("hold"):
                break
            await asyncio.sleep(0.05)
        delay = float(self.rules().get("delay", 0)) + extra_delay
        if delay:
            await asyncio.sleep(delay)
        if w.is_closing():
            return
        w.write(line + b"\r\n")
        try:
            await w.drain()
        except ConnectionError:
            pass

    async def session(self, rd, w):
        try:
            await self.converse(rd, w, time.time())
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            w.close()

    async def converse(self, rd, w, since):
        await self.reply(w, b"220 faultrelay.test ESMTP")
        if self.rules().get("stall"):
            self.fault("stall", [])
            while await rd.read(65536):     # swallow everything, answer nothing
                pass
            return
        sender, rcpt = None, []
        while True:
            line = await rd.readline()
            if not line:
                return
            verb = line[:4].upper()
            if verb == b"EHLO":
                await self.reply(w, b"250-faultrelay.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
                                 b"250-SIZE 52428800\r\n250 ENHANCEDSTATUSCODES")
            elif verb == b"HELO":
                await self.reply(w, b"250 faultrelay.test")
            elif verb == b"MAIL":
                if self.rules().get("mail_refuse") and re.search(
                        self.rules()["mail_refuse"], line.decode(errors="replace")):
                    self.fault("mail-refuse", [line.decode(errors="replace").strip()])
                    await self.reply(w, b"553 5.7.1 sender refused")
                    continue
                sender, rcpt = line, []
                await self.reply(w, b"250 2.1.0 OK")
            elif verb == b"RCPT":
                if sender is None:
                    await self.reply(w, b"503 5.5.1 MAIL first")
                    continue
                m = re.search(rb"<([^>]*)>", line)
                to = (m.group(1) if m else line[8:].strip()).decode(errors="replace")
                if self.matches("rcpt_drop", [to]):
                    self.fault("rcpt-drop", [to])
                    return
                if self.matches("rcpt_421", [to]):
                    self.fault("rcpt-421", [to])
                    await self.reply(w, b"421 4.7.0 policy service failed")
                    return
                rcpt.append(to)
                await self.reply(w, b"250 2.1.5 OK")
            elif verb == b"DATA":
                if not rcpt:
                    await self.reply(w, b"503 5.5.1 RCPT first")
                    continue
                if self.rules().get("poison_at") == "data" and self.matches("poison", rcpt):
                    self.fault("poison-data", rcpt)
                    await self.reply(w, POISON)
                    return
                await self.reply(w, b"354 3.0.0 End data with <CR><LF>.<CR><LF>")
                if not await self.data(rd, w, rcpt, since):
                    return
                sender, rcpt = None, []
            elif verb == b"RSET":
                sender, rcpt = None, []
                await self.reply(w, b"250 2.0.0 OK")
            elif verb == b"NOOP":
                await self.reply(w, b"250 2.0.0 OK")
            elif verb == b"QUIT":
                await self.reply(w, b"221 2.0.0 Bye")
                return
            else:
                await self.reply(w, b"502 5.5.2 Command not implemented")

    async def data(self, rd, w, rcpt, since):
        """Reads one message up to its final dot; False: the session is over."""
        drop = self.matches("drop_data", rcpt)
        lines = []
        while True:
            line = await rd.readline()
            if not line:
                return False
            if line in (b".\r\n", b".\n"):
                break
            if line.startswith(b"."):
                line = line[1:]             # dot-unstuffing (RFC 5321 4.5.2)
            lines.append(line)
            if drop and len(lines) == 5:
                self.fault("drop-data", rcpt)
                return False
        msg = b"".join(lines)
        text = msg.decode("utf-8", errors="replace").replace("\r\n", "\n")   # for ^ and $
        r = self.rules()
        if r.get("poison_at", "dot") == "dot" and self.matches("poison", rcpt, text):
            self.fault("poison-dot", rcpt)
            await self.reply(w, POISON, float(r.get("dot_delay", 0)))
            return False
        if self.matches("refuse", rcpt, text):
            self.fault("refuse", rcpt)
            await self.reply(w, r.get("refuse_reply", "554 Message rejected: Sending paused "
                                      "for this account.").encode())
            return True
        head = msg.split(b"\r\n\r\n", 1)[0]
        m = re.search(rb"^Message-ID:\s*<([^>]*)>", head, re.I | re.M)
        delay = float(r.get("delay", 0)) + float(r.get("dot_delay", 0))
        if delay:
            await asyncio.sleep(delay)
        self.n += 1
        self.log.write(json.dumps({"rcpt": rcpt, "message_id": m.group(1).decode() if m else None,
                                   "time": time.time(), "conn": since}) + "\n")
        if not w.is_closing():
            w.write(b"250 2.0.0 OK queued as %d\r\n" % self.n)
            await w.drain()
        if self.matches("accept_close", rcpt, text):
            self.fault("accept-close", rcpt)
            return False
        return True


async def serve(args):
    relay = Relay(args)
    server = await asyncio.start_server(relay.session, "127.0.0.1", args.port, limit=1 << 20)
    with open(os.path.join(args.dir, "ready"), "w") as f:
        f.write("%d\n" % os.getpid())
    stop = asyncio.get_running_loop().create_future()
    for s in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(s, lambda: stop.done() or stop.set_result(1))
    async with server:
        await stop


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--rules", required=True)
    asyncio.run(serve(ap.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
