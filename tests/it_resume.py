#!/usr/bin/python3
"""it_resume — runs that wait for people and for other runs (issue 6, §2-3),
over the zmq API against a real server: approval pause + run.resume
(approved, rejected with each on_reject, double resume, decision required),
delay woken early, approval expiry with the test clock, pause surviving
kill -9, run_workflow children (fire-and-forget, wait_for_completion, a
failing child, the nesting limit, children in run.get), loop (results,
max_items, continue_on_error, refused inner kinds), wf.stats, run.list
with_state, and tenant isolation of run.resume.

    ZFLOW_BIN=build/zflow /usr/bin/python3 tests/it_resume.py   (ZF_TEST=substr for a subset)
"""
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import zf_harness as zh  # noqa: E402

T0 = 1_900_000_000_000  # test clock start (2030-03-17)
TERMINAL = ("completed", "failed", "cancelled")


def wf(c, name, nodes, **extra):
    body = {"workflow": dict({"name": name, "definition": {"nodes": nodes}}, **extra)}
    return zh.expect_ok(c, "wf.create", body)["workflow"]


def start(c, wf_id, **kw):
    return zh.expect_ok(c, "run.start", dict({"workflow_id": wf_id}, **kw))["run"]


def wait_status(c, run_id, want, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        got = zh.expect_ok(c, "run.get", {"id": run_id})
        if got["run"]["status"] in want:
            return got
        assert time.monotonic() < deadline, f"run {run_id} stuck in {got['run']['status']}"
        time.sleep(0.05)


def approval_run(c, name, **cfg):
    w = wf(c, name, [{"id": "ask", "type": "approval", "name": "Manager approval",
                      "config": dict({"title": "Approve {{inputs.what}}"}, **cfg)},
                     {"id": "after", "type": "set", "config": {"values": {"done": True}}},
                     {"id": "no", "type": "set", "input_from": "ask", "branch": "false",
                      "config": {"values": {"rejected_path": True}}}])
    run = start(c, w["id"], inputs={"what": "the budget"})
    return w, wait_status(c, run["id"], ("paused",))


def test_approval_resume(s, c):
    _, got = approval_run(c, "appr-ok")
    out = got["state"]["stepOutputs"]["ask"]
    assert out["status"] == "pending" and out["title"] == "Approve the budget", out
    assert out["callback_url"].startswith(s.http + "/api/workflows/callback/"), out
    assert len(out["callback_url"].rsplit("/", 1)[1]) == 43, out
    assert got["state"]["wait"]["kind"] == "suspend" and got["logs"][-1]["status"] == "paused"
    rid = got["run"]["id"]
    zh.expect_error(c, "run.resume", {"id": rid}, "validation")  # approval needs a decision
    zh.expect_error(c, "run.resume", {"id": rid, "decision": "maybe"}, "validation")
    r = zh.expect_ok(c, "run.resume", {"id": rid, "decision": "approved", "data": {"notes": "LGTM"}})
    assert r["run"]["status"] == "running", r
    done = wait_status(c, rid, TERMINAL)
    assert done["run"]["status"] == "completed", done["run"]
    ask = done["state"]["stepOutputs"]["ask"]
    assert ask["decision"] == "approved" and ask["passed"] is True and ask["data"] == {"notes": "LGTM"}
    assert done["state"]["variables"].get("done") is True
    assert "no" in done["state"]["skippedNodeIds"]
    b = zh.expect_error(c, "run.resume", {"id": rid, "decision": "approved"}, "conflict")
    assert b.get("detail") == "not_paused", b


def test_reject_policies(s, c):
    _, got = approval_run(c, "appr-stop")
    rid = got["run"]["id"]
    zh.expect_ok(c, "run.resume", {"id": rid, "decision": "rejected"})
    done = wait_status(c, rid, TERMINAL)
    assert done["run"]["status"] == "completed", done["run"]
    assert "done" not in done["state"]["variables"], "stop skips the rest"
    _, got = approval_run(c, "appr-cont", on_reject="continue")
    zh.expect_ok(c, "run.resume", {"id": got["run"]["id"], "decision": "rejected"})
    done = wait_status(c, got["run"]["id"], TERMINAL)
    assert done["state"]["variables"].get("rejected_path") is True, done["state"]
    _, got = approval_run(c, "appr-fail", on_reject="fail")
    zh.expect_ok(c, "run.resume", {"id": got["run"]["id"], "decision": "rejected"})
    done = wait_status(c, got["run"]["id"], TERMINAL)
    assert done["run"]["status"] == "failed" and "rejected" in done["run"]["error"]["message"]


def test_concurrent_resume(s, c):
    """20 clients resume the same paused run at once: exactly one wins."""
    _, got = approval_run(c, "appr-race")
    rid = got["run"]["id"]
    results = []

    def one():
        with zh.Client(s.api, key=S["key"]) as cc:
            ok, body = cc.call("run.resume", {"id": rid, "decision": "approved"})
            results.append((ok, body.get("detail")))

    ts = [threading.Thread(target=one) for _ in range(20)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wins = [r for r in results if r[0]]
    assert len(wins) == 1, results
    assert all(d == "not_paused" for ok, d in results if not ok), results
    assert wait_status(c, rid, TERMINAL)["run"]["status"] == "completed"


def test_delay_woken_early(s, c):
    w = wf(c, "long-delay", [{"id": "d", "type": "delay", "config": {"duration": 6, "unit": "hours"}},
                             {"id": "s", "type": "set", "config": {"values": {"x": 1}}}])
    run = start(c, w["id"])
    wait_status(c, run["id"], ("waiting",))
    zh.expect_ok(c, "run.resume", {"id": run["id"]})
    assert wait_status(c, run["id"], TERMINAL)["run"]["status"] == "completed"


def test_resume_errors(s, c):
    zh.expect_error(c, "run.resume", {"id": "0190d6a4-0000-7000-8000-000000000000",
                                      "decision": "approved"}, "not_found")
    zh.expect_error(c, "run.resume", {}, "validation")
    _, got = approval_run(c, "appr-tenant")
    with zh.Client(s.api, key=S["other"]) as o:  # another tenant sees nothing
        zh.expect_error(o, "run.resume", {"id": got["run"]["id"], "decision": "approved"},
                        "not_found")
    with zh.Client(s.api, key=S["viewer"]) as v:
        zh.expect_error(v, "run.resume", {"id": got["run"]["id"], "decision": "approved"},
                        "forbidden")
    zh.expect_ok(c, "run.cancel", {"id": got["run"]["id"]})
    zh.expect_error(c, "run.resume", {"id": got["run"]["id"], "decision": "approved"}, "conflict")


def test_expiry(s, c):
    """An unanswered approval fails at its deadline (test clock moved 2 h)."""
    _, got = approval_run(c, "appr-expire", expires_in_hours=1)
    rid = got["run"]["id"]
    with zh.Client(s.admin) as adm:
        zh.expect_ok(adm, "clock.set", {"now_ms": S["clock"] + 2 * 3600_000})
    S["clock"] += 2 * 3600_000
    done = wait_status(c, rid, TERMINAL)
    assert done["run"]["status"] == "failed" and "expired" in done["run"]["error"]["message"]


def test_pause_survives_kill(s, c):
    _, got = approval_run(c, "appr-crash")
    rid = got["run"]["id"]
    s.kill9()
    s.start()
    with zh.Client(s.api, key=S["key"]) as c2:
        assert zh.expect_ok(c2, "run.get", {"id": rid})["run"]["status"] == "paused"
        zh.expect_ok(c2, "run.resume", {"id": rid, "decision": "approved"})
        done = wait_status(c2, rid, TERMINAL)
        assert done["run"]["status"] == "completed"
        assert [l["nodeId"] for l in done["logs"]].count("ask") == 2  # paused, then completed


def test_children(s, c):
    child = wf(c, "child", [{"id": "s", "type": "set", "config": {"values": {"from_child": "{{inputs.n}}"}}}])
    slow = wf(c, "slow-child", [{"id": "d", "type": "delay", "config": {"duration": 300, "unit": "milliseconds"}},
                                {"id": "s", "type": "set", "config": {"values": {"slow": True}}}])
    bad = wf(c, "bad-child", [{"id": "h", "type": "http_request",
                               "config": {"url": "http://10.255.255.1/x", "timeout_ms": 100},
                               "retry": {"max_attempts": 1}}])
    parent = wf(c, "parent", [
        {"id": "fire", "type": "run_workflow", "config": {"workflow_id": child["id"], "inputs": {"n": 1}}},
        {"id": "wait", "type": "run_workflow", "name": "Wait for the slow one",
         "config": {"workflow_id": slow["id"], "wait_for_completion": True}},
        {"id": "use", "type": "set", "config": {"values": {"child_status": "{{steps.wait.status}}"}}}])
    run = start(c, parent["id"])
    mid = wait_status(c, run["id"], ("waiting_for_child", "completed", "failed"))
    done = wait_status(c, run["id"], TERMINAL)
    assert done["run"]["status"] == "completed", done["run"]
    assert done["state"]["variables"]["child_status"] == "completed"
    kids = done["children"]
    assert {k["workflow_name"] for k in kids} == {"child", "slow-child"}, kids
    assert all(k["status"] == "completed" for k in wait_status(c, run["id"], TERMINAL)["children"]
               if k["workflow_name"] == "slow-child")
    kid = zh.expect_ok(c, "run.get", {"id": kids[0]["id"]})
    assert kid["parent"]["run_id"] == run["id"], kid
    assert mid["run"]["status"] in ("waiting_for_child", "completed")
    p2 = wf(c, "parent-bad", [{"id": "w", "type": "run_workflow",
                               "config": {"workflow_id": bad["id"], "wait_for_completion": True}}])
    r2 = start(c, p2["id"])
    d2 = wait_status(c, r2["id"], TERMINAL)
    assert d2["run"]["status"] == "failed" and "child run" in d2["run"]["error"]["message"], d2["run"]
    rec = wf(c, "recursive", [{"id": "me", "type": "run_workflow",
                               "config": {"workflow_id": "SELF", "wait_for_completion": True}}])
    zh.expect_ok(c, "wf.update", {"id": rec["id"], "patch": {"definition": {"nodes": [
        {"id": "me", "type": "run_workflow", "config": {"workflow_id": rec["id"], "wait_for_completion": True}}]}}})
    r3 = start(c, rec["id"])
    d3 = wait_status(c, r3["id"], TERMINAL, timeout=30)
    assert d3["run"]["status"] == "failed", d3["run"]
    zh.expect_error(c, "run.start", {"workflow_id": child["id"],
                                     "parent": {"run_id": run["id"], "node_id": "x"}}, "forbidden")


def test_loop(s, c):
    w = wf(c, "loop", [
        {"id": "seed", "type": "set", "config": {"values": {"xs": [1, 2, 3]}}},
        {"id": "each", "type": "loop", "config": {
            "items": "{{vars.xs}}",
            "step": {"type": "set", "config": {"values": {"last": "{{item}}", "i": "{{index}}"}}}}}])
    done = wait_status(c, start(c, w["id"])["id"], TERMINAL)
    out = done["state"]["stepOutputs"]["each"]
    assert done["run"]["status"] == "completed" and out["count"] == 3, done
    assert done["state"]["variables"]["last"] == 3 and done["state"]["variables"]["i"] == 2
    big = wf(c, "loop-big", [{"id": "each", "type": "loop", "config": {
        "items": list(range(5)), "max_items": 2, "step": {"type": "set", "config": {"values": {"a": 1}}}}}])
    d = wait_status(c, start(c, big["id"])["id"], TERMINAL)
    assert d["run"]["status"] == "failed" and "max_items" in d["run"]["error"]["message"]
    b = zh.expect_error(c, "wf.create", {"workflow": {"name": "loop-delay", "definition": {"nodes": [
        {"id": "l", "type": "loop", "config": {"items": [1], "step": {"type": "delay", "config": {"duration": 1}}}}]}}},
        "validation")
    assert "delay cannot run inside another step" in b["message"], b


def test_stats_and_state(s, c):
    st = zh.expect_ok(c, "wf.stats", {})
    assert st["workflows"]["total"] >= 5 and st["runs"]["total"] >= 5, st
    assert st["runs"]["completed"] >= 3, st
    w = wf(c, "with-state", [{"id": "s", "type": "set", "config": {"values": {"k": "v"}}}])
    wait_status(c, start(c, w["id"])["id"], TERMINAL)
    time.sleep(0.3)  # stats are flushed every 200 ms
    lst = zh.expect_ok(c, "run.list", {"workflow_id": w["id"], "with_state": True})
    assert lst["runs"][0]["state"]["variables"] == {"k": "v"}, lst
    with zh.Client(s.api, key=S["other"]) as o:
        assert zh.expect_ok(o, "wf.stats", {})["workflows"]["total"] == 0


def test_send_form(s, c):
    """send_form pauses with a form link; the public page shows the fields and
    a form-encoded POST resumes the run with them (single use)."""
    import urllib.error
    import urllib.parse
    import urllib.request
    w = wf(c, "form", [{"id": "f", "type": "send_form", "config": {
        "title": "Your address", "fields": [{"name": "city", "required": True},
                                            {"name": "zip", "label": "Postcode"}]}},
        {"id": "s", "type": "set", "config": {"values": {"city": "{{steps.f.data.city}}"}}}])
    got = wait_status(c, start(c, w["id"])["id"], ("paused",))
    url = got["state"]["stepOutputs"]["f"]["form_url"]
    assert url.startswith(s.http + "/api/workflows/forms/"), url
    page = urllib.request.urlopen(url, timeout=10).read().decode()
    assert 'name="city"' in page and "Postcode" in page, page
    form = urllib.parse.urlencode({"city": "Lyon <b>", "zip": "69001"}).encode()
    r = urllib.request.urlopen(urllib.request.Request(url, data=form, method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded"}), timeout=10)
    assert r.status == 200
    done = wait_status(c, got["run"]["id"], TERMINAL)
    assert done["state"]["variables"]["city"] == "Lyon <b>", done["state"]
    assert done["state"]["stepOutputs"]["f"]["data"] == {"city": "Lyon <b>", "zip": "69001"}
    try:
        urllib.request.urlopen(urllib.request.Request(url, data=form, method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded"}), timeout=10)
        raise AssertionError("second submission accepted")
    except urllib.error.HTTPError as e:
        assert e.code == 409, e.code


def test_seed001_event_triggers(s, c):
    """ROW_ADDED with a table filter fires once per table for a bulk sync;
    an unfiltered RECORD_UPDATED fires for any table; FORM_APPROVED fires
    from an ingested form event with its context variables; only ACTIVE
    automations fire."""
    def auto(name, trigger, status="active"):
        return wf(c, name, [{"id": "s", "type": "set", "config": {"values": {
            "table": "{{event.tableId}}", "form": "{{event.formTitle}}"}}}],
            trigger=trigger, status=status)
    rows = auto("on-vulns", {"type": "event", "event": "ROW_ADDED", "filter": {"table_id": "vulns"}})
    anyup = auto("on-any-update", {"type": "event", "event": "RECORD_UPDATED"})
    draft = auto("draft-rows", {"type": "event", "event": "ROW_ADDED", "filter": {"table_id": "vulns"}},
                 status="draft")
    form = auto("on-form", {"type": "event", "event": "FORM_APPROVED", "filter": {"form_id": "intake"}})
    evs = [{"type": "record.created", "module": "vulns", "record": {"id": f"r{i}", "sev": i}}
           for i in range(50)]
    evs.append({"type": "record.created", "module": "other", "record": {"id": "x"}})
    evs.append({"type": "record.updated", "module": "other", "record": {"id": "x", "a": 2},
                "previous": {"id": "x", "a": 1}})
    evs.append({"type": "form.approved", "module": "intake",
                "record": {"submissionId": "sub1", "formId": "intake", "formTitle": "Client Intake"}})
    rep = zh.expect_ok(c, "events.ingest", {"events": evs})
    assert rep["accepted"] == 53 and rep["runs_started"] == 3, rep
    def runs(w):
        return zh.expect_ok(c, "run.list", {"workflow_id": w["id"], "with_state": True})["runs"]
    assert len(runs(draft)) == 0
    r = runs(rows)
    assert len(r) == 1, r
    done = wait_status(c, r[0]["id"], TERMINAL)
    assert done["state"]["variables"]["table"] == "vulns", done["state"]
    assert len(runs(anyup)) == 1
    f = wait_status(c, runs(form)[0]["id"], TERMINAL)
    assert f["state"]["variables"]["form"] == "Client Intake", f["state"]
    zh.expect_error(c, "wf.create", {"workflow": {"name": "bad-ev", "trigger": {"type": "event", "event": "NOPE"},
                                                  "definition": {"nodes": []}}}, "validation")


def test_notify_step_sends_the_link_before_pausing(s, c):
    """approval/send_form "notify": one step run when the link exists and
    before the run pauses, with {{approval.callback_url}} / {{form.form_url}}
    in scope: here an in-app notification that carries the working link."""
    import urllib.request
    w = wf(c, "notify-appr", [{"id": "ask", "type": "approval", "config": {
        "title": "Approve {{inputs.what}}",
        "notify": {"type": "send_notification", "config": {
            "user_id": "boss", "title": "{{approval.title}}",
            "message": "Decide here: {{approval.callback_url}}",
            "link": "{{approval.callback_url}}"}}}},
        {"id": "after", "type": "set", "config": {"values": {"done": True}}}])
    got = wait_status(c, start(c, w["id"], inputs={"what": "the trip"})["id"], ("paused", "failed"))
    assert got["run"]["status"] == "paused", (got["run"], got["logs"])
    out = got["state"]["stepOutputs"]["ask"]
    url = out["callback_url"]
    assert out["notify"]["link"] == url and out["notify"]["user_id"] == "boss", out
    notes = zh.expect_ok(c, "notify.list", {"user_id": "boss"})["notifications"]
    mine = [n for n in notes if n["link"] == url]
    assert len(mine) == 1 and mine[0]["title"] == "Approve the trip", notes
    assert mine[0]["message"] == f"Decide here: {url}", mine[0]
    page = urllib.request.urlopen(url, timeout=10).read()  # the link in the notification works
    assert b"Approve the trip" in page, page[:300]
    zh.expect_ok(c, "run.resume", {"id": got["run"]["id"], "decision": "approved"})
    done = wait_status(c, got["run"]["id"], TERMINAL)
    assert done["run"]["status"] == "completed" and done["state"]["variables"]["done"] is True
    # send_form names its root "form"; waiting kinds cannot be the notify step.
    f = wf(c, "notify-form", [{"id": "f", "type": "send_form", "config": {
        "fields": [{"name": "x"}], "notify": {"type": "set", "config": {
            "values": {"form_link": "{{form.form_url}}"}}}}}])
    got = wait_status(c, start(c, f["id"])["id"], ("paused",))
    assert got["state"]["variables"]["form_link"] == got["state"]["stepOutputs"]["f"]["form_url"]
    for bad in ({"type": "delay", "config": {"duration": 1, "unit": "seconds"}},
                {"type": "nope"}, {"type": "set", "config": 5}):
        b = zh.expect_error(c, "wf.create", {"workflow": {"name": zh.uniq("bad"), "definition": {
            "nodes": [{"id": "a", "type": "approval", "config": {"notify": bad}}]}}}, "validation")
        assert "config.notify" in b["message"], b
    # A failing notify fails the step, and shows no link that was never stored.
    bad_wf = wf(c, "notify-fails", [{"id": "a", "type": "approval", "config": {
        "notify": {"type": "send_notification", "config": {"user_id": "{{inputs.nobody}}",
                                                           "title": "t"}}},
        "retry": {"max_attempts": 1}}])
    got = wait_status(c, start(c, bad_wf["id"])["id"], TERMINAL)
    assert got["run"]["status"] == "failed", got["run"]
    assert got["run"]["error"]["message"].startswith("notify: "), got["run"]
    assert "a" not in got["state"]["stepOutputs"] or not got["state"]["stepOutputs"]["a"], got


def test_links_follow_mount_and_public_url(s, c):
    """Links use --public-url and wherever --mount put the automations pages."""
    import urllib.request
    s2 = zh.Server(["--mount", "automations=/hr/approvals"])
    s2.extra_args += ["--public-url", f"http://localhost:{s2.http_port}/"]
    with s2:
        key = zh.create_key(s2.data, "acme", "admin")
        with zh.Client(s2.api, key=key) as c2:
            w = wf(c2, "linked", [{"id": "ask", "type": "approval", "config": {"title": "T"}}])
            got = wait_status(c2, start(c2, w["id"])["id"], ("paused",))
            url = got["state"]["stepOutputs"]["ask"]["callback_url"]
            assert url.startswith(f"http://localhost:{s2.http_port}/hr/approvals/callback/"), url
            page = urllib.request.urlopen(url.replace("localhost", "127.0.0.1"), timeout=10).read()
            assert b"Approve" in page, page[:200]


S = {}


def main():
    S["clock"] = T0
    with zh.Server(["--test-clock", str(T0)]) as s:
        S["key"] = zh.create_key(s.data, "acme", "admin")
        S["viewer"] = zh.create_key(s.data, "acme", "viewer")
        S["other"] = zh.create_key(s.data, "globex", "admin")
        tests = [(n, f) for n, f in sorted(globals().items()) if n.startswith("test_")]
        only = os.environ.get("ZF_TEST")
        for name, fn in tests:
            if only and only not in name:
                continue
            with zh.Client(s.api, key=S["key"]) as c:
                fn(s, c)
            print(f"ok {name}", flush=True)


if __name__ == "__main__":
    main()
