#!/usr/bin/python3
"""tests/it_crash.py — the crash test: kill -9 the server again and again under load.

One workflow of three sequential http_request steps (a, b, c) to the sink's
/hit, which counts requests by Idempotency-Key. A starter thread keeps the
server saturated with run.start requests (pipelined on one DEALER, a
bounded backlog of unfinished runs) while the main thread kill -9s the
server at random moments (0.2–1.5 s apart) and restarts it on the same
data dir and ports. After the last restart every run must complete.

Checked:
  * every run whose run.start was acknowledged exists and ends completed;
    so does every run that exists at all (a start whose reply was lost in
    a crash may or may not have created one);
  * every node of every run reached the sink at least once, with the key
    `<run_id>.<node_id>`; no key belongs to a run that does not exist;
  * repeats only where a kill could have caught a step in flight: total
    repeats <= kills x max-active, and no key hit more than kills + 1 times;
  * each run's logs hold exactly three `completed` entries, a, b, c in
    order, and nothing else (no retries, no failures).

Env: ZF_SEED (random seed), ZF_CRASH_KILLS (default 6), ZF_CRASH_MIN_RUNS
(default 500). Must finish well under 4 minutes on 2 cores.
"""
import os
import random
import re
import sys
import threading
import time
import uuid

import msgpack
import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zf_harness as h  # noqa: E402

MAX_ACTIVE = 16
KILLS = int(os.environ.get("ZF_CRASH_KILLS", "6"))
MIN_RUNS = int(os.environ.get("ZF_CRASH_MIN_RUNS", "500"))
WINDOW = 64          # run.start requests in flight at once
BACKLOG = 200        # started-but-unfinished runs the starter allows
PENDING_GIVE_UP = 10.0  # s: a start without a reply by then is "unknown"
SETTLE_TIMEOUT = 120.0  # s: after the last restart, every run must be done by then
NODES = ("a", "b", "c")
KEY_RE = re.compile(r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.(a|b|c)$")


class Starter(threading.Thread):
    """Starts runs on a DEALER, pipelined; reconnects when `epoch` changes.

    acked: run ids whose run.start got an ok reply. unknown: requests that
    never got a reply (lost in a crash). completed: last polled count.
    """

    def __init__(self, api, key, wf_id):
        super().__init__(daemon=True)
        self.api, self.key, self.wf_id = api, key, wf_id
        self.acked = []
        self.unknown = 0
        self.errors = {}
        self.completed = 0
        self.epoch = 0          # bumped by the main thread after each restart
        self.no_more = threading.Event()  # stop sending new starts
        self.halt = threading.Event()     # leave the loop
        self.failure = None
        self._ctx = zmq.Context()

    def _connect(self):
        sock = self._ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(self.api)
        stat = h.Client(self.api, self.key, ctx=self._ctx)
        return sock, stat

    def _poll_completed(self, stat):
        try:
            ok, body = stat.call("run.list", {"workflow_id": self.wf_id, "status": "completed",
                                              "limit": 0}, timeout=0.5)
            if ok:
                self.completed = body["total"]
        except TimeoutError:
            pass  # the server is down; try again later

    def run(self):
        try:
            self._loop()
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            self.failure = e

    def _loop(self):
        epoch = self.epoch
        sock, stat = self._connect()
        pending = {}  # request id -> send time
        next_stat = 0.0
        while not self.halt.is_set():
            now = time.monotonic()
            if epoch != self.epoch:  # the server was restarted: fresh sockets
                epoch = self.epoch
                sock.close(0)
                stat.close()
                sock, stat = self._connect()
                self.unknown += len(pending)
                pending.clear()
            if now >= next_stat:
                self._poll_completed(stat)
                next_stat = time.monotonic() + 0.1
            if self.no_more.is_set() and not pending:
                break
            while (not self.no_more.is_set() and len(pending) < WINDOW
                   and len(self.acked) + len(pending) - self.completed < BACKLOG):
                hd = h.header("run.start", self.key)
                sock.send_multipart([b"", msgpack.packb(hd),
                                     msgpack.packb({"workflow_id": self.wf_id})])
                pending[hd["id"]] = time.monotonic()
            while sock.poll(20):
                rh, rb = h.decode_reply(sock.recv_multipart())
                if pending.pop(rh.get("corr"), None) is None:
                    continue
                if rh.get("ok"):
                    self.acked.append(rb["run"]["id"])
                else:
                    code = rb.get("code", "?")
                    self.errors[code] = self.errors.get(code, 0) + 1
            for rid, t in list(pending.items()):
                if time.monotonic() - t > PENDING_GIVE_UP:
                    del pending[rid]
                    self.unknown += 1
        self.unknown += len(pending)
        sock.close(0)
        stat.close()


def pipelined(client, requests, window=64, timeout=30):
    """Sends (type, body) requests with `window` in flight; returns reply bodies in order."""
    out = [None] * len(requests)
    ids = {}
    nxt = 0
    deadline = time.monotonic() + timeout
    while nxt < len(requests) or ids:
        while nxt < len(requests) and len(ids) < window:
            type_, body = requests[nxt]
            hd = h.header(type_, client.key)
            client.sock.send_multipart([b"", msgpack.packb(hd), msgpack.packb(body)])
            ids[hd["id"]] = nxt
            nxt += 1
        frames = client.recv_raw(max(0.0, deadline - time.monotonic()))
        if frames is None:
            raise TimeoutError(f"{len(ids)} replies missing")
        rh, rb = h.decode_reply(frames)
        i = ids.pop(rh.get("corr"), None)
        if i is None:
            continue
        assert rh.get("ok"), f"{requests[i]} failed: {rb}"
        out[i] = rb
    return out


def list_runs(c, wf_id):
    """Every run of the workflow: {run id: run record}."""
    runs, offset = {}, 0
    while True:
        body = h.expect_ok(c, "run.list", {"workflow_id": wf_id, "limit": 500, "offset": offset})
        for r in body["runs"]:
            runs[r["id"]] = r
        offset += len(body["runs"])
        if not body["runs"] or offset >= body["total"]:
            return runs


def wait_settled(c, wf_id, timeout):
    """Waits until every run of the workflow is terminal; returns the count."""
    deadline = time.monotonic() + timeout
    while True:
        total = h.expect_ok(c, "run.list", {"workflow_id": wf_id, "limit": 0})["total"]
        done = sum(h.expect_ok(c, "run.list", {"workflow_id": wf_id, "status": s, "limit": 0})["total"]
                   for s in ("completed", "failed", "cancelled"))
        if done == total:
            return total
        if time.monotonic() > deadline:
            raise AssertionError(f"only {done} of {total} runs finished within {timeout}s "
                                 "of the last restart")
        time.sleep(0.2)


def crash_loop(srv, starter, rng):
    """kill -9 + restart KILLS times, 0.2–1.5 s apart, while the starter runs."""
    h.wait_for(lambda: len(starter.acked) >= 50, 30, what="the first runs")
    kills = 0
    in_flight_at_kill = []
    for _ in range(KILLS):
        time.sleep(rng.uniform(0.2, 1.5))
        in_flight_at_kill.append(len(starter.acked) - starter.completed)
        srv.kill9()
        kills += 1
        srv.start()
        starter.epoch += 1
    return kills, in_flight_at_kill


def check(c, sink, wf_id, starter, kills):
    runs = list_runs(c, wf_id)
    acked = set(starter.acked)
    assert len(acked) == len(starter.acked), "the same run id was acknowledged twice"
    missing = acked - set(runs)
    assert not missing, f"{len(missing)} acknowledged runs do not exist, e.g. {sorted(missing)[:3]}"
    bad = {rid: r["status"] for rid, r in runs.items() if r["status"] != "completed"}
    assert not bad, f"{len(bad)} runs did not complete: {list(bad.items())[:5]}"

    views = pipelined(c, [("run.get", {"id": rid}) for rid in runs])
    for rid, view in zip(runs, views):
        done = [l["nodeId"] for l in sorted(view["logs"], key=lambda l: l["seq"])
                if l["status"] == "completed"]
        others = [l for l in view["logs"] if l["status"] != "completed"]
        assert done == list(NODES), f"run {rid}: completed log entries {done}"
        assert not others, f"run {rid}: unexpected log entries {others}"
        assert view["state"]["completedNodeIds"] == list(NODES), (rid, view["state"])
        seqs = [l["seq"] for l in view["logs"]]
        assert seqs == list(range(len(seqs))), f"run {rid}: log seqs {seqs}"

    counts = sink.counts()
    for k in counts:
        m = KEY_RE.match(k)
        assert m, f"malformed Idempotency-Key at the sink: {k!r}"
        assert m.group(1) in runs, f"the sink was hit for a run that does not exist: {k}"
    repeats, worst = 0, 0
    for rid in runs:
        for n in NODES:
            hits = counts.get(f"{rid}.{n}", 0)
            assert hits >= 1, f"run {rid} completed but node {n} never reached the sink"
            repeats += hits - 1
            worst = max(worst, hits)
    assert worst <= kills + 1, f"a step ran {worst} times with only {kills} kills"
    assert repeats <= kills * MAX_ACTIVE, \
        f"{repeats} repeated steps > {kills} kills x {MAX_ACTIVE} max-active"
    return runs, repeats, worst


def main():
    seed = os.environ.get("ZF_SEED") or str(random.randrange(1 << 30))
    rng = random.Random(seed)
    t0 = time.monotonic()
    sink = h.Sink()
    srv = h.Server(["--egress-allow", "127.0.0.1/32", "--max-active", str(MAX_ACTIVE)])
    starter = None
    ok = False
    try:
        srv.start()
        key = h.create_key(srv.data, "acme", "admin")
        with h.Client(srv.api, key) as c:
            wf = h.expect_ok(c, "wf.create", {"workflow": {
                "name": f"it-crash-{uuid.uuid4().hex[:8]}",
                "definition": {"nodes": [{"id": n, "type": "http_request",
                                          "config": {"url": sink.url("/hit")}} for n in NODES]},
                "error_handling": {"breaker_threshold": 1000000},
            }})["workflow"]
        starter = Starter(srv.api, key, wf["id"])
        starter.start()
        kills, in_flight = crash_loop(srv, starter, rng)
        h.wait_for(lambda: len(starter.acked) >= MIN_RUNS or starter.failure, 60,
                   what=f"{MIN_RUNS} acknowledged runs")
        starter.no_more.set()
        starter.join(PENDING_GIVE_UP + 5)
        assert not starter.is_alive(), "starter thread did not finish"
        if starter.failure:
            raise starter.failure
        with h.Client(srv.api, key) as c:
            total = wait_settled(c, wf["id"], SETTLE_TIMEOUT)
            runs, repeats, worst = check(c, sink, wf["id"], starter, kills)
        srv.stop()  # a clean exit after all that
        print(f"it_crash: seed {seed}: {len(starter.acked)} runs acknowledged, "
              f"{len(runs) - len(set(starter.acked))} more existed without an ack, "
              f"{starter.unknown} starts unanswered, errors {starter.errors}; "
              f"{kills} kills (unfinished runs at each: {in_flight}); "
              f"{repeats} repeated steps (bound {kills * MAX_ACTIVE}), max hits per step {worst}; "
              f"all {total} runs completed", flush=True)
        ok = True
    except Exception:  # noqa: BLE001 - print, clean up, fail
        import traceback

        traceback.print_exc()
        if srv.proc is not None:
            sys.stderr.write(f"--- zflow stderr (last process) ---\n{srv.stderr()[-5000:]}\n")
        print(f"it_crash: seed {seed}: FAILED", flush=True)
    finally:
        if starter is not None:
            starter.no_more.set()
            starter.halt.set()
            starter.join(5)
        srv.cleanup()
        sink.stop()
    print(f"it_crash.py: {'1/1 passed' if ok else '0/1 passed'} in {time.monotonic() - t0:.1f}s",
          flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
