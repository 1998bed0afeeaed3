#!/usr/bin/env bash
# Sets up, builds and runs the xgw demo: the CIR protocol (2024_VB_00591) played
# end to end with a real xgwd on loopback and the xgw client. See
# scripts/cir_scenario.sh for the story; it leaves nothing running or on disk.
# With --web: the web demo instead (scripts/web_demo.sh), until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "${1:-}" = "--web" ]; then
  # The web app, for a person to try in their own browser (scripts/web_demo.sh).
  XGW_TARGETS="xgw xgwd xgw_web" bash scripts/build.sh >/dev/null
  exec bash scripts/web_demo.sh build/bin
fi
XGW_TARGETS="xgw xgwd" bash scripts/build.sh >/dev/null
bash scripts/cir_scenario.sh build/bin
