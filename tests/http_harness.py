"""tests/http_harness.py — HTTP helpers for the REST front end tests.

Built on zf_harness (Server, create_key, wait_for). Debian's /usr/bin/python3
only: http.client for requests (one keep-alive connection per Http object),
python3-jwt for tokens, raw sockets for requests http.client refuses to send.

    with zf_harness.Server(extra_args=["--rate-limit", "0"]) as srv:
        key = zf_harness.create_key(srv.data, "acme", "admin")
        api = Http(srv.http, key)
        r = api.post(V2, {"name": "x", "definition": {"nodes": []}})
        body = expect(r, 201)             # asserts success: true, returns the JSON
        expect(api.get(V2 + "/nope"), 404, "not_found")
"""

import base64
import http.client
import json
import re
import socket
import time
import urllib.parse

import zf_harness as zh

V2 = "/api/v2/workflows"  # default mount of the v2 dialect

ISO_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

WF_VIEW = ("id", "customer_id", "name", "description", "definition", "version", "status",
           "created_by", "created_at", "updated_at")
RUN_VIEW = ("id", "workflow_id", "customer_id", "status", "inputs", "outputs", "error",
            "started_at", "finished_at")
ERROR_CODES = ("validation", "unauthorized", "forbidden", "not_found", "conflict", "too_large",
               "rate_limited", "unavailable", "timeout", "internal", "not_implemented",
               "idempotency_mismatch", "idempotency_in_progress")
# Headers that may legitimately differ between two otherwise identical answers.
VOLATILE_HEADERS = ("x-request-id", "x-ratelimit-limit", "x-ratelimit-remaining",
                    "x-ratelimit-reset", "date")
# Substrings an error message must never contain (internals).
DEPLOY_DEF = {  # the seed's "Deploy Notification" definition, verbatim
    "nodes": [
        {"id": "step_1", "type": "condition", "action": "check_status",
         "config": {"field": "$.deployment.status", "operator": "equals", "value": "success"}},
        {"id": "step_2", "type": "integration", "action": "slack.post_message",
         "input_from": "step_1",
         "config": {"channel": "#deployments", "message": "Deployment completed successfully!"}},
    ],
    "inputs": {}, "outputs": {},
}
# The seed's schema example (GET /:id/schema), verbatim.
SCHEMA_IN = {"type": "object", "properties": {
    "date_range": {"type": "string", "description": "Override the default date range",
                   "default": "LAST_WEEK"},
    "recipients": {"type": "array", "items": {"type": "string"},
                   "description": "Override default email recipients"}}}
SCHEMA_OUT = {"type": "object", "properties": {"report": {"type": "string"},
                                               "email_sent": {"type": "boolean"}}}
LEAK_MARKERS = ("/work/", "/tmp/", ".c:", "rocksdb", "errno", "segfault", "assert", "0x")


class Resp:
    """One HTTP answer: status, headers (case-insensitive .h()), raw bytes, json (or None)."""

    def __init__(self, status, reason, header_items, raw):
        self.status = status
        self.reason = reason
        self.header_items = list(header_items)  # [(name, value)] as sent
        self.raw = raw
        try:
            self.json = json.loads(raw.decode("utf-8")) if raw else None
        except ValueError:
            self.json = None

    def h(self, name, default=None):
        name = name.lower()
        for k, v in self.header_items:
            if k.lower() == name:
                return v
        return default

    def stable(self):
        """(status, headers without volatile ones, body): for byte-identity checks."""
        hdrs = sorted((k.lower(), v) for k, v in self.header_items
                      if k.lower() not in VOLATILE_HEADERS)
        return self.status, hdrs, self.raw

    def __repr__(self):
        return f"<Resp {self.status} {self.raw[:300]!r}>"


def _encode_body(body):
    if body is None:
        return None
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body).encode("utf-8")


class Http:
    """A keep-alive HTTP/1.1 client of one server (http.client underneath).

    key: default bearer token (API key or JWT); pass key=None per call to
    send none, or key="..." to override.
    """

    _UNSET = object()

    def __init__(self, base, key=None, timeout=30):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port
        self.key = key
        self.timeout = timeout
        self.conn = None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _connect(self):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self.conn

    def request(self, method, path, body=None, key=_UNSET, headers=None):
        """Sends one request on the kept-alive connection; returns a Resp.

        body: dict/list (sent as JSON), str or bytes (sent as is), None (no body).
        A connection the server closed while idle is reopened once.
        """
        key = self.key if key is Http._UNSET else key
        data = _encode_body(body)
        hdrs = {}
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        if key is not None:
            hdrs["Authorization"] = f"Bearer {key}"
        hdrs.update(headers or {})
        for attempt in (0, 1):
            conn = self._connect()
            fresh = conn.sock is None
            try:
                conn.request(method, path, body=data, headers=hdrs)
                r = conn.getresponse()
                raw = r.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError,
                    http.client.CannotSendRequest, http.client.ResponseNotReady):
                self.close()
                if fresh or attempt == 1:
                    raise
                continue
            resp = Resp(r.status, r.reason, r.getheaders(), raw)
            if r.will_close:
                self.close()
            return resp
        raise AssertionError("unreachable")

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body, **kw)

    def delete(self, path, body=None, **kw):
        return self.request("DELETE", path, body, **kw)


# --------------------------------------------------------------------------
# Assertions


def check_no_leak(text):
    low = text.lower()
    for m in LEAK_MARKERS:
        assert m not in low, f"error message leaks internals ({m!r}): {text!r}"


def expect(resp, status, code=None):
    """Asserts the status and the v2 envelope; returns the parsed body.

    2xx: {"success": true, ...}. Otherwise exactly {"success": false,
    "error": non-empty str, "code": code} (code checked when given).
    """
    assert resp.status == status, f"expected {status}, got {resp!r}"
    b = resp.json
    assert isinstance(b, dict), f"body is not a JSON object: {resp!r}"
    if 200 <= status < 300:
        assert b.get("success") is True, f"success is not true: {b}"
    else:
        assert set(b) == {"success", "error", "code"}, f"error envelope keys: {b}"
        assert b["success"] is False, b
        assert isinstance(b["error"], str) and b["error"], b
        assert b["code"] in ERROR_CODES, f"unknown code: {b}"
        if code is not None:
            assert b["code"] == code, f"expected code {code}, got {b}"
        check_no_leak(b["error"])
    assert resp.h("X-Request-Id"), f"no X-Request-Id: {resp.header_items}"
    assert "application/json" in (resp.h("Content-Type") or ""), resp.header_items
    return b


def expect_status_in(resp, statuses, code=None):
    """Like expect() for a set of acceptable error statuses."""
    assert resp.status in statuses, f"expected one of {statuses}, got {resp!r}"
    return expect(resp, resp.status, code)


def check_iso(v, nullable=False):
    if nullable and v is None:
        return
    assert isinstance(v, str) and ISO_MS.match(v), f"not ISO-8601 UTC with ms: {v!r}"


def check_wf_view(w, definition_as_text=False):
    assert isinstance(w, dict) and set(w) == set(WF_VIEW), f"workflow view keys: {sorted(w)}"
    if definition_as_text:
        assert isinstance(w["definition"], str), w
        assert isinstance(json.loads(w["definition"]), dict), w
    else:
        assert isinstance(w["definition"], dict), w
    assert w["status"] in ("active", "archived"), w
    check_iso(w["created_at"])
    check_iso(w["updated_at"])
    assert isinstance(w["id"], str) and w["id"], w
    assert isinstance(w["created_by"], str) and w["created_by"], w
    return w


def check_run_view(r):
    assert isinstance(r, dict) and set(r) == set(RUN_VIEW), f"run view keys: {sorted(r)}"
    assert r["status"] in ("queued", "running", "waiting", "paused", "completed", "failed",
                           "terminated"), r
    assert r["error"] is None or (isinstance(r["error"], str) and r["error"]), r
    check_iso(r["started_at"], nullable=True)
    check_iso(r["finished_at"], nullable=True)
    return r


# --------------------------------------------------------------------------
# JWT


def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_token(secret, alg="HS256", **claims):
    """A signed JWT (python3-jwt)."""
    import jwt

    tok = jwt.encode(claims, secret, algorithm=alg)
    return tok.decode() if isinstance(tok, bytes) else tok


def jwt_claims(sub="user-1", customer_id="tenant-j", ttl=300, **extra):
    now = int(time.time())
    c = {"sub": sub, "customer_id": customer_id, "iat": now, "exp": now + ttl}
    c.update(extra)
    return {k: v for k, v in c.items() if v is not None}


def jwt_unsigned(claims, alg="none", signature=""):
    """header.payload.signature built by hand (alg none and other forgeries)."""
    head = b64url(json.dumps({"alg": alg, "typ": "JWT"}))
    return f"{head}.{b64url(json.dumps(claims))}.{signature}"


def jwt_swap_payload(token, claims):
    """The token with its payload replaced and the old signature kept."""
    h, _p, s = token.split(".")
    return f"{h}.{b64url(json.dumps(claims))}.{s}"


# --------------------------------------------------------------------------
# Raw sockets


def raw_http(port, data, timeout=10, send_chunks=None):
    """Sends bytes on a fresh socket, reads one answer; returns (status|None, headers, body).

    send_chunks: an iterable of further byte strings sent after `data`
    (send errors are ignored: the server may answer and close early).
    status None means the server closed without an HTTP answer.
    """
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            s.sendall(data)
            for chunk in send_chunks or ():
                s.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        buf = b""
        head_end = -1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                got = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not got:
                break
            buf += got
            head_end = buf.find(b"\r\n\r\n")
            if head_end >= 0:
                clen = _content_length(buf[:head_end])
                if clen is not None and len(buf) >= head_end + 4 + clen:
                    break
        return _parse_raw(buf)
    finally:
        s.close()


def recv_until_close(s):
    """Everything the peer sends on socket s until it closes."""
    buf = b""
    while True:
        got = s.recv(65536)
        if not got:
            return buf
        buf += got


def head_answer(s, path, quiet=0.3):
    """Sends HEAD path on the kept-alive socket s; returns (status line and
    headers, any bytes that followed within `quiet` seconds: must be none)."""
    s.sendall(f"HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        got = s.recv(65536)
        assert got, (path, buf)
        buf += got
    head, _, rest = buf.partition(b"\r\n\r\n")
    timeout = s.gettimeout()
    s.settimeout(quiet)
    try:
        rest += s.recv(65536)
    except socket.timeout:
        pass
    s.settimeout(timeout)
    return head, rest


def _content_length(head):
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            try:
                return int(v.strip())
            except ValueError:
                return None
    return None


def _parse_raw(buf):
    head_end = buf.find(b"\r\n\r\n")
    if not buf.startswith(b"HTTP/") or head_end < 0:
        return None, {}, buf
    lines = buf[:head_end].split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
    return status, headers, buf[head_end + 4:]


def raw_request(port, method, path, body=b"", key=None, headers=None, timeout=10):
    """A one-shot request with an exact body (bytes) and Content-Length; see raw_http."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close",
             "Content-Type: application/json", f"Content-Length: {len(body)}"]
    if key is not None:
        lines.append(f"Authorization: Bearer {key}")
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    return raw_http(port, ("\r\n".join(lines) + "\r\n\r\n").encode() + body, timeout)


# --------------------------------------------------------------------------
# Server helpers


def alive(srv, what="request"):
    """Asserts the server process runs and /health answers 200."""
    assert srv.running(), f"zflow died after a hostile {what}:\n{srv.stderr()[-3000:]}"
    with Http(srv.http, timeout=10) as c:
        r = c.get(V2 + "/health")
    assert r.status == 200 and r.json and r.json.get("status") == "ok", \
        f"/health after a hostile {what}: {r!r}"


uniq, fake_id, set_node = zh.uniq, zh.fake_id, zh.set_node  # re-exported for the HTTP tests


def delay_node(nid, seconds=60):
    return {"id": nid, "type": "delay", "config": {"duration": seconds, "unit": "seconds"}}


def wf_body(name=None, nodes=None, **extra):
    b = {"name": name or uniq(), "definition": {"nodes": nodes or [set_node("s1", x=1)]}}
    b.update(extra)
    return b


def create(api, **kw):
    """POST a workflow (wf_body(**kw)); asserts 201; returns the workflow view."""
    return expect(api.post(V2, wf_body(**kw)), 201)["workflow"]


def execute(api, wf_id, inputs=None, wait=False):
    """POST /:id/execute (?wait=true when wait); asserts 201; returns the run view."""
    path = f"{V2}/{wf_id}/execute" + ("?wait=true" if wait else "")
    body = None if inputs is None else {"inputs": inputs}
    return expect(api.post(path, body), 201)["run"]


def get_run(api, wf_id, run_id):
    return expect(api.get(f"{V2}/{wf_id}/runs/{run_id}"), 200)["run"]


def wait_run(api, wf_id, run_id, statuses, timeout=15):
    """Polls GET /:id/runs/:runId until status is in statuses; returns the run view."""
    statuses = (statuses,) if isinstance(statuses, str) else tuple(statuses)
    last = {}

    def probe():
        last["r"] = get_run(api, wf_id, run_id)
        return last["r"] if last["r"]["status"] in statuses else None

    try:
        return zh.wait_for(probe, timeout, 0.02, what=f"run {run_id} in {statuses}")
    except TimeoutError:
        raise AssertionError(f"run {run_id} never reached {statuses}; last: {last.get('r')}")
