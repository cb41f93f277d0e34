#!/usr/bin/python3
"""tests/smtp_sink.py -- a real SMTP server for tests (Debian's python3-aiosmtpd).

Run:   /usr/bin/python3 tests/smtp_sink.py --out FILE [--port N]
                        [--reject ADDR]... [--defer ADDR]...
It binds 127.0.0.1 (port 0 = pick a free one), prints "PORT <n>" alone on
the first line of stdout (flushed), then serves until killed.

Every message accepted at DATA is appended to FILE as one JSON line,
written and flushed before the 250 reply goes out (so a client that saw
250 can read it at once):
  {"mail_from": str, "rcpt_tos": [str],
   "data": the message as received (text; CRLF line ends, dot-stuffing
           already undone by the SMTP layer),
   "parsed": what Python's email package (policy=default) makes of it:
     {"headers": [[name, raw value], ...] in order,
      "subject": decoded Subject or null, "from", "to", "cc", "bcc",
      "reply_to", "message_id", "date": decoded values or null,
      "content_type": str,
      "parts": [{"type": "text/plain", "charset": str, "cte": str,
                 "content": decoded text}, ...] (leaf parts, in order),
      "defects": [str, ...] from every part}}

RCPT TO an address given with --reject answers 550, with --defer 451
(case-insensitive match); other recipients are accepted.
"""
import argparse
import asyncio
import email
import email.policy
import json
import sys

from aiosmtpd.smtp import SMTP


def _header(msg, name):
    v = msg.get(name)
    return None if v is None else str(v)


def _text(c):
    import base64
    return base64.b64encode(c).decode() if isinstance(c, bytes) else c


def _parse(data):
    msg = email.message_from_bytes(data, policy=email.policy.default)
    parts, defects = [], [repr(d) for d in msg.defects]
    for part in msg.walk():
        defects += [repr(d) for d in part.defects]
        if part.is_multipart():
            continue
        parts.append({"type": part.get_content_type(),
                      "charset": part.get_content_charset(),
                      "cte": part.get("Content-Transfer-Encoding"),
                      "content": _text(part.get_content())})
    return {"headers": [[k, str(v)] for k, v in msg.raw_items()],
            "subject": _header(msg, "subject"), "from": _header(msg, "from"),
            "to": _header(msg, "to"), "cc": _header(msg, "cc"), "bcc": _header(msg, "bcc"),
            "reply_to": _header(msg, "reply-to"), "message_id": _header(msg, "message-id"),
            "date": _header(msg, "date"), "content_type": msg.get_content_type(),
            "parts": parts, "defects": defects}


class Handler:
    def __init__(self, out, reject, defer):
        self.out, self.reject, self.defer = out, reject, defer

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.reject:
            return "550 5.1.1 <%s>: Recipient address rejected" % address
        if address.lower() in self.defer:
            return "451 4.2.0 <%s>: Mailbox busy, try later" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        data = envelope.original_content or envelope.content
        try:
            parsed = _parse(data)
        except Exception as e:  # a broken message is still recorded
            parsed = {"error": repr(e)}
        rec = {"mail_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos),
               "data": data.decode("utf-8", "replace"), "parsed": parsed}
        with open(self.out, "a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")
            f.flush()
        return "250 2.0.0 Message accepted for delivery"


async def _main(args):
    handler = Handler(args.out, {a.lower() for a in args.reject},
                      {a.lower() for a in args.defer})
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="sink.test", ident="zflow smtp sink"),
        "127.0.0.1", args.port)
    print("PORT %d" % server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--reject", action="append", default=[])
    ap.add_argument("--defer", action="append", default=[])
    args = ap.parse_args()
    try:
        asyncio.run(_main(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
