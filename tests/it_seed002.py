#!/usr/bin/python3
"""it_seed002 — the curl examples: every example of seed 002 (through
tests/seed002_curls.sh, verbatim but for host, key and example ids) and
every `sh` curl block of docs/api/v2.md, run with the real curl against a
real server, each answer checked for status and shape.

Ids: the seed's examples name ids that do not exist here. The test creates
the objects they stand for and the script substitutes them:
  a1b2c3d4-e5f6-7890-abcd-ef1234567890 -> "Weekly Sales Report", created here
      with the seed's input/output schema; its definition waits 10 minutes
      when inputs.date_range is LAST_MONTH (so the run that example 9 starts
      is still alive for the terminate example) and otherwise completes with
      {"report": ..., "email_sent": true} (one such run is made first, so the
      status=completed example has something to list);
  c3d4e5f6-a7b8-9012-cdef-345678901234 -> the workflow example 4 creates;
  e5f6a7b8-c9d0-1234-ef56-789012345678 -> the run example 9 starts;
  f6a7b8c9-d0e1-2345-f678-901234567890 -> the schedule example 13 creates.
The tenant is the seed's customer_id, 8f3a2b1c-4d5e-6f7a-8b9c-0d1e2f3a4b5c.

    ZFLOW_BIN=build/zflow /usr/bin/python3 tests/it_seed002.py
"""
import datetime as dt
import json
import os
import re
import subprocess
import sys
import zoneinfo

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import zf_harness as zh  # noqa: E402
from http_harness import (DEPLOY_DEF, RUN_VIEW, SCHEMA_IN, SCHEMA_OUT, V2, WF_VIEW, Http, check_run_view,  # noqa: E402
                          check_wf_view, create, execute, expect, get_run)

SCRIPT = os.path.join(HERE, "seed002_curls.sh")
SOURCE = os.environ.get("ZF_SOURCE_DIR") or os.path.join(HERE, "..")
SEED = os.environ.get("ZF_SEED") or os.path.join(SOURCE, "..", "shared", "seeds",
                                                  "002_6d682aed6a8fb33c.txt")
DOC = os.path.join(SOURCE, "docs", "api", "v2.md")
TENANT = "8f3a2b1c-4d5e-6f7a-8b9c-0d1e2f3a4b5c"
S = {}

EXEC_INPUTS = {"date_range": "LAST_MONTH", "recipients": ["ceo@company.com",
                                                          "sales-lead@company.com"]}


def script(*args, env=None):
    res = subprocess.run(["/bin/bash", SCRIPT] + [str(a) for a in args], capture_output=True,
                         text=True, timeout=120, env=dict(os.environ, **(env or {})))
    return res


def parse_out(text):
    """'=== example N' / body / '=== status NNN' -> (status, parsed body or raw text)."""
    lines = text.rstrip("\n").split("\n")
    assert lines[0].startswith("=== example"), text[:300]
    m = re.match(r"=== status (\d{3})$", lines[-1])
    assert m, f"no status line: {text[-300:]}"
    body = "\n".join(lines[1:-1]).strip()
    try:
        return int(m.group(1)), json.loads(body)
    except ValueError:
        return int(m.group(1)), body


def error_body(b, code):
    assert isinstance(b, dict) and set(b) == {"success", "error", "code"}, b
    assert b["success"] is False and b["code"] == code and b["error"], b


# ---------------------------------------------------------------- the seed's examples


def test_script_holds_the_seed_examples_verbatim():
    res = script("--count")
    assert res.returncode == 0 and res.stdout.strip() == "16", (res.stdout, res.stderr)
    if not os.path.exists(SEED):
        print(f"note: {SEED} not found; verbatim comparison skipped")
        return
    emb, ext = script("--embedded"), script("--extract", SEED)
    assert emb.returncode == 0 and ext.returncode == 0, (emb.stderr, ext.stderr)
    assert emb.stdout == ext.stdout, "seed002_curls.sh differs from the seed's curl examples"
    assert ext.stdout.count("\ncurl ") + ext.stdout.startswith("curl ") == 16


def test_seed_examples_against_a_server():
    srv, a = S["srv"], S["seed_api"]
    wf = create(a, name="Weekly Sales Report",
                description="Automated weekly sales report generation and distribution",
                definition={"nodes": [
                    {"id": "step_1", "type": "condition",
                     "config": {"field": "$.date_range", "operator": "equals",
                                "value": "LAST_MONTH", "on_false": "continue"}},
                    {"id": "step_2", "type": "delay", "input_from": "step_1",
                     "config": {"duration": 10, "unit": "minutes"}},
                    {"id": "step_3", "type": "set",
                     "config": {"values": {"report": "Weekly Sales Summary...",
                                           "email_sent": True}}}],
                    "inputs": SCHEMA_IN, "outputs": SCHEMA_OUT})
    old = create(a, name="Old Report")
    expect(a.patch(f"{V2}/{old['id']}", {"status": "archived"}), 200)
    done = execute(a, wf["id"], {"date_range": "LAST_WEEK"}, wait=True)
    assert done["status"] == "completed", done
    env = {"ZF_BASE": srv.http, "ZF_KEY": S["seed_key"], "ZF_WF_ID": wf["id"]}

    def ex(n):
        res = script(n, env=env)
        assert res.returncode == 0, f"example {n}: exit {res.returncode}: {res.stderr}"
        return parse_out(res.stdout)

    st, b = ex(1)  # GET /health
    assert st == 200 and set(b) == {"status", "service", "version", "timestamp"}, (st, b)
    assert (b["status"], b["service"], b["version"]) == ("ok", "workflows-api-v2", "2.0.0")
    st, b = ex(2)  # POST /parse
    assert st == 501, (st, b)
    error_body(b, "not_implemented")
    st, b = ex(3)  # GET ?status=active&limit=10
    assert st == 200 and set(b) == {"success", "workflows", "count"}, (st, b)
    assert b["count"] == len(b["workflows"]) == 1, b
    w = check_wf_view(b["workflows"][0], definition_as_text=True)
    assert w["id"] == wf["id"] and w["customer_id"] == TENANT and w["status"] == "active", w
    st, b = ex(4)  # POST / (Deploy Notification)
    assert st == 201 and set(b) == {"success", "workflow"}, (st, b)
    nw = check_wf_view(b["workflow"])
    assert (nw["name"], nw["description"]) == (
        "Deploy Notification", "Notify the team when a deployment completes"), nw
    assert nw["definition"] == DEPLOY_DEF, nw["definition"]
    assert (nw["version"], nw["status"], nw["customer_id"]) == ("1.0.0", "active", TENANT), nw
    env["ZF_NEW_WF_ID"] = nw["id"]
    st, b = ex(5)  # GET /:id
    assert st == 200 and b["workflow"] == wf, (st, b, wf)
    st, b = ex(6)  # PATCH /:id
    assert st == 200 and set(b) == {"success", "workflow"}, (st, b)
    p = check_wf_view(b["workflow"])
    assert p["name"] == "Weekly Sales & Marketing Report" and p["status"] == "active", p
    assert p["definition"] == wf["definition"] and p["description"] == wf["description"], p
    st, b = ex(7)  # DELETE /:id (the workflow example 4 created)
    assert (st, b) == (200, {"success": True, "message": "Workflow deleted successfully"}), b
    expect(a.get(f"{V2}/{nw['id']}"), 404, "not_found")
    st, b = ex(8)  # GET /:id/schema
    assert (st, b) == (200, {"success": True, "schema": {"inputs": SCHEMA_IN,
                                                         "outputs": SCHEMA_OUT}}), (st, b)
    st, b = ex(9)  # POST /:id/execute
    assert st == 201 and set(b) == {"success", "run"}, (st, b)
    r = check_run_view(b["run"])
    assert (r["workflow_id"], r["customer_id"], r["inputs"]) == (wf["id"], TENANT, EXEC_INPUTS)
    assert r["status"] in ("queued", "running"), r
    assert r["outputs"] is None and r["error"] is None, r
    env["ZF_RUN_ID"] = r["id"]
    st, b = ex(10)  # GET /:id/runs?status=completed&limit=5
    assert st == 200 and set(b) == {"success", "runs", "count"}, (st, b)
    assert [x["id"] for x in b["runs"]] == [done["id"]] and b["count"] == 1, b
    assert b["runs"][0]["outputs"]["report"] == "Weekly Sales Summary...", b
    assert b["runs"][0]["outputs"]["email_sent"] is True, b
    st, b = ex(11)  # GET /:id/runs/:runId
    assert st == 200 and set(b) == {"success", "run"}, (st, b)
    g = check_run_view(b["run"])
    assert g["id"] == r["id"] and g["inputs"] == EXEC_INPUTS, g
    assert g["status"] in ("queued", "running", "waiting"), g
    st, b = ex(12)  # DELETE /:id/runs/:runId
    assert (st, b) == (200, {"success": True,
                             "message": "Workflow run terminated successfully"}), (st, b)
    assert get_run(a, wf["id"], r["id"])["status"] == "terminated"
    check_seed_schedule_examples(ex, env, wf["id"])


SEED_SCHEDULE = {"cron_expression": "0 9 * * 1", "timezone": "America/New_York",
                 "inputs": {"date_range": "LAST_WEEK"},
                 "missed_execution_policy": "run_immediately", "enabled": True}
# The keys of the seed's documented schedule answers (zflow adds last_run_at
# and updated_at to create, and the rest of the record to list and patch).
SEED_CREATE_KEYS = {"id", "workflow_id", "cron_expression", "timezone", "inputs",
                    "missed_execution_policy", "enabled", "next_run_at", "created_by",
                    "created_at"}
SCHED_VIEW = SEED_CREATE_KEYS | {"last_run_at", "updated_at"}


def next_is(iso, weekdays, now=None):
    """iso is the first 09:00 America/New_York on one of weekdays (0 = Monday) after now."""
    ny = zoneinfo.ZoneInfo("America/New_York")
    t = dt.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)
    now = now or dt.datetime.now(dt.timezone.utc)
    loc = t.astimezone(ny)
    assert loc.weekday() in weekdays and (loc.hour, loc.minute, loc.second) == (9, 0, 0), iso
    assert now < t <= now + dt.timedelta(days=7, hours=1), (iso, now)


def check_seed_schedule_examples(ex, env, wf_id):
    st, b = ex(13)  # POST /:id/schedules
    assert st == 201 and set(b) == {"success", "schedule"}, (st, b)
    sc = b["schedule"]
    assert set(sc) == SCHED_VIEW, sorted(sc)
    assert {k: sc[k] for k in SEED_SCHEDULE} == SEED_SCHEDULE, sc
    assert sc["workflow_id"] == wf_id and sc["last_run_at"] is None, sc
    next_is(sc["next_run_at"], (0,))
    env["ZF_SCHEDULE_ID"] = sc["id"]
    st, b = ex(14)  # GET /:id/schedules
    assert (st, b) == (200, {"success": True, "schedules": [sc], "count": 1}), (st, b)
    st, b = ex(15)  # PATCH /:id/schedules/:scheduleId
    assert st == 200 and set(b) == {"success", "schedule"}, (st, b)
    p = b["schedule"]
    assert set(p) == SCHED_VIEW and p["id"] == sc["id"], p
    assert (p["cron_expression"], p["enabled"], p["inputs"]) == (
        "0 9 * * 1,4", True, SEED_SCHEDULE["inputs"]), p
    next_is(p["next_run_at"], (0, 3))
    st, b = ex(16)  # DELETE /:id/schedules/:scheduleId
    assert (st, b) == (200, {"success": True, "message": "Schedule deleted successfully"}), b
    st, b = ex(14)
    assert (st, b) == (200, {"success": True, "schedules": [], "count": 0}), (st, b)
    st, b = ex(16)  # again: it is gone
    assert st == 404, (st, b)
    error_body(b, "not_found")


def test_seed_script_runs_all_in_one_go():
    """The script's own mode for humans: no ids but the workflow's, all 16 in order."""
    key = zh.create_key(S["srv"].data, "seed-all", "owner")  # a tenant of its own
    with Http(S["srv"].http, key) as a:
        wf = create(a, name="Weekly Sales Report", definition={"nodes": [
            {"id": "hold", "type": "delay", "config": {"duration": 10, "unit": "minutes"}}]})
    res = script(env={"ZF_BASE": S["srv"].http, "ZF_KEY": key, "ZF_WF_ID": wf["id"]})
    assert res.returncode == 0, res.stderr
    statuses = [int(x) for x in re.findall(r"^=== status (\d{3})$", res.stdout, re.M)]
    # 12: the run of example 9 waits at the delay, so terminating it succeeds.
    assert statuses == [200, 501, 200, 201, 200, 200, 200, 200, 201, 200, 200, 200,
                        201, 200, 200, 200], (statuses, res.stdout[-2000:])


# ---------------------------------------------------------------- the doc's examples


def doc_examples():
    """[(sh block, documented status, documented JSON)] of docs/api/v2.md, in order."""
    text = open(DOC, encoding="utf-8").read()
    out = []
    for m in re.finditer(r"^```sh\n(.*?)^```\n", text, re.M | re.S):
        block = m.group(1)
        if not block.startswith("curl"):
            continue
        nxt = text.find("\n```sh\n", m.end())
        tail = text[m.end():nxt if nxt >= 0 else len(text)]
        st = re.search(r"^Response `(\d{3})`:", tail, re.M)
        js = re.search(r"^```json\n(.*?)^```\n", tail, re.M | re.S)
        assert st and js, f"no Response/json after:\n{block}"
        out.append((block, int(st.group(1)), json.loads(js.group(1))))
    return out


def same_shape(doc, got, where="body"):
    assert isinstance(got, dict), f"{where}: not an object: {got!r}"
    assert set(got) == set(doc), f"{where}: keys {sorted(got)} != documented {sorted(doc)}"
    for k in ("workflow", "run", "schedule"):
        if isinstance(doc.get(k), dict):
            same_shape(doc[k], got[k], f"{where}.{k}")
    for k in ("workflows", "runs", "schedules"):
        if isinstance(doc.get(k), list) and doc[k] and got[k]:
            same_shape(doc[k][0], got[k][0], f"{where}.{k}[0]")
    if "code" in doc:
        assert got["code"] == doc["code"], f"{where}: code {got['code']} != {doc['code']}"
    if "message" in doc:
        assert got["message"] == doc["message"], (where, got)
    if "workflow" in got:
        assert set(got["workflow"]) == set(WF_VIEW)
    if "run" in got:
        assert set(got["run"]) == set(RUN_VIEW)


def test_docs_curl_examples():
    examples = doc_examples()
    assert len(examples) >= 20, len(examples)
    srv = S["srv"]
    env = dict(os.environ, BASE=srv.http, KEY=S["doc_key"], VIEWER_KEY=S["doc_viewer"])
    wrapper = "curl() { command curl -sS --max-time 60 -w '\\n=== status %{http_code}\\n' \"$@\"; }\n"
    for i, (block, status, doc) in enumerate(examples):
        res = subprocess.run(["/bin/bash", "-c", wrapper + "echo '=== example'\n" + block],
                             capture_output=True, text=True, timeout=120, env=env)
        assert res.returncode == 0, f"doc example {i} failed: {res.stderr}\n{block}"
        st, body = parse_out(res.stdout)
        assert st == status, f"doc example {i}: status {st} != documented {status}\n{block}\n{body}"
        same_shape(doc, body, f"doc example {i}")
        if st == 201 and isinstance(body, dict):
            if "workflow" in body and "WF_ID" not in env:
                env["WF_ID"] = body["workflow"]["id"]
            if "run" in body and "RUN_ID" not in env:
                env["RUN_ID"] = body["run"]["id"]
            if "schedule" in body and "SCHEDULE_ID" not in env:
                env["SCHEDULE_ID"] = body["schedule"]["id"]
    assert "WF_ID" in env and "RUN_ID" in env and "SCHEDULE_ID" in env


# ---------------------------------------------------------------- main


def main():
    with zh.Server() as srv:
        S["srv"] = srv
        S["seed_key"] = zh.create_key(srv.data, TENANT, "owner")
        S["doc_key"] = zh.create_key(srv.data, "acme", "admin")
        S["doc_viewer"] = zh.create_key(srv.data, "acme", "viewer")
        S["seed_api"] = Http(srv.http, zh.create_key(srv.data, TENANT, "admin"))
        try:
            return zh.run_tests(globals())
        finally:
            S["seed_api"].close()


if __name__ == "__main__":
    sys.exit(main())
