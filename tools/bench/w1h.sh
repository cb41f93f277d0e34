#!/bin/bash
# W1h benchmark: the W1 workflow (set -> condition -> set) executed over the
# REST front end (v2 dialect) with keep-alive, each request waiting for the
# run to complete, at 16 and 64 connections. Starts its own server on
# loopback with a temporary data dir; needs wrk (Debian package).
#
#   tools/bench/w1h.sh [BUILD_DIR] [DURATION_S] [extra zflow serve flags...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
dur=${2:-10}
shift $(( $# > 2 ? 2 : $# )) || true
data=$(mktemp -d /tmp/zf-w1h-XXXXXX)
port=$(( 20000 + RANDOM % 20000 ))
"$build/zflow" serve --data "$data" --http "127.0.0.1:$port" \
    --api "tcp://127.0.0.1:$((port + 1))" --tap "tcp://127.0.0.1:$((port + 2))" \
    --rate-limit 0 "$@" > "$data/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do grep -q '^zflow ready' "$data/serve.log" && break; sleep 0.05; done
key=$("$build/zflow" keys create --data "$data" --tenant bench --role admin)
base="http://127.0.0.1:$port/api/v2/workflows"
wf=$(curl -sf -X POST "$base" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' -d '{
  "name": "W1h", "definition": {"nodes": [
    {"id": "s1", "type": "set", "config": {"values": {"x": 1}}},
    {"id": "c1", "type": "condition", "config": {"field": "$vars.x", "operator": "equals", "value": 1}},
    {"id": "s2", "type": "set", "config": {"values": {"done": 1}}}]}}' |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["workflow"]["id"])')
url="$base/$wf/execute?wait=true"
echo "W1h: $(nproc) CPUs, server pid $pid, $url" >&2
for c in 16 64; do
    ZF_KEY=$key wrk -t2 -c$c -d2s -s "$here/w1h.lua" "$url" > /dev/null   # warm-up
    printf '{"connections":%d,"result":' "$c"
    ZF_KEY=$key wrk -t2 -c$c -d"${dur}s" -s "$here/w1h.lua" "$url" | tail -1 | tr -d '\n'
    echo '}'
done
