#!/usr/bin/env bash
# `bash scripts/demo.sh --web` (scripts/web_demo.sh): the gateway starts with
# the scenario's people, prints the address and one invitation code per
# person, serves the page, and on Ctrl-C (SIGINT) stops and removes all it
# made. usage: web_demo_test.sh BIN_DIR
set -euo pipefail
bin=$(cd "$1" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
XGW_DEMO_LISTEN=127.0.0.1:$port setsid bash "$root/scripts/web_demo.sh" "$bin" > "$out" 2>&1 &
demo=$!
for _ in $(seq 1 300); do grep -q "Press Ctrl-C" "$out" && break; sleep 0.1; done
grep -q "Press Ctrl-C" "$out" || { cat "$out"; echo "FAIL: the web demo did not come up"; exit 1; }
codes=$(grep -c "invitation code: " "$out")
[ "$codes" -eq 5 ] || { echo "FAIL: $codes invitation codes printed, not 5"; exit 1; }
grep -q "https://127.0.0.1:$port/" "$out" || { echo "FAIL: the address is not printed"; exit 1; }
status=$(curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:$port/")
[ "$status" = 200 ] || { echo "FAIL: the page answered $status"; exit 1; }
# The demo's own daemon (a child of its shell; other tests may run theirs) and its config.
state=$(pgrep -P "$demo" -a -f "xgwd serve" | grep -o -- "-c [^ ]*" | head -1 | cut -c4-) || true
[ -n "$state" ] || { echo "FAIL: no xgwd started by the demo"; exit 1; }
kill -INT -- -"$demo"
for _ in $(seq 1 100); do kill -0 "$demo" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$demo" 2>/dev/null; then echo "FAIL: the demo did not stop on Ctrl-C"; kill -KILL -- -"$demo"; exit 1; fi
if [ -e "$state" ]; then echo "FAIL: the demo left $state behind"; exit 1; fi
if curl -sk -o /dev/null "https://127.0.0.1:$port/"; then echo "FAIL: the gateway still answers"; exit 1; fi
echo "web demo: up with 5 invitations, page served, stopped and cleaned up on Ctrl-C"
