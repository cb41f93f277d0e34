"""it_example_client — the documented Python example runs against a real server.

Starts `zflow serve`, creates an admin key, runs tests/example_client.py
as a separate /usr/bin/python3 process and checks that it exits 0 and
reports a completed run, and that the run it names is really completed.
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zf_harness  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def test_example_client_completes_run(srv):
    key = zf_harness.create_key(srv.data, "example-tenant", "admin")
    res = subprocess.run(
        ["/usr/bin/python3", os.path.join(HERE, "example_client.py"), srv.api, key],
        capture_output=True, text=True, timeout=120,
    )
    assert res.returncode == 0, f"exit {res.returncode}\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}"
    m = re.search(r"^run: (\S+) status completed$", res.stdout, re.M)
    assert m, f"no completed run in output:\n{res.stdout}"
    run_id = m.group(1)
    assert re.search(rf"^  listed run {re.escape(run_id)} completed$", res.stdout, re.M), res.stdout

    # Cross-check with our own client: the run exists for this tenant and is completed.
    with zf_harness.Client(srv.api, key) as c:
        body = zf_harness.expect_ok(c, "run.get", {"id": run_id})
        assert body["run"]["status"] == "completed", body["run"]
        assert body["state"]["variables"].get("x") == 42, body["state"]


def test_example_client_fails_with_bad_key(srv):
    res = subprocess.run(
        ["/usr/bin/python3", os.path.join(HERE, "example_client.py"), srv.api, "not-a-key"],
        capture_output=True, text=True, timeout=60,
    )
    assert res.returncode == 1, res
    assert "unauthorized" in res.stderr, res.stderr


def test_protocol_doc_embeds_example_verbatim(srv):
    with open(os.path.join(HERE, "example_client.py")) as f:
        example = f.read()
    with open(os.path.join(HERE, "..", "docs", "protocol.md")) as f:
        doc = f.read()
    assert "```python\n" + example + "```" in doc, "docs/protocol.md: example differs from tests/example_client.py"


def main():
    with zf_harness.Server() as srv:
        for name, fn in sorted(globals().items()):
            if name.startswith("test_") and callable(fn):
                fn(srv)
                print(f"ok {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
