#!/usr/bin/python3
"""it_http_v2 — the seed 002 Workflows v2 REST API, black-box over HTTP:
every route, every error path (bad JSON, wrong types, missing fields,
unknown, malformed and cross-tenant ids), roles, the zmq API and v2 seeing
the same workflows, and the seed's node types (integration http.request
against tests/http_sink.py, unconfigured connectors, agent, condition on
$.path). One server for the file (--rate-limit 0: the rate limiter has its
own test in it_http_limits.py).

    ZFLOW_BIN=build/zflow /usr/bin/python3 tests/it_http_v2.py   (ZF_TEST=substr for a subset)
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zf_harness as zh  # noqa: E402
from http_harness import (DEPLOY_DEF, SCHEMA_IN, SCHEMA_OUT, V2, Http, check_iso, check_run_view, check_wf_view,  # noqa: E402
                          create, delay_node, execute, expect, expect_status_in, fake_id,
                          get_run, set_node, uniq, wait_run, wf_body)

S = {}  # server, sink, keys, HTTP clients (filled in main)

SALES_DEF = {  # the seed's "Weekly Sales Report" definition (GET example), verbatim
    "nodes": [
        {"id": "step_1", "type": "integration", "action": "salesforce.query"},
        {"id": "step_2", "type": "agent", "action": "generate_report", "input_from": "step_1"},
        {"id": "step_3", "type": "integration", "action": "email.send", "input_from": "step_2"},
    ],
    "inputs": {}, "outputs": {},
}
BAD_JSON = ["{", '{"name":', "nul", "{'a': 1}", '{"a":1} trailing', '{"a":1,}', "\x00"]
NOT_OBJECT = ["[]", "[1,2]", '"text"', "42", "null", "true"]


def api(role="admin", tenant="A"):
    return S["http"][(tenant, role)]


def anon():
    return S["anon"]


def ms_to_iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def mode_wf(a=None):
    """A workflow whose runs end according to inputs.mode: "slow" waits (60 s
    delay), "fail" fails (egress-refused http_request), anything else completes."""
    return create(a or api(), nodes=[
        {"id": "c_slow", "type": "condition",
         "config": {"field": "$.mode", "operator": "equals", "value": "slow",
                    "on_false": "continue"}},
        dict(delay_node("d"), input_from="c_slow"),
        {"id": "c_fail", "type": "condition",
         "config": {"field": "$.mode", "operator": "equals", "value": "fail",
                    "on_false": "continue"}},
        {"id": "f", "type": "http_request", "input_from": "c_fail",
         "config": {"url": "http://10.255.255.1/refused"}, "retry": {"max_attempts": 1}},
        set_node("s", done=True)])


def run_mode(wf_id, mode, a=None):
    r = execute(a or api(), wf_id, {"mode": mode}, wait=True)
    want = {"slow": "waiting", "fail": "failed"}.get(mode, "completed")
    assert r["status"] == want, r
    return r


def list_names(a, query=""):
    b = expect(a.get(V2 + (query + "&" if query else "?") + "limit=500"), 200)
    assert b["count"] == len(b["workflows"]), b
    return [w["name"] for w in b["workflows"]]


# ---------------------------------------------------------------- health, parse, schedules


def test_health_is_public():
    for key in (None, "garbage-token"):
        r = anon().get(V2 + "/health", key=key)
        b = r.json
        assert r.status == 200, r
        assert set(b) == {"status", "service", "version", "timestamp"}, b
        assert (b["status"], b["service"], b["version"]) == ("ok", "workflows-api-v2", "2.0.0"), b
        check_iso(b["timestamp"])
        assert r.h("X-Request-Id"), r.header_items
        assert "application/json" in (r.h("Content-Type") or ""), r.header_items


def test_parse_answers_501_and_schedules_work_after_auth():
    """/parse is still 501 after authentication; schedules work (tests/it_schedules.py)."""
    wf = create(api())
    sid = fake_id()
    parse = ("POST", V2 + "/parse", {"instruction": "Every Monday at 9am, email the team."})
    expect(anon().request(*parse), 401, "unauthorized")
    b = expect(api("owner").request(*parse), 501, "not_implemented")
    assert "not available yet" in b["error"], b
    routes = [("GET", f"{V2}/{wf['id']}/schedules", None, 200),
              ("POST", f"{V2}/{wf['id']}/schedules", {"cron_expression": "0 9 * * 1"}, 201),
              ("PATCH", f"{V2}/{wf['id']}/schedules/{sid}", {"enabled": True}, 404),
              ("DELETE", f"{V2}/{wf['id']}/schedules/{sid}", None, 404)]
    for method, path, body, status in routes:
        expect(anon().request(method, path, body), 401, "unauthorized")
        expect(api("owner").request(method, path, body), status)
    (sc,) = expect(api().get(f"{V2}/{wf['id']}/schedules"), 200)["schedules"]
    assert sc["cron_expression"] == "0 9 * * 1" and sc["timezone"] == "UTC", sc
    assert expect(api("owner").delete(f"{V2}/{wf['id']}/schedules/{sc['id']}"), 200)


# ---------------------------------------------------------------- create / get


def test_create_returns_the_seed_shape_and_get_matches():
    body = {"name": uniq("Deploy Notification"),
            "description": "Notify the team when a deployment completes",
            "definition": DEPLOY_DEF}
    r = api().post(V2, body)
    w = check_wf_view(expect(r, 201)["workflow"])
    assert set(r.json) == {"success", "workflow"}, r.json
    assert w["name"] == body["name"] and w["description"] == body["description"], w
    assert w["definition"] == DEPLOY_DEF, w["definition"]
    assert (w["version"], w["status"], w["customer_id"]) == ("1.0.0", "active", "A"), w
    g = expect(api("viewer").get(f"{V2}/{w['id']}"), 200)
    assert set(g) == {"success", "workflow"} and g["workflow"] == w, (g, w)
    # The seed's agent/integration definition is accepted too; version kept when given.
    w2 = create(api(), definition=SALES_DEF, version="2.3.4", description="sales")
    assert w2["definition"] == SALES_DEF and w2["version"] == "2.3.4", w2


def test_create_ignores_unknown_fields_and_body_tenant():
    w = create(api(), foo=1, customer_id="B", created_by="mallory", id="my-own-id")
    assert w["customer_id"] == "A" and w["created_by"] != "mallory" and w["id"] != "my-own-id", w
    expect(api("admin", "B").get(f"{V2}/{w['id']}"), 404, "not_found")


def test_create_validation_errors():
    ok_def = {"nodes": [set_node("s1", x=1)]}
    n = uniq("bad")
    bad = [
        {},
        {"definition": ok_def},
        {"name": None, "definition": ok_def},
        {"name": 5, "definition": ok_def},
        {"name": "", "definition": ok_def},
        {"name": "x" * 201, "definition": ok_def},
        {"name": ["a"], "definition": ok_def},
        {"name": n},
        {"name": n, "definition": None},
        {"name": n, "definition": "{\"nodes\": []}"},
        {"name": n, "definition": []},
        {"name": n, "definition": {}},
        {"name": n, "definition": {"nodes": "x"}},
        {"name": n, "definition": {"nodes": {}}},
        {"name": n, "definition": ok_def, "description": 5},
        {"name": n, "definition": ok_def, "version": 1},
        {"name": n, "definition": ok_def, "version": "1" * 65},
        {"name": n, "definition": ok_def, "description": "d" * 10001},
        {"name": n, "definition": {"nodes": [{"id": "s1"}]}},
        {"name": n, "definition": {"nodes": [{"type": "set"}]}},
        {"name": n, "definition": {"nodes": [{"id": "s1", "type": "bogus_kind"}]}},
        {"name": n, "definition": {"nodes": [set_node("s1", x=1), set_node("s1", x=2)]}},
        {"name": n, "definition": {"nodes": [dict(set_node("s2", x=1), input_from="zz")]}},
    ]
    for body in bad:
        b = expect(api().post(V2, body), 400, "validation")
        if "bogus_kind" in json.dumps(body):
            assert "bogus_kind" in b["error"] or "s1" in b["error"], b
    # a template that cannot render is refused at creation, naming where
    for tpl, says in (("{{ secrets.key }}", "unknown variable 'secrets'"),
                      ("{{ vars.x | nope }}", "unknown filter 'nope'"),
                      ("a {{ vars.x", "unterminated"), ("{{ }}", "offset")):
        node = {"id": "h1", "type": "http_request",
                "config": {"method": "POST", "url": "https://example.test/x",
                           "body": {"deep": [tpl]}}}
        b = expect(api().post(V2, {"name": n, "definition": {"nodes": [node]}}), 400, "validation")
        assert "h1" in b["error"] and "config.body.deep[0]" in b["error"] and says in b["error"], b
    for body in BAD_JSON + NOT_OBJECT + [""]:
        expect(api().post(V2, body), 400, "validation")
    assert n not in list_names(api()), "a rejected create left a workflow behind"
    # 200 characters is still a valid name.
    create(api(), name="n" * 190 + uniq("")[1:])


def test_name_limit_counts_characters_not_bytes():
    # protocol.md: "1..200 characters": 200 two-byte characters are fine, 201 are not.
    w = create(api(), name="\u00e9" * 190 + uniq("")[1:])
    assert len(w["name"]) == 200, w
    expect(api().post(V2, wf_body("\u00e9" * 201)), 400, "validation")
    p = expect(api().patch(f"{V2}/{w['id']}", {"name": "\u65e5" * 200}), 200)["workflow"]
    assert p["name"] == "\u65e5" * 200, p


def test_duplicate_name_is_409_per_tenant():
    name = uniq("dup")
    w = create(api(), name=name)
    b = expect(api().post(V2, wf_body(name)), 409, "conflict")
    assert name in b["error"] or "exists" in b["error"], b
    assert list_names(api()).count(name) == 1
    wb = create(api("admin", "B"), name=name)  # another tenant may use the name
    assert wb["id"] != w["id"] and wb["customer_id"] == "B", wb
    # the message keeps the name's accents and emoji; bidi controls and
    # control characters in it are masked
    fancy = uniq("Café ☕ 😀 \u202eevil")
    create(api(), name=fancy)
    b = expect(api().post(V2, wf_body(fancy)), 409, "conflict")
    assert "Café ☕ 😀 ?evil" in b["error"], b


# ---------------------------------------------------------------- list


def test_list_status_limit_offset_newest_first():
    a = api("admin", "L")
    ws = [create(a, name=f"L{i}-{uniq()}") for i in range(5)]
    for i in (1, 3):
        expect(a.patch(f"{V2}/{ws[i]['id']}", {"status": "archived"}), 200)
    r = a.get(V2)
    b = expect(r, 200)
    assert set(b) == {"success", "workflows", "count"}, b
    assert [w["id"] for w in b["workflows"]] == [w["id"] for w in reversed(ws)], b
    assert b["count"] == 5, b
    by_id = {w["id"]: w for w in ws}
    for w in b["workflows"]:
        check_wf_view(w, definition_as_text=True)
        assert json.loads(w["definition"]) == by_id[w["id"]]["definition"], w
        assert w["customer_id"] == "L", w

    def ids(query):
        got = expect(a.get(V2 + query), 200)
        assert got["count"] == len(got["workflows"]), got
        return [ws.index(next(x for x in ws if x["id"] == w["id"])) for w in got["workflows"]]

    assert ids("?status=active") == [4, 2, 0]
    assert ids("?status=archived") == [3, 1]
    assert ids("?limit=2") == [4, 3]
    assert ids("?limit=2&offset=2") == [2, 1]
    assert ids("?offset=4") == [0]
    assert ids("?offset=5") == []
    assert ids("?status=active&limit=1&offset=1") == [2]
    assert ids("?status=archived&limit=10") == [3, 1]
    for q in ("?limit=abc", "?limit=-1", "?limit=501", "?offset=-1", "?offset=x", "?limit=1.5",
              "?limit=%00", "?offset=%00", "?limit=1%00", "?limit=", "?limit=+1", "?limit=%201",
              "?status=" + "X" * 40, "?status=active%00", "?limit=" + "1" * 40):
        expect(a.get(V2 + q), 400, "validation")  # a filter is never dropped as if absent
    r = a.get(V2 + "?status=bogus")  # an unknown status is an error or matches nothing
    if r.status == 200:
        assert r.json["workflows"] == [] and r.json["count"] == 0, r
    else:
        expect(r, 400, "validation")


def test_list_default_limit_is_50():
    a = api("admin", "P")
    for i in range(52):
        expect(a.post(V2, wf_body(f"P{i:02d}")), 201)
    b = expect(a.get(V2), 200)
    assert len(b["workflows"]) == 50 and b["count"] == 50, (len(b["workflows"]), b["count"])
    assert b["workflows"][0]["name"] == "P51" and b["workflows"][-1]["name"] == "P02"
    b = expect(a.get(V2 + "?offset=50"), 200)
    assert [w["name"] for w in b["workflows"]] == ["P01", "P00"], b


# ---------------------------------------------------------------- patch


def test_patch_updates_fields():
    w = create(api(), description="before", definition={"nodes": [set_node("s1", x=1)]})
    time.sleep(0.002)  # updated_at has millisecond resolution
    new_def = {"nodes": [set_node("s1", x=2), set_node("s2", y=3)], "inputs": {"a": 1}}
    name = uniq("renamed")
    r = api().patch(f"{V2}/{w['id']}", {"name": name, "description": "after", "version": "1.1.0",
                                          "definition": new_def, "ignored": True})
    p = check_wf_view(expect(r, 200)["workflow"])
    assert set(r.json) == {"success", "workflow"}, r.json
    assert (p["name"], p["description"], p["version"]) == (name, "after", "1.1.0"), p
    assert p["definition"] == new_def and p["status"] == "active", p
    assert (p["id"], p["created_at"], p["created_by"]) == (w["id"], w["created_at"], w["created_by"])
    assert p["updated_at"] > w["updated_at"], (p, w)
    assert expect(api().get(f"{V2}/{w['id']}"), 200)["workflow"] == p
    # Only one field: the others stay.
    q = expect(api().patch(f"{V2}/{w['id']}", {"description": "again"}), 200)["workflow"]
    assert q["description"] == "again" and q["name"] == name and q["definition"] == new_def, q
    # null clears it back to what a create without one gives: null, not ""
    c = expect(api().patch(f"{V2}/{w['id']}", {"description": None}), 200)["workflow"]
    assert c["description"] is None and create(api())["description"] is None, c
    assert expect(api().get(f"{V2}/{w['id']}"), 200)["workflow"]["description"] is None


def test_patch_validation_errors():
    w = create(api())
    other = create(api())
    path = f"{V2}/{w['id']}"
    for body in ({}, {"foo": 1}, {"id": fake_id()}, {"status": "paused"}, {"status": "draft"},
                 {"status": "deleted"}, {"status": 1}, {"status": None}, {"name": 5},
                 {"name": ""}, {"name": "x" * 201}, {"description": 5}, {"version": 3},
                 {"definition": "x"}, {"definition": {}}, {"definition": {"nodes": 3}},
                 {"definition": {"nodes": [{"id": "n", "type": "bogus_kind"}]}}):
        expect(api().patch(path, body), 400, "validation")
    for body in BAD_JSON + NOT_OBJECT + [""]:
        expect(api().patch(path, body), 400, "validation")
    b = expect(api().patch(path, {"name": other["name"]}), 409, "conflict")
    assert b["success"] is False
    assert expect(api().get(path), 200)["workflow"] == w, "a rejected PATCH changed the workflow"
    expect(api().patch(f"{V2}/{fake_id()}", {"name": uniq()}), 404, "not_found")


def test_numbers_come_back_as_sent():
    """Reals are written with the fewest digits (15 to 17, one precision per
    answer: jansson's) at which every real of the answer reads back exactly:
    0.1 is 0.1 (the default wrote 0.10000000000000001); an answer holding a
    value that needs 17 digits gets 17 for all, still exact."""
    w = create(api())

    def raw_inputs(nums):
        run = execute(api(), w["id"], nums, wait=True)
        text = api().get(f"{V2}/{w['id']}/runs/{run['id']}").raw.decode()
        assert json.loads(text)["run"]["inputs"] == nums, text
        return text

    text = raw_inputs({"a": 0.1, "b": 1e-7, "c": 2.5, "e": 123456.789, "f": -0.7})
    for shown in ('"a":0.1,', '"b":1e-7,', '"c":2.5,', '"e":123456.789,', '"f":-0.7}'):
        assert shown in text, (shown, text)
    text = raw_inputs({"a": 0.1, "d": 0.30000000000000004})
    assert "0.30000000000000004" in text, text


def test_archive_blocks_execute_and_active_restores():
    w = create(api())
    path = f"{V2}/{w['id']}"
    a = expect(api().patch(path, {"status": "archived"}), 200)["workflow"]
    assert a["status"] == "archived", a
    assert w["name"] in list_names(api(), "?status=archived")
    b = expect(api().post(path + "/execute", {"inputs": {}}), 400)
    assert "archived" in b["error"].lower(), b
    assert expect(api().get(path + "/runs"), 200)["count"] == 0
    expect(api().patch(path, {"status": "active"}), 200)
    run = execute(api(), w["id"], wait=True)
    assert run["status"] == "completed", run


def test_disabled_workflow_cannot_execute():
    """The breaker (here after 1 failed run) disables a workflow: execute -> 400 saying so."""
    zw = zh.expect_ok(S["zmq"], "wf.create", {"workflow": {
        "name": uniq("breaker"), "error_handling": {"breaker_threshold": 1},
        "definition": {"nodes": [{"id": "f", "type": "http_request",
                                  "config": {"url": "http://10.255.255.1/refused"},
                                  "retry": {"max_attempts": 1}}]}}})["workflow"]
    assert execute(api(), zw["id"], wait=True)["status"] == "failed"
    zh.wait_for(lambda: not zh.expect_ok(S["zmq"], "wf.get", {"id": zw["id"]})["workflow"][
        "enabled"], timeout=5, what="workflow disabled")
    b = expect(api().post(f"{V2}/{zw['id']}/execute", {}), 400)
    assert "disabled" in b["error"].lower(), b
    assert expect(api().get(f"{V2}/{zw['id']}/runs"), 200)["count"] == 1


# ---------------------------------------------------------------- delete


def test_delete_cascades_runs():
    w = mode_wf()
    done = run_mode(w["id"], "ok")
    waiting = run_mode(w["id"], "slow")
    path = f"{V2}/{w['id']}"
    expect(api("member").delete(path), 403, "forbidden")
    r = api().delete(path)
    assert r.status == 200 and r.json == {"success": True,
                                          "message": "Workflow deleted successfully"}, r
    expect(api().get(path), 404, "not_found")
    expect(api().get(path + "/runs"), 404, "not_found")
    expect(api().get(path + "/schema"), 404, "not_found")
    for run in (done, waiting):
        expect(api().get(f"{path}/runs/{run['id']}"), 404, "not_found")
        zh.expect_error(S["zmq"], "run.get", {"id": run["id"]}, "not_found")
    expect(api().delete(path), 404, "not_found")
    assert w["name"] not in list_names(api())


# ---------------------------------------------------------------- schema


def test_schema_from_definition():
    w = create(api(), definition={"nodes": [set_node("s1", x=1)], "inputs": SCHEMA_IN,
                                  "outputs": SCHEMA_OUT})
    r = api("viewer").get(f"{V2}/{w['id']}/schema")
    assert r.status == 200 and r.json == {"success": True, "schema": {
        "inputs": SCHEMA_IN, "outputs": SCHEMA_OUT}}, r
    bare = create(api())
    r = api().get(f"{V2}/{bare['id']}/schema")
    assert r.status == 200 and r.json == {"success": True,
                                          "schema": {"inputs": {}, "outputs": {}}}, r
    expect(api().get(f"{V2}/{fake_id()}/schema"), 404, "not_found")


# ---------------------------------------------------------------- execute, runs


def test_execute_inputs_default_and_run_view():
    w = create(api(), nodes=[set_node("s1", x=1, who="$inputs.who")])
    for body, want in ((None, {}), ({}, {}), ({"inputs": {}}, {}),
                       ({"inputs": {"who": "ann", "n": [1, 2]}}, {"who": "ann", "n": [1, 2]})):
        r = api("member").post(f"{V2}/{w['id']}/execute", body)
        b = expect(r, 201)
        assert set(b) == {"success", "run"}, b
        run = check_run_view(b["run"])
        assert run["inputs"] == want, (body, run)
        assert run["status"] in ("queued", "running"), run
        assert (run["workflow_id"], run["customer_id"]) == (w["id"], "A"), run
        assert run["outputs"] is None and run["error"] is None and run["finished_at"] is None, run
        done = wait_run(api(), w["id"], run["id"], "completed")
        check_iso(done["started_at"])
        check_iso(done["finished_at"])
        assert done["outputs"]["x"] == 1 and done["inputs"] == want, done
        assert done["outputs"]["who"] == want.get("who"), done
    waited = execute(api(), w["id"], {"who": "bo"}, wait=True)
    assert waited["status"] == "completed" and waited["outputs"]["who"] == "bo", waited
    assert waited["finished_at"] >= waited["started_at"], waited


def test_execute_errors():
    w = create(api())
    path = f"{V2}/{w['id']}/execute"
    for body in ({"inputs": []}, {"inputs": "x"}, {"inputs": 5}, {"inputs": True}):
        expect(api().post(path, body), 400, "validation")
    for body in BAD_JSON + NOT_OBJECT:
        expect(api().post(path, body), 400, "validation")
    expect(api().post(f"{V2}/{fake_id()}/execute", {}), 404, "not_found")
    expect(api().post(f"{V2}/not-an-id/execute", {}), 404, "not_found")
    assert expect(api().get(f"{V2}/{w['id']}/runs"), 200)["count"] == 0


def test_runs_list_newest_first_with_filters():
    w = mode_wf()
    runs = [run_mode(w["id"], m) for m in ("ok", "fail", "slow", "ok", "slow")]
    expect(api().delete(f"{V2}/{w['id']}/runs/{runs[4]['id']}"), 200)
    path = f"{V2}/{w['id']}/runs"
    b = expect(api("viewer").get(path), 200)
    assert set(b) == {"success", "runs", "count"}, b
    assert [r["id"] for r in b["runs"]] == [r["id"] for r in reversed(runs)], b
    assert b["count"] == 5
    for r in b["runs"]:
        check_run_view(r)
    by_id = {r["id"]: r for r in b["runs"]}
    assert "egress" in by_id[runs[1]["id"]]["error"].lower(), by_id[runs[1]["id"]]
    assert by_id[runs[1]["id"]]["status"] == "failed"
    assert by_id[runs[0]["id"]]["outputs"]["done"] is True

    def idx(query):
        got = expect(api().get(path + query), 200)
        assert got["count"] == len(got["runs"]), got
        return [[r["id"] for r in runs].index(x["id"]) for x in got["runs"]]

    assert idx("?status=completed") == [3, 0]
    assert idx("?status=failed") == [1]
    assert idx("?status=terminated") == [4]
    assert idx("?status=waiting") == [2]
    assert idx("?status=running") == []
    assert idx("?limit=2") == [4, 3]
    assert idx("?limit=2&offset=2") == [2, 1]
    assert idx("?offset=4") == [0]
    assert idx("?status=completed&limit=1&offset=1") == [0]
    for q in ("?limit=abc", "?limit=-1", "?limit=501", "?offset=-3", "?limit=%00",
              "?status=" + "X" * 40, "?status=completed%00"):
        expect(api().get(path + q), 400, "validation")
    r = api().get(path + "?status=cancelled")  # the core name: an alias at most
    if r.status == 200:
        assert all(x["status"] == "terminated" for x in r.json["runs"]), r
    else:
        expect(r, 400, "validation")
    expect(api().delete(f"{V2}/{w['id']}/runs/{runs[2]['id']}"), 200)  # leave nothing waiting


def test_run_get_and_terminate():
    w = mode_wf()
    other = mode_wf()
    waiting = run_mode(w["id"], "slow")
    done = run_mode(w["id"], "ok")
    failed = run_mode(w["id"], "fail")
    rpath = f"{V2}/{w['id']}/runs/{waiting['id']}"
    g = expect(api("viewer").get(rpath), 200)
    assert set(g) == {"success", "run"}, g
    assert check_run_view(g["run"])["status"] == "waiting" and g["run"]["id"] == waiting["id"]
    # A run is only reachable under its own workflow.
    expect(api().get(f"{V2}/{other['id']}/runs/{waiting['id']}"), 404, "not_found")
    expect(api().delete(f"{V2}/{other['id']}/runs/{waiting['id']}"), 404, "not_found")
    r = api("member").delete(rpath)
    assert r.status == 200 and r.json == {
        "success": True, "message": "Workflow run terminated successfully"}, r
    t = get_run(api(), w["id"], waiting["id"])
    assert t["status"] == "terminated", t
    check_iso(t["finished_at"])
    for run in (waiting, done, failed):  # terminal: 400
        b = expect(api().delete(f"{V2}/{w['id']}/runs/{run['id']}"), 400)
        assert b["code"] in ("validation", "conflict"), b
    assert get_run(api(), w["id"], done["id"])["status"] == "completed"
    for bad in (fake_id(), "nope", "x" * 300):
        expect(api().get(f"{V2}/{w['id']}/runs/{bad}"), 404, "not_found")
        expect(api().delete(f"{V2}/{w['id']}/runs/{bad}"), 404, "not_found")


# ---------------------------------------------------------------- ids


def test_unknown_and_malformed_ids_are_404():
    w = create(api())
    bad_ids = [fake_id(), "nope", "1", "x" * 300, "a.b", "%20", "%3Cscript%3E", "'%20OR%201=1",
               "00000000-0000-0000-0000-000000000000", w["id"].upper(), w["id"] + "0"]
    for bid in bad_ids:
        for method, path, body in (("GET", f"{V2}/{bid}", None),
                                   ("PATCH", f"{V2}/{bid}", {"name": uniq()}),
                                   ("DELETE", f"{V2}/{bid}", None),
                                   ("GET", f"{V2}/{bid}/schema", None),
                                   ("POST", f"{V2}/{bid}/execute", {}),
                                   ("GET", f"{V2}/{bid}/runs", None),
                                   ("GET", f"{V2}/{w['id']}/runs/{bid}", None),
                                   ("DELETE", f"{V2}/{w['id']}/runs/{bid}", None),
                                   ("GET", f"{V2}/{bid}/runs/{fake_id()}", None)):
            r = api().request(method, path, body)
            expect(r, 404, "not_found")
    expect(api().get(f"{V2}/{w['id']}"), 200)  # the real one is untouched


def test_unknown_routes_and_methods():
    w = create(api())
    for method, path in (("GET", V2 + "/" + w["id"] + "/bogus"), ("POST", f"{V2}/{w['id']}/runs"),
                         ("PUT", f"{V2}/{w['id']}"), ("GET", f"{V2}/{w['id']}/runs/x/y")):
        r = api().request(method, path, {} if method in ("POST", "PUT") else None)
        expect_status_in(r, (404, 405))
    for path in ("/", "/api/v2/nothing", "/api/v2/workflows/../../etc/passwd"):
        r = api().get(path)  # outside the mount: any 404, still traced
        assert r.status == 404 and r.h("X-Request-Id"), r
    expect(api().get(f"{V2}/{w['id']}"), 200)


def test_cross_tenant_ids_identical_to_unknown():
    b_api = api("admin", "B")
    wb = mode_wf(b_api)
    rb = run_mode(wb["id"], "slow", b_api)
    wa = create(api())
    stolen = uniq("stolen")

    def probe():
        return [api().request(m, p, body) for m, p, body in (
            ("GET", f"{V2}/{wb['id']}", None),
            ("PATCH", f"{V2}/{wb['id']}", {"name": stolen}),
            ("DELETE", f"{V2}/{wb['id']}", None),
            ("GET", f"{V2}/{wb['id']}/schema", None),
            ("POST", f"{V2}/{wb['id']}/execute", {"inputs": {}}),
            ("GET", f"{V2}/{wb['id']}/runs", None),
            ("GET", f"{V2}/{wb['id']}/runs/{rb['id']}", None),
            ("DELETE", f"{V2}/{wb['id']}/runs/{rb['id']}", None),
            ("GET", f"{V2}/{wa['id']}/runs/{rb['id']}", None),
            ("DELETE", f"{V2}/{wa['id']}/runs/{rb['id']}", None))]

    before = probe()
    for r in before:
        expect(r, 404, "not_found")
    # Nothing happened to B's workflow and run.
    assert expect(b_api.get(f"{V2}/{wb['id']}"), 200)["workflow"] == wb
    assert get_run(b_api, wb["id"], rb["id"])["status"] == "waiting"
    assert expect(b_api.get(f"{V2}/{wb['id']}/runs"), 200)["count"] == 1
    assert wb["name"] not in list_names(api())
    # Now the same ids stop existing: the answers must not change by a byte.
    expect(b_api.delete(f"{V2}/{wb['id']}"), 200)
    after = probe()
    for i, (x, y) in enumerate(zip(before, after)):
        assert x.stable() == y.stable(), f"probe {i}: cross-tenant {x.stable()} != unknown {y.stable()}"


# ---------------------------------------------------------------- auth, roles


def test_missing_or_bad_credentials_are_401():
    w = create(api())
    run = execute(api(), w["id"], wait=True)
    routes = [("GET", V2, None), ("POST", V2, wf_body()),
              ("GET", f"{V2}/{w['id']}", None), ("PATCH", f"{V2}/{w['id']}", {"name": uniq()}),
              ("DELETE", f"{V2}/{w['id']}", None), ("GET", f"{V2}/{w['id']}/schema", None),
              ("POST", f"{V2}/{w['id']}/execute", {}), ("GET", f"{V2}/{w['id']}/runs", None),
              ("GET", f"{V2}/{w['id']}/runs/{run['id']}", None),
              ("DELETE", f"{V2}/{w['id']}/runs/{run['id']}", None),
              ("POST", V2 + "/parse", {"instruction": "hello there"})]
    good = S["keys"][("A", "admin")]
    bad_headers = [{}, {"Authorization": ""}, {"Authorization": "Bearer"},
                   {"Authorization": "Bearer "}, {"Authorization": "Basic YWRtaW46YWRtaW4="},
                   {"Authorization": good}, {"Authorization": "Bearer zfk_" + "0" * 64},
                   {"Authorization": "Bearer " + good[:-1] + ("0" if good[-1] != "0" else "1")},
                   {"Authorization": "Bearer " + good + "0"},
                   {"Authorization": "Bearer a.b.c"}]
    for method, path, body in routes:
        for hdrs in bad_headers:
            r = anon().request(method, path, body, headers=hdrs)
            expect(r, 401, "unauthorized")
    assert expect(api().get(f"{V2}/{w['id']}"), 200)["workflow"] == w
    assert expect(api().get(f"{V2}/{w['id']}/runs"), 200)["count"] == 1


def test_roles_viewer_member_admin_owner():
    w = mode_wf()
    waiting = run_mode(w["id"], "slow")
    path = f"{V2}/{w['id']}"
    writes = [("POST", V2, wf_body()), ("PATCH", path, {"description": "hacked"}),
              ("DELETE", path, None)]
    runs_ops = [("POST", path + "/execute", {"inputs": {"mode": "ok"}}),
                ("DELETE", f"{path}/runs/{waiting['id']}", None)]
    reads = [("GET", V2, None), ("GET", path, None), ("GET", path + "/schema", None),
             ("GET", path + "/runs", None), ("GET", f"{path}/runs/{waiting['id']}", None)]
    for method, p, body in reads:
        expect(api("viewer").request(method, p, body), 200)
    for method, p, body in writes + runs_ops:
        expect(api("viewer").request(method, p, body), 403, "forbidden")
    for method, p, body in writes:
        expect(api("member").request(method, p, body), 403, "forbidden")
    assert expect(api().get(path), 200)["workflow"] == w
    assert expect(api().get(path + "/runs"), 200)["count"] == 1
    # member executes and terminates
    expect(api("member").request(*runs_ops[0]), 201)
    expect(api("member").request(*runs_ops[1]), 200)
    for role in ("admin", "owner"):
        cw = create(api(role))
        assert expect(api(role).patch(f"{V2}/{cw['id']}", {"description": role}),
                      200)["workflow"]["description"] == role
        assert execute(api(role), cw["id"], wait=True)["status"] == "completed"
        expect(api(role).delete(f"{V2}/{cw['id']}"), 200)


def test_revoked_key_is_refused_within_2s():
    key = zh.create_key(S["srv"].data, "R", "admin")
    a = Http(S["srv"].http, key)
    try:
        expect(a.get(V2), 200)
        listed = zh.zflow_cli("keys", "list", "--data", S["srv"].data, "--tenant", "R")
        assert listed.returncode == 0, listed.stderr
        key_id = json.loads(listed.stdout.strip().splitlines()[0])["id"]
        res = zh.zflow_cli("keys", "revoke", "--data", S["srv"].data, key_id)
        assert res.returncode == 0, res.stderr
        t0 = time.monotonic()
        zh.wait_for(lambda: a.get(V2).status == 401, timeout=4, interval=0.1,
                    what="revoked key refused")
        assert time.monotonic() - t0 < 3.0
        expect(a.get(V2), 401, "unauthorized")
    finally:
        a.close()


# ---------------------------------------------------------------- one model, two APIs


def test_zmq_and_v2_see_the_same_workflows():
    z = S["zmq"]
    zw = zh.expect_ok(z, "wf.create", {"workflow": {
        "name": uniq("from-zmq"), "description": "via zmq",
        "definition": {"nodes": [set_node("s1", x=7)], "inputs": SCHEMA_IN}}})["workflow"]
    v = expect(api("viewer").get(f"{V2}/{zw['id']}"), 200)["workflow"]
    assert (v["name"], v["description"], v["definition"], v["customer_id"]) == (
        zw["name"], "via zmq", zw["definition"], "A"), v
    assert v["created_at"] == ms_to_iso(zw["created_at"]), (v, zw)
    assert v["updated_at"] == ms_to_iso(zw["updated_at"]), (v, zw)
    assert v["created_by"] == zw["created_by"], (v, zw)
    listed = expect(api().get(V2), 200)["workflows"]
    lw = next(x for x in listed if x["id"] == zw["id"])
    assert json.loads(lw["definition"]) == zw["definition"], lw
    assert expect(api().get(f"{V2}/{zw['id']}/schema"), 200)["schema"]["inputs"] == SCHEMA_IN
    # A v2 workflow over zmq.
    hw = create(api(), name=uniq("from-v2"), nodes=[set_node("s1", y=1)])
    g = zh.expect_ok(z, "wf.get", {"id": hw["id"]})["workflow"]
    assert (g["name"], g["tenant"], g["definition"]) == (hw["name"], "A", hw["definition"]), g
    assert ms_to_iso(g["created_at"]) == hw["created_at"], (g, hw)
    # Runs cross over too: v2 execute -> zmq run.get; zmq run.start -> v2 run view.
    hr = execute(api(), hw["id"], {"k": 1}, wait=True)
    zr = zh.expect_ok(z, "run.get", {"id": hr["id"]})["run"]
    assert zr["status"] == "completed" and zr["inputs"] == {"k": 1}, zr
    assert hr["finished_at"] == ms_to_iso(zr["finished_at"]), (hr, zr)
    zr2 = zh.expect_ok(z, "run.start", {"workflow_id": zw["id"], "inputs": {"q": 2},
                                        "wait": True})["run"]
    vr = get_run(api(), zw["id"], zr2["id"])
    assert vr["status"] == "completed" and vr["inputs"] == {"q": 2}, vr
    assert vr["outputs"]["x"] == 7, vr
    # A run cancelled over zmq is "terminated" over v2.
    mw = zh.expect_ok(z, "wf.create", {"workflow": {"name": uniq("zmq-delay"), "definition": {
        "nodes": [delay_node("d")]}}})["workflow"]
    zr3 = zh.expect_ok(z, "run.start", {"workflow_id": mw["id"], "wait": True})["run"]
    assert zr3["status"] == "waiting", zr3
    zh.expect_ok(z, "run.cancel", {"id": zr3["id"]})
    assert get_run(api(), mw["id"], zr3["id"])["status"] == "terminated"
    assert [r["id"] for r in expect(api().get(f"{V2}/{mw['id']}/runs?status=terminated"),
                                    200)["runs"]] == [zr3["id"]]
    # Deleted over v2 -> gone over zmq, and the other way round.
    expect(api().delete(f"{V2}/{zw['id']}"), 200)
    zh.expect_error(z, "wf.get", {"id": zw["id"]}, "not_found")
    zh.expect_ok(z, "wf.delete", {"id": hw["id"]})
    expect(api().get(f"{V2}/{hw['id']}"), 404, "not_found")


def test_parallel_clients_on_many_connections():
    """8 keep-alive connections at once (civetweb workers, each with its own broker
    socket): every create and execute answers correctly, nothing lost or mixed up."""
    import threading

    prefix = uniq("par")
    results, errors = {}, []

    def worker(n):
        try:
            with Http(S["srv"].http, S["keys"][("A", "admin")]) as c:
                for i in range(15):
                    name = f"{prefix}-{n}-{i}"
                    w = expect(c.post(V2, wf_body(name, nodes=[set_node("s1", n=n, i=i)])),
                               201)["workflow"]
                    assert w["name"] == name, w
                    r = execute(c, w["id"], {"n": n}, wait=True)
                    assert r["status"] == "completed" and r["outputs"]["i"] == i, r
                    results[name] = w["id"]
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    ts = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    assert not errors, errors[:3]
    assert len(results) == 120 and len(set(results.values())) == 120
    listed = [n for n in list_names(api()) if n.startswith(prefix)]
    assert sorted(listed) == sorted(results), len(listed)


# ---------------------------------------------------------------- seed node types


def test_integration_http_request_with_input_from():
    sink = S["sink"]
    w = create(api(), nodes=[
        {"id": "step_1", "type": "integration", "action": "http.request",
         "config": {"url": sink.url("/echo"), "method": "POST", "headers": {"X-Test": "v2"},
                    "body": {"hello": "world"}}},
        {"id": "step_2", "type": "condition", "input_from": "step_1",
         "config": {"field": "$.status", "operator": "equals", "value": 200}},
        {"id": "step_3", "type": "set", "input_from": "step_2",
         "config": {"values": {"hello": "$steps.step_1.body.json.hello",
                               "method": "$steps.step_1.body.method"}}}])
    run = execute(api("member"), w["id"], wait=True)
    assert run["status"] == "completed" and run["error"] is None, run
    assert run["outputs"]["hello"] == "world" and run["outputs"]["method"] == "POST", run
    st = zh.expect_ok(S["zmq"], "run.get", {"id": run["id"]})["state"]
    echo = st["stepOutputs"]["step_1"]
    assert echo["status"] == 200, echo
    assert echo["body"]["json"] == {"hello": "world"}, echo
    assert echo["body"]["headers"].get("x-test") == "v2", echo
    assert st["stepOutputs"]["step_2"]["passed"] is True, st


def test_unconfigured_connector_fails_naming_it():
    for action in ("salesforce.query", "email.send", "slack.post_message"):
        w = create(api(), nodes=[set_node("s0", a=1),
                                 {"id": "step_1", "type": "integration", "action": action,
                                  "input_from": "s0", "config": {"query": "SELECT 1"}}])
        run = execute(api(), w["id"], wait=True)
        assert run["status"] == "failed", run
        assert f'connector "{action}" is not configured' in run["error"], run
    # The seed's sales workflow fails at its first step, naming salesforce.query.
    w = create(api(), definition=SALES_DEF)
    run = execute(api(), w["id"], wait=True)
    assert run["status"] == "failed" and "salesforce.query" in run["error"], run


def test_agent_step_needs_an_ai_provider():
    w = create(api(), nodes=[set_node("s1", a=1),
                             {"id": "step_2", "type": "agent", "action": "generate_report",
                              "input_from": "s1"}])
    run = execute(api(), w["id"], wait=True)
    assert run["status"] == "failed", run
    assert ("ai: no AI provider is configured: start zflow with --ai-url (key in ZFLOW_AI_KEY)"
            in run["error"]), run


def test_seed_condition_on_dollar_path():
    w = create(api(), definition=DEPLOY_DEF)
    ok = execute(api(), w["id"], {"deployment": {"status": "success"}}, wait=True)
    # The condition passes, then the unconfigured Slack connector fails the run.
    assert ok["status"] == "failed", ok
    assert 'connector "slack.post_message" is not configured' in ok["error"], ok
    st = zh.expect_ok(S["zmq"], "run.get", {"id": ok["id"]})["state"]
    assert st["stepOutputs"]["step_1"]["passed"] is True, st
    no = execute(api(), w["id"], {"deployment": {"status": "failure"}}, wait=True)
    assert no["status"] == "completed" and no["error"] is None, no
    view = zh.expect_ok(S["zmq"], "run.get", {"id": no["id"]})
    assert view["state"]["stepOutputs"]["step_1"]["passed"] is False, view
    assert "step_2" not in view["state"]["completedNodeIds"], view
    missing = execute(api(), w["id"], {}, wait=True)  # absent path: not equal
    assert missing["status"] == "completed", missing


# ---------------------------------------------------------------- main


def main():
    roles = {"A": ("viewer", "member", "admin", "owner"), "B": ("admin",), "L": ("admin",),
             "P": ("admin",)}
    with zh.Sink() as sink, zh.Server(extra_args=["--rate-limit", "0", "--egress-allow",
                                                  "127.0.0.1/32"]) as srv:
        S.update(srv=srv, sink=sink, keys={}, http={})
        for tenant, rs in roles.items():
            for role in rs:
                key = zh.create_key(srv.data, tenant, role)
                S["keys"][(tenant, role)] = key
                S["http"][(tenant, role)] = Http(srv.http, key)
        S["anon"] = Http(srv.http)
        S["zmq"] = zh.Client(srv.api, S["keys"][("A", "admin")])
        try:
            return zh.run_tests(globals())
        finally:
            S["zmq"].close()
            for c in list(S["http"].values()) + [S["anon"]]:
                c.close()


if __name__ == "__main__":
    sys.exit(main())
