#!/usr/bin/env bash
# Configures and builds xgw into build/ (binaries in build/bin/).
# Arguments go to cmake's configure step, e.g. -DXGW_SANITIZE=ON; set
# XGW_TARGETS="xgw xgwd" to build only some targets, XGW_BUILD_DIR for another tree.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${XGW_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
targets=()
for t in ${XGW_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$build_dir" -j"$(nproc)" "${targets[@]}"
