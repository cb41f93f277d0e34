#!/usr/bin/python3
"""it_tap — the broker's tap, seen by a python SUB socket and by zmq-tap.

A wf.create and a run.start (plus run.get) must show up as requests,
replies and run events with decoded header and body; the API key and every
field named key/token/password/secret/... must be redacted everywhere;
`zmq-tap --filter event.` shows only events; zmq-tap exits 0 on SIGTERM and
SIGINT, 2 on bad arguments.

    ZF_BUILD_DIR=build /usr/bin/python3 tests/it_tap.py
"""
import json
import os
import signal
import subprocess
import sys
import time
import uuid

import msgpack
import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zf_harness as zh  # noqa: E402

S = {}
SECRETS = ("hunter2", "s3cr3t-value", "tok-123", "ak-999", "bearer-xyz", "deep-pw")
REDACTED = "[redacted]"


def secret_workflow():
    """wf.create body whose set step carries secrets under redactable names."""
    return {"workflow": {
        "name": f"tap-{uuid.uuid4().hex[:8]}",
        "definition": {"nodes": [
            {"id": "s1", "type": "set", "config": {"values": {
                "x": 1, "password": "hunter2", "Secret": "s3cr3t-value", "TOKEN": "tok-123",
                "api_key": "ak-999", "Authorization": "bearer-xyz",
                "nested": {"list": [{"password": "deep-pw", "keep": "visible"}]}}}},
            {"id": "s2", "type": "set", "config": {"values": {"y": 2}}}]}}}


def do_traffic(client):
    """wf.create + run.start(wait) + run.get; returns (request ids, workflow, run)."""
    rh, wf = client.request("wf.create", secret_workflow())
    assert rh["ok"], wf
    rh2, run = client.request("run.start", {"workflow_id": wf["workflow"]["id"], "wait": True},
                              timeout=40)
    assert rh2["ok"] and run["run"]["status"] == "completed", run
    rh3, got = client.request("run.get", {"id": run["run"]["id"]})
    assert rh3["ok"], got
    # The client itself sees the real values (redaction is for the tap only).
    assert got["state"]["variables"]["password"] == "hunter2"
    return (rh["corr"], rh2["corr"], rh3["corr"]), wf["workflow"], run["run"]


def raw_drain(sub, quiet=0.5):
    """Raw 3-frame tap messages until quiet."""
    out = []
    while sub.poll(int(quiet * 1000)):
        out.append(sub.recv_multipart())
    return out


def check_redacted(value, path="body"):
    """Every redactable field at any depth holds "[redacted]"."""
    names = {"key", "api_key", "token", "password", "secret", "authorization", "auth"}
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str) and k.lower() in names:
                assert v == REDACTED, f"{path}.{k} not redacted: {v!r}"
            else:
                check_redacted(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            check_redacted(v, f"{path}[{i}]")


def check_messages(msgs, ids, wf, run, key):
    """msgs: (topic, header, body) list. Asserts the documented tap content."""
    req_create, req_start, req_get = ids
    by_topic = {}
    for topic, h, b in msgs:
        by_topic.setdefault(topic, []).append((h, b))
        assert h.get("type") == topic, f"topic {topic!r} != header type {h.get('type')!r}"
        if "auth" in h:
            assert h["auth"] == REDACTED, f"auth not redacted on {topic}: {h['auth']!r}"
        check_redacted(b, f"{topic}.body")
    # The requests, with decoded header and body.
    creates = [(h, b) for h, b in by_topic.get("wf.create", []) if h.get("id") == req_create]
    assert len(creates) == 1, f"wf.create request not tapped once: {by_topic.keys()}"
    h, b = creates[0]
    assert h["auth"] == REDACTED and h.get("origin") == "api" and h.get("v") == 1, h
    assert b["workflow"]["name"] == wf["name"]
    vals = b["workflow"]["definition"]["nodes"][0]["config"]["values"]
    assert vals["x"] == 1 and vals["password"] == REDACTED and vals["Secret"] == REDACTED
    assert vals["TOKEN"] == REDACTED and vals["api_key"] == REDACTED
    assert vals["Authorization"] == REDACTED
    assert vals["nested"]["list"][0] == {"password": REDACTED, "keep": "visible"}, vals
    starts = [(h, b) for h, b in by_topic.get("run.start", []) if h.get("id") == req_start]
    assert len(starts) == 1 and starts[0][1]["workflow_id"] == wf["id"], starts
    assert starts[0][0]["auth"] == REDACTED
    # The replies, matched by corr.
    replies = {h.get("corr"): (h, b) for h, b in by_topic.get("reply", [])}
    for rid in ids:
        assert rid in replies, f"no tapped reply with corr {rid}"
        assert replies[rid][0]["ok"] is True
    assert replies[req_create][1]["workflow"]["id"] == wf["id"]
    assert replies[req_create][1]["workflow"]["definition"]["nodes"][0]["config"]["values"][
        "password"] == REDACTED
    assert replies[req_start][1]["run"]["id"] == run["id"]
    st = replies[req_get][1]["state"]
    assert st["variables"]["password"] == REDACTED and st["variables"]["x"] == 1, st
    # The events.
    for ev in ("event.run.started", "event.run.completed"):
        evs = [b for h, b in by_topic.get(ev, []) if b.get("run_id") == run["id"]]
        assert len(evs) == 1, f"{ev} for {run['id']}: {evs} (topics {sorted(by_topic)})"
        b = evs[0]
        assert b["workflow_id"] == wf["id"] and b["tenant"] == "tapper", b
        assert isinstance(b.get("status"), str)
    done = [b for h, b in by_topic["event.run.completed"] if b.get("run_id") == run["id"]][0]
    assert done["status"] == "completed", done
    # Order: request before its reply; started before completed.
    order = [(t, h.get("id"), h.get("corr"), b.get("run_id")) for t, h, b in msgs]
    i_req = next(i for i, o in enumerate(order) if o[0] == "run.start" and o[1] == req_start)
    i_rep = next(i for i, o in enumerate(order) if o[0] == "reply" and o[2] == req_start)
    i_st = next(i for i, o in enumerate(order) if o[0] == "event.run.started" and o[3] == run["id"])
    i_co = next(i for i, o in enumerate(order)
                if o[0] == "event.run.completed" and o[3] == run["id"])
    assert i_req < i_st < i_co, order
    assert i_req < i_rep
    assert key not in json.dumps(msgs), "the API key leaked on the tap"


def check_no_secrets(text, where):
    """None of the secret values (nor the key) appears anywhere in text."""
    for secret in SECRETS + (S["key"],):
        at = text.find(secret)
        assert at < 0, f"{secret!r} leaked on {where}: {text[max(0, at - 120):at + 40]!r}"


def _sub_traffic():
    """Python SUB on everything; runs do_traffic; returns (raw frames, msgs, ids, wf, run)."""
    srv, key = S["srv"], S["key"]
    sub = zh.tap(srv.tap)
    try:
        with zh.Client(srv.api, key) as c:
            zh.tap_sync(sub, c)
            ids, wf, run = do_traffic(c)
        frames = raw_drain(sub)
    finally:
        sub.close(0)
    msgs = []
    for f in frames:
        assert len(f) == 3, f"tap message has {len(f)} frames"
        msgs.append((f[0].decode(), msgpack.unpackb(f[1], raw=False),
                     msgpack.unpackb(f[2], raw=False)))
    return frames, msgs, ids, wf, run


def test_python_sub_sees_requests_replies_events_redacted():
    frames, msgs, ids, wf, run = _sub_traffic()
    check_messages(msgs, ids, wf, run, S["key"])
    assert S["key"].encode() not in b"".join(b"".join(f) for f in frames)


def test_step_events_on_tap():
    _, msgs, _, _, run = _sub_traffic()
    steps = [(b.get("node_id"), b.get("status")) for t, h, b in msgs
             if t == "event.run.step" and b.get("run_id") == run["id"]]
    assert [n for n, _ in steps] == ["s1", "s2"], f"event.run.step for the run: {steps}; " \
        f"topics seen: {sorted({t for t, _, _ in msgs})}"


def test_no_secret_anywhere_on_tap():
    """Including JSON text fields such as run.get's logs[].output."""
    frames, msgs, _, _, _ = _sub_traffic()
    blob = b"".join(b"".join(f) for f in frames).decode("utf-8", "replace")
    check_no_secrets(blob, "the python SUB tap")
    with zh.TapTool(S["srv"].tap) as tool, zh.Client(S["srv"].api, S["key"]) as c:
        _tool_sync(tool, c)
        ids, _, _ = do_traffic(c)
        tool.wait_line(lambda l: l.get("topic") == "reply" and l["header"].get("corr") == ids[2])
        assert tool.stop() == 0
        check_no_secrets("\n".join(json.dumps(l) for l in tool.lines), "zmq-tap output")


def test_subscription_prefix_filters_topics():
    srv, key = S["srv"], S["key"]
    ctx = zmq.Context.instance()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"event.")
    sub.setsockopt(zmq.SUBSCRIBE, b"reply")  # only to sync
    sub.connect(srv.tap)
    try:
        with zh.Client(srv.api, key) as c:
            zh.tap_sync(sub, c)
            _, _, run = do_traffic(c)
        got = zh.tap_drain(sub, 0.5)
    finally:
        sub.close(0)
    topics = {t for t, _, _ in got}
    assert topics <= {"reply"} | {t for t in topics if t.startswith("event.")}, topics
    assert "event.run.completed" in topics and "wf.create" not in topics, topics


def _tool_sync(tool, client):
    """Pings until zmq-tap prints the ping's reply: its subscription is live."""
    def probe():
        rh, _ = client.request("ping", {})
        return any(isinstance(l, dict) and l.get("header", {}).get("corr") == rh["corr"]
                   for l in list(tool.lines))
    zh.wait_for(probe, 15, interval=0.2, what="zmq-tap to see a ping reply")


def _tool_messages(tool):
    msgs = []
    for l in tool.lines:
        assert isinstance(l, dict), f"zmq-tap printed a non-JSON line: {l!r}"
        assert set(l) == {"topic", "header", "body"}, l
        msgs.append((l["topic"], l["header"], l["body"]))
    return msgs


def test_zmq_tap_prints_decoded_json_lines_redacted():
    srv, key = S["srv"], S["key"]
    with zh.TapTool(srv.tap) as tool, zh.Client(srv.api, key) as c:
        _tool_sync(tool, c)
        n0 = len(tool.lines)
        ids, wf, run = do_traffic(c)
        tool.wait_line(lambda l: l.get("topic") == "event.run.completed"
                       and l["body"].get("run_id") == run["id"])
        tool.wait_line(lambda l: l.get("topic") == "reply"
                       and l["header"].get("corr") == ids[2])
        time.sleep(0.3)
        rc = tool.stop()
        assert rc == 0, f"zmq-tap exit {rc} on SIGTERM"
        assert tool.errors == [], f"zmq-tap stderr: {tool.errors}"
        msgs = _tool_messages(tool)[n0:]
        check_messages(msgs, ids, wf, run, key)


def test_zmq_tap_filter_event_shows_only_events():
    srv, key = S["srv"], S["key"]
    with zh.TapTool(srv.tap, filter_prefix="event.") as tool, zh.Client(srv.api, key) as c:
        # No replies to sync on: run workflows until an event shows up.
        wf = zh.expect_ok(c, "wf.create", secret_workflow())["workflow"]
        runs = []

        def probe():
            runs.append(zh.expect_ok(c, "run.start", {"workflow_id": wf["id"], "wait": True},
                                     timeout=40)["run"]["id"])
            return any(l.get("topic") == "event.run.completed" for l in list(tool.lines)
                       if isinstance(l, dict))
        zh.wait_for(probe, 15, interval=0.2, what="an event on zmq-tap --filter event.")
        last = zh.expect_ok(c, "run.start", {"workflow_id": wf["id"], "wait": True})["run"]
        tool.wait_line(lambda l: l.get("topic") == "event.run.completed"
                       and l["body"].get("run_id") == last["id"])
        c.call("wf.list", {})
        time.sleep(0.3)
        assert tool.stop() == 0
        msgs = _tool_messages(tool)
        assert msgs, "nothing printed"
        for topic, h, b in msgs:
            assert topic.startswith("event."), f"--filter event. printed {topic}"
            assert h["type"] == topic and b.get("workflow_id") == wf["id"]
        kinds = {t for t, _, b in msgs if b.get("run_id") == last["id"]}
        assert {"event.run.started", "event.run.completed"} <= kinds, kinds


def test_zmq_tap_signals_and_bad_args():
    for sig in (signal.SIGTERM, signal.SIGINT):
        with zh.TapTool(S["srv"].tap) as tool:
            time.sleep(0.3)
            tool.proc.send_signal(sig)
            rc = tool.proc.wait(5)
            assert rc == 0, f"zmq-tap exit {rc} on {sig!r}"
    # Also when no broker is there at all.
    with zh.TapTool(f"tcp://127.0.0.1:{zh.free_port()}") as tool:
        time.sleep(0.3)
        assert tool.proc.poll() is None, "zmq-tap quit without a broker"
        assert tool.stop() == 0
    for argv in (["--bogus"], ["--connect"], ["extra-arg"]):
        res = subprocess.run([zh.tap_bin()] + argv, capture_output=True, text=True, timeout=10)
        assert res.returncode == 2, f"{argv}: exit {res.returncode}"
        assert "usage" in res.stderr, res.stderr
    res = subprocess.run([zh.tap_bin(), "--help"], capture_output=True, text=True, timeout=10)
    assert res.returncode == 0 and "usage: zmq-tap" in res.stdout, res


def main():
    with zh.Server() as srv:
        S["srv"] = srv
        S["key"] = zh.create_key(srv.data, "tapper", "admin")
        return zh.run_tests(globals())


if __name__ == "__main__":
    sys.exit(main())
