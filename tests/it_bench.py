#!/usr/bin/python3
"""it_bench — the benchmark drivers work: zf-bench against a real server,
zf-bench-floor on its own, tools/bench/outputs.sh with its own server.

Short runs only: this checks that the drivers measure what they say (runs
complete, counts agree, percentiles are ordered, bad arguments are refused),
never how fast anything is; figures belong in BENCHMARKS.md.

    ZF_BUILD_DIR=build /usr/bin/python3 tests/it_bench.py
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zf_harness as zh  # noqa: E402

S = {}


def floor_bin():
    return zh._find_bin("ZF_BENCH_FLOOR_BIN", "zf-bench-floor")


def floor(*args, timeout=120):
    res = subprocess.run([floor_bin()] + list(args), capture_output=True, text=True,
                         timeout=timeout)
    lines = res.stdout.strip().splitlines()
    try:
        summary = json.loads(lines[-1]) if lines else None
    except ValueError:
        summary = None
    return res, summary


W1 = {"nodes": [
    {"id": "s1", "type": "set", "config": {"values": {"x": 1}}},
    {"id": "c1", "type": "condition",
     "config": {"field": "$vars.x", "operator": "equals", "value": 1}},
    {"id": "s2", "type": "set", "config": {"values": {"done": True}}}]}


def test_w1_driver_creates_its_workflow_and_runs_it():
    rc, out, s = zh.run_bench(S["srv"].api, S["key"], inflight=4, duration=1, warmup=0.2)
    assert rc == 0, out
    assert s and s["workload"] == "W1" and s["inflight"] == 4, out
    assert s["runs"] > 0 and s["errors"] == 0, s
    assert 0 < s["p50_ms"] <= s["p90_ms"] <= s["p99_ms"] <= s["max_ms"], s


def test_w1_driver_runs_are_stored_completed_runs():
    wf = zh.expect_ok(S["client"], "wf.create",
                      {"workflow": {"name": "it-bench-w1", "definition": W1}})
    wf_id = wf["workflow"]["id"]
    rc, out, s = zh.run_bench(S["srv"].api, S["key"], inflight=2, duration=0.5, warmup=0,
                              workflow_id=wf_id)
    assert rc == 0 and s["runs"] > 0 and s["errors"] == 0, out
    # Every counted run is a completed run on disk (runs in flight at the
    # end of the window may complete too, uncounted).
    done = zh.expect_ok(S["client"], "run.list",
                        {"workflow_id": wf_id, "status": "completed", "limit": 1})
    assert done["total"] >= s["runs"], (done["total"], s["runs"])
    run = zh.expect_ok(S["client"], "run.get", {"id": done["runs"][0]["id"]})
    assert run["state"]["variables"] == {"x": 1, "done": True}, run["state"]


def test_w1_driver_refuses_a_bad_key_and_bad_arguments():
    rc, out, s = zh.run_bench(S["srv"].api, "zf_not_a_key", inflight=1, duration=0.5, warmup=0,
                              timeout=60)
    assert rc == 1 and "unauthorized" in out.lower(), out
    for argv in (["--inflight", "0"], ["--duration", "x"], ["extra"]):
        res = subprocess.run([zh.bench_bin(), "--key", "k"] + argv, capture_output=True,
                             text=True, timeout=10)
        assert res.returncode == 2, (argv, res.returncode, res.stderr)


def test_floor_counts_agree():
    with tempfile.TemporaryDirectory() as parent:
        res, s = floor("--inflight", "8", "--duration", "0.5", "--warmup", "0.2",
                       "--entries", "2", "--value-bytes", "100", "--cfs", "2", "--dir", parent)
        assert res.returncode == 0, res.stderr
        assert s and s["workload"] == "floor" and s["steps"] == 3, res.stdout
        assert s["entries_per_step"] == 2 and s["value_bytes"] == 100 and s["cfs"] == 2, s
        assert s["runs"] > 0 and s["runs_per_s"] > 0, s
        # Each counted run stored its 3 steps; each commit stored at least one.
        assert s["steps_stored"] >= 3 * s["runs"], s
        assert 1 <= s["commits"] <= s["steps_stored"], s
        assert 0 < s["p50_ms"] <= s["p90_ms"] <= s["p99_ms"], s
        assert os.listdir(parent) == [], "the floor database was left behind"


def test_floor_one_step_runs_and_bad_arguments():
    res, s = floor("--inflight", "1", "--steps", "1", "--duration", "0.3", "--warmup", "0")
    assert res.returncode == 0 and s["steps"] == 1 and s["runs"] > 0, (res.stderr, s)
    assert s["steps_stored"] >= s["runs"], s
    for argv in (["--inflight", "0"], ["--entries", "x"], ["--value-bytes", "70000"],
                 ["--duration", "0"], ["--cfs", "17"], ["--bogus"], ["extra"]):
        res, _ = floor(*argv, timeout=10)
        assert res.returncode == 2, (argv, res.returncode, res.stderr)
    res, _ = floor("--help", timeout=10)
    assert res.returncode == 0 and "usage: zf-bench-floor" in res.stdout, res


def test_outputs_script_runs_its_workflow():
    """tools/bench/outputs.sh (large step outputs) on a tiny setting."""
    build = os.path.dirname(os.path.abspath(zh.zflow_bin()))
    assert os.path.dirname(os.path.abspath(zh.bench_bin())) == build, "zflow and zf-bench apart"
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "bench",
                          "outputs.sh")
    res = subprocess.run([script, build, "4", "2", "1"], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, (res.stdout, res.stderr)
    s = json.loads(res.stdout.strip().splitlines()[-1])
    assert s["output_kb"] == 4 and s["set_steps"] == 2, s
    assert s["runs_per_s"] > 0 and s["errors"] == 0 and s["server_cpu_ms_per_run"] > 0, s


def main():
    with zh.Server(extra_args=["--rate-limit", "0"]) as srv:
        S["srv"] = srv
        S["key"] = zh.create_key(srv.data, "bench", "admin")
        with zh.Client(srv.api, key=S["key"]) as client:
            S["client"] = client
            return zh.run_tests(globals())


if __name__ == "__main__":
    sys.exit(main())
