#!/usr/bin/env bash
# scripts/deps.sh — install the Debian packages zflow needs, only if missing.
#
# Fast and idempotent: asks dpkg for each package's status, and only when
# something is missing runs `apt-get update` once and installs just those.
# Uses sudo only when not root. Non-interactive.
set -euo pipefail

PACKAGES=(
    build-essential cmake pkg-config
    libzmq3-dev libczmq-dev libmsgpack-dev librocksdb-dev
    libcurl4-openssl-dev libcivetweb-dev libjansson-dev libssl-dev
    libcmocka-dev libjwt-dev uuid-dev duktape-dev libjemalloc-dev
    python3 python3-zmq python3-msgpack python3-websockets
    python3-aiosmtpd python3-httpbin
    wrk jq clang tzdata
    poppler-utils qpdf  # PDF readers for tests/pdf_test.c and tests/it_documents.py
)
# npm runs the pinned OpenAPI linter (tests/openapi_lint.sh). A nodejs from
# nodesource already ships npm, and Debian's npm package would conflict
# with it: add both only when npm is absent.
command -v npm >/dev/null || PACKAGES+=(nodejs npm)

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    if [[ "$status" != "install ok installed" ]]; then
        missing+=("$pkg")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "deps: all ${#PACKAGES[@]} packages present"
    exit 0
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    SUDO=(sudo)
fi

export DEBIAN_FRONTEND=noninteractive
echo "deps: installing ${missing[*]}"
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "deps: installed ${missing[*]}"
