#!/usr/bin/python3
"""it_security — security evidence against a real server: key revocation
times, failed authentications with revoked keys (REST and zmq), denied
requests, and how they reach the evidence_snapshot step's SECURITY_EVENTS.

* key.revoke stores revoked_at (key.list, `zflow keys list`, ORG_MEMBERS,
  api_key.revoked); a second revoke keeps the first time; the offline CLI
  (no server) stores it too.
* A revoked key presented 50 times over REST and 50 times over zmq: the
  tenant's SECURITY_EVENTS count exactly 100 auth.failed, in a handful of
  aggregated events (not one per request), read through an
  evidence_snapshot workflow; another tenant sees none of them; no key,
  hash or digest of a key appears anywhere.
* A window that ended is written without anyone reading it (after the
  next request, or by the engine's tick on an idle server): it survives
  a kill -9. An open window is written at a clean shutdown.
* A viewer calling admin actions: access.denied with role, required role
  and message type (zmq API) or route (REST: the front end's own role
  check tells the engine with a fire-and-forget auth.note; the 403 is the
  same as ever). A JWT user refused over REST is noted by its subject.
* A revoked key over REST: auth.failed with the route ("GET
  /api/v2/workflows/:id/runs", never the raw path); the WebSocket
  handshake names the mount.
* auth.note is internal: the tcp API and the admin socket refuse it
  (forbidden) and nothing forged that way is recorded.
* Unknown keys are not stored per tenant (they have none) but counted in
  the server's log.
* Retention: ZF_SECURITY_MAX_EVENTS caps a tenant's events (oldest go
  first) and events older than 90 days are pruned (--test-clock).

The aggregation window is shortened with ZF_SECURITY_WINDOW_MS.

    ZFLOW_BIN=build/zflow /usr/bin/python3 tests/it_security.py   (ZF_TEST=substr for a subset)
"""
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import zf_harness as zh  # noqa: E402
from http_harness import V2, Http, raw_http  # noqa: E402

S = {}
WINDOW_MS = 1500
JWT_SECRET = "it-security-jwt-secret"
DAY_MS = 24 * 3600 * 1000
ENTRY_KEYS = {"id", "at", "action", "actor", "resource", "details"}
TERMINAL = ("completed", "failed", "cancelled")


# ---------------------------------------------------------------- helpers


def admin(srv=None):
    return zh.Client((srv or S["srv"]).admin)


def new_key(tenant, role, name=None, srv=None):
    with admin(srv) as a:
        body = {"tenant": tenant, "role": role}
        if name:
            body["name"] = name
        return zh.expect_ok(a, "key.create", body)


def revoke(key_id, srv=None):
    with admin(srv) as a:
        return zh.expect_ok(a, "key.revoke", {"id": key_id})


def zc(tenant="acme"):
    return S["zmq"][tenant]


def snapshot(tenant="acme", **config):
    """SECURITY_EVENTS through an evidence_snapshot workflow of the tenant."""
    cfg = dict({"source": "SECURITY_EVENTS", "limit": 1000}, **config)
    wf = zh.expect_ok(zc(tenant), "wf.create", {"workflow": {
        "name": zh.uniq("sec"),
        "definition": {"nodes": [{"id": "ev", "type": "evidence_snapshot", "config": cfg}]}}})
    run = zh.expect_ok(zc(tenant), "run.start",
                       {"workflow_id": wf["workflow"]["id"], "wait": True,
                        "wait_timeout_ms": 20000}, timeout=30)["run"]
    view = zh.wait_run_status(zc(tenant), run["id"], TERMINAL, timeout=30)
    assert view["run"]["status"] == "completed", json.dumps(view)[:3000]
    out = view["state"]["stepOutputs"]["ev"]
    assert out["source"] == "SECURITY_EVENTS" and out["rowCount"] == len(out["rows"]), out
    for r in out["rows"]:
        assert set(r) == ENTRY_KEYS, r
    dated = [r["at"] for r in out["rows"] if r["at"] is not None]
    assert dated == sorted(dated, reverse=True), "rows are not newest first"
    S.setdefault("outputs", []).append(out)
    return out


def events(out, action, key_id):
    return [r for r in out["rows"] if r["action"] == action and r["resource"]["id"] == key_id]


def check_no_secrets(obj, keys):
    zh.assert_no_secrets(obj, keys)


def hammer_zmq(key, n, type_="wf.list"):
    with zh.Client(S["srv"].api) as c:
        for _ in range(n):
            zh.expect_error(c, type_, {}, "unauthorized", key=key)


def hammer_rest(key, n):
    with Http(S["srv"].http, key) as api:
        for _ in range(n):
            r = api.get(V2)
            assert r.status == 401, (r.status, r.raw[:300])


# ---------------------------------------------------------------- revocation time


def test_revoke_stores_revoked_at_once():
    k = new_key("acme", "member", "leaver")
    t0 = zh.now_ms()
    rv = revoke(k["id"])
    t1 = zh.now_ms()
    assert rv["id"] == k["id"] and rv["revoked"] is True, rv
    assert t0 <= rv["revoked_at"] <= t1, (t0, rv, t1)
    time.sleep(0.02)
    again = revoke(k["id"])  # a second revoke keeps the first time
    assert again["revoked_at"] == rv["revoked_at"], (rv, again)
    with admin() as a:
        listed = zh.expect_ok(a, "key.list", {"tenant": "acme"})["keys"]
    mine = [x for x in listed if x["id"] == k["id"]]
    assert len(mine) == 1 and mine[0]["revoked"] is True, mine
    assert mine[0]["revoked_at"] == rv["revoked_at"], mine
    assert "hash" not in mine[0], mine
    # `zflow keys list` with the server running (admin socket)
    cli = zh.zflow_cli("keys", "list", "--data", S["srv"].data, "--tenant", "acme")
    assert cli.returncode == 0, cli.stderr
    rows = [json.loads(line) for line in cli.stdout.splitlines() if line.strip()]
    row = [x for x in rows if x["id"] == k["id"]]
    assert row and row[0]["revoked_at"] == rv["revoked_at"], cli.stdout
    # `zflow keys revoke` again through the server keeps it as well
    cli = zh.zflow_cli("keys", "revoke", "--data", S["srv"].data, k["id"])
    assert cli.returncode == 0, cli.stderr
    with admin() as a:
        listed = zh.expect_ok(a, "key.list", {"tenant": "acme"})["keys"]
    assert [x["revoked_at"] for x in listed if x["id"] == k["id"]] == [rv["revoked_at"]]
    # the evidence: ORG_MEMBERS and api_key.revoked carry the time
    with zh.Client(S["srv"].api, S["keys"]["acme"]) as c:
        members = zh.expect_ok(c, "evidence.collect", {"source": "ORG_MEMBERS", "limit": 1000})
    m = [r for r in members["rows"] if r["id"] == k["id"]]
    assert m == [{"id": k["id"], "name": "leaver", "role": "member",
                  "created_at": k["created_at"], "revoked": True,
                  "revoked_at": rv["revoked_at"]}], m
    out = snapshot()
    r = events(out, "api_key.revoked", k["id"])
    assert len(r) == 1 and r[0]["at"] == rv["revoked_at"], r
    assert r[0]["details"] == {"role": "member"}, r


def test_offline_cli_revoke_stores_revoked_at():
    data = tempfile.mkdtemp(prefix="zf-it-sec-")
    try:
        key = zh.create_key(data, "solo", "viewer", "offline")
        cli = zh.zflow_cli("keys", "list", "--data", data)
        assert cli.returncode == 0, cli.stderr
        kid = json.loads(cli.stdout.splitlines()[0])["id"]
        t0 = zh.now_ms()
        cli = zh.zflow_cli("keys", "revoke", "--data", data, kid)
        t1 = zh.now_ms()
        assert cli.returncode == 0 and kid in cli.stdout, (cli.stdout, cli.stderr)
        row = json.loads(zh.zflow_cli("keys", "list", "--data", data).stdout.splitlines()[0])
        assert row["revoked"] is True and t0 <= row.get("revoked_at", -1) <= t1, row
        cli = zh.zflow_cli("keys", "revoke", "--data", data, kid)
        assert cli.returncode == 0, cli.stderr
        again = json.loads(zh.zflow_cli("keys", "list", "--data", data).stdout.splitlines()[0])
        assert again["revoked_at"] == row["revoked_at"], (row, again)
        assert key not in json.dumps(again)
    finally:
        shutil.rmtree(data, ignore_errors=True)


# ---------------------------------------------------------------- failed authentications


def test_revoked_key_flood_is_aggregated_per_window():
    k = new_key("acme", "member", "stolen")  # never used before: no front-end cache entry
    revoke(k["id"])
    t0 = time.monotonic()
    hammer_rest(k["key"], 50)
    hammer_zmq(k["key"], 50)
    took_ms = (time.monotonic() - t0) * 1000
    time.sleep(WINDOW_MS / 1000 + 0.3)  # the windows end
    out = snapshot()
    got = events(out, "auth.failed", k["id"])
    assert sum(r["details"]["count"] for r in got) == 100, got
    by_origin = {}
    for r in got:
        by_origin.setdefault(r["details"]["origin"], []).append(r)
    assert set(by_origin) == {"http", "zmq"}, got
    assert sum(r["details"]["count"] for r in by_origin["http"]) == 50, by_origin["http"]
    assert sum(r["details"]["count"] for r in by_origin["zmq"]) == 50, by_origin["zmq"]
    # aggregated: one event per window, not one per request
    max_events = 2 * (1 + int(took_ms // WINDOW_MS) + 1)
    assert len(got) <= max_events, (len(got), took_ms)
    for r in got:
        assert r["actor"] == k["id"], r
        assert r["resource"] == {"type": "api_key", "id": k["id"], "name": "stolen"}, r
        d = r["details"]
        assert d["key_id"] == k["id"] and d["role"] == "member", d
        assert "required_role" not in d, d
        assert d["first_at"] <= d["last_at"] == r["at"], d
        assert d["window_ms"] == WINDOW_MS, d
        if d["origin"] == "zmq":
            assert d["request"] == "wf.list", d
        else:
            assert d["request"] == "GET /api/v2/workflows", d  # the front end's route
    check_no_secrets(out, [k["key"]] + list(S["keys"].values()))
    # another tenant sees none of it
    theirs = snapshot("other")
    assert not [r for r in theirs["rows"] if r["action"] in ("auth.failed", "access.denied")
                and r["resource"]["id"] == k["id"]], theirs["rows"]
    # since: the events stay visible from before the flood, gone after it
    later = snapshot(since=zh.now_ms() + 1)
    assert not events(later, "auth.failed", k["id"]), later["rows"]


def restart(kill):
    """kill -9 (or SIGTERM) and start again on the same data; new zmq clients."""
    srv = S["srv"]
    for c in S["zmq"].values():
        c.close()
    if kill:
        srv.kill9()
        srv.start()
    else:
        srv.restart()
    S["zmq"] = {t: zh.Client(srv.api, key) for t, key in S["keys"].items()}


def stored_failures(key_id):
    """auth.failed events of a key read straight from evidence.collect."""
    rows = zh.expect_ok(zc(), "evidence.collect",
                        {"source": "SECURITY_EVENTS", "limit": 1000})["rows"]
    return [r for r in rows if r["action"] == "auth.failed" and r["actor"] == key_id]


def test_ended_window_is_written_without_a_reader():
    """The window flush itself is durable: kill -9 after it, the events are there."""
    k = new_key("acme", "viewer", "crashy")
    revoke(k["id"])
    hammer_zmq(k["key"], 20, "run.list")
    time.sleep(WINDOW_MS / 1000 + 0.3)
    zh.expect_ok(zc(), "wf.list", {})  # any request lets the engine notice the ended window
    time.sleep(0.5)
    restart(kill=True)
    got = stored_failures(k["id"])
    assert sum(r["details"]["count"] for r in got) == 20, got
    assert all(r["details"]["request"] == "run.list" for r in got), got


def test_ended_window_is_written_by_an_idle_server():
    """No request after the flood: the engine's own tick writes the window."""
    k = new_key("acme", "viewer", "idle")
    revoke(k["id"])
    hammer_zmq(k["key"], 7)
    time.sleep(WINDOW_MS / 1000 + 1.5)  # the loop ticks at least once a second
    restart(kill=True)
    assert sum(r["details"]["count"] for r in stored_failures(k["id"])) == 7


def test_open_window_is_written_at_shutdown():
    k = new_key("acme", "viewer", "shutdown")
    revoke(k["id"])
    hammer_zmq(k["key"], 4)
    restart(kill=False)  # SIGTERM with the window still open
    assert sum(r["details"]["count"] for r in stored_failures(k["id"])) == 4


def test_unknown_keys_are_not_stored_but_logged():
    bogus = "zfk_" + "ab" * 32
    hammer_zmq(bogus, 5)
    hammer_rest(bogus, 5)
    out = snapshot()
    text = json.dumps(out)
    assert bogus not in text and hashlib.sha256(bogus.encode()).hexdigest() not in text
    known = set(S["key_ids"].values())
    for r in out["rows"]:
        if r["action"] == "auth.failed":
            assert r["actor"] not in known, r  # only revoked keys of this tenant show up

    def logged():
        zh.expect_ok(zc(), "wf.list", {})  # a request lets the engine close the window
        logs = "".join(S["srv"].stdout_lines) + S["srv"].stderr()  # czmq logs to stdout
        return "request(s) with an unknown API key" in logs
    zh.wait_for(logged, timeout=WINDOW_MS / 1000 + 5, interval=0.2,
                what="the unknown-key log line")


# ---------------------------------------------------------------- denied requests


def test_viewer_calling_admin_actions_is_access_denied():
    v = new_key("acme", "viewer", "read-only")
    with zh.Client(S["srv"].api, v["key"]) as c:
        for _ in range(3):
            zh.expect_error(c, "wf.create", {"workflow": {"name": "x", "definition": {
                "nodes": []}}}, "forbidden")
        zh.expect_error(c, "run.start", {"workflow_id": zh.fake_id()}, "forbidden")
        zh.expect_ok(c, "wf.list", {})  # allowed: no event
    out = snapshot()
    got = events(out, "access.denied", v["id"])
    by_req = {r["details"]["request"]: r for r in got}
    assert set(by_req) == {"wf.create", "run.start"}, got
    w = by_req["wf.create"]
    assert w["details"] == {"key_id": v["id"], "role": "viewer", "required_role": "admin",
                            "request": "wf.create", "origin": "zmq", "count": 3,
                            "first_at": w["details"]["first_at"], "last_at": w["at"],
                            "window_ms": WINDOW_MS}, w
    assert w["actor"] == v["id"] and w["resource"] == {"type": "api_key", "id": v["id"],
                                                        "name": "read-only"}, w
    assert by_req["run.start"]["details"]["required_role"] == "member", by_req
    assert by_req["run.start"]["details"]["count"] == 1, by_req
    theirs = snapshot("other")
    assert not [r for r in theirs["rows"] if r["resource"]["id"] == v["id"]], theirs["rows"]
    check_no_secrets(out, [v["key"]])


FORBIDDEN_V2 = {"success": False, "error": "Your role (viewer) does not allow this operation",
                "code": "forbidden"}


def test_rest_viewer_admin_actions_are_access_denied():
    v = new_key("acme", "viewer", "rest-viewer")
    wf = zh.expect_ok(zc(), "wf.create", {"workflow": {"name": zh.uniq("keep"), "definition": {
        "nodes": [{"id": "s1", "type": "set", "config": {"values": {"a": 1}}}]}}})["workflow"]
    t0 = time.monotonic()
    with Http(S["srv"].http, v["key"]) as api:
        for _ in range(3):
            r = api.delete(f"{V2}/{wf['id']}")
            # the 403 as ever: status, v2 envelope, message
            assert r.status == 403 and r.json == FORBIDDEN_V2, r
            assert r.h("X-Request-Id") and "json" in r.h("Content-Type"), r.header_items
        for _ in range(2):
            r = api.post(V2, {"name": "nope", "definition": {"nodes": []}})
            assert r.status == 403 and r.json == FORBIDDEN_V2, r
        r = api.post(f"{V2}/{wf['id']}/schedules", {"cron": "* * * * *"})
        assert r.status == 403 and r.json == FORBIDDEN_V2, r
        assert api.get(f"{V2}/{wf['id']}").status == 200  # allowed: no event
    took = time.monotonic() - t0
    assert took < 5, took
    # the workflow is still there: the refusals did nothing
    zh.expect_ok(zc(), "wf.get", {"id": wf["id"]})
    time.sleep(WINDOW_MS / 1000 + 0.3)  # the windows end
    out = snapshot()
    got = events(out, "access.denied", v["id"])
    by_req = {r["details"]["request"]: r for r in got}
    assert set(by_req) == {"DELETE /api/v2/workflows/:id", "POST /api/v2/workflows",
                           "POST /api/v2/workflows/:id/schedules"}, got
    d = by_req["DELETE /api/v2/workflows/:id"]
    assert d["details"] == {"key_id": v["id"], "role": "viewer", "required_role": "admin",
                            "request": "DELETE /api/v2/workflows/:id", "origin": "http",
                            "count": 3, "first_at": d["details"]["first_at"],
                            "last_at": d["at"], "window_ms": WINDOW_MS}, d
    assert d["actor"] == v["id"] and d["resource"] == {"type": "api_key", "id": v["id"],
                                                        "name": "rest-viewer"}, d
    assert by_req["POST /api/v2/workflows"]["details"]["count"] == 2, by_req
    assert len(got) == 3, got  # one event per route and window
    assert wf["id"] not in json.dumps(got), "a raw path (with its id) reached the evidence"
    theirs = snapshot("other")
    assert not [r for r in theirs["rows"] if r["resource"]["id"] == v["id"]], theirs["rows"]
    check_no_secrets(out, [v["key"]])


def test_rest_jwt_user_denied_is_noted_by_subject():
    from http_harness import jwt_claims, jwt_token

    sub = zh.uniq("auditor")
    tok = jwt_token(JWT_SECRET, **jwt_claims(sub=sub, customer_id="acme", role="viewer"))
    with Http(S["srv"].http, tok) as api:
        r = api.delete(f"{V2}/{zh.fake_id()}")
        assert r.status == 403 and r.json == FORBIDDEN_V2, r
    time.sleep(WINDOW_MS / 1000 + 0.3)
    got = [r for r in snapshot()["rows"]
           if r["action"] == "access.denied" and r["actor"] == sub]
    assert len(got) == 1, got
    assert got[0]["resource"] == {"type": "user", "id": sub, "name": None}, got
    assert got[0]["details"]["user"] == sub and "key_id" not in got[0]["details"], got
    assert got[0]["details"]["request"] == "DELETE /api/v2/workflows/:id", got
    assert got[0]["details"]["origin"] == "http" and got[0]["details"]["count"] == 1, got


def test_rest_revoked_key_names_the_route():
    k = new_key("acme", "viewer", "rest-revoked")
    revoke(k["id"])
    wid = zh.fake_id()
    with Http(S["srv"].http, k["key"]) as api:
        for _ in range(2):
            r = api.get(f"{V2}/{wid}/runs")
            assert r.status == 401, r
    # the WebSocket handshake has no route: the method and the mount
    status, _, _ = raw_http(S["srv"].http_port, (
        f"GET {V2}/events?token={k['key']} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        "\r\n").encode())
    assert status == 401, status
    time.sleep(WINDOW_MS / 1000 + 0.3)
    out = snapshot()
    got = {r["details"]["request"]: r["details"] for r in events(out, "auth.failed", k["id"])}
    assert set(got) == {"GET /api/v2/workflows/:id/runs", "GET /api/v2/workflows/*"}, got
    assert got["GET /api/v2/workflows/:id/runs"]["count"] == 2, got
    assert got["GET /api/v2/workflows/*"]["count"] == 1, got
    assert all(d["origin"] == "http" for d in got.values()), got
    assert wid not in json.dumps(out), "a raw path (with its id) reached the evidence"
    check_no_secrets(out, [k["key"]])


def test_auth_note_is_refused_outside_the_process():
    forged = "key_" + "f" * 16
    note = {"action": "access.denied", "tenant": "acme", "key_id": forged, "role": "viewer",
            "required_role": "admin", "request": "DELETE /api/v2/workflows/:id",
            "origin": "http"}
    with zh.Client(S["srv"].api) as c:
        zh.expect_error(c, "auth.note", note, "forbidden")  # no key
        zh.expect_error(c, "auth.note", note, "forbidden", key=S["keys"]["acme"])
        ok, rb = c.call("auth.note", note, key=S["keys"]["acme"], origin="internal")
        assert not ok and rb["code"] == "forbidden", rb  # a spoofed origin does not help
    with admin() as a:
        zh.expect_error(a, "auth.note", note, "forbidden")
    time.sleep(WINDOW_MS / 1000 + 0.3)
    out = snapshot()
    assert forged not in json.dumps(out), [r for r in out["rows"] if r["actor"] == forged]


def test_zz_no_event_output_ever_carries_a_key():
    """Runs last (tests run by name): every snapshot taken above, once more."""
    keys = list(S["keys"].values())
    assert len(S.get("outputs", [])) >= 5, "the snapshots of the other tests are missing"
    for out in S["outputs"]:
        check_no_secrets(out, keys)


# ---------------------------------------------------------------- retention


def test_retention_count_cap_and_90_days():
    t0 = zh.now_ms()
    env = {"ZF_SECURITY_MAX_EVENTS": "3", "ZF_SECURITY_WINDOW_MS": "60000"}
    with zh.Server(["--rate-limit", "0", "--test-clock", str(t0)], env=env) as srv:
        owner = new_key("acme", "owner", srv=srv)
        bad = new_key("acme", "member", "gone", srv=srv)
        revoke(bad["id"], srv=srv)

        def one_round():
            # one failed request, then a read: the read closes the window early
            with zh.Client(srv.api) as c:
                zh.expect_error(c, "wf.list", {}, "unauthorized", key=bad["key"])
                rows = zh.expect_ok(c, "evidence.collect",
                                    {"source": "SECURITY_EVENTS", "limit": 1000},
                                    key=owner["key"])["rows"]
            return [r for r in rows if r["action"] == "auth.failed"]

        seen = [one_round()[0]["id"]]
        for _ in range(4):
            time.sleep(0.01)
            seen.append(one_round()[0]["id"])
        now = one_round()
        ids = [r["id"] for r in now]
        assert len(now) == 3, now  # capped: the oldest went first
        assert ids[1:] == seen[-2:][::-1], (ids, seen)
        assert all(r["details"]["count"] == 1 for r in now), now
        # 91 days later, the next write prunes everything older than 90 days
        with admin(srv) as a:
            zh.expect_ok(a, "clock.set", {"now_ms": t0 + 91 * DAY_MS})
        after = one_round()
        assert len(after) == 1 and after[0]["at"] >= t0 + 91 * DAY_MS, after
        # back to day one: the old events are gone from the store, not just hidden
        with admin(srv) as a:
            zh.expect_ok(a, "clock.set", {"now_ms": t0 + 1000})
        with zh.Client(srv.api, owner["key"]) as c:
            rows = zh.expect_ok(c, "evidence.collect",
                                {"source": "SECURITY_EVENTS", "limit": 1000})["rows"]
        assert [r["id"] for r in rows if r["action"] == "auth.failed"] == [after[0]["id"]], rows


# ---------------------------------------------------------------- main


def main():
    env = {"ZF_SECURITY_WINDOW_MS": str(WINDOW_MS)}
    with zh.Server(["--rate-limit", "0", "--jwt-secret", JWT_SECRET], env=env) as srv:
        S["srv"] = srv
        S["keys"], S["key_ids"] = {}, {}
        for t in ("acme", "other"):
            k = new_key(t, "admin", f"{t}-admin")
            S["keys"][t], S["key_ids"][t] = k["key"], k["id"]
        S["zmq"] = {t: zh.Client(srv.api, k) for t, k in S["keys"].items()}
        try:
            rc = zh.run_tests(globals())
        finally:
            for c in S["zmq"].values():
                c.close()
        assert srv.running(), srv.stderr()[-3000:]
    return rc


if __name__ == "__main__":
    sys.exit(main())
