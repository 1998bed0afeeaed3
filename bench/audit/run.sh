#!/usr/bin/env bash
# Builds and runs the audit log benchmark; prints a Markdown table for the
# "## Audit log" section of docs/benchmarks.md.
# Usage: bench/audit/run.sh [BUILD_DIR] [VERIFY_EVENTS]   (default build-bench, 1000000)
# The data directory is on the build dir's disk (not tmpfs) so that fsync is real.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$here/build-bench}"
events="${2:-1000000}"
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target xgw_bench_audit >/dev/null
data="$build/bench-audit-data"
rm -rf "$data"
"$build/bin/xgw_bench_audit" "$data" "$events"
rm -rf "$data"
