"""tests/zf_harness.py — shared helpers for zflow's integration tests.

Run by Debian's /usr/bin/python3 (python3-zmq, python3-msgpack). Each test
puts this directory on sys.path and does `import zf_harness`.

Everything binds or connects to 127.0.0.1 only.

    with zf_harness.Server() as srv:
        key = zf_harness.create_key(srv.data, "acme", "admin")
        c = zf_harness.Client(srv.api)
        ok, body = c.call("ping", {}, key=key)

Environment: ZFLOW_BIN (the zflow binary; set by ctest), ZF_BUILD_DIR as a
fallback to find it, ZF_KEEP_DATA=1 to keep data dirs for post-mortems.
"""

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import msgpack
import zmq

READY_TIMEOUT = 20.0  # seconds to wait for "zflow ready"
STOP_TIMEOUT = 10.0  # seconds a SIGTERM'd server has to exit 0

_SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


# --------------------------------------------------------------------------
# Binaries and ports


def _find_bin(env_name, target):
    """Path of a built binary: $env_name, else a guess under $ZF_BUILD_DIR."""
    path = os.environ.get(env_name)
    if path:
        return path
    build = os.environ.get("ZF_BUILD_DIR") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "build"
    )
    for cand in (os.path.join(build, "tools", target), os.path.join(build, target)):
        if os.access(cand, os.X_OK):
            return cand
    raise RuntimeError(f"{env_name} not set and {target} not found under {build}")


def zflow_bin():
    return _find_bin("ZFLOW_BIN", "zflow")


def tap_bin():
    return _find_bin("ZMQ_TAP_BIN", "zmq-tap")


def bench_bin():
    return _find_bin("ZF_BENCH_BIN", "zf-bench")


def free_ports(n=1):
    """n distinct free TCP ports on 127.0.0.1 (held open together while picking)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port():
    return free_ports(1)[0]


def now_ms():
    return int(time.time() * 1000)


# --------------------------------------------------------------------------
# Server


class ServerError(RuntimeError):
    pass


class Server:
    """A `zflow serve` process on fresh loopback ports and a private data dir.

    Attributes: api, tap, admin (endpoints), http_port, http (base URL),
    data (data dir), proc, stdout_lines (everything printed so far).
    """

    def __init__(self, extra_args=None, data=None, env=None):
        self.extra_args = list(extra_args or [])
        self._own_data = data is None
        self.data = data or tempfile.mkdtemp(prefix="zf-it-")
        self.http_port, self.api_port, self.tap_port = free_ports(3)
        self.http = f"http://127.0.0.1:{self.http_port}"
        self.api = f"tcp://127.0.0.1:{self.api_port}"
        self.tap = f"tcp://127.0.0.1:{self.tap_port}"
        self.admin = f"ipc://{self.data}/admin.sock"
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.stdout_lines = []
        self.ready_line = None
        self._stderr_file = None
        self._reader = None
        self._ready = threading.Event()

    def argv(self):
        return [
            zflow_bin(),
            "serve",
            "--http", f"127.0.0.1:{self.http_port}",
            "--data", self.data,
            "--api", self.api,
            "--tap", self.tap,
        ] + self.extra_args

    def start(self):
        """Starts the process and waits for its `zflow ready` line."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self._ready.clear()
        self.ready_line = None
        self._stderr_file = tempfile.TemporaryFile(mode="w+b")
        self.proc = subprocess.Popen(
            self.argv(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr_file,
            env=self.env,
        )
        self._reader = threading.Thread(target=self._read_stdout, args=(self.proc,), daemon=True)
        self._reader.start()
        deadline = time.monotonic() + READY_TIMEOUT
        while not self._ready.wait(0.05):
            if self.proc.poll() is not None:
                self._reader.join(2)
                raise ServerError(
                    f"zflow exited with {self.proc.returncode} before ready\n"
                    f"argv: {' '.join(self.argv())}\nstderr:\n{self.stderr()}"
                )
            if time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                raise ServerError(
                    f"zflow not ready within {READY_TIMEOUT}s\nstdout:\n"
                    + "".join(self.stdout_lines)
                    + f"\nstderr:\n{self.stderr()}"
                )
        return self

    def _read_stdout(self, proc):
        # Drains stdout for the life of the process so the pipe never fills.
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace")
            self.stdout_lines.append(line)
            if self.ready_line is None and line.startswith("zflow ready"):
                self.ready_line = line.rstrip("\n")
                self._ready.set()
        proc.stdout.close()

    def stderr(self):
        """Everything the current (or last) process wrote to stderr."""
        if self._stderr_file is None:
            return ""
        self._stderr_file.flush()
        self._stderr_file.seek(0)
        return self._stderr_file.read().decode("utf-8", "replace")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def _check_sanitizers(self):
        err = self.stderr()
        for marker in _SANITIZER_MARKERS:
            if marker in err:
                raise ServerError(f"sanitizer report in zflow stderr:\n{err}")

    def stop(self):
        """SIGTERM; asserts a clean exit (status 0) within STOP_TIMEOUT."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise ServerError(
                    f"zflow did not exit within {STOP_TIMEOUT}s of SIGTERM\n"
                    f"stderr:\n{self.stderr()}"
                )
        if self._reader:
            self._reader.join(5)
        if self.proc.returncode != 0:
            raise ServerError(
                f"zflow exited with {self.proc.returncode} after SIGTERM\n"
                f"stderr:\n{self.stderr()}"
            )
        self._check_sanitizers()

    def kill9(self):
        """SIGKILL: the crash case. Does not check the exit status."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self._reader:
            self._reader.join(5)

    def restart(self):
        """Stops (cleanly, if still running) and starts again: same data dir and ports."""
        if self.running():
            self.stop()
        return self.start()

    def cleanup(self):
        if self.running():
            self.kill9()
        if self._stderr_file is not None:
            self._stderr_file.close()
            self._stderr_file = None
        if self._own_data and os.environ.get("ZF_KEEP_DATA") != "1":
            shutil.rmtree(self.data, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.stop()
            elif self.running():
                sys.stderr.write(f"--- zflow stderr ---\n{self.stderr()}\n")
        finally:
            self.cleanup()
        return False


def create_key(data_dir, tenant, role, name=None):
    """Runs `zflow keys create` and returns the plaintext key it prints."""
    argv = [zflow_bin(), "keys", "create", "--data", data_dir, "--tenant", tenant, "--role", role]
    if name is not None:
        argv += ["--name", name]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if res.returncode != 0:
        raise ServerError(f"keys create failed ({res.returncode}): {res.stderr}")
    key = res.stdout.strip()
    assert key, "keys create printed no key"
    return key


# --------------------------------------------------------------------------
# Client


def header(type_, key=None, **extra):
    """A request header map as the catalogue defines it."""
    h = {"v": 1, "type": type_, "id": str(uuid.uuid4()), "ts": now_ms()}
    if key is not None:
        h["auth"] = key
    h.update(extra)
    return h


class Client:
    """A DEALER client of the API (or admin) endpoint.

    call() sends [b"", header, body] and waits for the reply whose corr is
    the request id; replies to earlier, abandoned requests are skipped.
    """

    def __init__(self, endpoint, key=None, ctx=None):
        self.ctx = ctx or zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)
        self.endpoint = endpoint
        self.key = key

    def close(self):
        self.sock.close(0)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def request(self, type_, body=None, key=None, timeout=10, **hdr):
        """Sends one request; returns (reply header, reply body)."""
        h = header(type_, key if key is not None else self.key, **hdr)
        body = {} if body is None else body
        self.sock.send_multipart([b"", msgpack.packb(h), msgpack.packb(body)])
        deadline = time.monotonic() + timeout
        while True:
            frames = self.recv_raw(max(0.0, deadline - time.monotonic()))
            if frames is None:
                raise TimeoutError(f"no reply to {type_} within {timeout}s")
            rh, rb = decode_reply(frames)
            if rh.get("corr") == h["id"]:
                return rh, rb

    def call(self, type_, body=None, key=None, timeout=10, **hdr):
        """Sends one request; returns (ok: bool, body: dict)."""
        rh, rb = self.request(type_, body, key=key, timeout=timeout, **hdr)
        return rh.get("ok") is True, rb

    def send_raw(self, frames):
        """Sends arbitrary frames as given (bytes each) — for malformed-input tests."""
        self.sock.send_multipart([bytes(f) for f in frames])

    def recv_raw(self, timeout=10):
        """Next multipart message as a list of bytes, or None on timeout."""
        if not self.sock.poll(int(timeout * 1000)):
            return None
        return self.sock.recv_multipart()


def decode_reply(frames):
    """[b"", header, body, ...] → (header dict, body dict)."""
    if frames and frames[0] == b"":
        frames = frames[1:]
    if len(frames) < 2:
        raise ValueError(f"reply has {len(frames)} frames after the delimiter")
    return msgpack.unpackb(frames[0], raw=False), msgpack.unpackb(frames[1], raw=False)


def expect_ok(client, type_, body=None, key=None, timeout=10):
    """call() that asserts success and returns the body."""
    ok, rb = client.call(type_, body, key=key, timeout=timeout)
    assert ok, f"{type_} failed: {rb}"
    return rb


def expect_error(client, type_, body, code, key=None, timeout=10):
    """call() that asserts an error reply with the given code; returns the body."""
    ok, rb = client.call(type_, body, key=key, timeout=timeout)
    assert not ok, f"{type_} unexpectedly succeeded: {rb}"
    assert rb.get("code") == code, f"{type_}: expected {code}, got {rb}"
    assert isinstance(rb.get("message"), str) and rb["message"], f"no message: {rb}"
    return rb


# --------------------------------------------------------------------------
# Tap


def tap(endpoint, ctx=None):
    """A SUB socket on the tap endpoint, subscribed to everything."""
    ctx = ctx or zmq.Context.instance()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(endpoint)
    return sub


def tap_recv(sub, timeout=5):
    """Next tapped message as (topic str, header dict, body dict), or None."""
    if not sub.poll(int(timeout * 1000)):
        return None
    frames = sub.recv_multipart()
    assert len(frames) == 3, f"tap message has {len(frames)} frames"
    return (
        frames[0].decode("utf-8"),
        msgpack.unpackb(frames[1], raw=False),
        msgpack.unpackb(frames[2], raw=False),
    )


def tap_sync(sub, client, key=None, timeout=10):
    """Pings until the ping (or its reply) shows up on the tap: the subscription is live.

    SUB subscriptions propagate asynchronously; without this the first
    messages of a test may be published before the tap sees them.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rh, _ = client.request("ping", {}, key=key)
        ping_id = rh.get("corr")
        got = tap_recv(sub, 0.2)
        while got is not None:
            if ping_id and ping_id in (got[1].get("id"), got[1].get("corr")):
                tap_drain(sub)
                return
            got = tap_recv(sub, 0.05)
    raise TimeoutError("tap subscription did not become live")


def tap_drain(sub, quiet=0.2):
    """Reads tapped messages until none arrives for `quiet` seconds; returns them."""
    out = []
    while True:
        got = tap_recv(sub, quiet)
        if got is None:
            return out
        out.append(got)


class TapTool:
    """The zmq-tap binary as a subprocess; its JSON lines collected in `lines`.

    Use as a context manager so it is killed if the test fails midway;
    stop() (SIGTERM, returns the exit status) is the clean ending.
    """

    def __init__(self, endpoint, filter_prefix=None):
        import json  # local: only this helper needs it

        self._json = json
        argv = [tap_bin(), "--connect", endpoint]
        if filter_prefix is not None:
            argv += ["--filter", filter_prefix]
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.lines = []  # decoded stdout lines (dicts)
        self.errors = []  # decoded stderr lines (dicts, or raw text)
        self._threads = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.errors), daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _pump(self, stream, out):
        for raw in stream:
            text = raw.decode("utf-8", "replace").rstrip("\n")
            try:
                out.append(self._json.loads(text))
            except ValueError:
                out.append(text)

    def wait_line(self, pred, timeout=10):
        """First collected stdout line (dict) for which pred is true."""
        return wait_for(lambda: next((l for l in list(self.lines) if pred(l)), None),
                        timeout, what="a zmq-tap line")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        return False

    def stop(self):
        """SIGTERM; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(10)
        for t in self._threads:
            t.join(5)
        return rc


def run_bench(api, key, timeout=300, **opts):
    """Runs zf-bench; returns (exit status, stdout text, last-line JSON dict or None).

    opts: inflight=, duration=, warmup=, workflow_id= (as the CLI options).
    """
    import json

    argv = [bench_bin(), "--connect", api, "--key", key]
    for k, v in opts.items():
        argv += ["--" + k.replace("_", "-"), str(v)]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    last = res.stdout.strip().splitlines()[-1:] or [""]
    try:
        summary = json.loads(last[0])
    except ValueError:
        summary = None
    return res.returncode, res.stdout + res.stderr, summary


def wait_for(pred, timeout=10, interval=0.05, what="condition"):
    """Polls pred() until truthy; returns its value or raises TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(interval)


# --------------------------------------------------------------------------
# Small helpers added for it_cli / it_api / it_malformed / it_tap


def zflow_cli(*args, timeout=30):
    """Runs `zflow ARGS...`; returns the CompletedProcess (text mode)."""
    return subprocess.run([zflow_bin()] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=timeout)


def rss_kb(pid):
    """VmRSS of a process in KiB (from /proc/PID/status)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def assert_no_secrets(obj, keys):
    """No plaintext key of `keys`, no key hash, and no "hash"/"key" field
    anywhere in obj (evidence rows, security events)."""
    text = json.dumps(obj)
    for k in keys:
        assert k not in text, "a plaintext API key leaked"
        assert hashlib.sha256(k.encode()).hexdigest() not in text, "a key hash leaked"

    def walk(v):
        if isinstance(v, dict):
            assert "hash" not in v and "key" not in v, v
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
    walk(obj)


def uniq(prefix="wf"):
    """A workflow name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def fake_id():
    """A well-formed id (UUIDv7 shape) that does not exist."""
    h = uuid.uuid4().hex
    return f"{h[:8]}-{h[8:12]}-7{h[13:16]}-8{h[17:20]}-{h[20:32]}"


def set_node(nid, **values):
    return {"id": nid, "type": "set", "config": {"values": values}}


def run_tests_with_sink(namespace):
    """run_tests with a counting HTTP sink in namespace["SINK"] for the run."""
    namespace["SINK"] = Sink()
    try:
        return run_tests(namespace)
    finally:
        namespace["SINK"].stop()


def run_tests(namespace, only=None):
    """Runs every callable test_* in namespace (sorted by name), each in turn.

    Prints `ok NAME` / `FAIL NAME` (with the traceback) per test and a final
    summary line; returns the process exit status (0 = all passed). Set
    ZF_TEST=substring (or pass only=) to run a subset.
    """
    import traceback

    only = only or os.environ.get("ZF_TEST")
    tests = sorted((n, f) for n, f in namespace.items()
                   if n.startswith("test_") and callable(f) and (not only or only in n))
    failed = []
    t0 = time.monotonic()
    for name, fn in tests:
        t = time.monotonic()
        try:
            fn()
        except Exception:  # noqa: BLE001 - report every failure, keep going
            failed.append(name)
            print(f"FAIL {name}\n{traceback.format_exc()}", flush=True)
            continue
        print(f"ok {name} ({time.monotonic() - t:.1f}s)", flush=True)
    script = os.path.basename(sys.argv[0] or "tests")
    print(f"{script}: {len(tests) - len(failed)}/{len(tests)} passed in "
          f"{time.monotonic() - t0:.1f}s" + (f"; failed: {', '.join(failed)}" if failed else ""),
          flush=True)
    return 1 if failed or not tests else 0


def call_raw(client, type_, body=None, key=None, timeout=10, **hdr):
    """Like Client.call but returns (reply header dict, raw body bytes)."""
    h = header(type_, key if key is not None else client.key, **hdr)
    client.send_raw([b"", msgpack.packb(h), msgpack.packb({} if body is None else body)])
    deadline = time.monotonic() + timeout
    while True:
        frames = client.recv_raw(max(0.0, deadline - time.monotonic()))
        if frames is None:
            raise TimeoutError(f"no reply to {type_} within {timeout}s")
        if frames and frames[0] == b"":
            frames = frames[1:]
        rh = msgpack.unpackb(frames[0], raw=False)
        if rh.get("corr") == h["id"]:
            return rh, frames[1]


# --------------------------------------------------------------------------
# HTTP sink (tests/http_sink.py) — added for it_runs / it_durability / it_crash


class Sink:
    """tests/http_sink.py as a subprocess on a free 127.0.0.1 port.

        with zf_harness.Sink() as sink:
            url = sink.url("/hit")      # http://127.0.0.1:PORT/hit
            sink.counts()               # {Idempotency-Key: hits}
    """

    def __init__(self):
        import json  # local: only this helper needs it

        self._json = json
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "http_sink.py")
        self.proc = subprocess.Popen(["/usr/bin/python3", script], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE)
        line = self.proc.stdout.readline()
        if not line.strip():
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("http_sink.py printed no port")
        self.port = int(line)
        self.base = f"http://127.0.0.1:{self.port}"

    def url(self, path):
        return self.base + path

    def _req(self, method, path):
        import urllib.request

        req = urllib.request.Request(self.base + path, method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=10) as r:
            return self._json.loads(r.read().decode())

    def counts(self):
        """{Idempotency-Key: hits} seen by /hit."""
        return self._req("GET", "/counts")

    def reset(self):
        self._req("POST", "/reset")

    def concurrency(self):
        """{"current", "max", "total"} of /slow and /hit?ms=N requests."""
        return self._req("GET", "/concurrency")

    def concurrency_reset(self):
        self._req("POST", "/concurrency/reset")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False



def run_view(client, run_id):
    """run.get of one run: {run, state, logs}."""
    return expect_ok(client, "run.get", {"id": run_id})


def wait_run_status(client, run_id, statuses, timeout=15, interval=0.02):
    """Polls run.get until the run's status is in statuses; returns the view."""
    statuses = (statuses,) if isinstance(statuses, str) else tuple(statuses)
    last = {}

    def probe():
        last["v"] = run_view(client, run_id)
        return last["v"] if last["v"]["run"]["status"] in statuses else None

    try:
        return wait_for(probe, timeout, interval, what=f"run {run_id} status in {statuses}")
    except TimeoutError:
        raise AssertionError(f"run {run_id} never reached {statuses}; last: {last.get('v')}")
