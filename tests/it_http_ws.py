#!/usr/bin/python3
"""it_http_ws — live run events over the v2 WebSocket endpoint
(/api/v2/workflows/events) with a real client (Debian's python3-websockets):
execution:started / execution:step / execution:completed in order for a
run, execution:failed for a failed run, nothing of another tenant's runs,
auth by header or ?token=, and HTTP 401 on the upgrade for a missing or bad
token.

    ZFLOW_BIN=build/zflow /usr/bin/python3 tests/it_http_ws.py   (ZF_TEST=substr)
"""
import asyncio
import json
import os
import sys
import time

import websockets
import websockets.exceptions

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zf_harness as zh  # noqa: E402
from http_harness import (ISO_MS, V2, Http, alive, create, delay_node, execute,  # noqa: E402
                          set_node)

S = {}
SECRET = "it-http-ws-secret"
EVENTS = ("execution:started", "execution:step", "execution:completed", "execution:failed")


def ws_url(token=None):
    base = S["srv"].http.replace("http://", "ws://") + V2 + "/events"
    return base + (f"?token={token}" if token else "")


def connect(key=None, token=None):
    headers = {"Authorization": f"Bearer {key}"} if key else None
    return websockets.connect(ws_url(token), extra_headers=headers, open_timeout=10,
                              close_timeout=2, max_size=2 ** 20)


async def next_event(ws, timeout):
    """Next frame, parsed and shape-checked; None on timeout."""
    try:
        raw = await asyncio.wait_for(ws.recv(), timeout)
    except asyncio.TimeoutError:
        return None
    assert isinstance(raw, str), f"expected a text frame, got {raw!r}"
    ev = json.loads(raw)
    assert set(ev) == {"event", "data", "timestamp"}, ev
    assert ev["event"] in EVENTS, ev
    assert ISO_MS.match(ev["timestamp"]), ev
    d = ev["data"]
    assert isinstance(d.get("run_id"), str) and isinstance(d.get("workflow_id"), str), ev
    assert d.get("status") in ("queued", "running", "waiting", "paused", "completed", "failed",
                               "terminated"), ev
    return ev


async def events_of_run(ws, run_id, timeout=10, until=("execution:completed", "execution:failed")):
    """Frames about run_id until one of `until` (inclusive); other runs' frames are returned
    separately. Returns (mine, others)."""
    mine, others = [], []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no {until} for run {run_id}; got {[e['event'] for e in mine]}"
        ev = await next_event(ws, left)
        assert ev is not None, f"no {until} for run {run_id}; got {[e['event'] for e in mine]}"
        if ev["data"]["run_id"] == run_id:
            mine.append(ev)
            if ev["event"] in until:
                return mine, others
        else:
            others.append(ev)


async def sync(ws, a, wf_id, timeout=10):
    """Runs wf_id until one of its runs shows up on ws (the stream is live); drains it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = execute(a, wf_id, wait=True)
        t = time.monotonic() + 1.0
        while time.monotonic() < t:
            ev = await next_event(ws, max(0.01, t - time.monotonic()))
            if ev and ev["data"]["run_id"] == run["id"]:
                if ev["event"] not in ("execution:completed", "execution:failed"):
                    await events_of_run(ws, run["id"])
                return
    raise AssertionError("the event stream never became live")


def run(coro):
    return asyncio.run(coro)


# ---------------------------------------------------------------- tests


def test_events_in_order_for_own_tenant_only():
    a, b = S["a"], S["b"]
    wa = create(a, nodes=[set_node("s1", x=1), set_node("s2", y=2)])
    wb = create(b, nodes=[set_node("t1", z=3)])

    async def go():
        async with connect(S["keys"]["A-viewer"]) as ws_a, connect(S["keys"]["B"]) as ws_b:
            await sync(ws_a, a, wa["id"])
            await sync(ws_b, b, wb["id"])
            r = execute(a, wa["id"], {"n": 1})
            mine, others = await events_of_run(ws_a, r["id"])
            assert not others, others
            names = [e["event"] for e in mine]
            assert names == ["execution:started", "execution:step", "execution:step",
                             "execution:completed"], names
            assert [e["data"].get("node_id") for e in mine[1:3]] == ["s1", "s2"], mine
            assert all(e["data"].get("step_status") == "completed" for e in mine[1:3]), mine
            assert all(e["data"]["workflow_id"] == wa["id"] for e in mine), mine
            # The engine publishes event.run.started when the run record is made.
            assert mine[0]["data"]["status"] in ("queued", "running"), mine[0]
            assert all(e["data"]["status"] in ("running", "completed") for e in mine[1:3]), mine
            assert mine[-1]["data"]["status"] == "completed", mine[-1]
            # B's socket: B's own run arrives, and nothing of A's came before it.
            rb = execute(b, wb["id"])
            got_b, others_b = await events_of_run(ws_b, rb["id"])
            assert [e["event"] for e in got_b] == ["execution:started", "execution:step",
                                                  "execution:completed"], got_b
            assert not others_b, f"tenant B saw foreign events: {others_b}"
            ts = [e["timestamp"] for e in mine]
            assert ts == sorted(ts), ts

    run(go())


def test_failed_run_emits_execution_failed():
    a = S["a"]
    w = create(a, nodes=[set_node("s1", x=1),
                         {"id": "call", "type": "http_request",
                          "config": {"url": "http://10.255.255.1/refused"},
                          "retry": {"max_attempts": 1}}])
    ok = create(a, nodes=[set_node("s1", x=1)])

    async def go():
        async with connect(S["keys"]["A"]) as ws:
            await sync(ws, a, ok["id"])
            r = execute(a, w["id"])
            mine, _ = await events_of_run(ws, r["id"])
            names = [e["event"] for e in mine]
            assert names == ["execution:started", "execution:step", "execution:step",
                             "execution:failed"], names
            assert mine[2]["data"].get("node_id") == "call", mine[2]
            assert mine[2]["data"].get("step_status") == "failed", mine[2]
            last = mine[-1]["data"]
            assert last["status"] == "failed", last
            assert isinstance(last.get("error"), str) and "egress" in last["error"].lower(), last

    run(go())


def test_first_client_after_none_misses_nothing():
    """The server subscribes to run events only while a client is connected;
    a client that connects when nobody else is gets every event of a run
    started right after its handshake, without a sync round."""
    a = S["a"]
    w = create(a, nodes=[set_node("s1", x=1)])

    async def go():
        for _ in range(3):  # subscribe, unsubscribe, subscribe again...
            async with connect(S["keys"]["A"]) as ws:
                r = execute(a, w["id"])
                mine, _ = await events_of_run(ws, r["id"])
                assert [e["event"] for e in mine] == ["execution:started", "execution:step",
                                                      "execution:completed"], mine
            await asyncio.sleep(0.1)  # the last client is gone: events stop

    run(go())


def test_waiting_is_not_forwarded_and_token_query_works():
    a = S["a"]
    slow = create(a, nodes=[set_node("s1", x=1), delay_node("d", 60), set_node("s2", y=1)])
    quick = create(a, nodes=[set_node("q", x=1)])

    async def go():
        async with connect(token=S["keys"]["A"]) as ws:  # ?token= instead of the header
            await sync(ws, a, quick["id"])
            rs = execute(a, slow["id"], wait=True)
            assert rs["status"] == "waiting", rs
            rq = execute(a, quick["id"])
            # Everything about the slow run came before the quick run's completion.
            mine, others = await events_of_run(ws, rq["id"])
            slow_evs = [e for e in others if e["data"]["run_id"] == rs["id"]]
            # started, step s1, and (as a step, not an event of its own) the delay
            # node's "waiting" log entry; no completed/failed, no waiting event.
            names = [e["event"] for e in slow_evs]
            assert names in (["execution:started", "execution:step"],
                             ["execution:started", "execution:step", "execution:step"]), slow_evs
            assert slow_evs[1]["data"].get("node_id") == "s1", slow_evs
            if len(slow_evs) == 3:
                assert slow_evs[2]["data"].get("node_id") == "d", slow_evs
                assert slow_evs[2]["data"].get("step_status") == "waiting", slow_evs
            expect_done = [e["event"] for e in mine]
            assert expect_done[-1] == "execution:completed", expect_done
        # Leave nothing waiting behind.
        assert a.delete(f"{V2}/{slow['id']}/runs/{rs['id']}").status == 200

    run(go())


def test_jwt_token_query_gets_its_tenant_only():
    from http_harness import jwt_claims, jwt_token

    a = S["a"]
    w = create(a, nodes=[set_node("s1", x=1)])
    tok_a = jwt_token(SECRET, **jwt_claims(sub="wsa", customer_id="A", role="viewer"))
    tok_b = jwt_token(SECRET, **jwt_claims(sub="wsb", customer_id="B", role="viewer"))
    wb = create(S["b"], nodes=[set_node("t1", x=1)])

    async def go():
        async with connect(token=tok_a) as ws_a, connect(token=tok_b) as ws_b:
            await sync(ws_a, a, w["id"])
            await sync(ws_b, S["b"], wb["id"])
            r = execute(a, w["id"])
            mine, others = await events_of_run(ws_a, r["id"])
            assert [e["event"] for e in mine][-1] == "execution:completed" and not others, mine
            rb = execute(S["b"], wb["id"])
            got_b, others_b = await events_of_run(ws_b, rb["id"])
            assert not others_b, f"JWT tenant B saw foreign events: {others_b}"
        bad = jwt_token("wrong-secret", **jwt_claims(customer_id="A"))
        try:
            async with connect(token=bad):
                return 101
        except websockets.exceptions.InvalidStatusCode as e:
            return e.status_code

    assert run(go()) == 401


def test_upgrade_without_valid_token_is_401():
    async def attempt(**kw):
        try:
            async with connect(**kw):
                return 101
        except websockets.exceptions.InvalidStatusCode as e:
            return e.status_code
        except getattr(websockets.exceptions, "InvalidStatus", ()) as e:  # newer websockets
            return e.response.status_code

    for kw in ({}, {"key": "bogus"}, {"key": "zfk_" + "0" * 64}, {"token": "bogus"},
               {"token": ""}):
        assert run(attempt(**kw)) == 401, kw
    assert run(attempt(key=S["keys"]["A-viewer"])) == 101
    alive(S["srv"], "refused WebSocket upgrade")


# ---------------------------------------------------------------- main


def main():
    with zh.Server(extra_args=["--rate-limit", "0", "--jwt-secret", SECRET]) as srv:
        S["srv"] = srv
        S["keys"] = {"A": zh.create_key(srv.data, "A", "admin"),
                     "A-viewer": zh.create_key(srv.data, "A", "viewer"),
                     "B": zh.create_key(srv.data, "B", "admin")}
        S["a"] = Http(srv.http, S["keys"]["A"])
        S["b"] = Http(srv.http, S["keys"]["B"])
        try:
            return zh.run_tests(globals())
        finally:
            S["a"].close()
            S["b"].close()


if __name__ == "__main__":
    sys.exit(main())
