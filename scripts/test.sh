#!/usr/bin/env bash
# Sets up, builds (warnings as errors) and runs every test through CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh -DXGW_WERROR=ON -DXGW_TESTS=ON
cd "${XGW_BUILD_DIR:-build}"
ctest --output-on-failure -j"$(nproc)" --timeout 600
