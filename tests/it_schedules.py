#!/usr/bin/python3
"""it_schedules — cron schedules end to end: seed 002's schedule routes
(create, list, patch, delete) over real HTTP, and firing under the server's
test clock (`zflow serve --test-clock MS`, moved with the admin socket's
`clock.set`): exactly one run per instant with the schedule's inputs, DST
(skipped and repeated local times), missed_execution_policy after downtime,
a 30-simulated-day run across clean restarts and a kill -9, and seed 003's
workflow `trigger: {"type": "schedule"}`.

The expected instants come from an independent oracle: Python's zoneinfo
(system tzdata), local wall times turned into UTC with fold=0 (a skipped
local time maps to the instant it is shifted to, a repeated one to its first
occurrence). Runs are read over the zmq API (`run.list`), whose run records
carry `trigger.scheduled_at`.

    ZFLOW_BIN=build/zflow /usr/bin/python3 tests/it_schedules.py
"""
import datetime as dt
import os
import sys
import time
import zoneinfo

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import zf_harness as zh  # noqa: E402
from http_harness import V2, Http, check_iso, expect, fake_id, set_node, uniq  # noqa: E402

T_SEED = 1773944100000  # 2026-03-19T18:15:00.000Z, the seed's created_at
HOUR, DAY = 3600000, 86400000
SCHED_VIEW = {"id", "workflow_id", "cron_expression", "timezone", "inputs",
              "missed_execution_policy", "enabled", "next_run_at", "last_run_at",
              "created_by", "created_at", "updated_at"}
SEED_BODY = {"cron_expression": "0 9 * * 1", "timezone": "America/New_York",
             "inputs": {"date_range": "LAST_WEEK"},
             "missed_execution_policy": "run_immediately"}


# ---------------------------------------------------------------- helpers


def ms(y, mo, d, h=0, mi=0, s=0):
    return int(dt.datetime(y, mo, d, h, mi, s, tzinfo=dt.timezone.utc).timestamp() * 1000)


def iso(t):
    return dt.datetime.fromtimestamp(t / 1000, dt.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.") + f"{t % 1000:03d}Z"


def oracle(zone, hours, minutes, after, until):
    """UTC ms of the local times hours x minutes in zone, after < t <= until."""
    z = zoneinfo.ZoneInfo(zone)
    day = dt.datetime.fromtimestamp(after / 1000, z).date() - dt.timedelta(days=1)
    last = dt.datetime.fromtimestamp(until / 1000, z).date() + dt.timedelta(days=1)
    out = set()
    while day <= last:
        for h in hours:
            for m in minutes:
                t = int(dt.datetime(day.year, day.month, day.day, h, m, tzinfo=z,
                                    fold=0).timestamp() * 1000)
                if after < t <= until:
                    out.add(t)
        day += dt.timedelta(days=1)
    return sorted(out)


class Srv:
    """A test-clock server, an owner key of tenant "acme", HTTP and zmq clients."""

    def __init__(self, clock_ms):
        self.srv = zh.Server(["--rate-limit", "0", "--test-clock", str(clock_ms)])
        self.srv.start()
        self.key = zh.create_key(self.srv.data, "acme", "owner")
        self._connect()

    def _connect(self):
        self.http = Http(self.srv.http, self.key)
        self.zc = zh.Client(self.srv.api, self.key)
        self.adm = zh.Client(self.srv.admin)

    def _close(self):
        self.http.close()
        self.zc.close()
        self.adm.close()

    def clock(self, now):
        assert zh.expect_ok(self.adm, "clock.set", {"now_ms": now})["now_ms"] == now  # the time set

    def restart(self, clock_ms, kill=False):
        """Down (SIGTERM, or SIGKILL when kill) and up again at clock_ms, same data."""
        self._close()
        self.srv.kill9() if kill else self.srv.stop()
        self.srv.extra_args[-1] = str(clock_ms)
        self.srv.start()
        self._connect()

    def close(self):
        self._close()
        try:
            self.srv.stop()
        finally:
            self.srv.cleanup()

    def workflow(self, **extra):
        body = {"name": uniq("sched"), "definition": {"nodes": [set_node("s", done=True)]}}
        body.update(extra)
        return expect(self.http.post(V2, body), 201)["workflow"]

    def schedule(self, wf_id, **body):
        return expect(self.http.post(f"{V2}/{wf_id}/schedules", body), 201)["schedule"]

    def schedules(self, wf_id):
        return expect(self.http.get(f"{V2}/{wf_id}/schedules"), 200)["schedules"]

    def runs(self, wf_id):
        """Every run of the workflow (zmq run.list, all pages), oldest first."""
        out, off = [], 0
        while True:
            b = zh.expect_ok(self.zc, "run.list",
                             {"workflow_id": wf_id, "limit": 500, "offset": off})
            out += b["runs"]
            off += len(b["runs"])
            if not b["runs"] or off >= b["total"]:
                return out[::-1]

    def run_total(self, wf_id):
        return zh.expect_ok(self.zc, "run.list", {"workflow_id": wf_id, "limit": 1})["total"]

    def fired(self, wf_id):
        """The trigger.scheduled_at of every run of the workflow, sorted."""
        return sorted(r["trigger"]["scheduled_at"] for r in self.runs(wf_id))

    def wait_total(self, wf_id, n, timeout=10):
        """Waits until the workflow has n runs; then checks no more arrive."""
        try:
            zh.wait_for(lambda: self.run_total(wf_id) >= n, timeout, 0.02, f"{n} runs")
        except TimeoutError:
            raise AssertionError(f"{self.run_total(wf_id)} runs of {wf_id}, expected {n}")
        got = self.run_total(wf_id)
        assert got == n, f"{got} runs of {wf_id}, expected {n}"


def settle(s, wf_ids, seconds=1.3):
    """Timers are checked at least once a second: after this, nothing due is pending."""
    before = [s.run_total(w) for w in wf_ids]
    time.sleep(seconds)
    assert [s.run_total(w) for w in wf_ids] == before, "runs kept arriving"


S = {}


def seed_srv():
    if "seed" not in S:
        S["seed"] = Srv(T_SEED)
    return S["seed"]


# ---------------------------------------------------------------- the routes


def test_a_create_list_patch_delete_in_the_seed_shapes():
    s = seed_srv()
    wf = s.workflow()
    r = s.http.post(f"{V2}/{wf['id']}/schedules", SEED_BODY)
    b = expect(r, 201)
    assert set(b) == {"success", "schedule"}, b
    sc = b["schedule"]
    assert set(sc) == SCHED_VIEW, sorted(sc)
    assert sc["workflow_id"] == wf["id"] and sc["id"] != wf["id"], sc
    for k, v in SEED_BODY.items():
        assert sc[k] == v, (k, sc)
    assert sc["enabled"] is True and sc["last_run_at"] is None, sc
    # The seed says 2026-03-24T13:00:00.000Z, a Tuesday; the next Monday 09:00
    # New York (EDT since 2026-03-08) after 2026-03-19T18:15Z is 03-23 13:00Z.
    assert sc["next_run_at"] == "2026-03-23T13:00:00.000Z", sc
    for k in ("created_at", "updated_at", "next_run_at"):
        check_iso(sc[k])
    assert sc["created_at"].startswith("2026-03-19T18:15:0"), sc  # the test clock
    assert isinstance(sc["created_by"], str) and sc["created_by"], sc

    lst = expect(s.http.get(f"{V2}/{wf['id']}/schedules"), 200)
    assert set(lst) == {"success", "schedules", "count"} and lst["count"] == 1, lst
    assert lst["schedules"] == [sc], (lst, sc)
    viewer = Http(s.srv.http, zh.create_key(s.srv.data, "acme", "viewer"))
    assert expect(viewer.get(f"{V2}/{wf['id']}/schedules"), 200)["schedules"] == [sc]

    p = expect(s.http.patch(f"{V2}/{wf['id']}/schedules/{sc['id']}",
                            {"cron_expression": "0 9 * * 1,4", "enabled": True}), 200)
    assert set(p) == {"success", "schedule"}, p
    ps = p["schedule"]
    assert set(ps) == SCHED_VIEW and ps["cron_expression"] == "0 9 * * 1,4", ps
    # Thursday 03-19 09:00 EDT has passed; the seed's 03-20 is a Friday.
    assert ps["next_run_at"] == "2026-03-23T13:00:00.000Z", ps
    assert ps["created_at"] == sc["created_at"] and ps["updated_at"] >= sc["updated_at"], ps
    assert (ps["inputs"], ps["timezone"]) == (sc["inputs"], sc["timezone"]), ps
    p2 = expect(s.http.patch(f"{V2}/{wf['id']}/schedules/{sc['id']}",
                             {"cron_expression": "0 15 * * 4", "timezone": "Europe/Berlin",
                              "missed_execution_policy": "skip", "inputs": {"a": 1}}), 200)
    ps2 = p2["schedule"]
    assert ps2["next_run_at"] == "2026-03-26T14:00:00.000Z", ps2  # CET until 03-29
    assert (ps2["missed_execution_policy"], ps2["inputs"]) == ("skip", {"a": 1}), ps2
    off = expect(s.http.patch(f"{V2}/{wf['id']}/schedules/{sc['id']}", {"enabled": False}), 200)
    assert off["schedule"]["enabled"] is False and off["schedule"]["next_run_at"] is None, off
    assert s.schedules(wf["id"]) == [off["schedule"]]

    d = expect(s.http.delete(f"{V2}/{wf['id']}/schedules/{sc['id']}"), 200)
    assert d == {"success": True, "message": "Schedule deleted successfully"}, d
    assert s.schedules(wf["id"]) == []
    expect(s.http.delete(f"{V2}/{wf['id']}/schedules/{sc['id']}"), 404, "not_found")
    expect(s.http.patch(f"{V2}/{wf['id']}/schedules/{sc['id']}", {"enabled": True}), 404,
           "not_found")
    viewer.close()


def test_b_invalid_input_is_400_naming_the_field():
    s = seed_srv()
    wf = s.workflow()
    url = f"{V2}/{wf['id']}/schedules"
    for cron, part in (("0 61 * * 1", "hour"), ("61 9 * * 1", "minute"),
                       ("0 9 32 * *", "day"), ("0 9 * 13 *", "month"),
                       ("0 9 * * 8", "week"), ("0 9 * *", ""), ("every monday", ""),
                       ("*/0 * * * *", "minute"), ("0 9 * * 1 2026", "")):
        b = expect(s.http.post(url, dict(SEED_BODY, cron_expression=cron)), 400, "validation")
        assert "cron_expression" in b["error"] and part in b["error"], (cron, b)
    b = expect(s.http.post(url, {"timezone": "UTC"}), 400, "validation")
    assert "cron_expression" in b["error"], b
    b = expect(s.http.post(url, dict(SEED_BODY, cron_expression=5)), 400, "validation")
    assert "cron_expression" in b["error"], b
    for tz in ("Mars/Olympus", "../../etc/passwd", "", "America/New_York\n", 7):
        b = expect(s.http.post(url, dict(SEED_BODY, timezone=tz)), 400, "validation")
        assert "timezone" in b["error"], (tz, b)
    for pol in ("later", "RUN_IMMEDIATELY", "", None, 1):
        b = expect(s.http.post(url, dict(SEED_BODY, missed_execution_policy=pol)), 400,
                   "validation")
        assert "missed_execution_policy" in b["error"], (pol, b)
    b = expect(s.http.post(url, dict(SEED_BODY, inputs=[1])), 400, "validation")
    assert "inputs" in b["error"], b
    b = expect(s.http.post(url, dict(SEED_BODY, enabled="yes")), 400, "validation")
    assert "enabled" in b["error"], b
    assert s.schedules(wf["id"]) == [], "a refused create left a schedule"
    sc = s.schedule(wf["id"], cron_expression="0 9 * * *")
    surl = f"{url}/{sc['id']}"
    for body in ({}, {"bogus": 1}, {"next_run_at": 5, "id": "x"}):
        expect(s.http.patch(surl, body), 400, "validation")
    b = expect(s.http.patch(surl, {"cron_expression": "0 9 * * 1-9"}), 400, "validation")
    assert "cron_expression" in b["error"] and "week" in b["error"], b
    expect(s.http.patch(surl, {"timezone": "Nowhere/Else"}), 400, "validation")
    expect(s.http.patch(surl, {"missed_execution_policy": "never"}), 400, "validation")
    assert s.schedules(wf["id"]) == [sc], "a refused patch changed the schedule"


def test_c_unknown_and_foreign_ids_are_the_same_404_and_roles():
    s = seed_srv()
    wf = s.workflow()
    sc = s.schedule(wf["id"], cron_expression="0 9 * * *")
    other = Http(s.srv.http, zh.create_key(s.srv.data, "globex", "owner"))
    owf = expect(other.post(V2, {"name": uniq(), "definition": {
        "nodes": [set_node("s", x=1)]}}), 201)["workflow"]
    osc = expect(other.post(f"{V2}/{owf['id']}/schedules", {"cron_expression": "0 9 * * *"}),
                 201)["schedule"]
    ghost, gsc = fake_id(), fake_id()
    pairs = [  # (request on another tenant's object, the same on an unknown id)
        (("GET", f"{V2}/{owf['id']}/schedules", None), ("GET", f"{V2}/{ghost}/schedules", None)),
        (("POST", f"{V2}/{owf['id']}/schedules", SEED_BODY),
         ("POST", f"{V2}/{ghost}/schedules", SEED_BODY)),
        (("PATCH", f"{V2}/{owf['id']}/schedules/{osc['id']}", {"enabled": False}),
         ("PATCH", f"{V2}/{ghost}/schedules/{gsc}", {"enabled": False})),
        (("DELETE", f"{V2}/{owf['id']}/schedules/{osc['id']}", None),
         ("DELETE", f"{V2}/{ghost}/schedules/{gsc}", None)),
    ]
    for foreign, unknown in pairs:
        a, b = s.http.request(*foreign), s.http.request(*unknown)
        expect(a, 404, "not_found")
        assert a.stable() == b.stable(), (foreign, a, b)
    # Our workflow with their schedule id, or an unknown one: the same 404.
    for method, body in (("PATCH", {"enabled": False}), ("DELETE", None)):
        a = s.http.request(method, f"{V2}/{wf['id']}/schedules/{osc['id']}", body)
        b = s.http.request(method, f"{V2}/{wf['id']}/schedules/{gsc}", body)
        expect(a, 404, "not_found")
        assert a.stable() == b.stable(), (a, b)
    expect(s.http.delete(f"{V2}/{wf['id']}/schedules/not-an-id"), 404, "not_found")
    # Another workflow of ours does not reach this schedule either.
    wf2 = s.workflow()
    expect(s.http.delete(f"{V2}/{wf2['id']}/schedules/{sc['id']}"), 404, "not_found")
    # Nothing of theirs changed.
    assert expect(other.get(f"{V2}/{owf['id']}/schedules"), 200)["schedules"] == [osc]
    other.close()
    # Roles: viewer and member read but cannot write; no key → 401.
    for role in ("viewer", "member"):
        h = Http(s.srv.http, zh.create_key(s.srv.data, "acme", role))
        expect(h.post(f"{V2}/{wf['id']}/schedules", SEED_BODY), 403, "forbidden")
        expect(h.patch(f"{V2}/{wf['id']}/schedules/{sc['id']}", {"enabled": False}), 403,
               "forbidden")
        expect(h.delete(f"{V2}/{wf['id']}/schedules/{sc['id']}"), 403, "forbidden")
        assert expect(h.get(f"{V2}/{wf['id']}/schedules"), 200)["schedules"] == [sc]
        h.close()
    with Http(s.srv.http) as anon:
        expect(anon.get(f"{V2}/{wf['id']}/schedules"), 401, "unauthorized")
        expect(anon.post(f"{V2}/{wf['id']}/schedules", SEED_BODY), 401, "unauthorized")
    assert s.schedules(wf["id"]) == [sc]
    expect(s.http.delete(f"{V2}/{wf['id']}"), 200)


# ---------------------------------------------------------------- firing


def test_d_firing_starts_one_run_with_the_inputs():
    """Also: a disabled schedule does not fire; deleting the workflow drops its schedules."""
    s = seed_srv()
    wf, wf_off, wf_gone = s.workflow(), s.workflow(), s.workflow()
    sc = s.schedule(wf["id"], **SEED_BODY)
    assert sc["next_run_at"] == "2026-03-23T13:00:00.000Z", sc
    off = s.schedule(wf_off["id"], **dict(SEED_BODY, enabled=False))
    assert off["enabled"] is False and off["next_run_at"] is None, off
    gone = s.schedule(wf_gone["id"], **SEED_BODY)
    expect(s.http.delete(f"{V2}/{wf_gone['id']}"), 200)
    expect(s.http.get(f"{V2}/{wf_gone['id']}/schedules"), 404, "not_found")
    assert s.zc.call("sched.list", {"workflow_id": wf_gone["id"]})[0] is False
    mon = ms(2026, 3, 23, 13)
    s.clock(mon - 5000)  # just before: nothing
    time.sleep(1.2)
    assert s.run_total(wf["id"]) == 0
    s.clock(mon + 2000)
    s.wait_total(wf["id"], 1)
    settle(s, [wf["id"], wf_off["id"]])
    assert s.run_total(wf_off["id"]) == 0, "a disabled schedule fired"
    assert s.zc.call("run.list", {"workflow_id": wf_gone["id"]})[0] is False
    run = s.runs(wf["id"])[0]
    assert run["inputs"] == {"date_range": "LAST_WEEK"}, run
    assert run["trigger"]["type"] == "schedule" and run["trigger"]["scheduled_at"] == mon, run
    runs = expect(s.http.get(f"{V2}/{wf['id']}/runs"), 200)
    assert runs["count"] == 1 and runs["runs"][0]["inputs"] == SEED_BODY["inputs"], runs
    (now,) = s.schedules(wf["id"])
    assert now["last_run_at"] == "2026-03-23T13:00:00.000Z", now
    assert now["next_run_at"] == "2026-03-30T13:00:00.000Z", now
    # Re-enabling the disabled one arms it from now; patching inputs changes the next run.
    on = expect(s.http.patch(f"{V2}/{wf_off['id']}/schedules/{off['id']}",
                             {"enabled": True, "inputs": {"n": 2}}), 200)["schedule"]
    assert on["next_run_at"] == "2026-03-30T13:00:00.000Z", on
    s.clock(ms(2026, 3, 30, 13, 0, 1))
    s.wait_total(wf["id"], 2)
    s.wait_total(wf_off["id"], 1)
    assert s.runs(wf_off["id"])[0]["inputs"] == {"n": 2}
    assert gone["id"] not in [x["id"] for x in s.schedules(wf["id"])]
    for w in (wf, wf_off):
        expect(s.http.delete(f"{V2}/{w['id']}"), 200)


def test_e_seed003_schedule_trigger_every_15_minutes():
    s = seed_srv()
    t0 = ms(2026, 4, 1, 10, 7)
    s.clock(t0)
    wf = zh.expect_ok(s.zc, "wf.create", {"workflow": {
        "name": uniq("every15"), "definition": {"nodes": [set_node("s", x=1)]},
        "enabled": True, "trigger": {"type": "schedule", "schedule": "*/15 * * * *"}}})["workflow"]
    (imp,) = s.schedules(wf["id"])
    assert imp["id"] == wf["id"] and imp["cron_expression"] == "*/15 * * * *", imp
    assert imp["timezone"] == "UTC" and imp["next_run_at"] == iso(ms(2026, 4, 1, 10, 15)), imp
    b = expect(s.http.patch(f"{V2}/{wf['id']}/schedules/{wf['id']}", {"enabled": False}), 409,
               "conflict")
    assert "trigger" in b["error"], b
    expected = []
    for k in range(1, 5):
        t = ms(2026, 4, 1, 10, 15) + (k - 1) * 15 * 60000
        s.clock(t - 3000)
        time.sleep(0.3)
        assert s.run_total(wf["id"]) == k - 1, f"fired before {iso(t)}"
        s.clock(t + 1500)
        s.wait_total(wf["id"], k)
        expected.append(t)
    assert s.fired(wf["id"]) == expected
    assert all(r["trigger"]["type"] == "schedule" for r in s.runs(wf["id"]))
    zh.expect_ok(s.zc, "wf.update", {"id": wf["id"], "patch": {"trigger": {"type": "manual"}}})
    assert s.schedules(wf["id"]) == [], "the implicit schedule outlived its trigger"
    s.clock(expected[-1] + 15 * 60000 + 1000)
    time.sleep(1.2)
    s.clock(expected[-1] + 60 * 60000)
    settle(s, [wf["id"]])
    assert s.run_total(wf["id"]) == 4, "a manual workflow kept firing"
    zh.expect_ok(s.zc, "wf.delete", {"id": wf["id"]})


def test_e_trigger_schedule_cannot_be_deleted_behind_the_trigger():
    """The implicit schedule changes with the trigger: PATCH and DELETE on it are 409.

    (A DELETE that succeeded would leave a workflow whose trigger says
    "schedule" but that never fires again.)"""
    s = seed_srv()
    wf = zh.expect_ok(s.zc, "wf.create", {"workflow": {
        "name": uniq("trig"), "definition": {"nodes": [set_node("s", x=1)]},
        "trigger": {"type": "schedule", "schedule": "0 3 * * *"}}})["workflow"]
    url = f"{V2}/{wf['id']}/schedules/{wf['id']}"
    expect(s.http.patch(url, {"cron_expression": "0 4 * * *"}), 409, "conflict")
    try:
        expect(s.http.delete(url), 409, "conflict")
        (imp,) = s.schedules(wf["id"])
        assert imp["cron_expression"] == "0 3 * * *" and imp["next_run_at"], imp
    finally:
        zh.expect_ok(s.zc, "wf.delete", {"id": wf["id"]})


def test_f_dst_skipped_and_repeated_local_times():
    s = Srv(ms(2026, 3, 7, 12))
    try:
        wf = s.workflow()
        sc = s.schedule(wf["id"], cron_expression="30 2 * * *", timezone="America/New_York")
        assert sc["next_run_at"] == "2026-03-08T07:30:00.000Z", sc  # 02:30 EST = 07:30Z
        s.clock(ms(2026, 3, 8, 7, 29, 57))
        time.sleep(1.1)
        assert s.run_total(wf["id"]) == 0
        s.clock(ms(2026, 3, 8, 7, 30, 1))  # 02:30 does not exist that day: 03:30 EDT
        s.wait_total(wf["id"], 1)
        (sc,) = s.schedules(wf["id"])
        assert sc["next_run_at"] == "2026-03-09T06:30:00.000Z", sc  # 02:30 EDT
        s.clock(ms(2026, 3, 8, 8, 30, 1))  # 03:30 EDT is no second instant
        settle(s, [wf["id"]])
        s.clock(ms(2026, 3, 9, 6, 30, 1))
        s.wait_total(wf["id"], 2)
        assert s.fired(wf["id"]) == [ms(2026, 3, 8, 7, 30), ms(2026, 3, 9, 6, 30)]
        expect(s.http.delete(f"{V2}/{wf['id']}"), 200)

        s.clock(ms(2026, 10, 31, 12))
        wf = s.workflow()
        sc = s.schedule(wf["id"], cron_expression="30 1 * * *", timezone="America/New_York")
        assert sc["next_run_at"] == "2026-11-01T05:30:00.000Z", sc  # 01:30 EDT, the first
        s.clock(ms(2026, 11, 1, 5, 30, 1))
        s.wait_total(wf["id"], 1)
        (sc,) = s.schedules(wf["id"])
        assert sc["next_run_at"] == "2026-11-02T06:30:00.000Z", sc  # not 11-01 06:30Z
        s.clock(ms(2026, 11, 1, 6, 30, 1))  # 01:30 EST, the repeat: no run
        settle(s, [wf["id"]])
        s.clock(ms(2026, 11, 2, 6, 30, 1))
        s.wait_total(wf["id"], 2)
        assert s.fired(wf["id"]) == [ms(2026, 11, 1, 5, 30), ms(2026, 11, 2, 6, 30)]
    finally:
        s.close()


def test_g_missed_execution_policies_after_downtime():
    t0 = ms(2026, 5, 4, 10, 10)
    s = Srv(t0)
    try:
        wfs = {}
        for pol in ("run_immediately", "skip", "queue"):
            wfs[pol] = s.workflow()
            s.schedule(wfs[pol]["id"], cron_expression="0 * * * *", missed_execution_policy=pol,
                       inputs={"policy": pol})
        # Downtime of 3 days.
        back = t0 + 3 * DAY + 20 * 60000  # 2026-05-07T10:30Z
        s.restart(back)
        missed = oracle("UTC", range(24), [0], t0, back)
        assert len(missed) == 72
        s.wait_total(wfs["run_immediately"]["id"], 1)
        s.wait_total(wfs["queue"]["id"], 72)
        settle(s, [w["id"] for w in wfs.values()])
        assert s.run_total(wfs["skip"]["id"]) == 0
        assert s.fired(wfs["queue"]["id"]) == missed
        (ri,) = s.runs(wfs["run_immediately"]["id"])
        assert ri["trigger"]["scheduled_at"] in missed and ri["inputs"] == {
            "policy": "run_immediately"}, ri
        nxt = iso(ms(2026, 5, 7, 11))
        for pol, w in wfs.items():
            (sc,) = s.schedules(w["id"])
            assert sc["next_run_at"] == nxt, (pol, sc)
            assert (sc["last_run_at"] is None) == (pol == "skip"), (pol, sc)
        # After the restart they run normally again, one each.
        s.clock(ms(2026, 5, 7, 11, 0, 2))
        for pol, n in (("run_immediately", 2), ("skip", 1), ("queue", 73)):
            s.wait_total(wfs[pol]["id"], n)
        for w in wfs.values():
            expect(s.http.delete(f"{V2}/{w['id']}"), 200)
        # queue replays at most 7 days: a daily schedule down for 10 days.
        daily = s.workflow()
        armed = ms(2026, 5, 7, 11, 0, 2)
        s.schedule(daily["id"], cron_expression="0 12 * * *", missed_execution_policy="queue")
        later = ms(2026, 5, 17, 10, 30)
        s.restart(later, kill=True)
        missed = oracle("UTC", [12], [0], armed, later)
        want = [t for t in missed if later - t <= 7 * DAY]
        assert (len(missed), len(want)) == (10, 7), missed
        s.wait_total(daily["id"], 7)
        settle(s, [daily["id"]])
        assert s.fired(daily["id"]) == want
    finally:
        s.close()


def test_h_thirty_simulated_days_with_restarts_fire_every_instant_once():
    start = ms(2026, 3, 1, 0, 10)
    end = start + 30 * DAY
    s = Srv(start)
    try:
        ny, ldn = s.workflow(), s.workflow()
        s.schedule(ny["id"], cron_expression="30 */2 * * *", timezone="America/New_York",
                   missed_execution_policy="queue")
        s.schedule(ldn["id"], cron_expression="0 1-23/3 * * *", timezone="Europe/London",
                   missed_execution_policy="queue")
        want_ny = oracle("America/New_York", range(0, 24, 2), [30], start, end)
        want_ldn = oracle("Europe/London", range(1, 24, 3), [0], start, end)
        # Both zones change to summer time inside the window (03-08 02:00 and
        # 03-29 01:00 local are skipped: they fire at the shifted instant).
        assert ms(2026, 3, 8, 7, 30) in want_ny and ms(2026, 3, 29, 1) in want_ldn
        assert len(want_ny) >= 355 and len(want_ldn) >= 235, (len(want_ny), len(want_ldn))
        t, step = start, 6 * HOUR
        restarts = {14: "term", 37: "kill", 38: "term", 61: "kill", 90: "term", 111: "term"}
        for i in range(1, 121):
            t = start + i * step
            if restarts.get(i) == "kill":
                s.clock(t)  # crash while the instants of this step are firing
                time.sleep(0.02 * (i % 5))
                s.restart(t + 1000, kill=True)
            elif restarts.get(i) == "term":
                s.restart(t - 2 * HOUR)  # downtime: the server comes back late
                s.clock(t)
            else:
                s.clock(t)
            for w, want in ((ny, want_ny), (ldn, want_ldn)):
                s.wait_total(w["id"], sum(1 for x in want if x <= t))
        settle(s, [ny["id"], ldn["id"]])
        s.restart(end + 1000, kill=True)
        settle(s, [ny["id"], ldn["id"]])
        got_ny, got_ldn = s.fired(ny["id"]), s.fired(ldn["id"])
        assert len(set(got_ny)) == len(got_ny) and len(set(got_ldn)) == len(got_ldn), \
            "an instant fired twice"
        assert got_ny == want_ny, sorted(set(got_ny) ^ set(want_ny))[:10]
        assert got_ldn == want_ldn, sorted(set(got_ldn) ^ set(want_ldn))[:10]
        assert ms(2026, 3, 8, 7, 30) in got_ny and ms(2026, 3, 29, 1) in got_ldn
    finally:
        s.close()


# ---------------------------------------------------------------- main


def main():
    try:
        return zh.run_tests(globals())
    finally:
        if "seed" in S:
            S["seed"].close()


if __name__ == "__main__":
    sys.exit(main())
