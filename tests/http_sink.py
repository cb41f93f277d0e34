#!/usr/bin/python3
"""tests/http_sink.py -- a small HTTP target for tests (loopback only).

Run:   /usr/bin/python3 tests/http_sink.py [--port N]
It binds 127.0.0.1 (port 0 = pick a free one) and prints the chosen port,
alone, on the first line of stdout (flushed), then serves until killed.

Endpoints (any method unless noted):
  /hit            record one hit for the request's Idempotency-Key header
                  (missing header counts under "") and answer 200
                  {"ok": true, "key": KEY, "n": hits-for-that-key-so-far}
                  (?ms=N: the hit is counted on arrival, then the answer is
                  delayed N ms; such requests are tracked like /slow)
  /hit/CODE       record one hit like /hit, then answer like /status/CODE
  GET  /counts    {KEY: hits, ...} for every key seen (cheap: one dict copy)
  POST /reset     forget all counts; answers {"ok": true}
  /status/CODE    answer with that status and {"status": CODE};
                  429 and 503 also send "Retry-After: 1"
                  (?retry_after=V sends "Retry-After: V" with any code)
  /redirect?to=U  302 with Location: U (U is URL-encoded in the query)
  /loop           302 to /loop, forever
  /big            200 with an 11 MiB application/octet-stream body
                  (?chunked=1: no Content-Length, the connection closes at the end)
  /text           200 text/plain "hello \xff world" (one invalid UTF-8 byte)
  /slow?ms=N      sleep N ms, then 200 {"slept_ms": N}
  GET  /concurrency  {"current", "max", "total"}: requests to /slow (and
                  /hit?ms=N) in flight now, the most ever in flight at once,
                  and how many arrived
  POST /concurrency/reset  "max" back to "current", "total" to 0; answers
                  {"ok": true}
  /echo           200 {"method", "path", "headers": {lower-case name: value},
                  "body": the request body as text, "json": parsed body or null}
Anything else answers 404 {"error": "not found"}.
"""
import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

_lock = threading.Lock()
_counts = {}
_BIG = b"x" * (11 * 1024 * 1024)
_conc = {"current": 0, "max": 0, "total": 0}  # /slow and /hit?ms=N in flight


def _conc_enter():
    with _lock:
        _conc["current"] += 1
        _conc["total"] += 1
        _conc["max"] = max(_conc["max"], _conc["current"])


def _conc_leave():
    with _lock:
        _conc["current"] -= 1


class Server(ThreadingHTTPServer):
    request_queue_size = 128  # listen backlog: many engine threads connect at once

    def handle_error(self, request, client_address):
        # A client killed mid-request (crash tests kill -9 the engine) is
        # expected; anything else is still printed.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # keep test output quiet
        pass

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _send(self, code, payload, ctype="application/json", extra=None):
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

    def _hit(self, _url, _body):
        key = self.headers.get("Idempotency-Key", "")
        with _lock:
            _counts[key] = _counts.get(key, 0) + 1
            n = _counts[key]
        ms = parse_qs(_url.query).get("ms")
        if ms:
            _conc_enter()
            try:
                time.sleep(int(ms[0]) / 1000.0)
            finally:
                _conc_leave()
        self._send(200, {"ok": True, "key": key, "n": n})

    def _counts(self, _url, _body):
        with _lock:
            snapshot = dict(_counts)
        self._send(200, snapshot)

    def _reset(self, _url, _body):
        with _lock:
            _counts.clear()
        self._send(200, {"ok": True})

    def _hit_status(self, url, body):
        key = self.headers.get("Idempotency-Key", "")
        with _lock:
            _counts[key] = _counts.get(key, 0) + 1
        self._status(url, body)

    def _status(self, url, _body):
        try:
            code = int(url.path.rsplit("/", 1)[1])
        except ValueError:
            code = 400
        extra = {"Retry-After": "1"} if code in (429, 503) else None
        override = parse_qs(url.query).get("retry_after")
        if override:
            extra = {"Retry-After": override[0]}
        self._send(code, {"status": code}, extra=extra)

    def _redirect(self, url, _body):
        to = parse_qs(url.query).get("to", [""])[0]
        self._send(302, {"location": to}, extra={"Location": to})

    def _big(self, url, _body):
        if parse_qs(url.query).get("chunked") != ["1"]:
            return self._send(200, _BIG, ctype="application/octet-stream")
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            for i in range(0, len(_BIG), 1 << 20):
                self.wfile.write(_BIG[i:i + (1 << 20)])
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _slow(self, url, _body):
        ms = int(parse_qs(url.query).get("ms", ["0"])[0])
        _conc_enter()
        try:
            time.sleep(ms / 1000.0)
        finally:
            _conc_leave()
        self._send(200, {"slept_ms": ms})

    def _concurrency(self, _url, _body):
        with _lock:
            snapshot = dict(_conc)
        self._send(200, snapshot)

    def _concurrency_reset(self, _url, _body):
        with _lock:
            _conc["max"] = _conc["current"]
            _conc["total"] = 0
        self._send(200, {"ok": True})

    def _echo(self, url, body):
        text = body.decode("utf-8", "replace")
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = None
        self._send(200, {"method": self.command, "path": url.path,
                         "headers": {k.lower(): v for k, v in self.headers.items()},
                         "body": text, "json": parsed})

    def _dispatch(self):
        url = urlsplit(self.path)
        body = self._body()
        if url.path == "/hit":
            return self._hit(url, body)
        if url.path == "/counts" and self.command == "GET":
            return self._counts(url, body)
        if url.path == "/reset" and self.command == "POST":
            return self._reset(url, body)
        if url.path.startswith("/hit/"):
            return self._hit_status(url, body)
        if url.path.startswith("/status/"):
            return self._status(url, body)
        if url.path == "/redirect":
            return self._redirect(url, body)
        if url.path == "/loop":
            return self._send(302, {"location": "/loop"}, extra={"Location": "/loop"})
        if url.path == "/big":
            return self._big(url, body)
        if url.path == "/text":
            return self._send(200, b"hello \xff world", ctype="text/plain")
        if url.path == "/slow":
            return self._slow(url, body)
        if url.path == "/echo":
            return self._echo(url, body)
        if url.path == "/concurrency" and self.command == "GET":
            return self._concurrency(url, body)
        if url.path == "/concurrency/reset" and self.command == "POST":
            return self._concurrency_reset(url, body)
        return self._send(404, {"error": "not found"})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch


def main():
    ap = argparse.ArgumentParser(description="HTTP test sink (127.0.0.1 only)")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    server = Server(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
