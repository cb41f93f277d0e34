#!/usr/bin/python3
"""it_cli — the `zflow` command line, black-box.

Covers: --help/--version/bad flags, `serve` (ready line, signals, option
validation, store lock), `keys create|list|revoke` in direct mode (no server)
and admin-socket mode (server running), revocation taking effect at once and
across a restart, and the admin socket's file mode.

Run by ctest (ZFLOW_BIN set) or by hand:
    ZF_BUILD_DIR=build /usr/bin/python3 tests/it_cli.py
"""
import hashlib
import os
import re
import signal
import stat
import subprocess
import sys
import tempfile
import shutil
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zf_harness as zh  # noqa: E402

KEY_RE = re.compile(r"^zfk_[0-9a-f]{64}$")
SIGNAL_EXIT_S = 5.0  # "within a few seconds"


def _serve_argv(data, extra=()):
    api, tap = zh.free_ports(2)
    return [zh.zflow_bin(), "serve", "--data", data,
            "--api", f"tcp://127.0.0.1:{api}", "--tap", f"tcp://127.0.0.1:{tap}",
            "--http", f"127.0.0.1:{zh.free_port()}"] + list(extra)


def _serve_expect_fail(extra, data=None):
    """Runs `zflow serve` with options that must be refused; returns the result."""
    own = data is None
    data = data or tempfile.mkdtemp(prefix="zf-it-cli-")
    try:
        return subprocess.run(_serve_argv(data, extra), capture_output=True, text=True,
                              timeout=20, stdin=subprocess.DEVNULL)
    finally:
        if own:
            shutil.rmtree(data, ignore_errors=True)


def _keys_create(data, tenant, role):
    """`zflow keys create`: asserts exit 0 and exactly one line, the key."""
    res = zh.zflow_cli("keys", "create", "--data", data, "--tenant", tenant, "--role", role)
    assert res.returncode == 0, f"keys create: exit {res.returncode}: {res.stderr}"
    lines = res.stdout.splitlines()
    assert len(lines) == 1, f"keys create printed {len(lines)} lines: {res.stdout!r}"
    assert KEY_RE.match(lines[0]), f"not a key: {lines[0]!r}"
    return lines[0]


def _keys_list(data, *extra):
    res = zh.zflow_cli("keys", "list", "--data", data, *extra)
    assert res.returncode == 0, f"keys list: exit {res.returncode}: {res.stderr}"
    return res.stdout


def _key_secrets(key):
    """Strings that must never be printed by `keys list`: the key and likely hashes of it."""
    out = [key, key[4:]]
    for s in (key, key[4:]):
        for algo in ("sha256", "sha512", "blake2b", "sha1", "md5"):
            out.append(hashlib.new(algo, s.encode()).hexdigest())
    return out


def _key_id(listing, tenant, role):
    """The id of the only key of tenant/role in a `keys list` output."""
    ids = []
    for line in listing.splitlines():
        if f'"tenant":"{tenant}"' in line.replace(" ", "") and \
                f'"role":"{role}"' in line.replace(" ", ""):
            m = re.search(r'"id"\s*:\s*"([^"]+)"', line)
            assert m, f"no id in keys list line {line!r}"
            ids.append(m.group(1))
    assert len(ids) == 1, f"expected one {tenant}/{role} key in:\n{listing}"
    return ids[0]


# ---------------------------------------------------------------- top level


def test_help_exits_0_with_usage():
    res = zh.zflow_cli("--help")
    assert res.returncode == 0, res
    assert "usage: zflow" in res.stdout + res.stderr, res
    for word in ("serve", "keys create", "--durability", "--max-active", "--egress-allow"):
        assert word in res.stdout + res.stderr, f"--help does not mention {word}"


def test_version_prints_version():
    res = zh.zflow_cli("--version")
    assert res.returncode == 0, res
    assert re.match(r"^zflow \d+\.\d+\.\d+$", res.stdout.strip()), res.stdout
    assert "0.1.0" in res.stdout


def test_bad_flags_exit_2_with_usage():
    for argv in (["--bogus"], ["frobnicate"], ["serve", "--bogus"], ["serve", "--data"],
                 ["keys"], ["keys", "frob"], ["keys", "create", "--bogus", "x"]):
        res = zh.zflow_cli(*argv)
        assert res.returncode == 2, f"{argv}: exit {res.returncode}: {res.stderr}"
        assert "usage" in res.stderr, f"{argv}: no usage on stderr: {res.stderr!r}"
        assert res.stdout == "", f"{argv}: printed to stdout: {res.stdout!r}"


# ---------------------------------------------------------------- serve


def test_serve_prints_exactly_one_ready_line():
    srv = zh.Server()
    try:
        srv.start()
        time.sleep(0.3)  # anything printed after ready would show up here
        with zh.Client(srv.api) as c:
            key = zh.create_key(srv.data, "acme", "viewer")
            assert c.call("ping", {}, key=key)[0]
        srv.stop()
        lines = srv.stdout_lines
        assert len(lines) == 1, f"stdout has {len(lines)} lines: {lines!r}"
        assert lines[0].startswith("zflow ready"), lines
        assert srv.api in lines[0] and srv.tap in lines[0], lines[0]
    finally:
        srv.cleanup()


def _signal_exit(sig):
    srv = zh.Server()
    try:
        srv.start()
        with zh.Client(srv.api) as c:
            assert c.call("ping", {}, key="x")  # any reply: the server is serving
        t0 = time.monotonic()
        srv.proc.send_signal(sig)
        rc = srv.proc.wait(SIGNAL_EXIT_S + 5)
        took = time.monotonic() - t0
        assert rc == 0, f"exit {rc} after {sig!r}; stderr:\n{srv.stderr()}"
        assert took < SIGNAL_EXIT_S, f"took {took:.1f}s to exit on {sig!r}"
    finally:
        srv.cleanup()


def test_sigterm_exits_0():
    _signal_exit(signal.SIGTERM)


def test_sigint_exits_0():
    _signal_exit(signal.SIGINT)


def test_durability_relaxed_works():
    with zh.Server(["--durability", "relaxed"]) as srv:
        assert "durability=relaxed" in srv.ready_line, srv.ready_line
        key = zh.create_key(srv.data, "acme", "admin")
        with zh.Client(srv.api, key) as c:
            wf = zh.expect_ok(c, "wf.create", {"workflow": {
                "name": "relaxed", "definition": {"nodes": [
                    {"id": "s1", "type": "set", "config": {"values": {"x": 1}}}]}}})
            run = zh.expect_ok(c, "run.start", {"workflow_id": wf["workflow"]["id"],
                                                "wait": True})["run"]
            assert run["status"] == "completed", run
        srv.restart()  # a clean stop flushes: the data is still there
        with zh.Client(srv.api, key) as c:
            got = zh.expect_ok(c, "run.get", {"id": run["id"]})
            assert got["run"]["status"] == "completed"


def test_bad_serve_options_exit_2():
    for extra in (["--durability", "bogus"], ["--durability", ""], ["--max-active", "0"],
                  ["--max-active", "-3"], ["--max-active", "lots"],
                  ["--egress-allow", "nonsense"], ["--egress-allow", "10.0.0.0/99"]):
        res = _serve_expect_fail(extra)
        assert res.returncode == 2, f"{extra}: exit {res.returncode}\n{res.stdout}{res.stderr}"
        assert "zflow ready" not in res.stdout, f"{extra}: became ready"
        assert res.stderr.strip(), f"{extra}: no message on stderr"
        assert extra[0] in res.stderr or extra[0].lstrip("-") in res.stderr, \
            f"{extra}: message does not name the option: {res.stderr!r}"


def test_second_server_same_data_dir_fails():
    with zh.Server() as srv:
        res = _serve_expect_fail([], data=srv.data)
        assert res.returncode != 0, f"second server started: {res.stdout}"
        assert "zflow ready" not in res.stdout
        assert re.search(r"lock", res.stderr, re.I), f"message does not say locked: {res.stderr!r}"
        # The first one is unharmed.
        with zh.Client(srv.api) as c:
            key = zh.create_key(srv.data, "acme", "viewer")
            assert c.call("ping", {}, key=key)[0]


def test_admin_sock_mode_0600_while_running():
    with zh.Server() as srv:
        path = os.path.join(srv.data, "admin.sock")
        st = os.stat(path)
        assert stat.S_ISSOCK(st.st_mode), f"{path} is not a socket"
        assert stat.S_IMODE(st.st_mode) == 0o600, f"admin.sock mode {oct(stat.S_IMODE(st.st_mode))}"


# ---------------------------------------------------------------- keys


def test_keys_create_direct_mode_prints_only_key():
    data = tempfile.mkdtemp(prefix="zf-it-cli-")
    try:
        key = _keys_create(data, "acme", "admin")
        key2 = _keys_create(data, "acme", "admin")
        assert key != key2, "two keys are equal"
        # The key made offline works once a server runs on that store.
        with zh.Server(data=data) as srv, zh.Client(srv.api, key) as c:
            ok, body = c.call("wf.list", {})
            assert ok, body
    finally:
        shutil.rmtree(data, ignore_errors=True)


def test_keys_create_admin_socket_mode_prints_only_key():
    with zh.Server() as srv:
        key = _keys_create(srv.data, "acme", "member")  # store is locked: must use admin.sock
        with zh.Client(srv.api, key) as c:
            ok, body = c.call("run.list", {"workflow_id": "01a00000-0000-7000-8000-000000000000"})
            assert ok or body.get("code") == "not_found", body
            ok, body = c.call("wf.list", {})
            assert ok, body


def _check_keys_list(data, key, tenant, role):
    out = _keys_list(data)
    for s in _key_secrets(key):
        assert s not in out, "keys list printed the key or a hash of it"
    kid = _key_id(out, tenant, role)
    assert kid in out and tenant in out and role in out
    assert '"revoked":false' in out.replace(" ", ""), out
    # --tenant filters
    other = _keys_list(data, "--tenant", "nobody-here")
    assert kid not in other, other
    return kid


def test_keys_list_direct_and_admin_modes():
    data = tempfile.mkdtemp(prefix="zf-it-cli-")
    try:
        key = _keys_create(data, "t-direct", "viewer")
        _check_keys_list(data, key, "t-direct", "viewer")
        with zh.Server(data=data) as srv:
            key2 = _keys_create(srv.data, "t-admin", "owner")
            _check_keys_list(srv.data, key2, "t-admin", "owner")
            _check_keys_list(srv.data, key, "t-direct", "viewer")
    finally:
        shutil.rmtree(data, ignore_errors=True)


def test_keys_revoke_while_running_and_after_restart():
    with zh.Server() as srv:
        doomed = _keys_create(srv.data, "acme", "admin")
        keeper = _keys_create(srv.data, "acme", "viewer")
        with zh.Client(srv.api) as c:
            # Use the key first so any cache holds it.
            for _ in range(3):
                ok, body = c.call("wf.list", {}, key=doomed)
                assert ok, body
            kid = _key_id(_keys_list(srv.data), "acme", "admin")
            res = zh.zflow_cli("keys", "revoke", kid, "--data", srv.data)
            assert res.returncode == 0, f"revoke: exit {res.returncode}: {res.stderr}"
            assert doomed not in res.stdout
            assert '"revoked":true' in _keys_list(srv.data).replace(" ", "")
            rb = zh.expect_error(c, "wf.list", {}, "unauthorized", key=doomed)
            assert doomed not in str(rb)
            zh.expect_error(c, "wf.create", {"workflow": {"name": "x", "definition": {
                "nodes": [{"id": "a", "type": "set"}]}}}, "unauthorized", key=doomed)
            assert c.call("wf.list", {}, key=keeper)[0], "revoking one key hit another"
            # Revoking an unknown id fails cleanly.
            res = zh.zflow_cli("keys", "revoke", "key_0000000000000000", "--data", srv.data)
            assert res.returncode != 0 and res.stderr.strip(), res
        srv.restart()
        with zh.Client(srv.api) as c:
            zh.expect_error(c, "wf.list", {}, "unauthorized", key=doomed)
            assert c.call("wf.list", {}, key=keeper)[0]


def test_keys_revoke_direct_mode():
    data = tempfile.mkdtemp(prefix="zf-it-cli-")
    try:
        key = _keys_create(data, "acme", "member")
        kid = _key_id(_keys_list(data), "acme", "member")
        res = zh.zflow_cli("keys", "revoke", kid, "--data", data)
        assert res.returncode == 0, res
        with zh.Server(data=data) as srv, zh.Client(srv.api) as c:
            zh.expect_error(c, "wf.list", {}, "unauthorized", key=key)
    finally:
        shutil.rmtree(data, ignore_errors=True)


def _check_bad_key_args(data):
    for tenant, role in (("acme", "god"), ("acme", ""), ("", "admin"), ("a b", "admin"),
                         ("a/../b", "admin"), ("x" * 300, "admin")):
        res = zh.zflow_cli("keys", "create", "--data", data, "--tenant", tenant, "--role", role)
        assert res.returncode in (1, 2), f"{tenant!r}/{role!r}: exit {res.returncode}"
        assert res.stdout == "", f"{tenant!r}/{role!r}: printed {res.stdout!r}"
        field = "role" if tenant == "acme" else "tenant"
        assert field in res.stderr, f"{tenant!r}/{role!r}: message {res.stderr!r}"
    res = zh.zflow_cli("keys", "create", "--data", data, "--role", "admin")
    assert res.returncode in (1, 2) and res.stderr.strip(), res


def test_keys_create_bad_role_or_tenant():
    data = tempfile.mkdtemp(prefix="zf-it-cli-")
    try:
        _check_bad_key_args(data)
        with zh.Server(data=data) as srv:
            _check_bad_key_args(srv.data)
            assert "acme" not in _keys_list(srv.data), "a bad create left a key behind"
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(zh.run_tests(globals()))
