#!/usr/bin/env bash
# `xgw audit verify` remembers the last checkpoint it verified, so a gateway
# whose audit log was rolled back to an older copy, or forked from one, is
# caught on the next check — even though the old copy is perfectly valid on
# its own (same keys, every hash consistent).
#
# usage: audit_rollback_test.sh BIN_DIR
set -euo pipefail
bin=$(cd "${1:?usage: audit_rollback_test.sh BIN_DIR}" && pwd)
work=$(mktemp -d)
pid=""
stop() { if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""; fi; }
trap 'stop; rm -rf "$work"' EXIT
cd "$work"
fail() { echo "FAIL: $*" >&2; [ -f err ] && cat err >&2; exit 1; }

"$bin/xgwd" init --state "$work/state" > init.txt
config=$(sed -n 's/^config: //p' init.txt)
pin=$(sed -n 's/^certificate-pin: //p' init.txt)
sed -n 's/^operator-token: //p' init.txt > op.tok
# A fixed port, so the client sees "the same gateway" across restarts.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 - "$config" "$port" <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1])); cfg["listen"] = "127.0.0.1:" + sys.argv[2]
cfg["log"] = {"requests": False}
json.dump(cfg, open(sys.argv[1], "w"))
PY
start() {
  "$bin/xgwd" serve -c "$config" > daemon.log 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    curl -sk "https://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  fail "xgwd did not start"
}
xgw() { XGW_CONFIG="$work/op.json" "$bin/xgw" "$@" 2>err </dev/null; }
grow() { for i in $(seq 1 "$1"); do xgw org create --name "Org $2 $i" >/dev/null || fail "org create"; done; }

start
xgw login --gateway "https://127.0.0.1:$port" --token-file op.tok --pin "$pin" >/dev/null || fail "login"
grow 2 a
xgw audit verify >/dev/null || fail "first verify"
stop
cp -a state snapshot           # an old, internally valid copy of everything

start
grow 3 b
xgw audit verify >/dev/null || fail "verify after honest growth"
stop

# Roll back: the operator restores the old copy. It verifies on its own ...
rm -rf state && cp -a snapshot state
"$bin/xgwd" audit-verify --state "$work/state" >/dev/null || fail "the old copy should verify on its own"
start
# ... but the DPO's client remembers a longer log.
if xgw audit verify >/dev/null; then fail "a rolled-back log was accepted"; fi
grep -q "rolled back" err || fail "the rollback is not named"

# Fork: the old copy grows past the remembered size with different events.
grow 6 fork
if xgw audit verify >/dev/null; then fail "a forked log was accepted"; fi
grep -qE "forked|rewritten" err || fail "the fork is not named"
stop
echo "audit rollback and fork detected"
