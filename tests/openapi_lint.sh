#!/bin/bash
# tests/openapi_lint.sh — lints the OpenAPI document a zflow server serves at
# <lendworks mount>/openapi.json with @redocly/cli (pinned below), installed
# with npm into a cache directory outside the repository.
#
# usage:
#   tests/openapi_lint.sh            lint $ZF_BASE$ZF_PREFIX/openapi.json, or, without
#                                    ZF_BASE, start a zflow of our own (ZFLOW_BIN, else
#                                    build/zflow) on a free port, lint, stop it
#
# environment:
#   ZF_BASE            server base URL (e.g. http://127.0.0.1:8080); unset: own server
#   ZF_PREFIX          the lendworks mount, default /v1
#   ZFLOW_BIN          the zflow binary for the own server (default build/zflow)
#   ZF_NPM_CACHE       where @redocly/cli is installed, default $HOME/.cache/zflow-npm
#   ZF_REDOCLY_VERSION the pinned @redocly/cli version (default below)
#   CI                 set (true, 1, ...; not false or 0): a missing npm is a failure, not a skip
#
# Rules: redocly's recommended-strict set (every problem is an error), except
# info-license: zflow has no license file to point to yet.
#
# Exit status: 0 clean, 1 problems or failure, 77 skipped (npm absent, not in CI).
set -euo pipefail

if ! command -v npm > /dev/null 2>&1; then
    if [ -n "${CI:-}" ] && [ "${CI}" != "false" ] && [ "${CI}" != "0" ]; then
        echo "openapi_lint: FAIL: npm not found and CI=$CI (install nodejs/npm: scripts/deps.sh)" >&2
        exit 1
    fi
    echo "openapi_lint: SKIP: npm not found (install nodejs and npm to lint the OpenAPI document)"
    exit 77
fi

REDOCLY_VERSION=${ZF_REDOCLY_VERSION:-1.34.20}  # runs on Node >= 18.17 (Debian 12 ships 18.20)
CACHE=${ZF_NPM_CACHE:-${HOME:-/tmp}/.cache/zflow-npm}
PREFIX=${ZF_PREFIX:-/v1}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/zf-lint.XXXXXX")
SERVER_PID=

cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# Installs @redocly/cli@$REDOCLY_VERSION once into $CACHE/redocly-cli-<version>
# (npm's own cache inside $CACHE too). flock: two test runs may race here;
# the install goes to a temporary dir that is renamed when complete.
install_redocly() {
    local dest="$CACHE/redocly-cli-$REDOCLY_VERSION"
    REDOCLY="$dest/node_modules/.bin/redocly"
    mkdir -p "$CACHE"
    exec 9> "$CACHE/.lock"
    flock 9
    if [ ! -x "$REDOCLY" ]; then
        local tmp="$dest.tmp.$$"
        rm -rf "$tmp"
        echo "openapi_lint: installing @redocly/cli@$REDOCLY_VERSION into $dest"
        if ! npm install --prefix "$tmp" --cache "$CACHE/npm-cache" --no-audit --no-fund \
            --no-save --loglevel=error "@redocly/cli@$REDOCLY_VERSION" >&2; then
            rm -rf "$tmp"
            echo "openapi_lint: FAIL: npm could not install @redocly/cli@$REDOCLY_VERSION" >&2
            exit 1
        fi
        rm -rf "$dest"
        mv "$tmp" "$dest"
    fi
    flock -u 9
}

free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts a zflow of our own and sets ZF_BASE.
start_server() {
    local bin=${ZFLOW_BIN:-$HERE/../build/zflow} port api tap i
    port=$(free_port)
    api=$(free_port)
    tap=$(free_port)
    "$bin" serve --http "127.0.0.1:$port" --data "$WORK/data" --api "tcp://127.0.0.1:$api" \
        --tap "tcp://127.0.0.1:$tap" --mount "lendworks=$PREFIX" > "$WORK/serve.log" 2>&1 &
    SERVER_PID=$!
    for i in $(seq 1 200); do
        grep -q '^zflow ready' "$WORK/serve.log" && break
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/serve.log" >&2; exit 1; }
        sleep 0.1
    done
    ZF_BASE="http://127.0.0.1:$port"
}

install_redocly
[ -n "${ZF_BASE:-}" ] || start_server
curl -sS --fail --max-time 30 -o "$WORK/openapi.json" "$ZF_BASE$PREFIX/openapi.json"
cat > "$WORK/redocly.yaml" <<'EOF'
extends:
  - recommended-strict
rules:
  info-license: off
EOF
cd "$WORK"
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_COLOR=1
echo "openapi_lint: @redocly/cli $("$REDOCLY" --version) on $ZF_BASE$PREFIX/openapi.json"
"$REDOCLY" lint --config "$WORK/redocly.yaml" --format stylish "$WORK/openapi.json"
