#!/usr/bin/env bash
# Sets up, builds and runs the xgw demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh -DXGW_TESTS=OFF
echo "demo: not written yet"
