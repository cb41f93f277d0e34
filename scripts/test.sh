#!/usr/bin/env bash
# scripts/test.sh — configure, build and run the whole test suite.
#
#   scripts/test.sh                  build/ (RelWithDebInfo)
#   ZF_SANITIZE=1 scripts/test.sh    build-asan/ with ASan + UBSan
#
# Exits non-zero if the configure, the build or any test fails; ctest's
# summary line is always printed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

if [[ "${ZF_SANITIZE:-0}" == "1" ]]; then
    BUILD=build-asan
    CONFIG=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DZF_SANITIZE=ON)
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
else
    BUILD=build
    CONFIG=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
fi

cmake -S . -B "$BUILD" "${CONFIG[@]}"
cmake --build "$BUILD" -j2
ctest --test-dir "$BUILD" --output-on-failure -j2
