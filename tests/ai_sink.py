#!/usr/bin/python3
"""tests/ai_sink.py -- a small OpenAI-compatible chat completions server for
tests (loopback only, Python stdlib).

Run:   /usr/bin/python3 tests/ai_sink.py [--port N] [--key K]
It binds 127.0.0.1 (port 0 = pick a free one), prints the chosen port alone
on the first line of stdout (flushed), then serves until killed.

  POST <any prefix>/chat/completions
      Checks the request like a strict provider would: a JSON object with
      "model" (non-empty str) and "messages" (non-empty list of {"role":
      system|user|assistant, "content": str}); "temperature" a number 0..2,
      "max_tokens" an int >= 1, "response_format" {"type": "json_object"|
      "text"} when present. A bad request answers 400 with an OpenAI error
      body. With --key K, a request without "Authorization: Bearer K"
      answers 401.
      The answer is deterministic, driven by the last user message (MSG):
        default       content "echo: MSG"; in JSON mode (response_format
                      json_object) content is the JSON text of
                      {"echo": MSG, "model": model, "messages": n}
        [[status:C]]  answers HTTP C with {"error": {"message": "sink error C",
                      "type": "sink_error", "code": C}} (429/503: Retry-After: 0)
        [[fail:N:C]]  the first N requests whose MSG is this same text answer
                      like [[status:C]], later ones answer normally
        [[slow:MS]]   sleeps MS milliseconds first
        [[notjson]]   content "this is not JSON" (even in JSON mode)
        [[fenced]]    content is the JSON-mode JSON wrapped in a ```json fence
        [[malformed:K]]  200 with a broken body; K: notjson (not JSON),
                      array (a JSON list), nochoices (choices: []),
                      nocontent (message.content null), badusage
                      (usage.total_tokens "many")
        [[big]]       200 with a 2 MiB body
        [[redirect]]  302 to /elsewhere
      Normal answers: {"id", "object": "chat.completion", "created",
      "model": the request's, "choices": [{"index": 0, "message": {"role":
      "assistant", "content"}, "finish_reason": "stop"}], "usage":
      {"prompt_tokens": words in all messages, "completion_tokens": words in
      content, "total_tokens": the sum}}.
  GET  /requests   every request seen: [{"path", "headers": {lower-case
                   name: value}, "json": parsed body or null}, ...]
  POST /reset      forget them; answers {"ok": true}
Anything else answers 404.
"""
import argparse
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_lock = threading.Lock()
_requests = []
_fail_counts = {}
_KEY = None
_ROLES = ("system", "user", "assistant")


def _words(s):
    return len(s.split())


def _check(body):
    """None if body is a valid chat request, else the error message."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: required"
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        return "messages: must be a non-empty array"
    for m in msgs:
        if not isinstance(m, dict) or m.get("role") not in _ROLES or not isinstance(
                m.get("content"), str):
            return "messages: each must be {role, content}"
    t = body.get("temperature")
    if "temperature" in body and not (isinstance(t, (int, float)) and 0 <= t <= 2):
        return "temperature: must be 0..2"
    mt = body.get("max_tokens")
    if "max_tokens" in body and not (isinstance(mt, int) and mt >= 1):
        return "max_tokens: must be an integer >= 1"
    rf = body.get("response_format")
    if "response_format" in body and rf not in ({"type": "json_object"}, {"type": "text"}):
        return "response_format: unsupported"
    if rf == {"type": "json_object"} and not any("json" in m["content"].lower() for m in msgs):
        return "'messages' must contain the word 'json' to use response_format json_object"
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # keep test output quiet
        pass

    def _send(self, code, data, ctype="application/json", extra=None):
        raw = data if isinstance(data, bytes) else json.dumps(data).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)

    def _error(self, code, message):
        extra = {"Retry-After": "0"} if code in (429, 503) else None
        self._send(code, {"error": {"message": message, "type": "sink_error", "code": code}},
                   extra=extra)

    def do_GET(self):
        if self.path == "/requests":
            with _lock:
                self._send(200, list(_requests))
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n > 0 else b""
        if self.path == "/reset":
            with _lock:
                _requests.clear()
                _fail_counts.clear()
            return self._send(200, {"ok": True})
        if not self.path.endswith("/chat/completions"):
            return self._send(404, {"error": "not found"})
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        with _lock:
            _requests.append({"path": self.path, "json": body,
                              "headers": {k.lower(): v for k, v in self.headers.items()}})
        if _KEY is not None and self.headers.get("Authorization") != f"Bearer {_KEY}":
            return self._error(401, "Incorrect API key provided")
        bad = _check(body)
        if bad:
            return self._error(400, bad)
        self._answer(body)

    def _answer(self, body):
        msg = next((m["content"] for m in reversed(body["messages"]) if m["role"] == "user"), "")
        m = re.search(r"\[\[slow:(\d+)\]\]", msg)
        if m:
            time.sleep(int(m.group(1)) / 1000)
        m = re.search(r"\[\[status:(\d{3})\]\]", msg)
        if m:
            return self._error(int(m.group(1)), f"sink error {m.group(1)}")
        m = re.search(r"\[\[fail:(\d+):(\d{3})\]\]", msg)
        if m:
            with _lock:
                _fail_counts[msg] = _fail_counts.get(msg, 0) + 1
                seen = _fail_counts[msg]
            if seen <= int(m.group(1)):
                return self._error(int(m.group(2)), f"sink error {m.group(2)}")
        m = re.search(r"\[\[malformed:(\w+)\]\]", msg)
        if m:
            return self._malformed(m.group(1), body)
        if "[[big]]" in msg:
            return self._send(200, b"{\"pad\": \"" + b"x" * (2 * 1024 * 1024) + b"\"}")
        if "[[redirect]]" in msg:
            return self._send(302, {"moved": True}, extra={"Location": "/elsewhere"})
        self._send(200, self._completion(body, self._content(body, msg)))

    def _content(self, body, msg):
        as_json = body.get("response_format") == {"type": "json_object"}
        doc = json.dumps({"echo": msg, "model": body["model"], "messages": len(body["messages"])})
        if "[[notjson]]" in msg:
            return "this is not JSON"
        if "[[fenced]]" in msg:
            return "```json\n" + doc + "\n```"
        return doc if as_json else "echo: " + msg

    def _completion(self, body, content):
        prompt = sum(_words(m["content"]) for m in body["messages"])
        return {"id": f"chatcmpl-sink-{len(_requests)}", "object": "chat.completion",
                "created": int(time.time()), "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": prompt, "completion_tokens": _words(content),
                          "total_tokens": prompt + _words(content)}}

    def _malformed(self, kind, body):
        good = self._completion(body, "fine")
        if kind == "notjson":
            return self._send(200, b"<html>not json</html>", ctype="text/html")
        if kind == "array":
            return self._send(200, [good])
        if kind == "nochoices":
            good["choices"] = []
        elif kind == "nocontent":
            good["choices"][0]["message"]["content"] = None
        elif kind == "badusage":
            good["usage"]["total_tokens"] = "many"
        self._send(200, good)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that gave up (timeout tests) is expected.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


def main():
    global _KEY
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--key")
    args = ap.parse_args()
    _KEY = args.key
    srv = Server(("127.0.0.1", args.port), Handler)
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
