#!/usr/bin/python3
"""it_steps001 — seed 001's record, evidence and Slack step kinds end to end
(issue 6, section 3): table_operations, create_matter, evidence_snapshot
(TABLE_ROWS, AUDIT_LOGS, SECURITY_EVENTS, ORG_MEMBERS, and the engine's
evidence.collect behind the last three) and slack, against a real server.

Workflows are created over the zmq API (one over POST /api/v2/workflows),
run with run.start, and checked through their outputs, logs, errors and the
records they leave in the store (rec.get / rec.list). Slack messages go to
real HTTP peers on loopback: tests/http_sink.py (status codes, hit counts
by Idempotency-Key) and a small recorder that keeps the JSON it received;
the server runs with --egress-allow 127.0.0.1/32.
Evidence: every source's shape, sha256 recomputed from the rows, since and
limit, tenant isolation, and no API key, key hash or digest of a key in any
output.

    ZFLOW_BIN=build/zflow /usr/bin/python3 tests/it_steps001.py   (ZF_TEST=substr for a subset)
"""
import hashlib
import json
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import msgpack

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import zf_harness as zh  # noqa: E402
from http_harness import V2, Http, expect  # noqa: E402

S = {}
TERMINAL = ("completed", "failed", "cancelled")
ISO_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
ENTRY_KEYS = {"id", "at", "action", "actor", "resource", "details"}


# ---------------------------------------------------------------- peers


class Recorder:
    """HTTP server on 127.0.0.1 that keeps every request's path, headers and
    JSON body and answers 200 text/plain "ok" (what Slack answers)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []
        rec = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                with rec.lock:
                    rec.requests.append({
                        "path": self.path, "method": self.command,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "json": json.loads(raw) if raw else None})
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.srv.server_address[1]}"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def hits(self, path):
        with self.lock:
            return [r for r in self.requests if r["path"] == path]

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


# ---------------------------------------------------------------- helpers


def zc(tenant="acme"):
    return S["zmq"][tenant]


def workflow(nodes, tenant="acme", **extra):
    """wf.create of a manual workflow; nodes get ids n1, n2, ... unless given."""
    nodes = [dict({"id": f"n{i + 1}"}, **n) for i, n in enumerate(nodes)]
    wf = {"name": zh.uniq("s001"), "definition": {"nodes": nodes}}
    wf.update(extra)
    return zh.expect_ok(zc(tenant), "wf.create", {"workflow": wf})["workflow"]


def create_error(nodes, tenant="acme"):
    """wf.create that must fail validation; returns the message."""
    nodes = [dict({"id": f"n{i + 1}"}, **n) for i, n in enumerate(nodes)]
    wf = {"name": zh.uniq("bad"), "definition": {"nodes": nodes}}
    return zh.expect_error(zc(tenant), "wf.create", {"workflow": wf}, "validation")["message"]


def run(wf_id, inputs=None, tenant="acme"):
    """Starts a run, waits until it is terminal; returns run.get's view."""
    r = zh.expect_ok(zc(tenant), "run.start",
                     {"workflow_id": wf_id, "inputs": inputs or {}, "wait": True,
                      "wait_timeout_ms": 20000}, timeout=30)["run"]
    return zh.wait_run_status(zc(tenant), r["id"], TERMINAL, timeout=30)


def run_nodes(nodes, inputs=None, tenant="acme", **extra):
    return run(workflow(nodes, tenant, **extra)["id"], inputs, tenant)


def outputs(view):
    return view["state"]["stepOutputs"]


def completed(view):
    assert view["run"]["status"] == "completed", json.dumps(view, indent=1)[:3000]
    return outputs(view)


def failed(view):
    assert view["run"]["status"] == "failed", json.dumps(view, indent=1)[:3000]
    return view["run"]["error"]


def attempts(view, node_id):
    return [entry for entry in view["logs"] if entry["nodeId"] == node_id]


def rec_get(module, rid, tenant="acme"):
    return zh.expect_ok(zc(tenant), "rec.get", {"module": module, "id": rid})["record"]


def rec_create(module, tenant="acme", **fields):
    return zh.expect_ok(zc(tenant), "rec.create", {"module": module, "record": fields})["record"]


def bulk_create(module, records, window=250):
    """rec.create of many records, `window` requests in flight (group commits)."""
    c = zc()
    for i in range(0, len(records), window):
        pending = set()
        for r in records[i:i + window]:
            h = zh.header("rec.create", c.key)
            pending.add(h["id"])
            c.sock.send_multipart([b"", msgpack.packb(h),
                                   msgpack.packb({"module": module, "record": r})])
        while pending:
            frames = c.recv_raw(30)
            assert frames is not None, f"{len(pending)} rec.create replies missing"
            rh, rb = zh.decode_reply(frames)
            assert rh.get("ok") is True, rb
            pending.discard(rh.get("corr"))


def _canon(v):
    """docs/steps-001.md: an integral real below 2^53 is written as an integer."""
    if isinstance(v, float) and v.is_integer() and abs(v) < 2 ** 53:
        return int(v)
    if isinstance(v, dict):
        return {k: _canon(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_canon(x) for x in v]
    return v


def canonical_sha256(rows):
    text = json.dumps(_canon(rows), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def snapshot(config, tenant="acme"):
    """Runs one evidence_snapshot node; returns its output (checked for shape)."""
    out = completed(run_nodes([{"type": "evidence_snapshot", "config": config}],
                              tenant=tenant))["n1"]
    assert out["source"] == config["source"], out
    assert ISO_MS.match(out["capturedAt"]), out
    assert isinstance(out["rows"], list) and out["rowCount"] == len(out["rows"]), out
    assert HEX64.match(out["sha256"]) and out["sha256"] == canonical_sha256(out["rows"]), out
    return out


def check_entries(rows):
    """AUDIT_LOGS / SECURITY_EVENTS rows: entry shape, newest first (null times last)."""
    for r in rows:
        assert set(r) == ENTRY_KEYS, r
        assert set(r["resource"]) == {"type", "id", "name"}, r
        assert r["at"] is None or isinstance(r["at"], int), r
    times = [r["at"] for r in rows]
    dated = [t for t in times if t is not None]
    assert dated == sorted(dated, reverse=True), times
    assert times[:len(dated)] == dated, f"undated entries must come last: {times}"


def admin():
    return zh.Client(S["srv"].admin)


# ---------------------------------------------------------------- table_operations


def test_table_operations_crud_and_stored_records():
    t = "companies-" + zh.uniq("t")[-6:]
    nodes = [
        {"id": "c", "type": "table_operations",
         "config": {"operation": "create", "table": t,
                    "data": {"name": "{{inputs.name}}", "size": "{{inputs.size}}"}}},
        {"id": "g", "type": "table_operations",
         "config": {"operation": "get", "table": t, "row_id": "{{steps.c.row.id}}"}},
        {"id": "u", "type": "table_operations",
         "config": {"operation": "update", "table": t, "row_id": "{{steps.c.row.id}}",
                    "data": {"size": 20, "tier": "big", "name": None}}},
        {"id": "q", "type": "table_operations",
         "config": {"operation": "query", "table": t, "filter": {"tier": "big"}}},
    ]
    out = completed(run_nodes(nodes, {"name": "Acme", "size": 10}))
    row = out["c"]["row"]
    assert row["name"] == "Acme" and row["size"] == 10, row  # typed single-expression template
    assert isinstance(row["created_at"], int) and row["id"], row
    assert out["g"]["row"] == row, out["g"]
    assert out["u"]["row"]["size"] == 20 and out["u"]["row"]["tier"] == "big", out["u"]
    assert "name" not in out["u"]["row"], out["u"]  # null removes the field
    assert sorted(out["u"]["changed"]) == ["name", "size", "tier"], out["u"]
    assert out["q"]["count"] == 1 and out["q"]["rows"][0]["id"] == row["id"], out["q"]
    assert out["q"]["truncated"] is False, out["q"]
    stored = rec_get(t, row["id"])
    assert stored["size"] == 20 and stored["tier"] == "big" and "name" not in stored, stored

    delete = [{"type": "table_operations",
               "config": {"operation": "delete", "table": t, "row_id": row["id"]}}]
    out = completed(run_nodes(delete))
    assert out["n1"] == {"deleted": True, "row_id": row["id"]}, out
    zh.expect_error(zc(), "rec.get", {"module": t, "id": row["id"]}, "not_found")


def test_table_operations_query_filter_limit_and_order():
    t = "q-" + zh.uniq("t")[-8:]
    ids = [rec_create(t, n=i, even=(i % 2 == 0))["id"] for i in range(30)]
    q = {"operation": "query", "table": t, "filter": {"even": True}, "limit": 5}
    out = completed(run_nodes([{"type": "table_operations", "config": q}]))["n1"]
    assert out["count"] == 5, out
    assert [r["n"] for r in out["rows"]] == [28, 26, 24, 22, 20], out  # newest first
    loose = {"operation": "query", "table": t, "filter": {"n": 4.0, "even": True}}
    out = completed(run_nodes([{"type": "table_operations", "config": loose}]))["n1"]
    assert [r["id"] for r in out["rows"]] == [ids[4]], out  # numbers compare by value
    none = {"operation": "query", "table": t, "filter": {"n": "4"}}
    out = completed(run_nodes([{"type": "table_operations", "config": none}]))["n1"]
    assert out["count"] == 0 and out["rows"] == [] and out["scanned"] == 30, out
    everything = {"operation": "query", "table": t, "limit": 500}
    out = completed(run_nodes([{"type": "table_operations", "config": everything}]))["n1"]
    assert out["count"] == 30 and out["scanned"] == 30, out
    empty = {"operation": "query", "table": "never-written"}
    out = completed(run_nodes([{"type": "table_operations", "config": empty}]))["n1"]
    assert out["count"] == 0 and out["rows"] == [], out


def test_table_operations_query_scans_at_most_5000():
    t = "big-" + zh.uniq("t")[-8:]
    bulk_create(t, [{"n": i, "old": i < 500} for i in range(5500)])  # the oldest 500 match
    q = {"operation": "query", "table": t, "filter": {"old": True}, "limit": 10}
    out = completed(run_nodes([{"type": "table_operations", "config": q}]))["n1"]
    assert out["scanned"] == 5000 and out["truncated"] is True and out["count"] == 0, {
        k: out[k] for k in ("scanned", "truncated", "count")}


def test_table_operations_not_found_is_final():
    t = "nf-" + zh.uniq("t")[-8:]
    missing = zh.fake_id()
    for op in ("get", "update", "delete"):
        cfg = {"operation": op, "table": t, "row_id": missing}
        if op == "update":
            cfg["data"] = {"x": 1}
        v = run_nodes([{"type": "table_operations", "config": cfg,
                        "retry": {"max_attempts": 3, "initial_interval_ms": 50}}])
        err = failed(v)
        assert err["message"] == f"table_operations: row {missing} not found", err
        assert err["node_id"] == "n1", err
        assert len(attempts(v, "n1")) == 1, v["logs"]  # never retried


def test_table_operations_validation_at_create_and_run():
    cases = [
        ({"table": "t"}, "config.operation"),
        ({"operation": "upsert", "table": "t"}, "config.operation"),
        ({"operation": "get"}, "config.table"),
        ({"operation": "get", "table": "Bad Name"}, "config.table"),
        ({"operation": "get", "table": "t"}, "config.row_id"),
        ({"operation": "create", "table": "t"}, "config.data"),
        ({"operation": "create", "table": "t", "data": [1]}, "config.data"),
        ({"operation": "update", "table": "t", "row_id": "x", "data": {}}, "config.data"),
        ({"operation": "query", "table": "t", "limit": 501}, "config.limit"),
        ({"operation": "query", "table": "t", "limit": 0}, "config.limit"),
        ({"operation": "query", "table": "t", "filter": "tier=big"}, "config.filter"),
    ]
    for cfg, field in cases:
        msg = create_error([{"type": "table_operations", "config": cfg}])
        assert field in msg and "n1" in msg, (cfg, msg)
    # a template that renders to something invalid fails the run, never retried
    v = run_nodes([{"type": "table_operations",
                    "config": {"operation": "{{inputs.op}}", "table": "t"}}], {"op": "drop"})
    err = failed(v)
    assert "config.operation" in err["message"] and len(attempts(v, "n1")) == 1, err
    v = run_nodes([{"type": "table_operations",
                    "config": {"operation": "get", "table": "{{inputs.t}}", "row_id": "x"}}],
                  {"t": "{{vars.x}}"})
    assert "config.table" in failed(v)["message"]  # rendered data is never a template


def test_table_operations_create_fires_row_added_automations():
    t = "fan-" + zh.uniq("t")[-8:]
    auto = workflow([{"type": "set", "config": {"values": {"seen": "{{record.name}}"}}}],
                    trigger={"type": "record.created", "module": t})
    completed(run_nodes([{"type": "table_operations",
                          "config": {"operation": "create", "table": t,
                                     "data": {"name": "via-step"}}}]))

    def probe():
        rs = zh.expect_ok(zc(), "run.list", {"workflow_id": auto["id"]})["runs"]
        return rs if rs and all(r["status"] in TERMINAL for r in rs) else None
    rs = zh.wait_for(probe, 15, what="the ROW_ADDED automation")
    assert len(rs) == 1 and rs[0]["status"] == "completed", rs
    assert rs[0]["trigger"]["record"]["name"] == "via-step", rs[0]["trigger"]
    assert rs[0]["trigger"]["depth"] == 1, rs[0]["trigger"]  # the causal depth is carried


# ---------------------------------------------------------------- create_matter


def test_create_matter_stored_in_matters():
    cfg = {"title": "KYC review for {{inputs.client}}", "template_id": "tmpl-kyc",
           "tags": ["kyc", "{{inputs.tag}}"], "priority": "high",
           "description": "Opened by automation", "assignee": "user-7"}
    v = run_nodes([{"type": "create_matter", "config": cfg}], {"client": "Zed", "tag": "onboarding"})
    out = completed(v)["n1"]
    m = out["matter"]
    assert out["matter_id"] == m["id"], out
    assert m["title"] == "KYC review for Zed" and m["template_id"] == "tmpl-kyc", m
    assert m["tags"] == ["kyc", "onboarding"] and m["priority"] == "high", m
    assert m["status"] == "open" and m["assignee"] == "user-7", m
    assert m["description"] == "Opened by automation", m
    assert m["source"] == {"run_id": v["run"]["id"], "node_id": "n1"}, m
    assert rec_get("matters", m["id"]) == m


def test_create_matter_defaults_and_rest_created_workflow():
    api = Http(S["srv"].http, S["keys"]["acme"])
    try:
        body = {"name": zh.uniq("rest-matter"),
                "definition": {"nodes": [{"id": "m", "type": "create_matter",
                                          "config": {"title": "Plain"}}]}}
        wf = expect(api.post(V2, body), 201)["workflow"]
    finally:
        api.close()
    m = completed(run(wf["id"]))["m"]["matter"]
    assert m["priority"] == "medium" and m["tags"] == [] and m["status"] == "open", m
    assert "template_id" not in m and "assignee" not in m, m
    listed = zh.expect_ok(zc(), "rec.list", {"module": "matters", "limit": 500})["records"]
    assert m["id"] in [r["id"] for r in listed]


def test_create_matter_validation():
    cases = [
        ({}, "config.title"),
        ({"title": ""}, "config.title"),
        ({"title": "x", "priority": "extreme"}, "config.priority"),
        ({"title": "x", "tags": "kyc"}, "config.tags"),
        ({"title": "x", "tags": [1]}, "config.tags[0]"),
        ({"title": "x", "template_id": 5}, "config.template_id"),
        ({"title": "x", "description": ["no"]}, "config.description"),
    ]
    for cfg, field in cases:
        msg = create_error([{"type": "create_matter", "config": cfg}])
        assert field in msg, (cfg, msg)
    v = run_nodes([{"type": "create_matter",
                    "config": {"title": "x", "priority": "{{inputs.p}}"}}], {"p": "asap"})
    assert "config.priority" in failed(v)["message"]


# ---------------------------------------------------------------- evidence_snapshot


def test_evidence_table_rows_digest_limit_since():
    t = "ev-" + zh.uniq("t")[-8:]
    rows = [rec_create(t, n=i, amount=2.5 * i, ratio=i / 10, tiny=i * 1e-7, huge=1e300 * i,
                       note='q"uote\\ é \u0001 \x7f', ok=i % 2 == 0,
                       nested={"b": [1, None], "a": {"z": 1, "y": "x"}})
            for i in range(5)]
    out = snapshot({"source": "TABLE_ROWS", "table": t, "limit": 3})
    assert out["table"] == t and out["rowCount"] == 3, out
    assert [r["id"] for r in out["rows"]] == [r["id"] for r in rows[::-1][:3]], out["rows"]
    assert out["rows"][0] == rows[4], out["rows"][0]
    full = snapshot({"source": "TABLE_ROWS", "table": t})
    assert full["rowCount"] == 5, full
    time.sleep(0.01)
    cut = zh.now_ms()
    time.sleep(0.01)
    zh.expect_ok(zc(), "rec.update", {"module": t, "id": rows[1]["id"], "patch": {"n": 100}})
    since = snapshot({"source": "TABLE_ROWS", "table": t, "since": cut})
    assert [r["id"] for r in since["rows"]] == [rows[1]["id"]], since
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(cut // 1000)) + f".{cut % 1000:03d}Z"
    since_iso = snapshot({"source": "TABLE_ROWS", "table": t, "since": iso})
    assert since_iso["rows"] == since["rows"], since_iso
    again = snapshot({"source": "TABLE_ROWS", "table": t})
    assert again["sha256"] != full["sha256"]  # the rows changed, so does the digest


def test_evidence_org_members_are_keys_without_secrets():
    with admin() as a:
        made = zh.expect_ok(a, "key.create", {"tenant": "acme", "role": "viewer",
                                              "name": "auditor"})
        gone = zh.expect_ok(a, "key.revoke", {"id": made["id"]})
    out = snapshot({"source": "ORG_MEMBERS", "limit": 1000})
    by_id = {r["id"]: r for r in out["rows"]}
    for r in out["rows"]:
        assert set(r) <= {"id", "name", "role", "created_at", "revoked", "revoked_at"}, r
        assert isinstance(r["created_at"], int) and isinstance(r["revoked"], bool), r
    assert by_id[made["id"]] == {"id": made["id"], "name": "auditor", "role": "viewer",
                                 "created_at": made["created_at"], "revoked": True,
                                 "revoked_at": gone["revoked_at"]}, by_id
    assert made["created_at"] <= gone["revoked_at"] <= zh.now_ms()
    assert by_id[S["key_ids"]["acme"]]["role"] == "admin"
    assert S["key_ids"]["other"] not in by_id  # another tenant's keys are not members here
    created = [r["created_at"] for r in out["rows"]]
    assert created == sorted(created, reverse=True), created
    one = snapshot({"source": "ORG_MEMBERS", "limit": 1})
    assert one["rows"] == out["rows"][:1], one
    later = snapshot({"source": "ORG_MEMBERS", "since": made["created_at"] + 1})
    assert made["id"] not in [r["id"] for r in later["rows"]], later
    check_no_secrets(out, made["key"])


def test_evidence_security_events_keys_and_breaker_trips():
    start = zh.now_ms()
    with admin() as a:
        k = zh.expect_ok(a, "key.create", {"tenant": "acme", "role": "member", "name": "ci"})
        gone = zh.expect_ok(a, "key.revoke", {"id": k["id"]})
    bad = workflow([{"type": "table_operations",
                     "config": {"operation": "get", "table": "none", "row_id": "gone"}}],
                   error_handling={"breaker_threshold": 1})
    failed(run(bad["id"]))
    zh.wait_for(lambda: not zh.expect_ok(zc(), "wf.get", {"id": bad["id"]})["workflow"]["enabled"],
                10, what="the breaker to disable the workflow")
    out = snapshot({"source": "SECURITY_EVENTS", "limit": 1000})
    check_entries(out["rows"])
    by = {(r["action"], r["resource"]["id"]): r for r in out["rows"]}
    c = by[("api_key.created", k["id"])]
    assert c["at"] == k["created_at"] and c["resource"] == {"type": "api_key", "id": k["id"],
                                                            "name": "ci"}, c
    assert c["details"] == {"role": "member"}, c
    rv = by[("api_key.revoked", k["id"])]
    assert rv["at"] == gone["revoked_at"], rv
    d = by[("workflow.disabled", bad["id"])]
    assert d["resource"]["name"] == bad["name"] and d["at"] >= start, d
    assert d["details"]["reason"].startswith("circuit breaker"), d
    assert d["details"]["consecutive_failures"] == 1, d
    recent = snapshot({"source": "SECURITY_EVENTS", "since": start})
    check_entries(recent["rows"])
    assert all(r["at"] is not None and r["at"] >= start for r in recent["rows"]), recent
    got = {(r["action"], r["resource"]["id"]) for r in recent["rows"]}
    assert ("api_key.created", k["id"]) in got and ("workflow.disabled", bad["id"]) in got, got
    assert ("api_key.created", S["key_ids"]["acme"]) not in got  # made before start
    future = snapshot({"source": "SECURITY_EVENTS", "since": "2999-01-01T00:00:00Z"})
    assert future["rows"] == [] and future["rowCount"] == 0
    assert future["sha256"] == hashlib.sha256(b"[]").hexdigest()
    check_no_secrets(out, k["key"])
    theirs = snapshot({"source": "SECURITY_EVENTS", "limit": 1000}, tenant="other")
    assert not [r for r in theirs["rows"] if r["resource"]["id"] in (k["id"], bad["id"])]


def test_evidence_audit_logs_workflows_and_runs():
    start = zh.now_ms()
    wf = workflow([{"type": "set", "config": {"values": {"a": 1}}}])
    time.sleep(0.01)
    zh.expect_ok(zc(), "wf.update", {"id": wf["id"], "patch": {"description": "changed"}})
    done = run(wf["id"])
    assert done["run"]["status"] == "completed"
    ev = workflow([{"type": "evidence_snapshot",
                    "config": {"source": "AUDIT_LOGS", "since": start, "limit": 50}}])
    v = run(ev["id"])
    out = completed(v)["n1"]
    assert out["sha256"] == canonical_sha256(out["rows"])
    rows = out["rows"]
    check_entries(rows)
    by = {(r["action"], r["resource"]["id"]): r for r in rows}
    actor = S["key_ids"]["acme"]
    c = by[("workflow.created", wf["id"])]
    assert c["actor"] == actor and c["resource"] == {"type": "workflow", "id": wf["id"],
                                                     "name": wf["name"]}, c
    assert c["at"] == wf["created_at"], c
    u = by[("workflow.updated", wf["id"])]
    assert u["at"] > c["at"], u
    r = by[("run.completed", done["run"]["id"])]
    assert r["resource"] == {"type": "run", "id": done["run"]["id"], "name": wf["name"]}, r
    assert r["details"]["workflow_id"] == wf["id"] and r["details"]["status"] == "completed", r
    assert r["details"]["trigger"] == "manual" and r["details"]["finished_at"] >= r["at"], r
    assert r["actor"] == actor, r
    # the snapshot's own run, caught unfinished (its stored status: queued until a step ends)
    me = [x for x in rows if x["resource"]["id"] == v["run"]["id"]]
    assert len(me) == 1 and me[0]["action"] in ("run.queued", "run.running"), me
    me = me[0]
    assert me["details"]["workflow_id"] == ev["id"], me
    assert all(x["at"] >= start for x in rows), rows
    small = snapshot({"source": "AUDIT_LOGS", "limit": 2})
    assert small["rowCount"] == 2, small
    theirs = snapshot({"source": "AUDIT_LOGS", "limit": 1000}, tenant="other")
    ids = {x["resource"]["id"] for x in theirs["rows"]}
    assert wf["id"] not in ids and done["run"]["id"] not in ids, theirs


def test_evidence_collect_message_and_validation():
    ok, body = zc().call("evidence.collect", {"source": "ORG_MEMBERS", "limit": 1})
    assert ok and len(body["rows"]) == 1 and body["source"] == "ORG_MEMBERS", body
    for bad in ({"source": "TABLE_ROWS"}, {"source": "nope"}, {},
                {"source": "AUDIT_LOGS", "limit": 0}, {"source": "AUDIT_LOGS", "limit": 1001},
                {"source": "AUDIT_LOGS", "since": "yesterday"},
                {"source": "AUDIT_LOGS", "since": -1}):
        zh.expect_error(zc(), "evidence.collect", bad, "validation")
    with admin() as a:
        viewer = zh.expect_ok(a, "key.create", {"tenant": "acme", "role": "viewer"})["key"]
    zh.expect_error(zc(), "evidence.collect", {"source": "ORG_MEMBERS"}, "forbidden", key=viewer)
    zh.expect_error(zc(), "evidence.collect", {"source": "ORG_MEMBERS"}, "unauthorized",
                    key="zfk_" + "0" * 64)
    cases = [
        ({}, "config.source"),
        ({"source": "table_rows"}, "config.source"),
        ({"source": "TABLE_ROWS"}, "config.table"),
        ({"source": "AUDIT_LOGS", "limit": 1001}, "config.limit"),
        ({"source": "AUDIT_LOGS", "since": "last tuesday"}, "config.since"),
        ({"source": "AUDIT_LOGS", "since": -5}, "config.since"),
    ]
    for cfg, field in cases:
        msg = create_error([{"type": "evidence_snapshot", "config": cfg}])
        assert field in msg, (cfg, msg)


def check_no_secrets(obj, *extra_keys):
    """No plaintext key, key hash, or the words "hash"/"key" as fields anywhere."""
    zh.assert_no_secrets(obj, list(S["keys"].values()) + list(extra_keys))


def test_evidence_never_leaks_secrets_anywhere():
    v = run_nodes([{"type": "evidence_snapshot", "config": {"source": s, "limit": 1000}}
                   for s in ("ORG_MEMBERS", "SECURITY_EVENTS", "AUDIT_LOGS")])
    completed(v)
    check_no_secrets(outputs(v))
    text = json.dumps(v)
    for k in S["keys"].values():
        assert k not in text and hashlib.sha256(k.encode()).hexdigest() not in text


# ---------------------------------------------------------------- slack


def test_slack_posts_the_message():
    rec = S["rec"]
    cfg = {"webhook_url": rec.base + "/services/T000/B000/XXXX",
           "text": "Deal {{inputs.name}} closed", "channel": "#sales", "username": "zflow",
           "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*{{inputs.name}}*"}}]}
    v = run_nodes([{"type": "slack", "config": cfg}], {"name": "Zed"})
    out = completed(v)["n1"]
    assert out == {"status": 200, "ok": True}, out
    hits = rec.hits("/services/T000/B000/XXXX")
    assert len(hits) == 1, hits
    h = hits[0]
    assert h["method"] == "POST" and h["headers"]["content-type"] == "application/json", h
    assert h["json"] == {"text": "Deal Zed closed", "channel": "#sales", "username": "zflow",
                         "blocks": [{"type": "section",
                                     "text": {"type": "mrkdwn", "text": "*Zed*"}}]}, h
    assert h["headers"]["idempotency-key"] == f"{v['run']['id']}.n1", h
    minimal = run_nodes([{"type": "slack", "config": {"webhook_url": rec.base + "/min",
                                                      "text": "just text"}}])
    completed(minimal)
    assert rec.hits("/min")[0]["json"] == {"text": "just text"}


def test_slack_errors_final_and_retryable():
    sink = S["sink"]
    v = run_nodes([{"type": "slack", "config": {"webhook_url": sink.url("/hit/404"), "text": "x"},
                    "retry": {"max_attempts": 3, "initial_interval_ms": 50}}])
    err = failed(v)
    assert err["message"].startswith("slack: HTTP 404"), err
    assert sink.counts().get(f"{v['run']['id']}.n1") == 1  # a 4xx is not retried
    v = run_nodes([{"type": "slack", "config": {"webhook_url": sink.url("/hit/500"), "text": "x"},
                    "retry": {"max_attempts": 2, "initial_interval_ms": 50}}])
    err = failed(v)
    assert err["message"].startswith("slack: HTTP 500"), err
    assert sink.counts().get(f"{v['run']['id']}.n1") == 2  # retried once, same key
    v = run_nodes([{"type": "slack", "config": {"webhook_url": "http://10.255.255.1/hook",
                                                "text": "x"}}])
    err = failed(v)
    assert err["message"].startswith("slack: egress refused"), err
    assert "/hook" not in err["message"]  # the webhook URL (a secret) is not echoed
    assert len(attempts(v, "n1")) == 1, v["logs"]


def test_slack_validation():
    cases = [
        ({"text": "x"}, "config.webhook_url"),
        ({"webhook_url": "", "text": "x"}, "config.webhook_url"),
        ({"webhook_url": "ftp://hooks.slack.com/x", "text": "x"}, "config.webhook_url"),
        ({"webhook_url": "https://hooks.slack.com/services/x"}, "config.text"),
        ({"webhook_url": "https://hooks.slack.com/services/x", "text": ""}, "config.text"),
        ({"webhook_url": "https://hooks.slack.com/services/x", "text": "x", "channel": 5},
         "config.channel"),
        ({"webhook_url": "https://hooks.slack.com/services/x", "text": "x", "blocks": {}},
         "config.blocks"),
    ]
    for cfg, field in cases:
        msg = create_error([{"type": "slack", "config": cfg}])
        assert field in msg, (cfg, msg)
    v = run_nodes([{"type": "slack", "config": {"webhook_url": "{{inputs.url}}", "text": "x"}}],
                  {"url": "file:///etc/passwd"})
    assert "config.webhook_url" in failed(v)["message"]


# ---------------------------------------------------------------- main


def main():
    S["sink"], S["rec"] = zh.Sink(), Recorder()
    try:
        with zh.Server(["--rate-limit", "0", "--egress-allow", "127.0.0.1/32"]) as srv:
            S["srv"] = srv
            S["keys"], S["key_ids"] = {}, {}
            with admin() as a:
                for t in ("acme", "other"):
                    k = zh.expect_ok(a, "key.create", {"tenant": t, "role": "admin",
                                                       "name": f"{t}-admin"})
                    S["keys"][t], S["key_ids"][t] = k["key"], k["id"]
            S["zmq"] = {t: zh.Client(srv.api, k) for t, k in S["keys"].items()}
            try:
                rc = zh.run_tests(globals())
            finally:
                for c in S["zmq"].values():
                    c.close()
            assert srv.running(), srv.stderr()[-3000:]
        return rc
    finally:
        S["sink"].stop()
        S["rec"].stop()


if __name__ == "__main__":
    sys.exit(main())
