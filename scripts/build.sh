#!/usr/bin/env bash
# Configures and builds xgw into build/ (binaries in build/bin/).
# Extra arguments go to cmake's configure step, e.g. -DXGW_SANITIZE=ON.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${XGW_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$build_dir" -j"$(nproc)"
