#!/usr/bin/python3
"""it_malformed — hostile and broken input on the API endpoint.

Sends malformed frames over a raw DEALER (and junk over plain TCP and
mismatched ZeroMQ socket types) and checks: an error reply whenever the
envelope is readable (ok false, corr "", the documented code), the server
still answers ping after every case, never crashes, and its RSS stays sane.
Finally a normal wf.create + run.start still works.

    ZF_BUILD_DIR=build /usr/bin/python3 tests/it_malformed.py
"""
import os
import socket
import sys
import time

import msgpack
import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zf_harness as zh  # noqa: E402

S = {}
RSS_LIMIT_KB = 500 * 1024
REPLY_TIMEOUT = 10


def pk(v):
    return msgpack.packb(v, use_bin_type=True)


def hdr(type_="wf.list", **extra):
    h = zh.header(type_, S["key"])
    h.update(extra)
    return h


def alive():
    """The server process runs and answers ping on a fresh socket."""
    assert S["srv"].running(), f"zflow died; stderr:\n{S['srv'].stderr()}"
    with zh.Client(S["srv"].api, S["key"]) as c:
        ok, body = c.call("ping", {}, timeout=REPLY_TIMEOUT)
        assert ok and body.get("pong") is True, body


def send_expect_error(frames, codes=("validation",), delimiter=True, word=None):
    """Sends raw frames on a fresh DEALER; asserts one error reply with a code in codes."""
    with zh.Client(S["srv"].api, S["key"]) as c:
        c.send_raw(frames)
        got = c.recv_raw(REPLY_TIMEOUT)
        assert got is not None, f"no reply to malformed frames {[f[:40] for f in frames]}"
        if delimiter:
            assert got[0] == b"", f"reply lacks the empty delimiter: {got[:1]}"
            got = got[1:]
        assert len(got) == 2, f"reply has {len(got)} frames"
        rh = msgpack.unpackb(got[0], raw=False)
        rb = msgpack.unpackb(got[1], raw=False)
        assert rh.get("type") == "reply" and rh.get("ok") is False, rh
        # corr: the request's id when its header could be read (the body was
        # the trouble), so a client can match the error; else none
        sent = [f for f in frames if f]
        try:
            sent_id = msgpack.unpackb(sent[0], raw=False).get("id") if sent else None
        except Exception:
            sent_id = None
        corr = rh.get("corr", "")
        assert corr == "" or corr == sent_id, f"corr {corr!r} is not the request's id {sent_id!r}"
        assert rb.get("code") in codes, f"expected {codes}, got {rb}"
        assert isinstance(rb.get("message"), str) and rb["message"], rb
        if word:
            assert word in rb["message"], f"message {rb['message']!r} lacks {word!r}"
        assert c.recv_raw(0.2) is None, "more than one reply"
    alive()
    return rb


def test_body_string_with_nul_is_refused_with_corr():
    """A NUL in a body string (HTTP's strict JSON refuses it too; it would cut
    keys built from names short) is a validation error that carries the
    request's id as corr, like every error about a readable request's body."""
    h = hdr("wf.create")
    body = msgpack.packb({"workflow": {"name": "nul\x00tail", "definition": {"nodes": []}}})
    rb = send_expect_error([b"", pk(h), body], word="NUL")
    with zh.Client(S["srv"].api, S["key"]) as c:
        c.send_raw([b"", pk(h), body])
        got = c.recv_raw(REPLY_TIMEOUT)
    assert msgpack.unpackb(got[1], raw=False).get("corr") == h["id"], got
    assert "NUL" in rb["message"], rb
    # the same body without the NUL is fine: only the byte was the trouble
    with zh.Client(S["srv"].api, S["key"]) as c:
        ok, _ = c.call("wf.create", {"workflow": {"name": "nultail", "definition": {"nodes": []}}})
        assert ok


def send_expect_field_error(type_, body, field):
    """A well-formed envelope with a wrongly typed body field: validation naming it."""
    with zh.Client(S["srv"].api, S["key"]) as c:
        ok, rb = c.call(type_, body, timeout=REPLY_TIMEOUT)
    assert not ok, f"{type_} {body} succeeded: {rb}"
    assert rb["code"] == "validation", rb
    assert field in rb["message"], f"message {rb['message']!r} does not name {field!r}"
    alive()


# ---------------------------------------------------------------- header


def test_header_not_msgpack():
    send_expect_error([b"", b"\xc1\xc1\xc1 not msgpack", pk({})])
    send_expect_error([b"", b"", pk({})])


def test_header_is_array():
    send_expect_error([b"", pk(["wf.list", 1]), pk({})])


def test_header_without_type():
    h = hdr()
    del h["type"]
    send_expect_error([b"", pk(h), pk({})], word="type")
    send_expect_error([b"", pk(hdr(type=None)), pk({})])
    send_expect_error([b"", pk(hdr(type="")), pk({})])


def test_header_type_too_long():
    send_expect_error([b"", pk(hdr(type="wf." + "x" * 60)), pk({})],
                      codes=("validation", "too_large"), word="type")
    send_expect_error([b"", pk(hdr(type="x" * 1000)), pk({})],
                      codes=("validation", "too_large"), word="type")
    send_expect_error([b"", pk(hdr(type="x" * 100000)), pk({})], codes=("validation", "too_large"))


def test_header_fields_of_wrong_type():
    send_expect_error([b"", pk(hdr(type=7)), pk({})])
    send_expect_error([b"", pk(hdr(id=12345)), pk({})])
    send_expect_error([b"", pk(hdr(auth=["k"])), pk({})])
    send_expect_error([b"", pk(hdr(ts="now")), pk({})])
    send_expect_error([b"", pk(hdr(v="1")), pk({})])
    send_expect_error([b"", pk(hdr(deadline=1.5)), pk({})])
    # Over-long strings: a limit (the code is checked against the doc below).
    send_expect_error([b"", pk(hdr(id="i" * 200)), pk({})], codes=("validation", "too_large"))
    send_expect_error([b"", pk(hdr(auth="k" * 500)), pk({})], codes=("validation", "too_large"))


def test_header_non_string_keys():
    h = hdr()
    h[1] = "x"
    send_expect_error([b"", pk(h), pk({})])


# ---------------------------------------------------------------- body


def test_body_missing():
    send_expect_error([b"", pk(hdr())])


def test_body_is_array():
    send_expect_error([b"", pk(hdr()), pk([1, 2, 3])])
    send_expect_error([b"", pk(hdr()), pk("str")])
    send_expect_error([b"", pk(hdr()), b""])


def test_body_truncated():
    full = pk({"workflow": {"name": "t", "definition": {"nodes": []}}})
    for cut in (1, len(full) // 2, len(full) - 1):
        send_expect_error([b"", pk(hdr("wf.create")), full[:cut]])


def test_body_array32_declaring_4g_elements():
    send_expect_error([b"", pk(hdr()), b"\xdd\xff\xff\xff\xff"], codes=("validation", "too_large"))
    send_expect_error([b"", pk(hdr()), b"\xdf\xff\xff\xff\xff"], codes=("validation", "too_large"))
    send_expect_error([b"", pk(hdr()), b"\x81\xa1a\xdd\xff\xff\xff\xff"],
                      codes=("validation", "too_large"))
    # And as the header.
    send_expect_error([b"", b"\xdf\xff\xff\xff\xff", pk({})], codes=("validation", "too_large"))


def test_body_str32_declaring_4gb():
    send_expect_error([b"", pk(hdr()), b"\x81\xa1a\xdb\xff\xff\xff\xff" + b"abc"],
                      codes=("validation", "too_large"))
    send_expect_error([b"", pk(hdr()), b"\x81\xa1a\xc6\xff\xff\xff\xff" + b"abc"],
                      codes=("validation", "too_large"))
    send_expect_error([b"", pk(hdr()), b"\x81\xdb\xff\xff\xff\xff" + b"k"],
                      codes=("validation", "too_large"))


def test_body_non_string_keys():
    send_expect_error([b"", pk(hdr()), pk({1: "a"})])
    send_expect_error([b"", pk(hdr("wf.create")), pk({"workflow": {(1, 2): "x"}})])


def test_body_deeply_nested():
    deep = b"\x91" * 100000 + b"\xc0"  # 100k nested one-element arrays
    send_expect_error([b"", pk(hdr()), b"\x81\xa1a" + deep], codes=("too_large", "validation"))
    deep_maps = b"\x81\xa1a" * 100000 + b"\xc0"
    send_expect_error([b"", pk(hdr()), deep_maps], codes=("too_large", "validation"))
    send_expect_error([b"", pk(hdr()), b"\x81\xa1a" + b"\x91" * 70 + b"\xc0"],
                      codes=("too_large", "validation"))
    # 60 levels is within the limit: an ordinary reply.
    with zh.Client(S["srv"].api, S["key"]) as c:
        ok, rb = c.call("wf.list", msgpack.unpackb(b"\x82\xa5limit\x01\xa1a" + b"\x91" * 60
                                                    + b"\xc0"))
        assert ok, rb


def test_body_too_many_elements():
    many = b"\x81\xa1a\xdd" + (1_100_000).to_bytes(4, "big") + b"\xc0" * 1_100_000
    send_expect_error([b"", pk(hdr()), many], codes=("too_large", "validation"))


def test_limit_error_codes_match_protocol_doc():
    """docs/protocol.md section 10: which code each limit answers with."""
    send_expect_error([b"", pk(hdr()), b"\x81\xa1a" + b"\x91" * 70 + b"\xc0"],
                      codes=("too_large",))
    many = b"\x81\xa1a\xdd" + (1_100_000).to_bytes(4, "big") + b"\xc0" * 1_100_000
    send_expect_error([b"", pk(hdr()), many], codes=("too_large",))
    send_expect_error([b"", pk(hdr(pad="p" * (70 * 1024))), pk({})], codes=("too_large",))
    send_expect_error([b"", pk(hdr(type="wf." + "x" * 60)), pk({})], codes=("validation",))
    send_expect_error([b"", pk(hdr(id="i" * 200)), pk({})], codes=("validation",))


def test_frame_over_16mib_rejected():
    big = pk({"workflow": {"name": "big", "description": "x" * (17 * 1024 * 1024),
                           "definition": {"nodes": []}}})
    assert len(big) > 16 * 1024 * 1024
    send_expect_error([b"", pk(hdr("wf.create")), big], codes=("too_large",))
    send_expect_error([b"", b"\x00" * (17 * 1024 * 1024), pk({})], codes=("too_large",))


def test_missing_delimiter_frame():
    send_expect_error([pk(hdr()), pk({})], delimiter=False)


def test_too_few_and_extra_frames():
    send_expect_error([b""])
    send_expect_error([b"", b""])
    # Extra frames are reserved; whatever the answer, it is exactly one reply.
    with zh.Client(S["srv"].api, S["key"]) as c:
        c.send_raw([b"", pk(hdr()), pk({}), b"extra", b"\xc1"])
        got = c.recv_raw(REPLY_TIMEOUT)
        assert got is not None and len(got) == 3, got
        assert c.recv_raw(0.2) is None
    alive()


def test_non_utf8_strings():
    h = hdr()
    h["type"] = b"wf.\xff\xfe"  # bin with invalid UTF-8
    send_expect_error([b"", pk(h), pk({})])
    raw_h = b"\x81\xa4type\xa4w\xff.l" + pk(hdr())[1:]  # str with invalid UTF-8 in type
    send_expect_error([b"", raw_h, pk({})], codes=("validation",))
    send_expect_error([b"", pk(hdr("wf.create")), b"\x81\xa8workflow\x82\xa4name\xa3\xff\xfe\xfd"
                       b"\xaadefinition\x81\xa5nodes\x90"])
    send_expect_error([b"", pk(hdr("wf.get")), b"\x81\xa2\xff\xfe\xa1x"])


def test_body_bad_scalars():
    send_expect_error([b"", pk(hdr()), b"\x81\xa5limit\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00"])  # NaN
    send_expect_error([b"", pk(hdr()), b"\x81\xa5limit\xcf\xff\xff\xff\xff\xff\xff\xff\xff"])
    send_expect_error([b"", pk(hdr()), b"\x81\xa1a\xd4\x01\x00"])  # ext
    send_expect_error([b"", pk(hdr()), b"\x82\xa1a\x01\xa1a\x02"])  # duplicate key


def test_wrong_field_types_in_valid_envelope():
    wf = zh.expect_ok(S["client"], "wf.create", {"workflow": {
        "name": "types", "definition": {"nodes": [
            {"id": "s1", "type": "set", "config": {"values": {"x": 1}}}]}}})["workflow"]
    send_expect_field_error("run.start", {"workflow_id": 12345}, "workflow_id")
    send_expect_field_error("run.start", {"workflow_id": wf["id"], "inputs": [1, 2]}, "inputs")
    send_expect_field_error("run.start", {"workflow_id": wf["id"], "wait": "yes"}, "wait")
    send_expect_field_error("run.start", {"workflow_id": wf["id"], "wait_timeout_ms": "5"},
                            "wait_timeout_ms")
    send_expect_field_error("wf.list", {"limit": "10"}, "limit")
    send_expect_field_error("wf.list", {"offset": 1.5}, "offset")
    send_expect_field_error("run.list", {"workflow_id": wf["id"], "limit": "10"}, "limit")
    for t in ("wf.get", "wf.delete", "run.get", "run.cancel"):
        send_expect_field_error(t, {"id": ["x"]}, "id")
        send_expect_field_error(t, {"id": 7}, "id")
        send_expect_field_error(t, {}, "id")
    send_expect_field_error("wf.create", {"workflow": []}, "workflow")
    send_expect_field_error("wf.update", {"id": wf["id"], "patch": "x"}, "patch")
    assert zh.expect_ok(S["client"], "run.list", {"workflow_id": wf["id"]})["total"] == 0


# ---------------------------------------------------------------- transport level


def test_raw_tcp_junk():
    port = S["srv"].api_port
    for payload in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", os.urandom(4096), b"\xff" + b"\x00" * 8
                    + b"\x7f" + b"\x03\x00NULL" + b"\x00" * 64, b""):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        try:
            s.sendall(payload)
            s.settimeout(0.5)
            try:
                s.recv(4096)
            except (socket.timeout, ConnectionError):
                pass
        finally:
            s.close()
        alive()
    # A ZMTP 3 greeting announcing a huge frame, then hanging up.
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(b"\xff" + b"\x00" * 8 + b"\x7f\x03\x00NULL" + b"\x00" * 16 + b"\x00" * 32)
        s.sendall(b"\x04\x1a\x05READY\x0bSocket-Type\x00\x00\x00\x06DEALER")
        s.sendall(b"\x02" + (2 ** 40).to_bytes(8, "big") + b"abc")
        time.sleep(0.2)
    finally:
        s.close()
    alive()


def test_zmq_stream_and_wrong_socket_types():
    ctx = zmq.Context.instance()
    st = ctx.socket(zmq.STREAM)  # raw TCP through zmq: no ZMTP from our side
    st.setsockopt(zmq.LINGER, 0)
    st.connect(S["srv"].api)
    try:
        assert st.poll(5000), "STREAM socket got no connect notification"
        ident = st.recv_multipart()[0]  # [peer id, b""] on connect
        st.send_multipart([ident, b"\x00\x01garbage that is not ZMTP" * 10])
        time.sleep(0.2)
    finally:
        st.close(0)
    alive()
    for kind in (zmq.PUSH, zmq.PUB):  # incompatible with ROUTER: the handshake fails
        s = ctx.socket(kind)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(S["srv"].api)
        try:
            s.send_multipart([b"", b"\xc1", b"\xc1"], flags=zmq.NOBLOCK)
        except zmq.Again:
            pass
        time.sleep(0.2)
        s.close(0)
        alive()
    req = ctx.socket(zmq.REQ)  # a legitimate client: it gets the error reply
    req.setsockopt(zmq.LINGER, 0)
    req.connect(S["srv"].api)
    try:
        req.send_multipart([b"\xc1", b"\xc1"])
        assert req.poll(REPLY_TIMEOUT * 1000), "REQ got no reply to a malformed request"
        got = req.recv_multipart()
        assert len(got) == 2, got
        assert msgpack.unpackb(got[0], raw=False)["ok"] is False
        assert msgpack.unpackb(got[1], raw=False)["code"] == "validation"
    finally:
        req.close(0)
    alive()


def test_flood_of_garbage_keeps_memory_sane():
    before = zh.rss_kb(S["srv"].proc.pid)
    with zh.Client(S["srv"].api, S["key"]) as c:
        n = 3000
        for i in range(n):
            c.send_raw([b"", pk(hdr()), b"\xdd\xff\xff\xff\xff" if i % 2 else b"\x91" * 5000])
        got = 0
        while got < n and c.recv_raw(REPLY_TIMEOUT) is not None:
            got += 1
        assert got == n, f"{got} replies to {n} malformed requests"
    alive()
    after = zh.rss_kb(S["srv"].proc.pid)
    assert after < RSS_LIMIT_KB, f"RSS {after} KiB"
    assert after - before < 200 * 1024, f"RSS grew {before} -> {after} KiB"


def test_zz_after_everything_normal_requests_work():
    c = S["client"]
    wf = zh.expect_ok(c, "wf.create", {"workflow": {
        "name": "after-the-storm", "definition": {"nodes": [
            {"id": "s1", "type": "set", "config": {"values": {"x": "$inputs.x"}}}]}}})["workflow"]
    run = zh.expect_ok(c, "run.start", {"workflow_id": wf["id"], "inputs": {"x": 7},
                                        "wait": True}, timeout=40)["run"]
    assert run["status"] == "completed", run
    got = zh.expect_ok(c, "run.get", {"id": run["id"]})
    assert got["state"]["variables"]["x"] == 7
    rss = zh.rss_kb(S["srv"].proc.pid)
    assert rss < RSS_LIMIT_KB, f"RSS {rss} KiB"
    print(f"  zflow VmRSS after the malformed suite: {rss // 1024} MiB", flush=True)


def main():
    with zh.Server() as srv:
        S["srv"] = srv
        S["key"] = zh.create_key(srv.data, "mal", "admin")
        S["client"] = zh.Client(srv.api, S["key"])
        try:
            return zh.run_tests(globals())
        finally:
            S["client"].close()


if __name__ == "__main__":
    sys.exit(main())
