#!/usr/bin/python3
"""A complete zflow client in plain Python: pyzmq + msgpack, nothing else.

    example_client.py [ENDPOINT [KEY]]

ENDPOINT defaults to $ZF_API or tcp://127.0.0.1:5559; KEY to $ZF_KEY
(create one with `zflow keys create --data DIR --tenant T --role admin`).
Pings, creates a two-node workflow (set -> condition), runs it and waits
for the result, lists the workflow's runs. Exits 0 only if the run
completed.
"""
import os
import sys
import time
import uuid

import msgpack
import zmq


class ZflowError(Exception):
    def __init__(self, body):
        super().__init__(f"{body.get('code')}: {body.get('message')}")
        self.code = body.get("code")


class ZflowClient:
    def __init__(self, endpoint, key):
        self.key = key
        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)

    def call(self, type_, body, timeout_s=40):
        """One request -> the reply body; raises ZflowError on an error reply."""
        header = {
            "v": 1,
            "type": type_,
            "id": str(uuid.uuid4()),
            "ts": int(time.time() * 1000),
            "auth": self.key,
        }
        # A DEALER talks to the ROUTER like a REQ would: empty delimiter first.
        self.sock.send_multipart([b"", msgpack.packb(header), msgpack.packb(body)])
        deadline = time.monotonic() + timeout_s
        while True:
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0 or not self.sock.poll(left_ms):
                raise TimeoutError(f"no reply to {type_}")
            frames = self.sock.recv_multipart()  # [b"", header, body]
            reply_header = msgpack.unpackb(frames[1])
            reply_body = msgpack.unpackb(frames[2])
            if reply_header.get("corr") != header["id"]:
                continue  # a late reply to an earlier request
            if not reply_header.get("ok"):
                raise ZflowError(reply_body)
            return reply_body


def main():
    endpoint = os.environ.get("ZF_API", "tcp://127.0.0.1:5559")
    key = os.environ.get("ZF_KEY", "")
    if len(sys.argv) > 1:
        endpoint = sys.argv[1]
    if len(sys.argv) > 2:
        key = sys.argv[2]
    client = ZflowClient(endpoint, key)

    pong = client.call("ping", {})
    print(f"ping: version {pong['version']}")

    workflow = client.call("wf.create", {"workflow": {
        "name": f"example-{uuid.uuid4().hex[:8]}",
        "definition": {"nodes": [
            {"id": "set_x", "type": "set", "config": {"values": {"x": 42}}},
            {"id": "check_x", "type": "condition",
             "config": {"field": "$vars.x", "operator": "equals", "value": 42}},
        ]},
    }})["workflow"]
    print(f"workflow: {workflow['id']} ({workflow['name']})")

    run = client.call("run.start", {
        "workflow_id": workflow["id"],
        "inputs": {"who": "example"},
        "wait": True,
        "wait_timeout_ms": 30000,
    })["run"]
    print(f"run: {run['id']} status {run['status']}")

    listed = client.call("run.list", {"workflow_id": workflow["id"]})
    for r in listed["runs"]:
        print(f"  listed run {r['id']} {r['status']}")
    print(f"total runs: {listed['total']}")

    return 0 if run["status"] == "completed" else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ZflowError, TimeoutError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
