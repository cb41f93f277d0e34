#!/bin/bash
# Large step outputs: a `code` step returns a KB-kilobyte string, then SETS
# small `set` steps follow; runs started over the zmq API by zf-bench with
# 8 in flight, sync durability. Prints runs/s, p50, the server's CPU per
# run and the data directory's size afterwards. Starts its own server on
# loopback with a temporary data dir.
#
#   [VAR=1] tools/bench/outputs.sh [BUILD_DIR] [KB] [SETS] [DURATION_S]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
kb=${2:-64}
sets=${3:-8}
dur=${4:-5}
data=$(mktemp -d /tmp/zf-outputs-XXXXXX)
# three consecutive free loopback ports: HTTP, zmq API, tap
port=$(/usr/bin/python3 - <<'PY'
import random, socket
for _ in range(200):
    p = random.randint(20000, 60000)
    try:
        for q in (p, p + 1, p + 2):
            with socket.socket() as s:
                s.bind(("127.0.0.1", q))
    except OSError:
        continue
    print(p)
    break
PY
)
"$build/zflow" serve --data "$data" --http "127.0.0.1:$port" \
    --api "tcp://127.0.0.1:$((port + 1))" --tap "tcp://127.0.0.1:$((port + 2))" \
    --rate-limit 0 > "$data/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 400); do grep -q '^zflow ready' "$data/serve.log" && break; sleep 0.05; done
if ! grep -q '^zflow ready' "$data/serve.log"; then
    echo "outputs.sh: the server did not start:" >&2
    cat "$data/serve.log" >&2
    exit 1
fi
key=$("$build/zflow" keys create --data "$data" --tenant bench --role admin)
def=$(/usr/bin/python3 - "$kb" "$sets" "${VAR:-0}" <<'PY'
import json, sys
kb, sets, var = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
code = "var s = 'x'; while (s.length < %d) s += s; return s.substring(0, %d);" % (kb * 1024, kb * 1024)
nodes = [{"id": "c1", "type": "code", "config": {"code": code}}]
nodes += [{"id": "s%d" % i, "type": "set", "config": {"values": {"v%d" % i: i}}} for i in range(sets)]
if var and sets:
    nodes[1]["config"]["values"] = {"big": "$steps.c1"}
print(json.dumps({"name": "outputs", "definition": {"nodes": nodes}}))
PY
)
wf=$(curl -sS --fail-with-body -X POST "http://127.0.0.1:$port/api/v2/workflows" -H "Authorization: Bearer $key" \
    -H 'Content-Type: application/json' -d "$def" |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["workflow"]["id"])')
t0=$(awk '{print $14+$15}' "/proc/$pid/stat")
out=$("$build/zf-bench" --key "$key" --connect "tcp://127.0.0.1:$((port + 1))" --inflight 8 \
    --duration "$dur" --warmup 1 --workflow-id "$wf" | tail -1)
t1=$(awk '{print $14+$15}' "/proc/$pid/stat")
mb=$(du -sm "$data" | cut -f1)
/usr/bin/python3 - "$out" "$t0" "$t1" "$mb" "$dur" "$kb" "$sets" "${VAR:-0}" <<'PY'
import json, os, sys
o = json.loads(sys.argv[1])
ticks = int(sys.argv[3]) - int(sys.argv[2])
runs = o.get("runs_per_s", 0) * (float(sys.argv[5]) + 1)  # measured + warm-up, roughly
cpu_ms = ticks / os.sysconf("SC_CLK_TCK") * 1e3 / max(runs, 1)
print(json.dumps({"output_kb": int(sys.argv[6]), "set_steps": int(sys.argv[7]),
                  "copied_to_variable": sys.argv[8] == "1",
                  "runs_per_s": o.get("runs_per_s"), "p50_ms": o.get("p50_ms"),
                  "errors": o.get("errors"), "server_cpu_ms_per_run": round(cpu_ms, 2),
                  "data_mb": int(sys.argv[4])}))
PY
