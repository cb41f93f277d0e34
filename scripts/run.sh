#!/usr/bin/env bash
# scripts/run.sh — the README's first command: install missing Debian
# packages, build (Release-ish, build/), then run `zflow serve` with its
# embedded defaults. Extra arguments go to `zflow serve`.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2
exec build/zflow serve "$@"
