#!/bin/bash
# W3 benchmark: event ingestion, durably acknowledged, over zmq
# (events.ingest, build/zf-bench-events) and HTTP (POST /api/v2/events,
# wrk + w3.lua). Starts its own server on loopback with a temporary data dir
# and --rate-limit 0; needs wrk (Debian package). Three tenants:
#   guard  20 automations (record.created on each of 10 modules, two each)
#          whose guards let ~1.5 % of their events through: ~1 % of all
#          events start a durable run (one `set` node)
#   all    30 automations (one per event type and module), no guard: every
#          event starts exactly one run; bounded by run throughput
#   none   no automations: nothing is stored, the ack comes at once
#
#   tools/bench/w3.sh [BUILD_DIR] [DURATION_S] [extra zflow serve flags...]
# Prints one JSON line per configuration (the driver's or wrk's summary).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
dur=${2:-8}
shift $(( $# > 2 ? 2 : $# )) || true
data=$(mktemp -d /tmp/zf-w3-XXXXXX)
port=$(( 20000 + RANDOM % 20000 ))
api="tcp://127.0.0.1:$((port + 1))"
"$build/zflow" serve --data "$data" --http "127.0.0.1:$port" --api "$api" \
    --tap "tcp://127.0.0.1:$((port + 2))" --rate-limit 0 "$@" > "$data/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do grep -q '^zflow ready' "$data/serve.log" && break; sleep 0.05; done
modules="contacts deals tickets orders invoices leads accounts tasks products campaigns"
base="http://127.0.0.1:$port/api/v2"

# automation KEY TYPE MODULE CONDITIONS: one enabled v2 workflow, one set node.
automation() {
    curl -sf -o /dev/null -X POST "$base/workflows" -H "Authorization: Bearer $1" \
        -H 'Content-Type: application/json' -d '{"name": "W3 '"$2 $3 $RANDOM"'",
      "enabled": true, "trigger": {"type": "'"$2"'", "module": "'"$3"'"},
      "conditions": '"$4"',
      "definition": {"nodes": [{"id": "s1", "type": "set", "config": {"values": {"seen": 1}}}]}}'
}

key_guard=$("$build/zflow" keys create --data "$data" --tenant w3guard --role admin)
key_all=$("$build/zflow" keys create --data "$data" --tenant w3all --role admin)
key_none=$("$build/zflow" keys create --data "$data" --tenant w3none --role admin)
for m in $modules; do
    automation "$key_guard" record.created "$m" '[{"field": "score", "operator": "less_than", "value": 150}]'
    automation "$key_guard" record.created "$m" \
        '[{"field": "score", "operator": "greater_than_or_equal", "value": 9850}]'
    for t in record.created record.updated record.deleted; do
        automation "$key_all" "$t" "$m" '[]'
    done
done
echo "W3: $(nproc) CPUs, server pid $pid, $api, $base/events" >&2

# settle: waits (at most 120 s) until the server is idle, i.e. the runs a
# previous configuration queued have executed, so they do not eat the CPU of
# the next one. Idle = under 5 % of a core over half a second.
settle() {
    local a b
    for _ in $(seq 240); do
        a=$(awk '{print $14+$15}' "/proc/$pid/stat")
        sleep 0.5
        b=$(awk '{print $14+$15}' "/proc/$pid/stat")
        (( b - a < 3 )) && return 0
    done
    echo "W3: server still busy after 120 s" >&2
}

zmq() {  # zmq TENANT KEY INFLIGHT BATCH [driver flags]
    local t=$1 k=$2 n=$3 b=$4
    shift 4
    settle
    printf '{"transport":"zmq","tenant":"%s","result":' "$t"
    "$build/zf-bench-events" --connect "$api" --key "$k" --inflight "$n" --batch "$b" \
        --duration "$dur" --warmup 2 "$@" | tail -1 | tr -d '\n'
    echo '}'
}
http() {  # http TENANT KEY CONNECTIONS BATCH
    settle
    ZF_KEY=$2 ZF_BATCH=$4 wrk -t2 -c"$3" -d2s -s "$here/w3.lua" "$base/events" > /dev/null
    printf '{"transport":"http","tenant":"%s","connections":%d,"result":' "$1" "$3"
    ZF_KEY=$2 ZF_BATCH=$4 wrk -t2 -c"$3" -d"${dur}s" -s "$here/w3.lua" "$base/events" |
        tail -1 | tr -d '\n'
    echo '}'
}

phases=${W3_PHASES:-guard none all}
for p in $phases; do
    case $p in
    guard)
        zmq w3guard "$key_guard" 4 100
        zmq w3guard "$key_guard" 16 100
        zmq w3guard "$key_guard" 64 100
        zmq w3guard "$key_guard" 4 1000
        zmq w3guard "$key_guard" 16 1000
        http w3guard "$key_guard" 16 100
        http w3guard "$key_guard" 64 100
        http w3guard "$key_guard" 16 1000 ;;
    none)
        zmq w3none "$key_none" 4 1000
        zmq w3none "$key_none" 16 1000
        http w3none "$key_none" 16 100 ;;
    all)
        zmq w3all "$key_all" 16 100 --count-runs ;;
    esac
done
