#!/usr/bin/python3
"""it_records — module records and event ingestion (issue 5, sections 2 and 3),
black-box over real HTTP (/api/v2/records, /api/v2/events,
/api/v2/notifications: http/dialects/data.c) and over zmq (rec.create,
rec.get, rec.list, rec.update, rec.delete, events.ingest, notify.list).

Covers: 201 shapes with ISO times (HTTP) and Unix ms (zmq), PATCH as a
merge patch (null removes, reserved fields ignored), an unchanged patch
changes nothing and emits no event, module name rules, non-object bodies,
the 500-field limit, unknown ids and another tenant's ids (404 identical to
unknown), roles (viewer reads, cannot write), event batches (202 accepted,
validation errors naming the index, > 10,000 → 413 too_large, malformed
JSON), the run queue bound (--max-queued: 503 + Retry-After, nothing
applied) and per-user notifications. One server for the file (--rate-limit 0).

    ZFLOW_BIN=build/zflow /usr/bin/python3 tests/it_records.py   (ZF_TEST=substr for a subset)
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import zf_harness as zh  # noqa: E402
from http_harness import ISO_MS, UUID_RE, Http, check_iso, expect, fake_id  # noqa: E402

R = "/api/v2/records"
EV = "/api/v2/events"
S = {}
RESERVED = {"id", "created_at", "updated_at"}


def api(role="admin", tenant="acme"):
    return S["http"][(tenant, role)]


def zc(role="admin", tenant="acme"):
    """A zmq client bound to that tenant's key of that role (one per key)."""
    k = (tenant, role)
    if k not in S["zmq"]:
        S["zmq"][k] = zh.Client(S["api"], S["keys"][k])
    return S["zmq"][k]


def new_record(module="deals", **fields):
    b = expect(api().post(f"{R}/{module}", fields or {"name": "r"}), 201)
    return b["record"]


def wait_runs(wf_id, n, timeout=10):
    """Waits until the workflow has n terminal runs; returns them."""
    def probe():
        runs = zh.expect_ok(zc(), "run.list", {"workflow_id": wf_id})["runs"]
        done = [r for r in runs if r["status"] in ("completed", "failed")]
        return runs if len(done) >= n and len(runs) == len(done) else None
    return zh.wait_for(probe, timeout, what=f"{n} runs of {wf_id}")


# ---------------------------------------------------------------- records over HTTP


def test_create_shape_and_iso_times():
    r = api().post(f"{R}/contacts", {"name": "Ada", "age": 36, "tags": ["a"], "addr": {"c": "X"}})
    b = expect(r, 201)
    assert set(b) == {"success", "record", "runs_started"}, b
    rec = b["record"]
    assert UUID_RE.match(rec["id"]), rec
    check_iso(rec["created_at"])
    check_iso(rec["updated_at"])
    assert rec["created_at"] == rec["updated_at"]
    assert {k: rec[k] for k in rec if k not in RESERVED} == {
        "name": "Ada", "age": 36, "tags": ["a"], "addr": {"c": "X"}}
    assert b["runs_started"] == 0
    got = expect(api().get(f"{R}/contacts/{rec['id']}"), 200)
    assert set(got) == {"success", "record"} and got["record"] == rec, got
    # {"record": {...}} alone is the wrapped form of the same thing
    w = expect(api().post(f"{R}/contacts", {"record": {"name": "Bob"}}), 201)["record"]
    assert w["name"] == "Bob" and "record" not in w, w


def test_client_cannot_set_reserved_fields():
    rec = new_record("contacts", id="mine", created_at=1, updated_at="x", name="n")
    assert rec["id"] != "mine" and UUID_RE.match(rec["id"]), rec
    check_iso(rec["created_at"])
    check_iso(rec["updated_at"])
    b = expect(api().patch(f"{R}/contacts/{rec['id']}", {"id": "zz", "created_at": 5}), 200)
    assert b["changed"] == [] and b["record"]["id"] == rec["id"], b
    assert b["record"]["created_at"] == rec["created_at"]


def test_list_pagination_and_total():
    mod = "listing"
    ids = [new_record(mod, n=i)["id"] for i in range(5)]
    b = expect(api().get(f"{R}/{mod}?limit=2"), 200)
    assert set(b) == {"success", "records", "count", "total"}, b
    assert b["count"] == 2 and b["total"] == 5 and len(b["records"]) == 2, b
    for rec in b["records"]:
        check_iso(rec["created_at"])
    allr = expect(api().get(f"{R}/{mod}?limit=500"), 200)["records"]
    assert [r["id"] for r in allr] == ids[::-1], "not newest first"
    # a module whose name extends another's is a different module
    new_record(mod + "s", n=99)
    new_record(mod[:-1], n=98)
    assert expect(api().get(f"{R}/{mod}?limit=500"), 200)["total"] == 5
    assert expect(api().get(f"{R}/{mod}s"), 200)["total"] == 1
    page2 = expect(api().get(f"{R}/{mod}?limit=2&offset=4"), 200)
    assert page2["count"] == 1 and page2["total"] == 5
    empty = expect(api().get(f"{R}/nothing-here"), 200)
    assert empty["records"] == [] and empty["total"] == 0
    for q in ("limit=501", "limit=-1", "limit=x", "offset=-3", "limit=%00", "offset=%00"):
        expect(api().get(f"{R}/{mod}?{q}"), 400, "validation")


def test_a_page_over_16_mib_is_refused_at_once():
    """A page whose answer would pass the 16 MiB one reply may carry is a
    too_large error naming the fix, at once (it used to be dropped by the
    receiver, which answered 504 after its 15 s timeout); a smaller page of
    the same records works, over HTTP and zmq."""
    mod = "huge"
    blob = "x" * 1_000_000
    for i in range(18):
        expect(api().post(f"{R}/{mod}", {"i": i, "v": blob}), 201)
    t0 = time.monotonic()
    b = expect(api().get(f"{R}/{mod}?limit=20"), 413, "too_large")
    assert time.monotonic() - t0 < 5, "the refusal took its time"
    assert "fewer items" in b["error"] and "MiB" in b["error"], b
    ok = expect(api().get(f"{R}/{mod}?limit=10"), 200)
    assert ok["count"] == 10 and ok["total"] == 18, {k: ok[k] for k in ("count", "total")}
    rb = zh.expect_error(zc(), "rec.list", {"module": mod, "limit": 20}, "too_large")
    assert "fewer items" in rb["message"], rb
    assert zh.expect_ok(zc(), "rec.list", {"module": mod, "limit": 10})["total"] == 18


def test_patch_merge_null_removes():
    rec = new_record("deals", name="d", stage="new", value=10, extra=True)
    b = expect(api().patch(f"{R}/deals/{rec['id']}",
                           {"stage": "won", "extra": None, "added": {"x": 1}, "value": 10}), 200)
    assert set(b) == {"success", "record", "changed", "runs_started"}, b
    got = b["record"]
    assert got["stage"] == "won" and got["added"] == {"x": 1} and got["value"] == 10
    assert "extra" not in got, got
    assert sorted(b["changed"]) == ["added", "extra", "stage"], b
    check_iso(got["updated_at"])
    assert got["updated_at"] >= rec["updated_at"] and got["created_at"] == rec["created_at"]
    again = expect(api().get(f"{R}/deals/{rec['id']}"), 200)["record"]
    assert again == got
    # removing a field that is not there is no change
    b = expect(api().patch(f"{R}/deals/{rec['id']}", {"never_there": None}), 200)
    assert b["changed"] == []


def test_unchanged_patch_emits_no_event():
    wf = zh.expect_ok(zc(), "wf.create", {"workflow": {
        "name": zh.uniq("onupd"), "trigger": {"type": "record.updated", "module": "quiet"},
        "definition": {"nodes": [zh.set_node("s1", x=1)]}}})["workflow"]
    rec = new_record("quiet", a=1, b="x")
    b = expect(api().patch(f"{R}/quiet/{rec['id']}", {"a": 1, "b": "x"}), 200)
    assert b["changed"] == [] and b["runs_started"] == 0, b
    assert b["record"]["updated_at"] == rec["updated_at"], "an unchanged patch wrote the record"
    b = expect(api().patch(f"{R}/quiet/{rec['id']}", {"a": 2}), 200)
    assert b["changed"] == ["a"] and b["runs_started"] == 1, b
    runs = wait_runs(wf["id"], 1)
    assert len(runs) == 1, runs
    assert runs[0]["trigger"]["previous"]["a"] == 1 and runs[0]["trigger"]["record"]["a"] == 2


def test_bad_module_names():
    for m in ("Deals", "1abc", "a" * 65, "a.b", "%20x", "_x", "-x", "caf%C3%A9"):
        expect(api().post(f"{R}/{m}", {"a": 1}), 400, "validation")
        expect(api().get(f"{R}/{m}"), 400, "validation")
    # an encoded slash never reaches the records routes
    assert api().post(f"{R}/d%2Fx", {"a": 1}).status in (400, 404)
    ok = "x_y-z9" + "a" * 58  # 64 characters, the longest allowed
    expect(api().post(f"{R}/{ok}", {"a": 1}), 201)
    expect(api().post(f"{R}/{ok}a", {"a": 1}), 400, "validation")


def test_non_object_bodies():
    for body in ("[]", '"s"', "42", "null", "true", "{", '{"a":1,}', "{'a': 1}"):
        expect(api().post(f"{R}/deals", body), 400, "validation")
    rec = new_record()
    for body in ("[]", '"s"', "42", "null", "{"):
        expect(api().patch(f"{R}/deals/{rec['id']}", body), 400, "validation")
    expect(api().patch(f"{R}/deals/{rec['id']}", {}), 400, "validation")


def test_field_limit():
    b = expect(api().post(f"{R}/wide", {f"k{i}": i for i in range(501)}), 400, "validation")
    assert "500" in b["error"], b
    rec = expect(api().post(f"{R}/wide", {f"k{i}": i for i in range(500)}), 201)["record"]
    assert len(rec) == 503
    # one more field through a patch is refused, the record unchanged
    b = expect(api().patch(f"{R}/wide/{rec['id']}", {"k500": 1}), 400, "validation")
    assert "500" in b["error"], b
    assert "k500" not in expect(api().get(f"{R}/wide/{rec['id']}"), 200)["record"]
    # a patch of more than 500 fields is refused as such
    expect(api().patch(f"{R}/wide/{rec['id']}", {f"p{i}": 1 for i in range(501)}), 400,
           "validation")


def test_unknown_and_foreign_ids_are_identical_404():
    mine = new_record("deals", name="secret")
    theirs = expect(api(tenant="other").post(f"{R}/deals", {"name": "theirs"}), 201)["record"]
    for rid in (theirs["id"], fake_id(), "not-an-id", "x" * 100):
        for method, body in (("GET", None), ("PATCH", {"a": 1}), ("DELETE", None)):
            r = api().request(method, f"{R}/deals/{rid}", body)
            expect(r, 404, "not_found")
            ref = api().request(method, f"{R}/deals/{fake_id()}", body)
            assert r.stable()[0] == ref.stable()[0] and r.raw == ref.raw, (r, ref)
    # the other tenant's record is untouched, and tenants do not see each other's lists
    still = expect(api(tenant="other").get(f"{R}/deals/{theirs['id']}"), 200)["record"]
    assert still == theirs
    listed = expect(api(tenant="other").get(f"{R}/deals?limit=500"), 200)["records"]
    assert mine["id"] not in [r["id"] for r in listed]
    # over-long ids are not found too (the router refuses such segments)
    expect(api().get(f"{R}/deals/{'x' * 300}"), 404, "not_found")
    # the same record id in another module is not found either
    expect(api().get(f"{R}/contacts/{mine['id']}"), 404, "not_found")


def test_delete():
    rec = new_record("deals", name="gone")
    b = expect(api().delete(f"{R}/deals/{rec['id']}"), 200)
    assert set(b) == {"success", "message", "runs_started"}, b
    expect(api().get(f"{R}/deals/{rec['id']}"), 404, "not_found")
    expect(api().delete(f"{R}/deals/{rec['id']}"), 404, "not_found")
    expect(api().patch(f"{R}/deals/{rec['id']}", {"a": 1}), 404, "not_found")


def test_roles_viewer_reads_but_cannot_write():
    rec = new_record("deals", name="v")
    v = api("viewer")
    assert expect(v.get(f"{R}/deals/{rec['id']}"), 200)["record"]["id"] == rec["id"]
    expect(v.get(f"{R}/deals"), 200)
    expect(v.get("/api/v2/notifications?user_id=u1"), 200)
    expect(v.post(f"{R}/deals", {"a": 1}), 403, "forbidden")
    expect(v.patch(f"{R}/deals/{rec['id']}", {"a": 1}), 403, "forbidden")
    expect(v.delete(f"{R}/deals/{rec['id']}"), 403, "forbidden")
    expect(v.post(EV, {"events": []}), 403, "forbidden")
    assert expect(api().get(f"{R}/deals/{rec['id']}"), 200)["record"] == rec
    m = api("member")
    expect(m.post(f"{R}/deals", {"a": 1}), 201)
    expect(api().get(f"{R}/deals", key=None), 401, "unauthorized")
    expect(api().get(f"{R}/deals", key="zf_bogus"), 401, "unauthorized")


# ---------------------------------------------------------------- records over zmq


def test_zmq_crud():
    c = zc()
    rec = zh.expect_ok(c, "rec.create", {"module": "zm", "record": {"name": "z", "n": 1}})
    assert rec["module"] == "zm" and rec["runs_started"] == 0, rec
    rec = rec["record"]
    assert UUID_RE.match(rec["id"]) and isinstance(rec["created_at"], int), rec
    assert rec["created_at"] == rec["updated_at"] and rec["created_at"] > 1.6e12
    got = zh.expect_ok(c, "rec.get", {"module": "zm", "id": rec["id"]})
    assert got["record"] == rec and got["module"] == "zm"
    up = zh.expect_ok(c, "rec.update", {"module": "zm", "id": rec["id"],
                                        "patch": {"n": 2, "name": None, "k": [1]}})
    assert sorted(up["changed"]) == ["k", "n", "name"], up
    assert up["previous"] == {"n": 1, "name": "z", "k": None}, up
    assert up["record"]["n"] == 2 and "name" not in up["record"]
    same = zh.expect_ok(c, "rec.update", {"module": "zm", "id": rec["id"], "patch": {"n": 2}})
    assert same["changed"] == [] and same["runs_started"] == 0
    lst = zh.expect_ok(c, "rec.list", {"module": "zm", "limit": 10})
    assert lst["total"] == 1 and lst["records"][0]["id"] == rec["id"]
    dl = zh.expect_ok(c, "rec.delete", {"module": "zm", "id": rec["id"]})
    assert dl["deleted"] is True and dl["id"] == rec["id"]
    zh.expect_error(c, "rec.get", {"module": "zm", "id": rec["id"]}, "not_found")
    zh.expect_error(c, "rec.delete", {"module": "zm", "id": rec["id"]}, "not_found")


def test_zmq_create_idempotency_key():
    """rec.create with an idempotency key creates once: a repeat answers the
    same record (replayed) and fires no second record.created run; the key is
    per tenant and module; a deleted record frees its key."""
    c = zc()
    wf = zh.expect_ok(c, "wf.create", {"workflow": {
        "name": zh.uniq("idem"), "trigger": {"type": "record.created", "module": "idemmod"},
        "definition": {"nodes": [zh.set_node("s1", x=1)]}}})["workflow"]
    body = {"module": "idemmod", "record": {"name": "a"}, "idempotency_key": "run1.n1"}
    first = zh.expect_ok(c, "rec.create", body)
    assert first["runs_started"] == 1 and "replayed" not in first, first
    again = zh.expect_ok(c, "rec.create", dict(body, record={"name": "changed"}))
    assert again["replayed"] is True and again["runs_started"] == 0, again
    assert again["record"] == first["record"], (again, first)  # the first record, unchanged
    assert len(wait_runs(wf["id"], 1)) == 1
    other_mod = zh.expect_ok(c, "rec.create", dict(body, module="idemmod2"))
    assert other_mod["record"]["id"] != first["record"]["id"], other_mod
    other_tenant = zh.expect_ok(zc(tenant="other"), "rec.create", body)
    assert other_tenant["record"]["id"] != first["record"]["id"], other_tenant
    zh.expect_ok(c, "rec.delete", {"module": "idemmod", "id": first["record"]["id"]})
    fresh = zh.expect_ok(c, "rec.create", body)
    assert fresh["record"]["id"] != first["record"]["id"] and "replayed" not in fresh, fresh
    for bad in ("", 5, "x" * 201):
        zh.expect_error(c, "rec.create", dict(body, idempotency_key=bad), "validation")


def test_zmq_validation_and_tenancy():
    c = zc()
    for body in ({"record": {"a": 1}}, {"module": "Bad", "record": {"a": 1}},
                 {"module": 5, "record": {"a": 1}}, {"module": "m", "record": [1]},
                 {"module": "m", "record": "x"}, {"module": "m"},
                 {"module": "m", "record": {f"k{i}": 1 for i in range(501)}}):
        zh.expect_error(c, "rec.create", body, "validation")
    zh.expect_error(c, "rec.update", {"module": "m", "id": fake_id(), "patch": {"a": 1}},
                    "not_found")
    zh.expect_error(c, "rec.update", {"module": "m", "id": fake_id(), "patch": 5}, "validation")
    zh.expect_error(c, "rec.list", {"module": "m", "limit": 501}, "validation")
    rec = zh.expect_ok(c, "rec.create", {"module": "m", "record": {"a": 1}})["record"]
    other = zc(tenant="other")
    a = zh.expect_error(other, "rec.get", {"module": "m", "id": rec["id"]}, "not_found")
    b = zh.expect_error(other, "rec.get", {"module": "m", "id": fake_id()}, "not_found")
    assert a == b, (a, b)
    zh.expect_error(other, "rec.update", {"module": "m", "id": rec["id"], "patch": {"a": 2}},
                    "not_found")
    zh.expect_error(other, "rec.delete", {"module": "m", "id": rec["id"]}, "not_found")
    v = zc("viewer")
    assert zh.expect_ok(v, "rec.get", {"module": "m", "id": rec["id"]})["record"]["a"] == 1
    zh.expect_error(v, "rec.create", {"module": "m", "record": {"a": 1}}, "forbidden")
    zh.expect_error(v, "rec.update", {"module": "m", "id": rec["id"], "patch": {"a": 2}},
                    "forbidden")
    zh.expect_error(v, "rec.delete", {"module": "m", "id": rec["id"]}, "forbidden")
    zh.expect_error(v, "events.ingest", {"events": []}, "forbidden")
    assert zh.expect_ok(c, "rec.get", {"module": "m", "id": rec["id"]})["record"]["a"] == 1


# ---------------------------------------------------------------- events


def ev(i=0, type_="record.created", module="evm", **extra):
    e = {"type": type_, "module": module, "record": {"id": f"e{i}", "n": i}}
    e.update(extra)
    return e


def test_events_accepted():
    b = expect(api().post(EV, {"events": [ev(i) for i in range(3)]}), 202)
    assert b["accepted"] == 3 and b["runs_started"] == 0, b
    b = expect(api().post(EV, {"events": []}), 202)
    assert b["accepted"] == 0
    upd = ev(1, "record.updated", previous={"id": "e1", "n": 0})
    dele = ev(2, "record.deleted")
    assert expect(api().post(EV, {"events": [upd, dele, ev(3, previous=None)]}), 202)[
        "accepted"] == 3
    # events that match nothing are acknowledged but not stored as records
    assert expect(api().get(f"{R}/evm"), 200)["total"] == 0


def test_events_validation_names_the_index():
    good = [ev(i) for i in range(3)]
    cases = [
        ({"type": "record.bogus", "module": "m", "record": {}}, "events[3].type"),
        ({"module": "m", "record": {}}, "events[3].type"),
        ({"type": "field.changed", "module": "m", "record": {}}, "events[3].type"),
        ({"type": "record.created", "module": "Bad!", "record": {}}, "events[3].module"),
        ({"type": "record.created", "record": {}}, "events[3].module"),
        ({"type": "record.created", "module": "m"}, "events[3].record"),
        ({"type": "record.created", "module": "m", "record": [1]}, "events[3].record"),
        ({"type": "record.updated", "module": "m", "record": {}, "previous": 5},
         "events[3].previous"),
        (5, "events[3]"),
        ("x", "events[3]"),
    ]
    for bad, where in cases:
        b = expect(api().post(EV, {"events": good + [bad] + good}), 400, "validation")
        assert b["error"].startswith(where), (bad, b)
        zb = zh.expect_error(zc(), "events.ingest", {"events": good + [bad]}, "validation")
        assert zb["message"].startswith(where), (bad, zb)
    for body in ({"nope": []}, {"events": {}}, {"events": "x"}, {"events": None}):
        b = expect(api().post(EV, body), 400, "validation")
        assert "events" in b["error"], b


def test_events_too_many_is_413():
    many = [ev(i) for i in range(10001)]
    b = expect(api().post(EV, {"events": many}), 413, "too_large")
    assert "10000" in b["error"], b
    zb = zh.expect_error(zc(), "events.ingest", {"events": many}, "too_large")
    assert "10000" in zb["message"], zb
    b = expect(api().post(EV, {"events": many[:10000]}), 202)
    assert b["accepted"] == 10000


def test_events_malformed_json():
    for body in ("{", '{"events": [', '{"events": [1,]}', "nul", '{"events": []} x', b"\xff\xfe"):
        expect(api().post(EV, body), 400, "validation")
    for body in ("[]", '"events"', "42"):
        expect(api().post(EV, body), 400, "validation")


def test_zmq_events_ingest():
    b = zh.expect_ok(zc(), "events.ingest", {"events": [ev(i) for i in range(5)]})
    assert b == {"accepted": 5, "runs_started": 0}, b
    zh.expect_error(zc(), "events.ingest", {}, "validation")
    zh.expect_error(zc(), "events.ingest", {"events": {"a": 1}}, "validation")


def test_events_start_runs_and_tenant_isolation():
    wf = zh.expect_ok(zc(), "wf.create", {"workflow": {
        "name": zh.uniq("onev"), "trigger": {"type": "record.created", "module": "evrun"},
        "definition": {"nodes": [zh.set_node("s1", x=1)]}}})["workflow"]
    b = expect(api(tenant="other").post(EV, {"events": [ev(i, module="evrun") for i in range(3)]}),
               202)
    assert b["runs_started"] == 0, b
    b = expect(api().post(EV, {"events": [ev(i, module="evrun") for i in range(3)]
                               + [ev(9, module="evother")]}), 202)
    assert b["accepted"] == 4 and b["runs_started"] == 3, b
    runs = wait_runs(wf["id"], 3)
    assert len(runs) == 3 and {r["status"] for r in runs} == {"completed"}, runs
    assert sorted(r["trigger"]["record"]["n"] for r in runs) == [0, 1, 2]
    assert all(r["trigger"]["event"] == "record.created" for r in runs)


def test_queue_bound_refuses_new_runs():
    """--max-queued: once that many runs wait for a slot, clients' new runs
    (events.ingest, run.start, POST /events) are refused as unavailable / 503
    with Retry-After, and nothing of the refused batch is applied; accepted
    again once the queue drains."""
    with zh.Sink() as sink, zh.Server(["--rate-limit", "0", "--max-active", "1",
                                       "--max-queued", "2",
                                       "--egress-allow", "127.0.0.1/32"]) as srv:
        key = zh.create_key(srv.data, "bp", "admin")
        http, c = Http(srv.http, key), zh.Client(srv.api, key)
        try:
            wf = zh.expect_ok(c, "wf.create", {"workflow": {
                "name": "slow", "trigger": {"type": "record.created", "module": "bp"},
                "definition": {"nodes": [{"id": "h", "type": "http_request", "config": {
                    "method": "GET", "url": sink.url("/slow?ms=1500")}}]}}})["workflow"]
            b = expect(http.post(EV, {"events": [ev(0, module="bp")]}), 202)
            assert b["runs_started"] == 1, b
            zh.wait_for(lambda: sink.concurrency()["current"] == 1, 10, what="run 1 in its step")
            b = expect(http.post(EV, {"events": [ev(1, module="bp"), ev(2, module="bp")]}), 202)
            assert b["runs_started"] == 2, b  # 1 active, 2 queued: the bound
            r = http.post(EV, {"events": [ev(3, module="bp")]})
            expect(r, 503, "unavailable")
            assert r.h("Retry-After") == "1", r.header_items
            assert "runs are queued" in r.json["error"], r.json
            zh.expect_error(c, "events.ingest", {"events": [ev(4, module="bp")]}, "unavailable")
            zh.expect_error(c, "run.start", {"workflow_id": wf["id"]}, "unavailable")
            runs = zh.expect_ok(c, "run.list", {"workflow_id": wf["id"]})["runs"]
            assert len(runs) == 3, runs  # the refused requests started nothing
            # The first run ends after 1.5 s: there is room again.
            b = zh.wait_for(lambda: (lambda r: r.json if r.status == 202 else None)(
                http.post(EV, {"events": [ev(5, module="bp")]})), 15, interval=0.2,
                what="events accepted after the queue drained")
            assert b["runs_started"] == 1, b
        finally:
            c.close()
            http.close()
        assert srv.running(), srv.stderr()[-2000:]


def test_queue_bound_per_tenant_leaves_room_for_others():
    """--max-queued-per-tenant (default: half of --max-queued): a tenant
    that floods the run queue is refused at its share while another tenant
    still queues runs; the whole queue's bound still holds; the flooding
    tenant is accepted again once its own runs leave the queue."""
    with zh.Sink() as sink, zh.Server(["--rate-limit", "0", "--max-active", "1",
                                       "--max-queued", "4",
                                       "--egress-allow", "127.0.0.1/32"]) as srv:
        ka, kb = zh.create_key(srv.data, "qa", "admin"), zh.create_key(srv.data, "qb", "admin")
        a, b = zh.Client(srv.api, ka), zh.Client(srv.api, kb)
        try:
            slow = {"definition": {"nodes": [{"id": "h", "type": "http_request", "config": {
                "method": "GET", "url": sink.url("/slow?ms=700")}}]}}
            wa = zh.expect_ok(a, "wf.create", {"workflow": dict(slow, name="flood")})["workflow"]
            wb = zh.expect_ok(b, "wf.create", {"workflow": dict(slow, name="other")})["workflow"]
            zh.expect_ok(a, "run.start", {"workflow_id": wa["id"]})
            zh.wait_for(lambda: sink.concurrency()["current"] == 1, 10, what="A's run in its step")
            for _ in range(2):  # A's share: 4 / 2
                zh.expect_ok(a, "run.start", {"workflow_id": wa["id"]})
            err = zh.expect_error(a, "run.start", {"workflow_id": wa["id"]}, "unavailable")
            assert "2 runs of this tenant are queued" in err["message"], err
            for _ in range(2):  # B still gets in: the queue holds 4
                zh.expect_ok(b, "run.start", {"workflow_id": wb["id"]})
            err = zh.expect_error(b, "run.start", {"workflow_id": wb["id"]}, "unavailable")
            assert "4 runs are queued" in err["message"], err
            assert len(zh.expect_ok(a, "run.list", {"workflow_id": wa["id"]})["runs"]) == 3
            assert len(zh.expect_ok(b, "run.list", {"workflow_id": wb["id"]})["runs"]) == 2
            # A's first run ends after 0.7 s; its next leaves the queue: A has room.
            zh.wait_for(lambda: a.call("run.start", {"workflow_id": wa["id"]})[0], 15,
                        interval=0.1, what="A accepted again")
            for c, wf, n in ((a, wa, 4), (b, wb, 2)):
                zh.wait_for(lambda: zh.expect_ok(c, "run.list", {
                    "workflow_id": wf["id"], "status": "completed"})["total"] == n, 30,
                    interval=0.2, what=f"{n} runs of {wf['name']} completed")
        finally:
            a.close()
            b.close()
        assert srv.running(), srv.stderr()[-2000:]


def test_deleting_a_workflow_drops_its_queued_runs():
    """wf.delete while runs of it wait in the queue: they never execute and
    leave nothing behind (nor does the active one, stopped at its step
    boundary)."""
    with zh.Sink() as sink, zh.Server(["--rate-limit", "0", "--max-active", "1",
                                       "--egress-allow", "127.0.0.1/32"]) as srv:
        key = zh.create_key(srv.data, "dq", "admin")
        with zh.Client(srv.api, key) as c:
            wf = zh.expect_ok(c, "wf.create", {"workflow": {"name": "doomed", "definition": {
                "nodes": [{"id": "h", "type": "http_request", "config": {
                    "method": "GET", "url": sink.url("/slow?ms=800")}},
                    {"id": "s", "type": "set", "config": {"values": {"x": 1}}}]}}})["workflow"]
            ids = [zh.expect_ok(c, "run.start", {"workflow_id": wf["id"]})["run"]["id"]
                   for _ in range(3)]
            zh.wait_for(lambda: sink.concurrency()["current"] == 1, 10, what="run 1 in its step")
            zh.expect_ok(c, "wf.delete", {"id": wf["id"]})
            zh.wait_for(lambda: sink.concurrency()["current"] == 0, 10, what="the step ended")
            time.sleep(1.0)  # room for a wrongly dispatched queued run to reach the sink
            assert sink.concurrency()["total"] == 1, sink.concurrency()
            for rid in ids:
                zh.expect_error(c, "run.get", {"id": rid}, "not_found")
        assert srv.running(), srv.stderr()[-2000:]


# ---------------------------------------------------------------- notifications


def test_notifications_per_user():
    c = zc()
    for user, title in (("u1", "one"), ("u1", "two"), ("u2", "three")):
        n = zh.expect_ok(c, "notify.create", {"user_id": user, "title": title, "message": "m",
                                              "link": "/x"})["notification"]
        assert n["user_id"] == user and n["read"] is False and UUID_RE.match(n["id"]), n
    b = expect(api().get("/api/v2/notifications?user_id=u1"), 200)
    assert set(b) == {"success", "notifications", "count", "total"}, b
    assert b["count"] == 2 and b["total"] == 2
    assert sorted(n["title"] for n in b["notifications"]) == ["one", "two"]
    for n in b["notifications"]:
        assert ISO_MS.match(n["created_at"]), n
        assert n["user_id"] == "u1" and n["message"] == "m" and n["link"] == "/x"
    b = expect(api().get("/api/v2/notifications?user_id=u2"), 200)
    assert [n["title"] for n in b["notifications"]] == ["three"]
    assert expect(api().get("/api/v2/notifications?user_id=nobody"), 200)["total"] == 0
    assert expect(api().get("/api/v2/notifications?user_id=u"), 200)["total"] == 0
    assert expect(api().get("/api/v2/notifications?user_id=u10"), 200)["total"] == 0
    assert expect(api(tenant="other").get("/api/v2/notifications?user_id=u1"), 200)["total"] == 0
    assert expect(api().get("/api/v2/notifications?user_id=u1&limit=1"), 200)["count"] == 1
    expect(api().get("/api/v2/notifications?user_id=u1&limit=501"), 400, "validation")
    zl = zh.expect_ok(zc("viewer"), "notify.list", {"user_id": "u1"})
    assert zl["total"] == 2
    for bad in ({"title": "t"}, {"user_id": "", "title": "t"}, {"user_id": "u"},
                {"user_id": "u", "title": "t", "message": 5}):
        zh.expect_error(c, "notify.create", bad, "validation")


# ---------------------------------------------------------------- main


def main():
    with zh.Server(["--rate-limit", "0"]) as srv:
        S["keys"], S["http"] = {}, {}
        for tenant in ("acme", "other"):
            for role in ("admin", "member", "viewer"):
                k = zh.create_key(srv.data, tenant, role)
                S["keys"][(tenant, role)] = k
                S["http"][(tenant, role)] = Http(srv.http, k)
        S["api"], S["zmq"] = srv.api, {}
        try:
            rc = zh.run_tests(globals())
        finally:
            for c in S["zmq"].values():
                c.close()
            for h in S["http"].values():
                h.close()
        assert srv.running(), srv.stderr()[-2000:]
    return rc


if __name__ == "__main__":
    sys.exit(main())
