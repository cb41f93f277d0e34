#!/usr/bin/python3
"""tests/it_runs.py — run behaviour against a real zflow server and a real HTTP sink.

Covers: http_request output and Idempotency-Key, retries and back-off
(waiting between attempts), non_retryable, 4xx failing at once,
Retry-After, the delay step, run.start wait=true / wait_timeout_ms,
run.cancel of waiting and running runs, the per-workflow breaker (and its
tap event), the per-host breaker (blocked), the egress guard and
--max-active.

Each test gets its own `zflow serve` (fresh data dir, free ports) so the
per-host breakers of one test cannot leak into another; one http_sink.py
serves them all. Exit status 0 = every test passed.
"""
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zf_harness as h  # noqa: E402

EGRESS = ["--egress-allow", "127.0.0.1/32"]
SINK = None  # the shared zf_harness.Sink, started in main()


# --------------------------------------------------------------------------
# helpers


class Env:
    """One server + an admin key + a client; a context manager that cleans up."""

    def __init__(self, extra_args=None):
        self.srv = h.Server(extra_args)
        self.c = None

    def __enter__(self):
        self.srv.__enter__()
        self.key = h.create_key(self.srv.data, "acme", "admin")
        self.c = h.Client(self.srv.api, self.key)
        return self

    def __exit__(self, *exc):
        if self.c:
            self.c.close()
        return self.srv.__exit__(*exc)


def http_node(node_id, path, **extra):
    node = {"id": node_id, "type": "http_request", "config": {"url": SINK.url(path)}}
    node.update(extra)
    return node


def delay_node(node_id, ms):
    return {"id": node_id, "type": "delay", "config": {"duration": ms, "unit": "milliseconds"}}


def mk_wf(c, nodes, **extra):
    wf = {"name": f"it-runs-{uuid.uuid4().hex[:10]}", "definition": {"nodes": nodes}}
    wf.update(extra)
    return h.expect_ok(c, "wf.create", {"workflow": wf})["workflow"]


def start(c, wf_id, timeout=10, **kw):
    body = {"workflow_id": wf_id}
    body.update(kw)
    return h.expect_ok(c, "run.start", body, timeout=timeout)["run"]


get = h.run_view
wait_status = h.wait_run_status


def log_statuses(view, node_id=None):
    return [l["status"] for l in view["logs"] if node_id is None or l["nodeId"] == node_id]


def key_of(run_id, node_id):
    return f"{run_id}.{node_id}"


# --------------------------------------------------------------------------
# http_request basics


def test_http_request_output_and_idempotency_key():
    with Env(EGRESS) as env:
        wf = mk_wf(env.c, [http_node("call", "/hit")])
        run = start(env.c, wf["id"], wait=True)
        assert run["status"] == "completed", run
        view = get(env.c, run["id"])
        out = view["state"]["stepOutputs"]["call"]
        assert out["status"] == 200, out
        assert out["headers"]["content-type"] == "application/json", out
        k = key_of(run["id"], "call")
        assert out["body"] == {"ok": True, "key": k, "n": 1}, out
        assert SINK.counts().get(k) == 1, SINK.counts().get(k)
        assert log_statuses(view) == ["completed"], view["logs"]
        assert view["run"]["error"] is None and view["run"]["finished_at"] is not None


# --------------------------------------------------------------------------
# retries


def test_retry_exhausted_after_three_attempts():
    with Env(EGRESS) as env:
        retry = {"max_attempts": 3, "initial_interval_ms": 200, "jitter": 0}
        wf = mk_wf(env.c, [http_node("flaky", "/hit/500", retry=retry), http_node("after", "/hit")])
        run = start(env.c, wf["id"])
        # Between attempts the run is passivated: status waiting, wake_at set.
        waiting = wait_status(env.c, run["id"], ("waiting", "failed"), interval=0.01)
        assert waiting["run"]["status"] == "waiting", waiting["run"]
        assert waiting["run"]["wake_at"] is not None, waiting["run"]
        assert waiting["state"]["wait"]["node_id"] == "flaky", waiting["state"]
        view = wait_status(env.c, run["id"], "failed")
        assert SINK.counts().get(key_of(run["id"], "flaky")) == 3, "sink hits != 3"
        assert key_of(run["id"], "after") not in SINK.counts()
        assert log_statuses(view) == ["retrying", "retrying", "failed"], view["logs"]
        assert [l["attempt"] for l in view["logs"]] == [1, 2, 3], view["logs"]
        assert view["state"]["retryCount"].get("flaky") == 3, view["state"]
        err = view["run"]["error"]
        assert err and err["node_id"] == "flaky" and "500" in err["message"], err
        # Back-off 200 ms then 400 ms (coefficient 2, no jitter).
        logs = view["logs"]
        gap1 = logs[1]["startedAt"] - logs[0]["finishedAt"]
        gap2 = logs[2]["startedAt"] - logs[1]["finishedAt"]
        assert 190 <= gap1 < 1500, (gap1, logs)
        assert 390 <= gap2 < 1700, (gap2, logs)
        # A terminal run is not waiting for anything any more.
        assert view["state"]["wait"] is None, view["state"]
        assert view["run"]["wake_at"] is None, f"failed run keeps wake_at: {view['run']}"


def test_retry_on_transport_timeout():
    # A node timeout is a retryable transport failure; every attempt reaches
    # the sink with the same Idempotency-Key.
    with Env(EGRESS) as env:
        retry = {"max_attempts": 3, "initial_interval_ms": 100, "jitter": 0}
        node = http_node("slowfail", "/hit?ms=400", retry=retry)
        node["config"]["timeout_ms"] = 150
        wf = mk_wf(env.c, [node])
        run = start(env.c, wf["id"])
        view = wait_status(env.c, run["id"], "failed")
        assert SINK.counts().get(key_of(run["id"], "slowfail")) == 3, SINK.counts()
        assert log_statuses(view) == ["retrying", "retrying", "failed"], view["logs"]
        assert view["state"]["retryCount"]["slowfail"] == 3
        assert view["run"]["error"]["node_id"] == "slowfail", view["run"]
        assert "timeout" in view["run"]["error"]["message"], view["run"]


def test_non_retryable_fails_at_once():
    with Env(EGRESS) as env:
        # The error kind vocabulary is not pinned down by the catalogue: list
        # both the message form and a kind name so either matching works.
        retry = {"max_attempts": 5, "initial_interval_ms": 100, "jitter": 0,
                 "non_retryable": ["HTTP 500", "http_5xx"]}
        wf = mk_wf(env.c, [http_node("n", "/hit/500", retry=retry)])
        run = start(env.c, wf["id"], wait=True)
        assert run["status"] == "failed", run
        view = get(env.c, run["id"])
        assert log_statuses(view) == ["failed"], view["logs"]
        assert view["state"]["retryCount"].get("n") == 1, view["state"]
        assert SINK.counts().get(key_of(run["id"], "n")) == 1


def test_404_fails_immediately():
    with Env(EGRESS) as env:
        retry = {"max_attempts": 5, "initial_interval_ms": 100, "jitter": 0}
        wf = mk_wf(env.c, [http_node("nf", "/hit/404", retry=retry)])
        t0 = time.monotonic()
        run = start(env.c, wf["id"], wait=True)
        assert run["status"] == "failed", run
        assert time.monotonic() - t0 < 2.0
        view = get(env.c, run["id"])
        assert log_statuses(view) == ["failed"], view["logs"]
        assert view["logs"][0]["attempt"] == 1
        assert "404" in view["run"]["error"]["message"], view["run"]
        assert view["run"]["error"]["node_id"] == "nf"
        assert SINK.counts().get(key_of(run["id"], "nf")) == 1


def test_429_retry_after_is_respected():
    with Env(EGRESS) as env:
        retry = {"max_attempts": 2, "initial_interval_ms": 100, "jitter": 0}
        wf = mk_wf(env.c, [http_node("rl", "/hit/429?retry_after=2", retry=retry)])
        run = start(env.c, wf["id"])
        waiting = wait_status(env.c, run["id"], "waiting")
        first = waiting["logs"][0]
        assert first["status"] == "retrying", waiting["logs"]
        assert waiting["run"]["wake_at"] - first["finishedAt"] >= 1990, (waiting["run"], first)
        view = wait_status(env.c, run["id"], "failed")
        attempts = [l for l in view["logs"] if l["status"] in ("retrying", "failed")]
        assert len(attempts) == 2, view["logs"]
        gap = attempts[1]["startedAt"] - attempts[0]["finishedAt"]
        assert gap >= 1990, f"retried {gap} ms after a 429 with Retry-After: 2"
        assert SINK.counts().get(key_of(run["id"], "rl")) == 2


# --------------------------------------------------------------------------
# delay and run.start wait


def test_delay_waits_then_completes():
    with Env(EGRESS) as env:
        wf = mk_wf(env.c, [delay_node("d", 1200), http_node("after", "/hit")])
        before = h.now_ms()
        run = start(env.c, wf["id"], wait=True)  # replies once passivated
        assert run["status"] == "waiting", run
        assert abs(run["wake_at"] - (before + 1200)) < 400, (run["wake_at"] - before)
        assert key_of(run["id"], "after") not in SINK.counts()
        view = wait_status(env.c, run["id"], "completed", timeout=10)
        assert view["run"]["finished_at"] >= run["wake_at"], view["run"]
        assert view["run"]["wake_at"] is None, view["run"]
        assert log_statuses(view, "d") == ["waiting", "completed"], view["logs"]
        assert SINK.counts().get(key_of(run["id"], "after")) == 1


def test_wait_timeout_then_run_completes():
    with Env(EGRESS) as env:
        wf = mk_wf(env.c, [http_node("slow", "/slow?ms=1200"), http_node("after", "/hit")])
        t0 = time.monotonic()
        body = h.expect_error(env.c, "run.start",
                              {"workflow_id": wf["id"], "wait": True, "wait_timeout_ms": 300},
                              "timeout")
        took = time.monotonic() - t0
        assert 0.25 <= took < 1.1, f"timeout reply after {took:.2f}s"
        assert body["message"]
        runs = h.expect_ok(env.c, "run.list", {"workflow_id": wf["id"]})["runs"]
        assert len(runs) == 1, runs
        view = wait_status(env.c, runs[0]["id"], "completed", timeout=10)
        assert SINK.counts().get(key_of(runs[0]["id"], "after")) == 1
        assert log_statuses(view) == ["completed", "completed"]


# --------------------------------------------------------------------------
# cancel


def test_cancel_waiting_run_never_resumes():
    with Env(EGRESS) as env:
        wf = mk_wf(env.c, [delay_node("d", 1000), http_node("after", "/hit")])
        run = start(env.c, wf["id"], wait=True)
        assert run["status"] == "waiting", run
        cancelled = h.expect_ok(env.c, "run.cancel", {"id": run["id"], "reason": "test"})["run"]
        assert cancelled["status"] == "cancelled", cancelled
        time.sleep(1.8)  # well past the delay
        view = get(env.c, run["id"])
        assert view["run"]["status"] == "cancelled", view["run"]
        assert "after" not in view["state"]["completedNodeIds"], view["state"]
        assert "completed" not in log_statuses(view), view["logs"]
        assert key_of(run["id"], "after") not in SINK.counts()
        h.expect_error(env.c, "run.cancel", {"id": run["id"]}, "conflict")


def test_cancel_running_run_stops_after_current_step():
    with Env(EGRESS) as env:
        wf = mk_wf(env.c, [http_node("slow", "/slow?ms=1500"), http_node("after", "/hit")])
        SINK.concurrency_reset()
        run = start(env.c, wf["id"])
        h.wait_for(lambda: SINK.concurrency()["current"] >= 1, 5, what="the slow request")
        cancelled = h.expect_ok(env.c, "run.cancel", {"id": run["id"]}, timeout=10)["run"]
        assert cancelled["status"] == "cancelled", cancelled
        # The step in flight finishes; the next one must never start.
        h.wait_for(lambda: SINK.concurrency()["current"] == 0, 5, what="the slow request to end")
        time.sleep(0.5)
        view = get(env.c, run["id"])
        assert view["run"]["status"] == "cancelled", view["run"]
        assert view["state"]["completedNodeIds"] == ["slow"], view["state"]
        assert key_of(run["id"], "after") not in SINK.counts()
        assert [l["nodeId"] for l in view["logs"]] == ["slow"], view["logs"]


# --------------------------------------------------------------------------
# breakers


def test_workflow_breaker_disables_and_rearms():
    with Env(EGRESS) as env:
        wf = mk_wf(env.c, [http_node("gone", "/nope")], error_handling={"breaker_threshold": 3})
        sub = h.tap(env.srv.tap)
        h.tap_sync(sub, env.c)
        for _ in range(3):
            assert start(env.c, wf["id"], wait=True)["status"] == "failed"

        def disabled():
            w = h.expect_ok(env.c, "wf.get", {"id": wf["id"]})["workflow"]
            return w if w["enabled"] is False else None

        got = h.wait_for(disabled, 5, what="the workflow to be disabled")
        assert got["enabled"] is False and got["disabled_reason"], got
        assert got["consecutive_failures"] == 3, got
        err = h.expect_error(env.c, "run.start", {"workflow_id": wf["id"]}, "conflict")
        assert "disabled" in err["message"], err
        events = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not events:
            m = h.tap_recv(sub, 0.2)
            if m and m[0] == "event.workflow.disabled":
                events.append(m)
        assert events, "no event.workflow.disabled on the tap"
        assert events[0][2].get("workflow_id") == wf["id"], events[0]
        sub.close(0)
        wf2 = h.expect_ok(env.c, "wf.update", {"id": wf["id"], "patch": {"enabled": True}})["workflow"]
        assert wf2["enabled"] is True and wf2["consecutive_failures"] == 0, wf2
        assert wf2["disabled_reason"] is None, wf2
        run = start(env.c, wf["id"], wait=True)
        assert run["status"] == "failed", run  # it runs again (and fails again)
        again = h.expect_ok(env.c, "wf.get", {"id": wf["id"]})["workflow"]
        assert again["enabled"] is True and again["consecutive_failures"] == 1, again


def test_host_breaker_blocks_instead_of_failing():
    with Env(EGRESS) as env:
        # 503 + Retry-After opens the host breaker at once; runs that come
        # while it is open passivate ("blocked") instead of failing.
        wf = mk_wf(env.c, [http_node("down", "/status/503?retry_after=1",
                                     retry={"max_attempts": 1})],
                   error_handling={"breaker_threshold": 1000})
        first = start(env.c, wf["id"], wait=True)
        assert first["status"] == "failed", first
        runs = [start(env.c, wf["id"]) for _ in range(4)]
        blocked = None
        deadline = time.monotonic() + 5
        while blocked is None and time.monotonic() < deadline:
            for r in runs:
                v = get(env.c, r["id"])
                if "blocked" in log_statuses(v):
                    blocked = v
                    break
            time.sleep(0.05)
        assert blocked is not None, "no run was blocked by the open host breaker"
        entry = next(l for l in blocked["logs"] if l["status"] == "blocked")
        assert "circuit" in (entry["error"] or ""), entry
        if blocked["run"]["status"] == "waiting":
            assert blocked["run"]["wake_at"] is not None, blocked["run"]
        # Blocked runs are not failed by the breaker: they end up trying the
        # host (and failing on the 503) once it lets a probe through.
        for r in runs:
            v = wait_status(env.c, r["id"], ("failed", "completed"), timeout=30, interval=0.1)
            assert v["run"]["status"] == "failed", v["run"]
            assert "503" in v["run"]["error"]["message"], v["run"]


def test_host_breaker_is_per_host_and_port():
    """A breaker opened for 127.0.0.1:<port A> leaves 127.0.0.1:<port B> alone."""
    other = h.Sink()
    try:
        with Env(EGRESS) as env:
            down = mk_wf(env.c, [http_node("down", "/status/503?retry_after=60",
                                           retry={"max_attempts": 1})],
                         error_handling={"breaker_threshold": 1000})
            assert start(env.c, down["id"], wait=True)["status"] == "failed"
            again = start(env.c, down["id"], wait=True)  # same host and port: blocked
            assert again["status"] == "waiting", again
            v = get(env.c, again["id"])
            entry = next(l for l in v["logs"] if l["status"] == "blocked")
            assert f"127.0.0.1:{SINK.port}" in entry["error"], entry
            up = mk_wf(env.c, [{"id": "up", "type": "http_request",
                                "config": {"url": other.url("/hit")}}])
            run = start(env.c, up["id"], wait=True)
            assert run["status"] == "completed", run
            assert other.counts().get(key_of(run["id"], "up")) == 1
    finally:
        other.stop()


# --------------------------------------------------------------------------
# egress and concurrency


def test_egress_guard_refuses_loopback():
    with Env() as env:  # no --egress-allow
        wf = mk_wf(env.c, [http_node("out", "/hit")])
        run = start(env.c, wf["id"], wait=True)
        assert run["status"] == "failed", run
        assert "egress" in run["error"]["message"].lower(), run["error"]
        assert key_of(run["id"], "out") not in SINK.counts()


def test_max_active_bounds_concurrency():
    with Env(EGRESS + ["--max-active", "2"]) as env:
        wf = mk_wf(env.c, [http_node("s", "/slow?ms=200")])
        h.wait_for(lambda: SINK.concurrency()["current"] == 0, 10, what="an idle sink")
        SINK.concurrency_reset()
        runs = [start(env.c, wf["id"]) for _ in range(20)]
        for r in runs:
            wait_status(env.c, r["id"], "completed", timeout=30, interval=0.1)
        conc = SINK.concurrency()
        assert conc["total"] == 20, conc
        assert conc["max"] <= 2, f"{conc['max']} requests in flight with --max-active 2"
        assert conc["max"] == 2, f"runs did not use both actors: {conc}"


def test_stats_total_never_dips_while_runs_end():
    """wf.stats counts ended runs from counters the engine updates when a
    host reports the end, and unfinished ones from storage; a host may
    commit a run's end in between. Polled while 300 runs start and end,
    the total must never go down (it did, by one, now and then: CI's
    it_automations001 test_stats), and it ends at 300."""
    import threading
    n = 300
    with Env() as env:
        wf = mk_wf(env.c, [{"id": "s", "type": "set", "config": {"values": {"x": 1}}}])
        done = threading.Event()

        def starter():
            with h.Client(env.srv.api, env.key) as c2:
                for _ in range(n):
                    h.expect_ok(c2, "run.start", {"workflow_id": wf["id"]})
            done.set()

        th = threading.Thread(target=starter)
        th.start()
        seen, polls, last = 0, 0, None
        try:
            while True:
                r = h.expect_ok(env.c, "wf.stats", {})["runs"]
                polls += 1
                assert r["total"] >= seen, f"total went {seen} -> {r['total']}: {last} then {r}"
                seen, last = r["total"], r
                if done.is_set() and r["total"] == n and r["completed"] == n:
                    break
                assert polls < 100000, r
        finally:
            th.join()
        print(f"  wf.stats polled {polls} times while {n} runs ended: no dip")


def main():
    return h.run_tests_with_sink(globals())


if __name__ == "__main__":
    sys.exit(main())
