#!/usr/bin/python3
"""it_http_limits — the REST front end under hostile and edge-case input:
body size (1 MiB + 1 -> 413 before the body is read, exactly 1 MiB accepted,
--max-body), strict JSON (10,000-deep nesting, invalid UTF-8, duplicate keys,
non-object bodies), malformed HTTP (answered in JSON, in the shape of the
mount the request line names; HEAD without a body), rate-limit exactness (150 requests ->
exactly 100 OK + 50 x 429, sequential and concurrent), X-RateLimit-* and
X-Request-Id headers, Idempotency-Key (replay, no second effect, mismatch,
in progress), HS256 JWTs (valid, forged, expired, ...) and JWT tenant
isolation. After every hostile request the server must still answer /health.

Two servers: "lim" (--jwt-secret, --rate-limit 0, egress to loopback) and
"rl" (default rate limit 100/min, --max-body 4096).

    ZFLOW_BIN=build/zflow /usr/bin/python3 tests/it_http_limits.py   (ZF_TEST=substr)
"""
import json
import os
import re
import select
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zf_harness as zh  # noqa: E402
from http_harness import (UUID_RE, V2, Http, alive, b64url, check_no_leak, create,  # noqa: E402
                          execute, expect, expect_status_in, fake_id, jwt_claims, jwt_swap_payload,
                          get_run, head_answer, jwt_token, jwt_unsigned, raw_http, raw_request,
                          recv_until_close, set_node, uniq, wait_run, wf_body)

S = {}
SECRET = "it-http-limits-secret-0123456789abcdef"
MIB = 1024 * 1024


def lim():
    return S["lim"]


def admin():
    return S["lim_admin"]


def fresh_key(srv, tenant="T", role="admin"):
    return zh.create_key(srv.data, tenant, role)


def _post_head(*lines, key=None):
    """The head of an authenticated JSON POST to the v2 mount, with extra
    header lines (framing: Content-Length, Transfer-Encoding, ...)."""
    return (f"POST {V2} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {key or S['lim_key']}\r\n"
            + "".join(l + "\r\n" for l in lines) + "\r\n").encode()


def sized_create_body(size):
    """A valid create body of exactly `size` bytes (padding in definition.inputs,
    which has no length limit of its own; a description has one)."""
    base = {"name": uniq("big"),
            "definition": {"nodes": [set_node("s1", x=1)], "inputs": {"pad": ""}}}
    pad = size - len(json.dumps(base).encode())
    assert pad >= 0
    base["definition"]["inputs"]["pad"] = "d" * pad
    data = json.dumps(base).encode()
    assert len(data) == size, len(data)
    return base["name"], data


# ---------------------------------------------------------------- body size


def test_body_over_1mib_is_413_before_reading():
    port = lim().http_port
    head = _post_head(f"Content-Length: {MIB + 1}")
    t0 = time.monotonic()
    status, hdrs, body = raw_http(port, head, timeout=5)  # the body is never sent
    assert status == 413, (status, hdrs, body[:200])
    assert time.monotonic() - t0 < 4, "413 only came after a timeout: the body was awaited"
    b = json.loads(body)
    assert b["success"] is False and b["code"] == "too_large", b
    assert hdrs.get("x-request-id"), hdrs
    for clen in ("9223372036854775807", "18446744073709551616", "99999999999999999999"):
        head = (f"POST {V2} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {clen}\r\n"
                f"Authorization: Bearer {S['lim_key']}\r\n\r\n").encode()
        status, _, body = raw_http(port, head, timeout=5)
        assert status == 413 and b'"too_large"' in body, (clen, status, body[:200])
    alive(lim(), "oversized body")


def test_chunked_body_over_1mib_is_413():
    port = lim().http_port
    head = _post_head("Transfer-Encoding: chunked")
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(head)
        left = MIB + 1
        while left > 0:
            r, _, _ = select.select([s], [], [], 0)
            if r:
                break  # the server answered early
            n = min(left, 65536)
            try:
                s.sendall(b"%x\r\n" % n + b"[" * n + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break
            left -= n
        buf = b""
        while True:
            r, _, _ = select.select([s], [], [], 5)
            if not r:
                break
            try:
                got = s.recv(65536)
            except ConnectionResetError:
                break
            if not got:
                break
            buf += got
            if b"\r\n\r\n" in buf and buf.rstrip().endswith(b"}"):
                break
    finally:
        s.close()
    assert buf.startswith(b"HTTP/1.1 413") or buf.startswith(b"HTTP/1.0 413"), buf[:300]
    assert b'"too_large"' in buf, buf[:500]
    alive(lim(), "chunked oversized body")


def test_exactly_1mib_is_not_413():
    name, data = sized_create_body(MIB)
    r = admin().post(V2, data)
    assert r.status != 413, r
    w = expect(r, 201)["workflow"]
    pad = w["definition"]["inputs"]["pad"]
    assert w["name"] == name and len(pad) > MIB - 200, len(pad)
    got = expect(admin().get(f"{V2}/{w['id']}"), 200)["workflow"]
    assert got["definition"]["inputs"]["pad"] == pad
    alive(lim(), "1 MiB body")


def test_body_sent_after_an_early_413_is_drained_not_reset():
    """The 413 comes from Content-Length before a byte of the body is read.
    A client that sends the body anyway (no Expect: 100-continue) must be
    able to finish sending it and then read the answer and an orderly
    close: the server reads and drops the rest rather than closing on
    unread bytes, which makes the kernel reset the connection."""
    port = lim().http_port
    head = _post_head(f"Content-Length: {MIB + 1}")
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(head)
        r, _, _ = select.select([s], [], [], 5)
        assert r, "no early answer"
        time.sleep(0.2)  # the server has answered: the old code had closed by now
        s.sendall(b"a" * (MIB + 1))  # raised ConnectionResetError / BrokenPipeError before
        buf = b""
        while True:
            got = s.recv(65536)  # an orderly close ends with b"", not a reset
            if not got:
                break
            buf += got
    finally:
        s.close()
    assert buf.startswith(b"HTTP/1.1 413") and b"Connection: close" in buf, buf[:300]
    assert b'"too_large"' in buf, buf[:500]
    alive(lim(), "body after an early 413")


def test_real_curl_with_1mib_plus_1_gets_413():
    """curl sends Expect: 100-continue for a body this size; also without it.
    Without it curl is still sending when the 413 comes: the server reads
    and drops the rest before closing, else the kernel's reset on close
    can beat the answer and curl sees only "broken pipe" (seen in CI).
    The same goes for an answer refused before the body (a bad key)."""
    import subprocess
    import tempfile

    def curl(key, extra, path):
        res = subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "-X", "POST",
                              "-H", f"Authorization: Bearer {key}", "-H",
                              "Content-Type: application/json", *extra, "--data-binary",
                              "@" + path, lim().http + V2],
                             capture_output=True, text=True, timeout=60)
        body, _, code = res.stdout.rpartition("\n")
        return res, code, body

    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        f.write(b'{"name": "' + b"a" * (MIB + 1 - 12) + b'"}')
        f.flush()
        assert os.path.getsize(f.name) == MIB + 1
        for extra in [[]] + [["-H", "Expect:"]] * 8:
            res, code, body = curl(S["lim_key"], extra, f.name)
            assert code == "413" and json.loads(body)["code"] == "too_large", (extra, res)
        for _ in range(4):
            res, code, body = curl("zfk_" + "0" * 64, ["-H", "Expect:"], f.name)
            assert code in ("401", "413") and json.loads(body)["code"], res
    alive(lim(), "1 MiB + 1 through curl")


def test_max_body_flag():
    srv = S["rl"]
    with Http(srv.http, fresh_key(srv, "MB")) as a:
        _, ok = sized_create_body(4096)
        r = a.post(V2, ok)
        assert r.status == 201, r
        _, big = sized_create_body(4097)
        status, _, body = raw_request(srv.http_port, "POST", V2, big, key=a.key)
        assert status == 413 and json.loads(body)["code"] == "too_large", (status, body[:200])
    alive(srv, "body over --max-body")


# ---------------------------------------------------------------- slow and idle connections


def _wait_closed(s, within):
    """Reads socket s until the server closes it; returns (bytes, seconds
    taken), or fails when it is still open after `within` seconds."""
    t0 = time.monotonic()
    buf = b""
    while True:
        left = within - (time.monotonic() - t0)
        assert left > 0, f"the server kept the connection open over {within}s: {buf[:200]!r}"
        r, _, _ = select.select([s], [], [], left)
        if not r:
            continue
        try:
            got = s.recv(65536)
        except ConnectionResetError:
            got = b""
        if not got:
            return buf, time.monotonic() - t0
        buf += got


def _health_within(srv, seconds):
    """curl GET /health; asserts a 200 within `seconds`; returns the time taken."""
    import subprocess
    t0 = time.monotonic()
    res = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-m",
                          str(seconds), srv.http + V2 + "/health"],
                         capture_output=True, text=True, timeout=seconds + 10)
    took = time.monotonic() - t0
    assert res.stdout == "200", f"/health not answered within {seconds}s ({took:.1f}s): {res}"
    return took


def _idle_crowd(port, n):
    """n connections that hold a worker each without finishing a request:
    a third send nothing, a third half a request head, a third a head and
    half its body."""
    heads = (b"", b"GET /api/v2/workflows/health HTTP/1.1\r\nHost: x\r\n",
             b"POST /api/v2/workflows HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"na")
    crowd = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        if heads[i % 3]:
            s.sendall(heads[i % 3])
        crowd.append(s)
    return crowd


def test_idle_connections_do_not_starve_the_server():
    """Idle and half-sent requests used to hold every one of the 128
    worker threads for request_timeout (30 s): ~130 such connections
    stopped every route for 30 s, again at each reconnect. Now 1024
    workers serve connections and a request head must arrive within
    --http-header-timeout (5 s): 300 idle connections do not delay a
    request, and the server closes them within the bound."""
    crowd = _idle_crowd(lim().http_port, 300)
    try:
        time.sleep(0.5)  # every idle connection has its worker
        for _ in range(3):
            assert _health_within(lim(), 5) < 4
        t0 = time.monotonic()
        for s in crowd:  # 5 s head/silence bound (a body may pause up to ~2x that)
            _wait_closed(s, max(1, 30 - (time.monotonic() - t0)))
    finally:
        for s in crowd:
            s.close()
    alive(lim(), "300 idle connections")


def test_more_idle_connections_than_workers_stall_only_briefly():
    """With every worker held by an idle connection (and more waiting in
    the queue), a real request waits for the header timeout to free
    workers, not forever: --http-threads 16 --http-header-timeout 1000
    and 40 idle connections delay /health by about 3 s at most."""
    with zh.Server(extra_args=["--rate-limit", "0", "--http-threads", "16",
                               "--http-header-timeout", "1000"]) as srv:
        crowd = _idle_crowd(srv.http_port, 40)
        try:
            time.sleep(0.3)
            took = _health_within(srv, 15)
            assert took < 12, took
            took = _health_within(srv, 15)  # the crowd has been cut
        finally:
            for s in crowd:
                s.close()
        assert took < 3, took


def test_413_without_the_body_closes_within_a_bound():
    """The 413 says Connection: close; the socket used to stay open for
    the 30 s request timeout when the client never sent the body (the
    drain's read blocked). The drain is now bounded in wall-clock time
    (2 s) even while one read blocks, also for a client that trickles."""
    port = lim().http_port
    head = _post_head("Content-Length: 2000000")
    for trickle in (False, True):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        try:
            s.sendall(head)
            t0 = time.monotonic()
            buf = b""
            if trickle:  # a byte every 0.2 s: each read of the drain would wait for more
                while time.monotonic() - t0 < 15:
                    r, _, _ = select.select([s], [], [], 0.2)
                    if r:
                        got = s.recv(65536)
                        if not got:
                            break
                        buf += got
                    else:
                        try:
                            s.sendall(b"a")
                        except (BrokenPipeError, ConnectionResetError):
                            break
                rest, _ = b"", 0
            else:
                rest, _ = _wait_closed(s, 10)
            took = time.monotonic() - t0
        finally:
            s.close()
        buf += rest
        assert buf.startswith(b"HTTP/1.1 413") and b"Connection: close" in buf, buf[:300]
        assert b'"too_large"' in buf, buf[:500]
        assert took < 8, f"closed after {took:.1f}s (trickle={trickle}); the drain takes 2 s"
    alive(lim(), "413 without a body")


def test_body_must_arrive_within_the_body_timeout():
    """civetweb only bounds silences in a body: a client sending a byte
    now and then held a worker for as long as it liked. A whole body
    must now arrive within --http-body-timeout, else 408 (code timeout)
    and the connection closes; a body that stalls outright is cut after
    --http-header-timeout of silence, also 408. A body sent at a normal
    pace is untouched."""
    with zh.Server(extra_args=["--rate-limit", "0", "--http-body-timeout", "1500",
                               "--http-header-timeout", "1000"]) as srv:
        key = fresh_key(srv, "BT")
        head = _post_head("Content-Length: 200", key=key)
        for pause in (0.2, None):  # a trickle, then a stall
            s = socket.create_connection(("127.0.0.1", srv.http_port), timeout=10)
            try:
                s.sendall(head + b'{"name": "')
                t0 = time.monotonic()
                buf = b""
                while time.monotonic() - t0 < 15:
                    r, _, _ = select.select([s], [], [], pause or 15)
                    if r:
                        got = s.recv(65536)
                        if not got:
                            break
                        buf += got
                    elif pause:
                        s.sendall(b"a")
                took = time.monotonic() - t0
            finally:
                s.close()
            status, hdrs, body = _parse_answer(buf)
            assert status == 408 and hdrs.get("connection") == "close", (pause, buf[:300])
            assert json.loads(body)["code"] == "timeout", body
            assert took < 8, f"cut after {took:.1f}s (pause {pause})"
        with Http(srv.http, key) as a:
            create(a, nodes=[set_node("s1", pad="x" * 50000)])  # a 50 KB body in time is fine
        alive(srv, "slow bodies")


def _parse_answer(buf):
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1]) if lines[0].startswith(b"HTTP/") else None
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        hdrs[k.strip().lower().decode()] = v.strip().decode()
    return status, hdrs, body


# ---------------------------------------------------------------- framing


def _framing_error(data, status, code="validation", port=None):
    """Sends data; asserts an answer `status` in the v2 error envelope
    that closes the connection; returns the error message."""
    port = port or lim().http_port
    st, hdrs, body = raw_http(port, data, timeout=10)
    b = _check_protocol_error(data, st, hdrs, body)
    assert st == status and set(b) == {"success", "error", "code"}, (data[:80], st, b)
    assert b["success"] is False and b["code"] == code, b
    check_no_leak(b["error"])
    return b["error"]


def test_conflicting_content_lengths_are_400():
    """civetweb took the first of two Content-Length fields (5 then 2 read
    5 bytes); a length that is not one plain number ("+2", "2, 2", "2x")
    was read by strtoll. Both are 400 now, and the connection closes.
    Repeating the same length is accepted (RFC 9110 8.6)."""
    body = b'{"a":1}'
    for lines in (["Content-Length: 7", "Content-Length: 2"],
                  ["Content-Length: 2", "Content-Length: 7"],
                  ["Content-Length: 7", "Content-Length: 07", "Content-Length: 8"],
                  ["Content-Length: +7"], ["Content-Length: 7, 7"], ["Content-Length: 7x"]):
        msg = _framing_error(_post_head(*lines) + body, 400)
        assert "Content-Length" in msg, msg
    n = uniq("samecl")
    data = json.dumps(wf_body(n)).encode()
    st, _, got = raw_http(lim().http_port, _post_head(f"Content-Length: {len(data)}",
                                                      f"Content-Length: 0{len(data)}") + data)
    assert st == 201 and json.loads(got)["workflow"]["name"] == n, (st, got[:200])
    alive(lim(), "conflicting Content-Length")


def test_transfer_encoding_with_content_length_is_400():
    """Transfer-Encoding with Content-Length (either order) was read as
    chunked: the pair a proxy and a server can disagree on. 400 now, as
    is any Transfer-Encoding other than one "chunked"."""
    chunked = b"7\r\n{\"a\":1}\r\n0\r\n\r\n"
    for lines in (["Content-Length: 7", "Transfer-Encoding: chunked"],
                  ["Transfer-Encoding: chunked", "Content-Length: 7"],
                  ["Transfer-Encoding: chunked", "Content-Length: 0"]):
        msg = _framing_error(_post_head(*lines) + chunked, 400)
        assert "Transfer-Encoding" in msg and "Content-Length" in msg, msg
    for lines in (["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"],
                  ["Transfer-Encoding: identity"]):
        assert "Transfer-Encoding" in _framing_error(_post_head(*lines) + chunked, 400)
    n = uniq("chunked")
    data = json.dumps(wf_body(n)).encode()
    st, _, got = raw_http(lim().http_port, _post_head("Transfer-Encoding: chunked")
                          + b"%x\r\n" % len(data) + data + b"\r\n0\r\n\r\n")
    assert st == 201 and json.loads(got)["workflow"]["name"] == n, (st, got[:200])
    alive(lim(), "Transfer-Encoding with Content-Length")


def test_malformed_chunk_sizes_are_400():
    """A chunk size that is not hex, or overflows, used to end the body
    as if it were empty (then "name is required"): 400 now."""
    for size in (b"zz", b"FFFFFFFFFFFFFFFF", b"1FFFFFFFFFFFFFFFF", b"-1", b"", b"5;x=1x"):
        data = _post_head("Transfer-Encoding: chunked") + size + b"\r\n{\"a\":1}\r\n0\r\n\r\n"
        msg = _framing_error(data, 400)
        assert "chunked" in msg, (size, msg)
    alive(lim(), "malformed chunk sizes")


def test_more_than_63_header_fields_are_431():
    """civetweb keeps 64 header fields and silently dropped the rest: an
    Authorization placed after them gave 401. A head that fills the 64
    slots is refused with 431 (code too_large), in the mount's shape."""
    auth = f"Authorization: Bearer {S['lim_key']}\r\n"
    for n in (64, 65, 100):
        extra = "".join(f"X-Filler-{i}: {i}\r\n" for i in range(n - 2))
        data = f"GET {V2} HTTP/1.1\r\nHost: x\r\n{extra}{auth}\r\n".encode()
        msg = _framing_error(data, 431, "too_large")
        assert "63" in msg, msg
    extra = "".join(f"X-Filler-{i}: {i}\r\n" for i in range(61))  # 63 fields in all
    st, _, body = raw_http(lim().http_port, f"GET {V2} HTTP/1.1\r\nHost: x\r\n{extra}{auth}\r\n"
                           .encode())
    assert st == 200 and json.loads(body)["success"] is True, (st, body[:200])
    extra = "".join(f"X-Filler-{i}: {i}\r\n" for i in range(70))
    st, hdrs, body = raw_http(lim().http_port, f"GET /v1/automations HTTP/1.1\r\nHost: x\r\n"
                              f"{extra}\r\n".encode())
    b = _check_protocol_error(b"lendworks", st, hdrs, body)
    assert st == 431 and b["errors"][0]["code"] and hdrs["lw-api-version"], (st, b, hdrs)
    alive(lim(), "too many header fields")


# ---------------------------------------------------------------- strict JSON


def test_deep_nesting_rejected_and_server_survives():
    deep_arrays = '{"name": "deep", "x": ' + "[" * 10000 + "]" * 10000 + "}"
    deep_objects = '{"name": "deep", "x": ' + '{"a": ' * 10000 + "1" + "}" * 10000 + "}"
    unbalanced = '{"x": ' + "[" * 10000
    for body in (deep_arrays, deep_objects, unbalanced):
        for method, path in (("POST", V2), ("POST", f"{V2}/{S['wf']['id']}/execute"),
                             ("PATCH", f"{V2}/{S['wf']['id']}")):
            r = admin().request(method, path, body)
            expect_status_in(r, (400, 413))
            alive(lim(), "deeply nested JSON")
    # 65 levels inside an otherwise valid body: still refused (depth limit 64).
    nested = {"name": uniq(), "definition": {"nodes": [set_node("s1", x=1)]}}
    v = 1
    for _ in range(65):
        v = [v]
    nested["definition"]["inputs"] = {"deep": v}
    expect_status_in(admin().post(V2, nested), (400, 413))
    assert expect(admin().get(f"{V2}/{S['wf']['id']}"), 200)["workflow"]["name"] == S["wf"]["name"]


def test_invalid_utf8_rejected():
    for bad in (b'{"name": "\xff\xfe", "definition": {"nodes": []}}',
                b'{"name": "ok", "description": "\xc0\xaf", "definition": {"nodes": []}}',
                b'{"name": "\xed\xa0\x80", "definition": {"nodes": []}}',
                b'{"name": "\\ud800", "definition": {"nodes": []}}',
                b'{"na\xffme": "x", "definition": {"nodes": []}}'):
        expect(admin().post(V2, bad), 400, "validation")
        expect(admin().patch(f"{V2}/{S['wf']['id']}", bad), 400, "validation")
        alive(lim(), "invalid UTF-8")


def test_duplicate_keys_rejected():
    n = uniq("dupkey")
    for body in ('{"name": "%s", "name": "%s-2", "definition": {"nodes": []}}' % (n, n),
                 '{"name": "%s", "definition": {"nodes": [], "nodes": []}}' % n,
                 '{"name": "%s", "definition": {"nodes": [{"id": "a", "id": "b", "type": "set"}]}}'
                 % n):
        expect(admin().post(V2, body), 400, "validation")
    expect(admin().post(f"{V2}/{S['wf']['id']}/execute",
                        '{"inputs": {"a": 1, "a": 2}}'), 400, "validation")
    names = [w["name"] for w in expect(admin().get(V2 + "?limit=500"), 200)["workflows"]]
    assert not any(x.startswith(n) for x in names), names


def test_non_object_and_broken_bodies_rejected():
    for body in ("[]", "[1]", '"s"', "1", "null", "true", "", " ", "{", "}", '{"a":1}{"b":2}',
                 "{\"a\": 01}", "{\"a\": NaN}", "{\"a\": Infinity}"):
        for method, path in (("POST", V2), ("PATCH", f"{V2}/{S['wf']['id']}"),
                             ("POST", f"{V2}/{S['wf']['id']}/execute")):
            if body in ("", " ") and path.endswith("/execute"):
                continue  # an empty execute body means inputs {}
            expect(admin().request(method, path, body), 400, "validation")
    alive(lim(), "non-object body")


def test_malformed_http_requests():
    port = lim().http_port
    cases = [
        b"GARBAGE\r\n\r\n",
        b"\x00\x01\x02\x03\r\n\r\n",
        b"GET /api/v2/workflows HTTP/9.9\r\nHost: x\r\n\r\n",
        b"POST /api/v2/workflows HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"POST /api/v2/workflows HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"POST /api/v2/workflows HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
        b"POST /api/v2/workflows HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n"
        b'\r\n{"a":1}',
        b"GET /api/v2/workflows HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n",
        b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /api/v2/workflows HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET /api/v2/workflows HTTP/1.1\r\nHost: x\r\n" + b"X-H: v\r\n" * 2000 + b"\r\n",
    ]
    for data in cases:
        status, _, _ = raw_http(port, data, timeout=5)
        assert status is None or 400 <= status < 500 or status in (501, 505), (data[:60], status)
        alive(lim(), f"malformed request {data[:40]!r}")
    # A client that announces a body and hangs up halfway.
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"POST /api/v2/workflows HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"na")
    s.close()
    alive(lim(), "truncated body")


def test_protocol_level_errors_carry_a_request_id():
    """Contract: every response carries X-Request-Id, also the ones the HTTP
    layer itself produces for requests it cannot parse (400, 411, 505, ...)."""
    port = lim().http_port
    for data in (b"GARBAGE\r\n\r\n",
                 b"GET /api/v2/workflows/health HTTP/9.9\r\nHost: x\r\n\r\n",
                 b"POST /api/v2/workflows HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
                 b"GET /api/v2/workflows/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000
                 + b"\r\n\r\n"):
        status, hdrs, body = raw_http(port, data, timeout=5)
        assert status is not None and 400 <= status < 600, (data[:50], status)
        assert hdrs.get("x-request-id"), (data[:50], status, hdrs, body[:100])
    alive(lim(), "unparseable request")


def _check_protocol_error(data, status, hdrs, body):
    """An error the HTTP layer answered: JSON with a Content-Length, a request
    id and Connection: close; returns the parsed body."""
    assert status is not None and 400 <= status < 500 or status == 505, (data[:50], status)
    assert "application/json" in hdrs.get("content-type", ""), (data[:50], hdrs)
    assert int(hdrs["content-length"]) == len(body), (data[:50], hdrs, body[:100])
    assert hdrs.get("x-request-id") and hdrs.get("connection", "").lower() == "close", hdrs
    return json.loads(body)


def test_http_layer_errors_are_json_in_the_mount_shape():
    """Errors civetweb finds before the pipeline (unparseable request line,
    headers over 16 KiB, bad version, bad Content-Length) are JSON: in the
    error shape of the dialect whose mount the request line names, v2's
    when it names none or was not parsed (the 20 KB header); GET /nope is
    the pipeline's JSON 404. The server keeps serving after each."""
    port = lim().http_port
    big = b"X-Big: " + b"a" * 20000 + b"\r\n"
    v2_cases = [
        (b"GARBAGE\r\n\r\n", 400, "validation"),
        (b"\x00\x01\x02\x03\r\n\r\n", 400, "validation"),
        (b"GET /api/v2/workflows/health HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n", 400,
         "validation"),
        (b"GET /v1/status HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n", 400, "validation"),
        (b"GET /api/v2/workflows HTTP/9.9\r\nHost: x\r\n\r\n", 505, "not_implemented"),
        (b"POST /api/v2/workflows HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 411,
         "validation"),
        (b"BREW /nope HTTP/1.1\r\nHost: x\r\n\r\n", 400, "validation"),
    ]
    for data, st, code in v2_cases:
        status, hdrs, body = raw_http(port, data, timeout=5)
        b = _check_protocol_error(data, status, hdrs, body)
        assert status == st and set(b) == {"success", "error", "code"}, (data[:50], status, b)
        assert b["success"] is False and b["code"] == code and b["error"], b
        check_no_leak(b["error"])
        assert "lw-api-version" not in hdrs, hdrs
        alive(lim(), f"malformed request {data[:40]!r}")
    # The same errors under another dialect's mount, in that dialect's shape.
    status, hdrs, body = raw_http(port, b"GET /coherence/v1/automations HTTP/3.0\r\n\r\n", 5)
    b = _check_protocol_error(b"coherence", status, hdrs, body)
    assert status == 505 and set(b) == {"error"} and set(b["error"]) == {"code", "message"}, b
    status, hdrs, body = raw_http(port, b"FOO /v1/automations HTTP/1.1\r\nHost: x\r\n\r\n", 5)
    b = _check_protocol_error(b"lendworks", status, hdrs, body)
    assert status == 400 and b["errors"][0]["code"] == "VALIDATION_ERROR", b
    assert b["meta"]["requestId"] == hdrs["x-request-id"] and hdrs["lw-api-version"], hdrs
    # A path under no mount: the pipeline's 404 in the v2 shape.
    status, hdrs, body = raw_http(port, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 5)
    assert status == 404 and int(hdrs["content-length"]) == len(body), (status, hdrs)
    assert json.loads(body) == {"success": False, "error": "Route not found",
                                "code": "not_found"}, body
    alive(lim(), "unparseable requests")


def test_head_gets_headers_without_a_body():
    """HEAD answers what GET would (a GET route serves it; an unknown path
    is 404), and a HEAD civetweb refuses itself too, each with a
    Content-Length but no body; a kept-alive connection goes on with the
    next request."""
    port = lim().http_port
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        for path, want in (("/nope", 404), (V2 + "/health", 200), ("/v1/status", 200),
                           (V2 + "/workflows", 401)):
            head, rest = head_answer(s, path)
            assert head.startswith(b"HTTP/1.1 %d " % want), (path, head)
            clen = re.search(rb"\r\nContent-Length: (\d+)", head)
            assert clen and int(clen.group(1)) > 0, (path, head)
            assert rest == b"", (path, rest[:100])
        s.sendall(f"GET {V2}/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        buf = recv_until_close(s)
        assert buf.startswith(b"HTTP/1.1 200 ") and b'"ok"' in buf, buf[:200]
    finally:
        s.close()
    status, hdrs, body = raw_http(port, b"HEAD /api/v2/workflows HTTP/9.9\r\nHost: x\r\n\r\n", 5)
    assert status == 505 and int(hdrs["content-length"]) > 0 and body == b"", (status, hdrs, body)
    alive(lim(), "HEAD")


# ---------------------------------------------------------------- rate limit


def _check_rl_headers(r, limit=100):
    lim_h, rem_h, reset_h = (r.h("X-RateLimit-Limit"), r.h("X-RateLimit-Remaining"),
                             r.h("X-RateLimit-Reset"))
    assert lim_h is not None and rem_h is not None and reset_h is not None, \
        f"missing X-RateLimit-* on {r!r}: {r.header_items}"
    assert int(lim_h) == limit, lim_h
    now = time.time()
    assert now - 2 <= int(reset_h) <= now + 62, (reset_h, now)
    return int(rem_h), int(reset_h)


def test_rate_limit_exactly_100_then_429_sequential():
    srv = S["rl"]
    with Http(srv.http, fresh_key(srv, "RL1")) as a:
        t0 = time.time()
        rs = [a.get(V2) for _ in range(150)]
    statuses = [r.status for r in rs]
    assert statuses == [200] * 100 + [429] * 50, statuses
    resets = set()
    for i, r in enumerate(rs):
        rem, reset = _check_rl_headers(r)
        resets.add(reset)
        assert rem == (99 - i if i < 100 else 0), (i, rem)
        if r.status == 429:
            b = expect(r, 429, "rate_limited")
            ra = r.h("Retry-After")
            assert ra is not None and 1 <= int(ra) <= 60, ra
            assert abs(int(ra) - (reset - time.time())) <= 2, (ra, reset)
            assert b["error"]
    assert len(resets) == 1, f"the window reset moved: {resets}"
    # A fixed one-minute window that starts at the user's first request.
    assert int(t0) + 58 <= resets.pop() <= int(t0) + 61, (t0, rs[0].header_items)
    # Another user of the same tenant has a budget of its own; /health is never limited.
    with Http(srv.http, fresh_key(srv, "RL1")) as b:
        assert b.get(V2).status == 200
    with Http(srv.http) as anon:
        for _ in range(3):
            assert anon.get(V2 + "/health").status == 200


def test_rate_limit_exact_under_concurrency():
    srv = S["rl"]
    key = fresh_key(srv, "RL2")
    statuses, lock = [], threading.Lock()

    def worker():
        with Http(srv.http, key) as c:
            for _ in range(50):
                st = c.get(V2).status
                with lock:
                    statuses.append(st)

    ts = [threading.Thread(target=worker) for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert len(statuses) == 150, len(statuses)
    assert statuses.count(200) == 100 and statuses.count(429) == 50, \
        {s: statuses.count(s) for s in set(statuses)}


def test_rate_limit_headers_on_every_authenticated_response():
    srv = S["rl"]
    with Http(srv.http, fresh_key(srv, "RL3")) as a:
        w = expect(a.post(V2, wf_body()), 201)["workflow"]
        # (A body that is not valid JSON is refused before authentication, as the
        # pipeline parses before it authenticates: no rate-limit headers there.)
        rs = [a.get(V2), a.get(f"{V2}/{w['id']}"), a.get(f"{V2}/{fake_id()}"),
              a.post(V2, wf_body(w["name"])), a.post(V2, {"name": 5}),
              a.patch(f"{V2}/{w['id']}", {}), a.get(f"{V2}/{w['id']}/schema"),
              a.post(f"{V2}/{w['id']}/execute", {}), a.get(f"{V2}/{w['id']}/runs"),
              a.post(V2 + "/parse", {"instruction": "hello world"}),
              a.delete(f"{V2}/{w['id']}")]
        assert [r.status for r in rs] == [200, 200, 404, 409, 400, 400, 200, 201, 200, 501, 200], rs
        rems = [_check_rl_headers(r)[0] for r in rs]
        assert rems == list(range(98, 98 - len(rs), -1)), rems
    with Http(srv.http, fresh_key(srv, "RL3", "viewer")) as v:
        r = v.post(V2, wf_body())
        expect(r, 403, "forbidden")
        _check_rl_headers(r)


def test_rate_limit_zero_disables():
    with Http(lim().http, fresh_key(lim(), "RL0")) as a:
        statuses = [a.get(V2).status for _ in range(150)]
    assert statuses == [200] * 150, {s: statuses.count(s) for s in set(statuses)}


# ---------------------------------------------------------------- X-Request-Id


def test_request_id_echo_and_generation():
    a = admin()
    seen = set()
    for r in (a.get(V2), a.get(V2 + "/health"), a.get(f"{V2}/{fake_id()}"),
              a.post(V2, "{"), a.get(V2, key=None), a.get(V2, key="bogus")):
        rid = r.h("X-Request-Id")
        assert rid and UUID_RE.match(rid.lower()), (r, rid)
        seen.add(rid)
    assert len(seen) == 6, f"request ids repeat: {seen}"
    for good in ("abc-123_X.y", "a", "Z" * 64, "trace.0001"):
        for r in (a.get(V2, headers={"X-Request-Id": good}),
                  a.get(V2 + "/health", headers={"X-Request-Id": good}),
                  a.get(V2, key=None, headers={"X-Request-Id": good}),
                  a.post(V2, "[]", headers={"X-Request-Id": good})):
            assert r.h("X-Request-Id") == good, (good, r.header_items)
    for bad in ("Z" * 65, "has space", "<script>", "semi;colon", "a/b", "\u00e9t\u00e9"):
        r = a.get(V2, headers={"X-Request-Id": bad})
        rid = r.h("X-Request-Id")
        assert r.status == 200 and rid != bad and UUID_RE.match(rid.lower()), (bad, rid)


# ---------------------------------------------------------------- idempotency


def _idem(k):
    return {"Idempotency-Key": k}


def test_idempotent_create_replays_and_creates_once():
    k = uniq("idem")
    body = wf_body(uniq("idem-wf"))
    r1 = admin().post(V2, body, headers=_idem(k))
    w = expect(r1, 201)["workflow"]
    assert (r1.h("Idempotent-Replayed") or "").lower() != "true", r1.header_items
    for _ in range(3):
        r2 = admin().post(V2, body, headers=_idem(k))
        assert r2.status == 201 and r2.raw == r1.raw, (r1, r2)
        assert r2.h("Idempotent-Replayed") == "true", r2.header_items
    names = [x["name"] for x in expect(admin().get(V2 + "?limit=500"), 200)["workflows"]]
    assert names.count(body["name"]) == 1, "the replay created a second workflow"
    # Same key, different body -> 422, and nothing created.
    other = wf_body(uniq("idem-other"))
    b = expect(admin().post(V2, other, headers=_idem(k)), 422, "idempotency_mismatch")
    assert b["error"]
    # Same key on another route (different method/path) -> 422 too.
    expect(admin().patch(f"{V2}/{w['id']}", body, headers=_idem(k)), 422, "idempotency_mismatch")
    names = [x["name"] for x in expect(admin().get(V2 + "?limit=500"), 200)["workflows"]]
    assert other["name"] not in names
    assert expect(admin().get(f"{V2}/{w['id']}"), 200)["workflow"] == w
    # The key is scoped to the user: another user may use it for something else.
    with Http(lim().http, S["lim_key2"]) as other_user:
        r3 = other_user.post(V2, other, headers=_idem(k))
        expect(r3, 201)
        assert (r3.h("Idempotent-Replayed") or "").lower() != "true"


def test_idempotent_execute_runs_once():
    w = S["wf"]
    k = uniq("idem-run")
    path = f"{V2}/{w['id']}/execute"
    before = expect(admin().get(f"{V2}/{w['id']}/runs"), 200)["count"]
    r1 = admin().post(path, {"inputs": {"a": 1}}, headers=_idem(k))
    run = expect(r1, 201)["run"]
    for _ in range(3):
        r2 = admin().post(path, {"inputs": {"a": 1}}, headers=_idem(k))
        assert r2.status == 201 and r2.raw == r1.raw and r2.h("Idempotent-Replayed") == "true", r2
    expect(admin().post(path, {"inputs": {"a": 2}}, headers=_idem(k)), 422, "idempotency_mismatch")
    wait_run(admin(), w["id"], run["id"], "completed")
    runs = expect(admin().get(f"{V2}/{w['id']}/runs?limit=500"), 200)["runs"]
    assert len(runs) == before + 1 and runs[0]["id"] == run["id"], runs[:3]


def test_idempotent_patch_and_delete_have_no_second_effect():
    w = create(admin())
    k = uniq("idem-patch")
    r1 = admin().patch(f"{V2}/{w['id']}", {"description": "first"}, headers=_idem(k))
    assert expect(r1, 200)["workflow"]["description"] == "first"
    expect(admin().patch(f"{V2}/{w['id']}", {"description": "second"}), 200)
    r2 = admin().patch(f"{V2}/{w['id']}", {"description": "first"}, headers=_idem(k))
    assert r2.status == 200 and r2.raw == r1.raw and r2.h("Idempotent-Replayed") == "true", r2
    assert expect(admin().get(f"{V2}/{w['id']}"), 200)["workflow"]["description"] == "second"
    kd = uniq("idem-del")
    d1 = admin().delete(f"{V2}/{w['id']}", headers=_idem(kd))
    expect(d1, 200)
    d2 = admin().delete(f"{V2}/{w['id']}", headers=_idem(kd))
    assert d2.status == 200 and d2.raw == d1.raw and d2.h("Idempotent-Replayed") == "true", d2
    expect(admin().delete(f"{V2}/{w['id']}"), 404, "not_found")


def test_idempotent_4xx_is_stored_too():
    existing = create(admin())
    k = uniq("idem-409")
    r1 = admin().post(V2, wf_body(existing["name"]), headers=_idem(k))
    expect(r1, 409, "conflict")
    expect(admin().delete(f"{V2}/{existing['id']}"), 200)
    r2 = admin().post(V2, wf_body(existing["name"]), headers=_idem(k))
    assert r2.status == 409 and r2.raw == r1.raw and r2.h("Idempotent-Replayed") == "true", r2
    names = [x["name"] for x in expect(admin().get(V2 + "?limit=500"), 200)["workflows"]]
    assert existing["name"] not in names


def test_idempotency_key_is_ignored_on_get():
    k = uniq("idem-get")
    for _ in range(2):
        r = admin().get(V2, headers=_idem(k))
        expect(r, 200)
        assert r.h("Idempotent-Replayed") is None, r.header_items


def test_idempotency_key_format():
    expect(admin().post(V2, wf_body(), headers=_idem("k" * 256)), 400, "validation")
    expect(admin().post(V2, wf_body(), headers=_idem("caf\u00e9")), 400, "validation")
    expect(admin().post(V2, wf_body(), headers=_idem("k" * 255)), 201)
    expect(admin().post(V2, wf_body(), headers=_idem("a b~!@#$%^&*()")), 201)


def test_idempotency_in_progress_is_409():
    sink = S["sink"]
    w = create(admin(), nodes=[{"id": "slow", "type": "http_request",
                                "config": {"url": sink.url("/slow?ms=1500")}}])
    k = uniq("idem-slow")
    path = f"{V2}/{w['id']}/execute?wait=true"
    out = {}

    def first():
        with Http(lim().http, S["lim_key"]) as c:
            out["r"] = c.post(path, {"inputs": {}}, headers=_idem(k))

    sink.concurrency_reset()
    t = threading.Thread(target=first)
    t.start()
    zh.wait_for(lambda: sink.concurrency()["current"] >= 1, timeout=10, what="slow call in flight")
    expect(admin().post(path, {"inputs": {}}, headers=_idem(k)), 409, "idempotency_in_progress")
    t.join(30)
    r1 = out["r"]
    assert expect(r1, 201)["run"]["status"] == "completed", r1
    r2 = admin().post(path, {"inputs": {}}, headers=_idem(k))
    assert r2.status == 201 and r2.raw == r1.raw and r2.h("Idempotent-Replayed") == "true", r2
    assert expect(admin().get(f"{V2}/{w['id']}/runs"), 200)["count"] == 1


def test_idempotency_and_runs_survive_a_restart():
    with zh.Server(extra_args=["--rate-limit", "0"]) as srv:
        with Http(srv.http, fresh_key(srv, "RS")) as a:
            body = wf_body(uniq("persist"))
            r1 = a.post(V2, body, headers=_idem("restart-1"))
            w = expect(r1, 201)["workflow"]
            run = execute(a, w["id"], {"k": 1}, wait=True)
            srv.restart()
            a.close()
            r2 = a.post(V2, body, headers=_idem("restart-1"))
            assert r2.status == 201 and r2.raw == r1.raw, (r1, r2)
            assert r2.h("Idempotent-Replayed") == "true", r2.header_items
            assert get_run(a, w["id"], run["id"]) == run
            assert expect(a.get(f"{V2}/{w['id']}"), 200)["workflow"] == w


# ---------------------------------------------------------------- JWT


def _jwt(**kw):
    return jwt_token(SECRET, **jwt_claims(**kw))


def test_jwt_valid_token_and_claims():
    tok = _jwt(sub="alice", customer_id="jt1", role="admin")
    with Http(lim().http, tok) as a:
        w = create(a)
        assert w["customer_id"] == "jt1" and w["created_by"] == "alice", w
        assert expect(a.get(f"{V2}/{w['id']}"), 200)["workflow"] == w
    # The tenant is the customer_id: an API key of tenant jt1 sees the same workflow.
    with Http(lim().http, fresh_key(lim(), "jt1", "viewer")) as k:
        assert expect(k.get(f"{V2}/{w['id']}"), 200)["workflow"]["id"] == w["id"]
    # role: absent or unknown -> admin; viewer and member are enforced.
    for role in (None, "superuser", "owner"):
        with Http(lim().http, _jwt(sub="r-" + str(role), customer_id="jt1", role=role)) as a:
            create(a)
    with Http(lim().http, _jwt(sub="vera", customer_id="jt1", role="viewer")) as v:
        expect(v.get(V2), 200)
        expect(v.post(V2, wf_body()), 403, "forbidden")
        expect(v.post(f"{V2}/{w['id']}/execute", {}), 403, "forbidden")
    with Http(lim().http, _jwt(sub="mo", customer_id="jt1", role="member")) as m:
        expect(m.post(V2, wf_body()), 403, "forbidden")
        assert execute(m, w["id"], wait=True)["status"] == "completed"
    # nbf in the past and exp in the future are fine.
    now = int(time.time())
    with Http(lim().http, _jwt(customer_id="jt1", nbf=now - 10, exp=now + 60)) as a:
        expect(a.get(V2), 200)


def test_jwt_forgeries_and_bad_claims_are_401():
    now = int(time.time())
    good = jwt_claims(sub="eve", customer_id="jt1", role="owner")
    valid = jwt_token(SECRET, **good)
    h, p, sig = valid.split(".")
    bad_tokens = {
        "wrong secret": jwt_token("not-the-secret", **good),
        "alg none": jwt_unsigned(good, "none"),
        "alg None": jwt_unsigned(good, "None"),
        "alg NONE with sig": jwt_unsigned(good, "NONE", sig),
        "alg none keeping the HS256 signature": jwt_unsigned(good, "none", sig),
        "HS512": jwt_token(SECRET, alg="HS512", **good),
        "HS384": jwt_token(SECRET, alg="HS384", **good),
        "alg hs256 (case)": jwt_unsigned(good, "hs256", sig),
        "expired": _jwt(customer_id="jt1", exp=now - 10),
        "nbf in the future": _jwt(customer_id="jt1", nbf=now + 120),
        "missing customer_id": jwt_token(SECRET, sub="eve", exp=now + 60),
        "customer_id not a string": jwt_token(SECRET, sub="eve", customer_id=123, exp=now + 60),
        "missing sub": jwt_token(SECRET, customer_id="jt1", exp=now + 60),
        "sub not a string": jwt_token(SECRET, sub=5, customer_id="jt1", exp=now + 60),
        "exp not a number": jwt_token(SECRET, sub="eve", customer_id="jt1", exp="never"),
        "tampered payload": jwt_swap_payload(valid, dict(good, customer_id="jt2")),
        "signature stripped": f"{h}.{p}.",
        "signature truncated": f"{h}.{p}.{sig[:-2]}",
        "garbage parts": "aaaa.bbbb.cccc",
        "four parts": valid + ".x",
        "payload not JSON": f"{h}.{b64url(b'not json')}.{sig}",
    }
    for what, tok in bad_tokens.items():
        with Http(lim().http, tok) as a:
            r = a.get(V2)
            assert r.status == 401, f"{what}: {r!r}"
            expect(r, 401, "unauthorized")
            expect(a.post(V2, wf_body()), 401, "unauthorized")
        alive(lim(), f"JWT ({what})")
    with Http(lim().http, valid) as a:
        expect(a.get(V2), 200)


def test_jwt_tenant_isolation():
    with Http(lim().http, _jwt(sub="u1", customer_id="iso-1")) as t1, \
            Http(lim().http, _jwt(sub="u2", customer_id="iso-2")) as t2:
        w = create(t1)
        run = execute(t1, w["id"], wait=True)
        assert [x["id"] for x in expect(t1.get(V2), 200)["workflows"]] == [w["id"]]
        assert expect(t2.get(V2), 200)["workflows"] == []
        for method, path, body in (("GET", f"{V2}/{w['id']}", None),
                                   ("PATCH", f"{V2}/{w['id']}", {"name": "mine"}),
                                   ("GET", f"{V2}/{w['id']}/runs", None),
                                   ("GET", f"{V2}/{w['id']}/runs/{run['id']}", None),
                                   ("POST", f"{V2}/{w['id']}/execute", {}),
                                   ("DELETE", f"{V2}/{w['id']}", None)):
            expect(t2.request(method, path, body), 404, "not_found")
        assert expect(t1.get(f"{V2}/{w['id']}"), 200)["workflow"] == w
        assert expect(t1.get(f"{V2}/{w['id']}/runs"), 200)["count"] == 1


def test_jwt_without_secret_is_just_an_unknown_key():
    srv = S["rl"]
    with Http(srv.http, _jwt(customer_id="jt1")) as a:
        expect(a.get(V2), 401, "unauthorized")
    alive(srv, "JWT on a server without --jwt-secret")


def test_jwt_secret_from_environment():
    # ZFLOW_JWT_SECRET keeps the secret out of `ps`; it acts like --jwt-secret.
    with zh.Server(extra_args=["--rate-limit", "0"], env={"ZFLOW_JWT_SECRET": SECRET}) as srv:
        assert SECRET not in " ".join(srv.argv())
        with Http(srv.http, _jwt(sub="env", customer_id="jenv", role="admin")) as a:
            assert create(a)["customer_id"] == "jenv"
        with Http(srv.http, jwt_token("another-secret", **jwt_claims(customer_id="jenv"))) as b:
            expect(b.get(V2), 401, "unauthorized")

def test_mount_flag_moves_the_dialect():
    with zh.Server(extra_args=["--mount", "v2=/custom/flows", "--rate-limit", "5"]) as srv:
        key = fresh_key(srv, "M")
        with Http(srv.http, key) as a:
            r = a.get("/custom/flows/health")
            assert r.status == 200 and r.json["service"] == "workflows-api-v2", r
            w = expect(a.post("/custom/flows", wf_body()), 201)["workflow"]
            assert expect(a.get(f"/custom/flows/{w['id']}"), 200)["workflow"] == w
            assert a.get(V2 + "/health").status == 404
            assert a.get(f"{V2}/{w['id']}").status == 404
        with Http(srv.http, fresh_key(srv, "M")) as b:  # --rate-limit 5
            rs = [b.get("/custom/flows") for _ in range(7)]
            assert [r.status for r in rs] == [200] * 5 + [429] * 2, rs
            assert rs[0].h("X-RateLimit-Limit") == "5" and rs[4].h("X-RateLimit-Remaining") == "0"


# ---------------------------------------------------------------- main


# ---------------------------------------------------------------- path encoding


def test_path_escapes_are_decoded_per_segment_and_nul_is_refused():
    """civetweb no longer decodes the path: the router decodes each captured
    segment, so an encoded NUL cannot cut an id short and an encoded "/"
    stays inside its segment."""
    port, key = lim().http_port, S["lim_key"]
    st, _, body = raw_request(port, "POST", V2, json.dumps(wf_body(uniq("enc"))).encode(), key=key)
    assert st == 201, (st, body[:300])
    wf_id = json.loads(body)["workflow"]["id"]

    def get(path):
        st, _, body = raw_request(port, "GET", path, key=key)
        return st, json.loads(body)

    # before: ".../<id>%00/runs" reached GET /:id (the path stopped at the NUL)
    for tail in ("%00", "%00/runs", "%00junk", "%2", "%zz", "%"):
        st, got = get(f"{V2}/{wf_id}{tail}")
        assert st == 400 and got["success"] is False and got["code"] == "validation", (tail, got)
        assert "%00" in got["error"], got
    st, got = get(f"{V2}/{wf_id.replace('-', '%2D', 1)}")  # an escaped "-" is the same id
    assert st == 200 and got["workflow"]["id"] == wf_id, got
    st, got = get(f"{V2}/{wf_id.replace('-', '%2d', 1)}/runs")
    assert st == 200 and got["runs"] == [], got
    st, got = get(f"{V2}/{wf_id[:8]}%2F{wf_id[9:]}")  # "/" inside a segment: no such id
    assert st == 404 and got["code"] == "not_found", got
    st, got = get("/v1/automations/x%00y/cancel")  # in the mount's shape (LendWorks: 422)
    assert st == 422 and got["errors"][0]["code"] == "VALIDATION_ERROR", got
    alive(lim())


def main():
    lim_args = ["--jwt-secret", SECRET, "--rate-limit", "0", "--egress-allow", "127.0.0.1/32"]
    with zh.Sink() as sink, zh.Server(extra_args=lim_args) as s1, \
            zh.Server(extra_args=["--max-body", "4096"]) as s2:
        S.update(lim=s1, rl=s2, sink=sink)
        S["lim_key"] = fresh_key(s1, "T", "admin")
        S["lim_key2"] = fresh_key(s1, "T", "admin")
        S["lim_admin"] = Http(s1.http, S["lim_key"])
        try:
            S["wf"] = create(S["lim_admin"], name=uniq("shared"))
            return zh.run_tests(globals())
        finally:
            S["lim_admin"].close()


if __name__ == "__main__":
    sys.exit(main())
