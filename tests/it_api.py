#!/usr/bin/python3
"""it_api — the zmq API endpoint, black-box: auth and roles, tenant
isolation, workflow CRUD and validation, runs (start/get/list/cancel) and
their documented record shapes. One server for the whole file; each test
uses its own workflow names (and tenants where counts matter).

    ZF_BUILD_DIR=build /usr/bin/python3 tests/it_api.py   (ZF_TEST=substr for a subset)
"""
import os
import sys
import threading

import msgpack

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zf_harness as zh  # noqa: E402

S = {}  # the shared server, clients and keys (filled in main)

WF_FIELDS = ("id", "tenant", "name", "description", "status", "enabled", "version", "trigger",
             "definition", "error_handling", "created_by", "created_at", "updated_at",
             "consecutive_failures", "disabled_reason")
RUN_FIELDS = ("id", "workflow_id", "workflow_version", "status", "inputs", "outputs", "error",
              "created_at", "started_at", "updated_at", "finished_at", "wake_at", "parent_run_id")
STATE_FIELDS = ("variables", "stepOutputs", "completedNodeIds", "pendingNodeIds",
                "skippedNodeIds", "retryCount")
LOG_FIELDS = ("seq", "nodeId", "nodeType", "status", "attempt", "startedAt", "finishedAt",
              "durationMs", "output", "error")


uniq, fake_id, set_node = zh.uniq, zh.fake_id, zh.set_node


def wf_input(name=None, nodes=None, **extra):
    w = {"name": name or uniq(), "definition": {"nodes": nodes or [set_node("s1", x=1)]}}
    w.update(extra)
    return w


def c(role="admin", tenant="A"):
    return S["clients"][(tenant, role)]


def create_wf(client=None, **kw):
    return zh.expect_ok(client or c(), "wf.create", {"workflow": wf_input(**kw)})["workflow"]


def delay_wf(client=None):
    """A workflow whose run passivates for a minute: status waiting."""
    return create_wf(client, nodes=[
        set_node("s1", x=1),
        {"id": "d1", "type": "delay", "config": {"duration": 60, "unit": "seconds"}},
        set_node("s2", y=2)])


def start(wf_id, client=None, wait=True, **kw):
    body = {"workflow_id": wf_id, "wait": wait}
    body.update(kw)
    return zh.expect_ok(client or c(), "run.start", body, timeout=40)["run"]


# ---------------------------------------------------------------- auth & roles


def test_viewer_reads_only():
    wf = create_wf()
    run = start(wf["id"])
    v = c("viewer")
    assert zh.expect_ok(v, "wf.get", {"id": wf["id"]})["workflow"]["id"] == wf["id"]
    assert zh.expect_ok(v, "wf.list", {})["total"] >= 1
    assert zh.expect_ok(v, "run.get", {"id": run["id"]})["run"]["id"] == run["id"]
    assert zh.expect_ok(v, "run.list", {"workflow_id": wf["id"]})["total"] == 1
    assert zh.expect_ok(v, "ping", {})["pong"] is True
    zh.expect_error(v, "wf.create", {"workflow": wf_input()}, "forbidden")
    zh.expect_error(v, "wf.update", {"id": wf["id"], "patch": {"name": uniq()}}, "forbidden")
    zh.expect_error(v, "wf.delete", {"id": wf["id"]}, "forbidden")
    zh.expect_error(v, "run.start", {"workflow_id": wf["id"]}, "forbidden")
    zh.expect_error(v, "run.cancel", {"id": run["id"]}, "forbidden")
    # Nothing changed.
    assert zh.expect_ok(v, "wf.get", {"id": wf["id"]})["workflow"]["name"] == wf["name"]
    assert zh.expect_ok(v, "run.list", {"workflow_id": wf["id"]})["total"] == 1


def test_member_runs_but_cannot_edit_workflows():
    wf = delay_wf()
    m = c("member")
    run = start(wf["id"], client=m, wait=True)
    assert run["status"] == "waiting", run
    cancelled = zh.expect_ok(m, "run.cancel", {"id": run["id"], "reason": "test"})["run"]
    assert cancelled["status"] == "cancelled", cancelled
    zh.expect_error(m, "wf.create", {"workflow": wf_input()}, "forbidden")
    zh.expect_error(m, "wf.update", {"id": wf["id"], "patch": {"name": uniq()}}, "forbidden")
    zh.expect_error(m, "wf.delete", {"id": wf["id"]}, "forbidden")
    assert zh.expect_ok(m, "wf.get", {"id": wf["id"]})["workflow"]["name"] == wf["name"]


def test_admin_and_owner_do_everything():
    for role in ("admin", "owner"):
        cl = c(role)
        wf = create_wf(cl)
        wf = zh.expect_ok(cl, "wf.update", {"id": wf["id"], "patch": {"description": role}})["workflow"]
        assert wf["description"] == role
        run = start(wf["id"], client=cl)
        assert run["status"] == "completed"
        assert zh.expect_ok(cl, "run.list", {"workflow_id": wf["id"]})["total"] == 1
        d = delay_wf(cl)
        waiting = start(d["id"], client=cl)
        zh.expect_ok(cl, "run.cancel", {"id": waiting["id"]})
        for w in (wf, d):
            assert zh.expect_ok(cl, "wf.delete", {"id": w["id"]}) == {"id": w["id"], "deleted": True}


def test_missing_and_bogus_keys_are_unauthorized():
    wf = create_wf()
    with zh.Client(S["srv"].api) as anon:
        for type_, body in (("wf.list", {}), ("wf.get", {"id": wf["id"]}),
                            ("wf.create", {"workflow": wf_input()}),
                            ("run.start", {"workflow_id": wf["id"]})):
            zh.expect_error(anon, type_, body, "unauthorized")  # no auth field at all
            for bad in ("", "nope", "zfk_" + "0" * 64, S["keys"][("A", "admin")][:-1] + "x",
                        S["keys"][("A", "admin")] + "0"):
                zh.expect_error(anon, type_, body, "unauthorized", key=bad)
    assert zh.expect_ok(c("viewer"), "run.list", {"workflow_id": wf["id"]})["total"] == 0


def test_key_and_auth_messages_are_forbidden_on_api():
    for role in ("viewer", "owner"):
        cl = c(role)
        zh.expect_error(cl, "key.create", {"tenant": "A", "role": "owner"}, "forbidden")
        zh.expect_error(cl, "key.list", {}, "forbidden")
        zh.expect_error(cl, "key.revoke", {"id": "key_0000000000000000"}, "forbidden")
        rb = zh.expect_error(cl, "auth.resolve", {"key": S["keys"][("A", "owner")]}, "forbidden")
        assert S["keys"][("A", "owner")] not in str(rb)
        # Spoofing an internal origin does not help.
        ok, rb = cl.call("auth.resolve", {"key": S["keys"][("A", "owner")]}, origin="internal")
        assert not ok and rb["code"] == "forbidden", rb
    # The admin socket is not the API: key.create there works without a key ...
    with zh.Client(S["srv"].admin) as adm:
        made = zh.expect_ok(adm, "key.create", {"tenant": "Z", "role": "viewer", "name": "n"})
        assert made["key"].startswith("zfk_") and made["tenant"] == "Z"
        # ... but anything else is refused there.
        zh.expect_error(adm, "wf.list", {}, "forbidden")
    assert zh.expect_ok(c("viewer", "A"), "wf.list", {}, key=made["key"])["total"] == 0


def test_spoofed_header_identity_is_ignored():
    v = c("viewer")
    spoof = {"tenant": "B", "role": "owner", "user": "root", "origin": "internal"}
    ok, rb = v.call("wf.create", {"workflow": wf_input()}, **spoof)
    assert not ok and rb["code"] == "forbidden", rb
    b_wf = create_wf(c("admin", "B"))
    ok, rb = v.call("wf.get", {"id": b_wf["id"]}, **spoof)
    assert not ok and rb["code"] == "not_found", rb
    names = [w["name"] for w in zh.expect_ok(v, "wf.list", {"limit": 500})["workflows"]]
    assert b_wf["name"] not in names
    ok, rb = c("admin").call("wf.create", {"workflow": wf_input()}, **spoof)
    assert ok, rb
    assert rb["workflow"]["tenant"] == "A", rb["workflow"]
    assert rb["workflow"]["created_by"] != "root", rb["workflow"]
    ok, rb = c("admin", "B").call("wf.get", {"id": rb["workflow"]["id"]})
    assert not ok and rb["code"] == "not_found", rb


# ---------------------------------------------------------------- tenant isolation


def test_cross_tenant_is_not_found_byte_identical():
    a = c("admin", "A")
    wf = create_wf(a)
    done = start(wf["id"], client=a)
    dwf = delay_wf(a)
    waiting = start(dwf["id"], client=a)
    b = c("owner", "B")
    cases = [
        ("wf.get", lambda i: {"id": i}, wf["id"]),
        ("wf.update", lambda i: {"id": i, "patch": {"name": uniq()}}, wf["id"]),
        ("wf.delete", lambda i: {"id": i}, wf["id"]),
        ("run.start", lambda i: {"workflow_id": i, "wait": True}, wf["id"]),
        ("run.list", lambda i: {"workflow_id": i}, wf["id"]),
        ("run.get", lambda i: {"id": i}, done["id"]),
        ("run.cancel", lambda i: {"id": i}, waiting["id"]),
    ]
    for type_, mk, real in cases:
        h1, b1 = zh.call_raw(b, type_, mk(real))
        h2, b2 = zh.call_raw(b, type_, mk(fake_id()))
        assert h1.get("ok") is False and h2.get("ok") is False, (type_, h1, h2)
        d1 = msgpack.unpackb(b1, raw=False)
        assert d1["code"] == "not_found", (type_, d1)
        assert b1 == b2, f"{type_}: foreign id answered differently:\n{b1!r}\n{b2!r}"
        assert real not in b1.decode("utf-8", "replace"), f"{type_}: reply names the id"
    # A's objects are untouched.
    got = zh.expect_ok(a, "wf.get", {"id": wf["id"]})["workflow"]
    assert got["name"] == wf["name"]
    assert zh.expect_ok(a, "run.list", {"workflow_id": wf["id"]})["total"] == 1
    assert zh.expect_ok(a, "run.get", {"id": waiting["id"]})["run"]["status"] == "waiting"
    zh.expect_ok(a, "run.cancel", {"id": waiting["id"]})
    # B's list does not show A's workflows.
    b_names = [w["name"] for w in zh.expect_ok(b, "wf.list", {"limit": 500})["workflows"]]
    assert wf["name"] not in b_names


# ---------------------------------------------------------------- workflow CRUD


def test_create_returns_documented_defaults():
    wf = create_wf()
    for f in WF_FIELDS:
        assert f in wf, f"workflow lacks {f}: {sorted(wf)}"
    assert wf["version"] == "1.0.0"
    assert wf["status"] == "active"
    assert wf["enabled"] is True
    assert wf["tenant"] == "A"
    assert wf["trigger"] == {"type": "manual"}, f"trigger default: {wf['trigger']!r}"
    assert wf["definition"]["inputs"] == {} and wf["definition"]["outputs"] == {}, wf["definition"]
    assert wf["consecutive_failures"] == 0 and wf["disabled_reason"] is None
    assert isinstance(wf["created_at"], int) and wf["created_at"] == wf["updated_at"]
    assert abs(wf["created_at"] - zh.now_ms()) < 60000
    assert zh.expect_ok(c(), "wf.get", {"id": wf["id"]})["workflow"] == wf


def test_create_keeps_given_fields():
    wf = create_wf(description="d", version="2.3.4", status="draft", enabled=False,
                   trigger={"type": "manual"})
    assert (wf["description"], wf["version"], wf["status"], wf["enabled"]) == \
        ("d", "2.3.4", "draft", False)


def test_create_bad_workflow_fields_are_validation():
    a = c()
    for w, field in (({"definition": {"nodes": []}}, "name"),
                     ({"name": "", "definition": {"nodes": []}}, "name"),
                     ({"name": "x" * 201, "definition": {"nodes": []}}, "name"),
                     ({"name": uniq()}, "definition"),
                     ({"name": uniq(), "definition": {"nodes": "no"}}, "nodes"),
                     (wf_input(status="bogus"), "status"),
                     (wf_input(enabled="yes"), "enabled"),
                     (wf_input(name="line\nbreak"), "name"), (wf_input(name="tab\tx"), "name")):
        rb = zh.expect_error(a, "wf.create", {"workflow": w}, "validation")
        assert field in rb["message"], f"{field}: {rb}"
    zh.expect_error(a, "wf.create", {}, "validation")
    zh.expect_error(a, "wf.create", {"workflow": "x"}, "validation")
    assert len(zh.expect_ok(a, "wf.create", {"workflow": wf_input(name="y" * 200)})
               ["workflow"]["name"]) == 200


def test_duplicate_name_conflict():
    name = uniq()
    create_wf(name=name)
    rb = zh.expect_error(c(), "wf.create", {"workflow": wf_input(name=name)}, "conflict")
    assert name in rb["message"] or "name" in rb["message"], rb
    # Same name in another tenant is fine.
    create_wf(c("admin", "B"), name=name)


def test_concurrent_creates_same_name_exactly_one_wins():
    for _ in range(5):
        name = uniq("race")
        clients = [zh.Client(S["srv"].api, S["keys"][("A", "admin")]) for _ in range(4)]
        results = [None] * len(clients)
        barrier = threading.Barrier(len(clients))

        def go(i):
            barrier.wait()
            results[i] = clients[i].call("wf.create", {"workflow": wf_input(name=name)})

        threads = [threading.Thread(target=go, args=(i,)) for i in range(len(clients))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        for cl in clients:
            cl.close()
        wins = [rb for ok, rb in results if ok]
        losses = [rb for ok, rb in results if not ok]
        assert len(wins) == 1, f"{len(wins)} creates of {name} succeeded: {results}"
        assert all(rb["code"] == "conflict" for rb in losses), losses
        listed = [w for w in zh.expect_ok(c(), "wf.list", {"limit": 500})["workflows"]
                  if w["name"] == name]
        assert len(listed) == 1, listed


def test_list_newest_first_paged_and_filtered():
    cl = c("admin", "L")
    made = []
    for i, st in enumerate(("active", "draft", "active", "paused", "draft", "active")):
        made.append(create_wf(cl, name=f"list-{i}", status=st))
    ids_newest = [w["id"] for w in reversed(made)]
    body = zh.expect_ok(cl, "wf.list", {})
    assert body["total"] == 6, body["total"]
    assert [w["id"] for w in body["workflows"]] == ids_newest
    ts = [w["created_at"] for w in body["workflows"]]
    assert ts == sorted(ts, reverse=True)
    page = zh.expect_ok(cl, "wf.list", {"limit": 2, "offset": 1})
    assert page["total"] == 6 and [w["id"] for w in page["workflows"]] == ids_newest[1:3], page
    tail = zh.expect_ok(cl, "wf.list", {"limit": 50, "offset": 5})
    assert [w["id"] for w in tail["workflows"]] == ids_newest[5:]
    assert zh.expect_ok(cl, "wf.list", {"offset": 100})["workflows"] == []
    drafts = zh.expect_ok(cl, "wf.list", {"status": "draft"})
    assert drafts["total"] == 2
    assert [w["id"] for w in drafts["workflows"]] == [made[4]["id"], made[1]["id"]]
    assert zh.expect_ok(cl, "wf.list", {"status": "archived"}) == {"workflows": [], "total": 0}
    zh.expect_error(cl, "wf.list", {"limit": 501}, "validation")
    zh.expect_error(cl, "wf.list", {"offset": -1}, "validation")
    zh.expect_error(cl, "wf.list", {"status": "bogus"}, "validation")


def test_update_rename_conflict_and_validation():
    a = c()
    w1, w2 = create_wf(), create_wf()
    new = uniq("renamed")
    up = zh.expect_ok(a, "wf.update", {"id": w1["id"], "patch": {"name": new, "version": "1.1.0"}})
    up = up["workflow"]
    assert up["name"] == new and up["version"] == "1.1.0" and up["id"] == w1["id"]
    assert up["updated_at"] >= w1["updated_at"] and up["created_at"] == w1["created_at"]
    assert zh.expect_ok(a, "wf.get", {"id": w1["id"]})["workflow"]["name"] == new
    zh.expect_error(a, "wf.update", {"id": w1["id"], "patch": {"name": w2["name"]}}, "conflict")
    # The old name is free again.
    create_wf(name=w1["name"])
    for patch in ({}, {"bogus": 1}):
        zh.expect_error(a, "wf.update", {"id": w1["id"], "patch": patch}, "validation")
    rb = zh.expect_error(a, "wf.update", {"id": w1["id"], "patch": {"status": "bogus"}},
                         "validation")
    assert "status" in rb["message"], rb
    rb = zh.expect_error(a, "wf.update", {"id": w1["id"], "patch": {"definition": {"nodes": [
        {"id": "s1", "type": "bogus"}]}}}, "validation")
    assert "s1" in rb["message"] and "type" in rb["message"], rb
    zh.expect_error(a, "wf.update", {"id": w1["id"]}, "validation")
    zh.expect_error(a, "wf.update", {"id": fake_id(), "patch": {"name": uniq()}}, "not_found")
    got = zh.expect_ok(a, "wf.get", {"id": w1["id"]})["workflow"]
    assert got["name"] == new and got["status"] == "active"


def test_delete_cascades_runs():
    a = c()
    wf = create_wf()
    r1 = start(wf["id"])
    r2 = start(delay_wf()["id"])  # a run of another workflow survives
    assert zh.expect_ok(a, "wf.delete", {"id": wf["id"]}) == {"id": wf["id"], "deleted": True}
    zh.expect_error(a, "wf.get", {"id": wf["id"]}, "not_found")
    zh.expect_error(a, "run.get", {"id": r1["id"]}, "not_found")
    ok, rb = a.call("run.list", {"workflow_id": wf["id"]})
    assert (not ok and rb["code"] == "not_found") or (ok and rb["total"] == 0), rb
    zh.expect_error(a, "wf.delete", {"id": wf["id"]}, "not_found")
    zh.expect_error(a, "run.start", {"workflow_id": wf["id"]}, "not_found")
    assert zh.expect_ok(a, "run.get", {"id": r2["id"]})["run"]["status"] == "waiting"
    zh.expect_ok(a, "run.cancel", {"id": r2["id"]})


# ---------------------------------------------------------------- definition validation


def _bad_def(nodes, must_mention):
    rb = zh.expect_error(c(), "wf.create", {"workflow": wf_input(nodes=nodes)}, "validation")
    for word in must_mention:
        assert word in rb["message"], f"message {rb['message']!r} lacks {word!r}"
    return rb


def test_validation_names_node_and_field():
    s1 = set_node("s1", x=1)
    cond = {"id": "c1", "type": "condition",
            "config": {"field": "$vars.x", "operator": "equals", "value": 1}}
    _bad_def([s1, {"id": "s2", "type": "bogus"}], ['nodes[1]', '"s2"', "type", "bogus"])
    _bad_def([s1, set_node("s1", y=2)], ['nodes[1]', '"s1"', "id"])
    _bad_def([dict(set_node("s0", a=1), input_from="s1"), s1], ['nodes[0]', '"s0"', "input_from"])
    _bad_def([s1, dict(set_node("s2", a=1), input_from="s2")], ['"s2"', "input_from"])
    _bad_def([s1, dict(set_node("s2", a=1), input_from="nowhere")], ['"s2"', "input_from"])
    _bad_def([s1, dict(set_node("s2", y=1), input_from="s1", branch="true")], ['"s2"', "branch"])
    _bad_def([s1, dict(set_node("s2", y=1), branch="true")], ['"s2"', "branch"])
    _bad_def([cond, dict(set_node("s2", y=1), input_from="c1", branch="maybe")],
             ['"s2"', "branch"])
    for retry, field in (({"max_attempts": 0}, "max_attempts"),
                         ({"max_attempts": 21}, "max_attempts"),
                         ({"max_attempts": "3"}, "max_attempts"),
                         ({"initial_interval_ms": -5}, "initial_interval_ms"),
                         ({"backoff_coefficient": 0.5}, "backoff_coefficient"),
                         ({"jitter": 1.5}, "jitter"),
                         ({"jitter": -0.1}, "jitter"),
                         ({"max_interval_ms": -1}, "max_interval_ms"),
                         ({"non_retryable": "http_4xx"}, "non_retryable")):
        _bad_def([s1, dict(set_node("r1", y=1), retry=retry)], ['"r1"', "retry", field])
    for url in ("not a url", "ftp://example.com/x", "", "http://"):
        _bad_def([s1, {"id": "h1", "type": "http_request", "config": {"url": url}}],
                 ['"h1"', "url"])
    _bad_def([s1, {"id": "h1", "type": "http_request", "config": {}}], ['"h1"', "url"])
    _bad_def([s1, {"id": "c9", "type": "condition", "config": {
        "field": "$vars.x", "operator": "resembles", "value": 1}}], ['"c9"', "operator"])
    _bad_def([s1, set_node("bad id!", a=1)], ["nodes[1]", "id"])
    _bad_def([s1, set_node("x" * 65, a=1)], ["nodes[1]", "id"])
    _bad_def([s1, {"type": "set", "config": {"values": {"a": 1}}}], ["nodes[1]", "id"])
    _bad_def([s1, {"id": "s2", "type": "set", "config": "x"}], ['"s2"', "config"])
    _bad_def([s1, dict(set_node("s2", a=1), timeout_ms=-1)], ['"s2"', "timeout_ms"])


# ---------------------------------------------------------------- runs


def test_run_start_refused_when_archived_paused_or_disabled():
    a = c()
    for patch, word in (({"status": "archived"}, "archived"), ({"status": "paused"}, "paused"),
                        ({"enabled": False}, "disabled")):
        wf = create_wf()
        zh.expect_ok(a, "wf.update", {"id": wf["id"], "patch": patch})
        rb = zh.expect_error(a, "run.start", {"workflow_id": wf["id"], "wait": True}, "conflict")
        assert word in rb["message"], f"{patch}: message {rb['message']!r} lacks {word!r}"
        assert zh.expect_ok(a, "run.list", {"workflow_id": wf["id"]})["total"] == 0
    for st, en in (("archived", True), ("active", False)):
        wf = create_wf(status=st, enabled=en)
        zh.expect_error(a, "run.start", {"workflow_id": wf["id"]}, "conflict")
        # Re-activating makes it runnable.
        zh.expect_ok(a, "wf.update", {"id": wf["id"], "patch": {"status": "active",
                                                                  "enabled": True}})
        assert start(wf["id"])["status"] == "completed"


def test_run_start_wait_returns_completed_run_with_outputs():
    wf = create_wf(nodes=[set_node("s1", x=1), set_node("s2", y="$inputs.who")])
    run = start(wf["id"], inputs={"who": "alice"})
    for f in RUN_FIELDS:
        assert f in run, f"run lacks {f}: {sorted(run)}"
    assert run["status"] == "completed", run
    assert run["workflow_id"] == wf["id"] and run["workflow_version"] == "1.0.0"
    assert run["inputs"] == {"who": "alice"}
    assert run["error"] is None and run["parent_run_id"] is None and run["wake_at"] is None
    assert run["outputs"].get("y") == "alice", run["outputs"]  # last step output
    assert run["outputs"].get("x") == 1, f"outputs lack the final variables: {run['outputs']}"
    assert run["created_at"] <= run["started_at"] <= run["finished_at"]
    # Without wait: the reply is durable and queued or running; it then completes.
    r2 = start(wf["id"], wait=False)
    assert r2["status"] in ("queued", "running", "completed"), r2["status"]
    done = zh.wait_for(lambda: (lambda r: r if r["status"] == "completed" else None)(
        zh.expect_ok(c(), "run.get", {"id": r2["id"]})["run"]), 10, what="run completion")
    assert done["finished_at"] is not None
    a = c()
    for body in ({"workflow_id": wf["id"], "wait_timeout_ms": 300001},
                 {"workflow_id": wf["id"], "inputs": [1]},
                 {"workflow_id": wf["id"], "wait": "yes"},
                 {}):
        zh.expect_error(a, "run.start", body, "validation")


def test_run_get_documented_shape_and_log_truncation():
    big = "b" * 2000
    wf = create_wf(nodes=[set_node("s1", big=big), set_node("s2", small=1)])
    run = start(wf["id"])
    body = zh.expect_ok(c("viewer"), "run.get", {"id": run["id"]})
    assert set(body) >= {"run", "state", "logs"}
    for f in RUN_FIELDS:
        assert f in body["run"], f"run lacks {f}"
    st = body["state"]
    for f in STATE_FIELDS:
        assert f in st, f"state lacks {f}: {sorted(st)}"
    assert "wait" in st and st["wait"] is None
    assert st["completedNodeIds"] == ["s1", "s2"] and st["pendingNodeIds"] == []
    assert st["skippedNodeIds"] == [] and isinstance(st["retryCount"], dict)
    assert st["variables"]["big"] == big and st["variables"]["small"] == 1
    assert st["stepOutputs"]["s1"] == {"big": big}, "stepOutputs lost the full value"
    logs = body["logs"]
    assert [l["nodeId"] for l in logs] == ["s1", "s2"], logs
    seqs = [l["seq"] for l in logs]
    assert seqs == sorted(seqs) and len(set(seqs)) == 2
    for l in logs:
        for f in LOG_FIELDS:
            assert f in l, f"log entry lacks {f}: {sorted(l)}"
        assert l["nodeType"] == "set" and l["status"] == "completed" and l["attempt"] == 1
        assert l["error"] is None
        assert isinstance(l["output"], str) and len(l["output"]) <= 500, len(l["output"])
        assert l["startedAt"] <= l["finishedAt"] and l["durationMs"] >= 0
    assert len(logs[0]["output"]) >= 400, "output truncated far below 500"
    assert logs[0]["output"].startswith('{"big":"bbb')
    assert logs[1]["output"].replace(" ", "") == '{"small":1}'
    zh.expect_error(c(), "run.get", {"id": fake_id()}, "not_found")
    zh.expect_error(c(), "run.get", {}, "validation")


def test_run_list_newest_first_status_filter_total():
    a = c("admin", "R")
    wf = delay_wf(a)
    runs = [start(wf["id"], client=a) for _ in range(4)]
    assert all(r["status"] == "waiting" for r in runs), [r["status"] for r in runs]
    zh.expect_ok(a, "run.cancel", {"id": runs[1]["id"]})
    zh.expect_ok(a, "run.cancel", {"id": runs[3]["id"]})
    body = zh.expect_ok(a, "run.list", {"workflow_id": wf["id"]})
    assert body["total"] == 4
    assert [r["id"] for r in body["runs"]] == [r["id"] for r in reversed(runs)]
    page = zh.expect_ok(a, "run.list", {"workflow_id": wf["id"], "limit": 1, "offset": 1})
    assert page["total"] == 4 and [r["id"] for r in page["runs"]] == [runs[2]["id"]]
    canc = zh.expect_ok(a, "run.list", {"workflow_id": wf["id"], "status": "cancelled"})
    assert canc["total"] == 2 and [r["id"] for r in canc["runs"]] == [runs[3]["id"], runs[1]["id"]]
    wait = zh.expect_ok(a, "run.list", {"workflow_id": wf["id"], "status": "waiting"})
    assert wait["total"] == 2 and [r["id"] for r in wait["runs"]] == [runs[2]["id"], runs[0]["id"]]
    assert zh.expect_ok(a, "run.list", {"workflow_id": wf["id"], "status": "failed"})["total"] == 0
    zh.expect_error(a, "run.list", {"workflow_id": wf["id"], "limit": 501}, "validation")
    zh.expect_error(a, "run.list", {}, "validation")
    for r in (runs[0], runs[2]):
        zh.expect_ok(a, "run.cancel", {"id": r["id"]})


def test_condition_false_stop_skips_rest():
    wf = create_wf(nodes=[
        set_node("s1", x=1),
        {"id": "c1", "type": "condition",
         "config": {"field": "$vars.x", "operator": "equals", "value": 2}},
        set_node("after1", y=1), set_node("after2", z=1)])
    run = start(wf["id"])
    assert run["status"] == "completed", run
    st = zh.expect_ok(c(), "run.get", {"id": run["id"]})["state"]
    assert st["completedNodeIds"] == ["s1", "c1"], st
    assert sorted(st["skippedNodeIds"]) == ["after1", "after2"], st
    assert "y" not in st["variables"] and "z" not in st["variables"]
    assert st["stepOutputs"]["c1"]["passed"] is False


def test_branches_follow_condition():
    for x, ran, skipped in ((1, "yes", "no"), (2, "no", "yes")):
        wf = create_wf(nodes=[
            set_node("s1", x=x),
            {"id": "c1", "type": "condition", "config": {
                "field": "$vars.x", "operator": "equals", "value": 1, "on_false": "branch"}},
            dict(set_node("yes", took="true"), input_from="c1", branch="true"),
            dict(set_node("no", took="false"), input_from="c1", branch="false"),
            set_node("end", done=True)])
        run = start(wf["id"])
        assert run["status"] == "completed", run
        st = zh.expect_ok(c(), "run.get", {"id": run["id"]})["state"]
        assert ran in st["completedNodeIds"], (x, st)
        assert skipped in st["skippedNodeIds"] and skipped not in st["completedNodeIds"], (x, st)
        assert st["variables"]["took"] == ("true" if x == 1 else "false"), st["variables"]
        assert "end" in st["completedNodeIds"], st


def test_cancel_terminal_run_is_conflict():
    a = c()
    run = start(create_wf()["id"])
    assert run["status"] == "completed"
    rb = zh.expect_error(a, "run.cancel", {"id": run["id"]}, "conflict")
    assert "completed" in rb["message"] or "terminal" in rb["message"], rb
    assert zh.expect_ok(a, "run.get", {"id": run["id"]})["run"]["status"] == "completed"
    w = start(delay_wf()["id"])
    got = zh.expect_ok(a, "run.cancel", {"id": w["id"], "reason": "enough"})["run"]
    assert got["status"] == "cancelled" and got["finished_at"] is not None
    zh.expect_error(a, "run.cancel", {"id": w["id"]}, "conflict")
    zh.expect_error(a, "run.cancel", {"id": fake_id()}, "not_found")


def test_unknown_message_type_not_implemented():
    for t in ("wf.frobnicate", "run.frobnicate"):
        rb = zh.expect_error(c(), t, {}, "not_implemented")
        assert t in rb["message"] or "type" in rb["message"], rb
    ok, rb = c().call("zz.unknown", {})
    assert not ok and rb.get("code") in ("not_implemented", "unavailable"), rb
    assert zh.expect_ok(c(), "ping", {})["pong"] is True


# ---------------------------------------------------------------- main


def main():
    with zh.Server() as srv:
        S["srv"] = srv
        S["keys"], S["clients"] = {}, {}
        roles = {"A": ("viewer", "member", "admin", "owner"), "B": ("admin", "owner"),
                 "L": ("admin",), "R": ("admin",)}
        for tenant, rs in roles.items():
            for role in rs:
                key = zh.create_key(srv.data, tenant, role)
                S["keys"][(tenant, role)] = key
                S["clients"][(tenant, role)] = zh.Client(srv.api, key)
        try:
            return zh.run_tests(globals())
        finally:
            for cl in S["clients"].values():
                cl.close()


if __name__ == "__main__":
    sys.exit(main())
