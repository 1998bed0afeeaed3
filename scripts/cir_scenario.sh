#!/usr/bin/env bash
# The CIR scenario (protocol 2024_VB_00591, Thuispunt Gent -> OCMW Gent) played
# end to end with the real xgwd on loopback and the xgw client, one person at a
# time, printing each step in plain words. Every outcome is asserted: the script
# exits non-zero at the first step that does not turn out as the protocol says,
# so it is both the README's demo and an end-to-end test (tests/e2e runs it).
#
# usage: cir_scenario.sh BIN_DIR
# The daemon runs on a test clock that starts on 20 September 2024, inside the
# protocol's validity; "time passes" by advancing that clock, never the system's.
# Everything lives in a temporary directory that is removed at the end, and the
# daemon is stopped with SIGTERM: nothing is left running.
set -euo pipefail
bin=$(cd "${1:?usage: cir_scenario.sh BIN_DIR}" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
xgw_bin=$bin/xgw
xgwd_bin=$bin/xgwd

work=$(mktemp -d)
daemon_pid=""
cleanup() {
  if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -TERM "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

step() { printf '\n== %s\n' "$*"; }
say() { printf '   %s\n' "$*"; }
fail() { printf '\nSCENARIO FAILED: %s\n' "$*" >&2; [ -f last.err ] && sed 's/^/   stderr: /' last.err >&2; exit 1; }

# xgw as one person: their own config file; passphrases for automation.
as() {
  local who=$1; shift
  XGW_CONFIG="$work/$who.json" XGW_PASSPHRASE_FILE="$work/passphrase" "$xgw_bin" "$@" 2>last.err </dev/null
}
# Runs `as WHO ARGS...` expecting exit code CODE; fails the scenario otherwise.
expect_exit() {
  local code=$1; shift
  local rc=0
  as "$@" >last.out || rc=$?
  [ "$rc" -eq "$code" ] || fail "expected exit $code from 'xgw ${*:2}' as $1, got $rc"
}
json_field() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval("d"+sys.argv[1]))' "$1"; }

step "The operator starts the gateway (xgwd) on this machine, with a test clock set to 20 September 2024"
"$xgwd_bin" init --state "$work/state" > init.txt
token=$(sed -n 's/^operator-token: //p' init.txt)
pin=$(sed -n 's/^certificate-pin: //p' init.txt)
config=$(sed -n 's/^config: //p' init.txt)
[ -n "$token" ] && [ -n "$pin" ] && [ -n "$config" ] || fail "xgwd init did not print a token, a pin and a config path"
python3 - "$config" <<'PY'
import json, sys
path = sys.argv[1]
cfg = json.load(open(path))
cfg["listen"] = "127.0.0.1:0"
cfg["clock"] = {"mode": "manual", "start": "2024-09-20T07:00:00Z"}
cfg["exchanges"] = {"sweep_interval_seconds": 1}
cfg["log"] = {"requests": False}
json.dump(cfg, open(path, "w"), indent=2)
PY
"$xgwd_bin" serve -c "$config" --port-file "$work/port" > xgwd.log 2>&1 &
daemon_pid=$!
for _ in $(seq 1 100); do [ -s port ] && break; sleep 0.1; done
[ -s port ] || fail "xgwd did not start (see its log)"
url="https://127.0.0.1:$(cat port)"
say "gateway listening on $url; its certificate fingerprint is $pin"
printf '%s\n' "$token" > operator.tok
printf 'correct horse battery staple\n' > passphrase
chmod 600 operator.tok passphrase
as operator login --gateway "$url" --token-file operator.tok --pin "$pin" >/dev/null || fail "operator login"

step "The operator registers Thuispunt Gent and OCMW Gent, their staff and their DPOs"
thuispunt=$(as operator org create --name "Thuispunt Gent" --enterprise-number "BE 0400.032.156" --json | json_field '["id"]')
ocmw=$(as operator org create --name "OCMW Gent" --enterprise-number "0212.214.125" --json | json_field '["id"]')
say "Thuispunt Gent = $thuispunt, OCMW Gent = $ocmw"
# Thuispunt's subject-index key: held by its senders and the DPOs, never by the gateway.
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > subject.key; echo >> subject.key
chmod 600 subject.key
new_user() {  # new_user LOGIN ORG ROLE DESCRIPTION
  local id
  id=$(as operator user create --org "$2" --name "$4" --role "$3" --json | json_field '["id"]')
  as operator token issue "$id" --ttl 365d > "$1.tok" || fail "token for $1"
  chmod 600 "$1.tok"
  as "$1" login --gateway "$url" --token-file "$1.tok" --pin "$pin" --subject-key subject.key >/dev/null ||
    fail "login of $1"
  say "$4 ($3) = $id"
  last_user_id=$id
}
new_user clerk "$thuispunt" sender "Clerk, Thuispunt Gent"
new_user worker "$ocmw" social-worker-thuislozenzorg "Social worker, Dienst Thuislozenzorg"
new_user colleague "$ocmw" staff-parking-department "Colleague, parking department (not in the protocol)"
colleague_id=$last_user_id
new_user dpo-ocmw "$ocmw" dpo "DPO, OCMW Gent"
new_user dpo-thuispunt "$thuispunt" dpo "DPO, Thuispunt Gent"

step "Each person creates a key on their own computer and registers the public half"
as clerk register-key --new-identity clerk.key >/dev/null || fail "clerk key"
as worker register-key --new-identity worker.key --no-passphrase >/dev/null || fail "worker key"
as colleague register-key --new-identity colleague.key --no-passphrase >/dev/null || fail "colleague key"
say "private keys stay in clerk.key, worker.key, colleague.key (mode 0600); the gateway gets public keys only"

step "Protocol 2024_VB_00591 is proposed; both parties accept this exact version; it is activated"
as operator protocol propose "$root/config/examples/cir-thuispunt-ocmw-2024_VB_00591.json" >/dev/null || fail "propose"
as operator protocol accept 2024_VB_00591 --org "$thuispunt" >/dev/null || fail "accept by Thuispunt"
as operator protocol accept 2024_VB_00591 --org "$ocmw" >/dev/null || fail "accept by OCMW"
as operator protocol activate 2024_VB_00591 >/dev/null || fail "activate"
as clerk protocol show 2024_VB_00591 > protocol.txt || fail "protocol show"
sed -n '1,40p' protocol.txt | sed 's/^/   | /'

step "The Thuispunt clerk sends the list of candidates who have not confirmed (generated: fictional people)"
python3 "$root/scripts/sample_list.py" --rows 25 > cir-list.csv
say "cir-list.csv: $(($(wc -l < cir-list.csv) - 1)) rows; columns: $(head -1 cir-list.csv)"
as clerk send --protocol 2024_VB_00591 cir-list.csv --json > sent.json || fail "send of an allowed list"
exchange=$(json_field '["id"]' < sent.json)
say "accepted: checked on the clerk's computer, encrypted to the allowed recipients, uploaded as exchange $exchange"

step "A social worker of the Dienst Thuislozenzorg receives and reads it"
as worker inbox > inbox.txt || fail "inbox"
grep -q "$exchange" inbox.txt || fail "the exchange is not in the social worker's inbox"
as worker receive "$exchange" -o received.csv > receive.txt || fail "receive"
cmp -s received.csv cir-list.csv || fail "the received list differs from the sent one"
sed 's/^/   | /' receive.txt
say "decrypted on the social worker's computer, signature and fingerprint verified: identical to what was sent"
as worker receive "$exchange" --raw -o raw.age >/dev/null || fail "receive --raw"
age -d -i worker.key raw.age | cmp -s - cir-list.csv || fail "age -d could not read the raw file"
say "the stored file is a standard age file: 'age -d -i worker.key' opens it too (no lock-in)"

step "A colleague from an unrelated department tries to open it, and is refused"
# The gateway answers as if the list did not exist, so its existence does not leak.
expect_exit 1 colleague receive "$exchange" -o stolen.csv
grep -q "not visible to you" last.err || fail "the colleague's refusal does not say why"
[ ! -e stolen.csv ] || fail "a file was written for the colleague"
sed 's/^/   | /' last.err

step "The clerk tries to send a list with an extra column (telefoonnummer): refused before anything leaves"
python3 "$root/scripts/sample_list.py" --rows 25 --extra-column Telefoonnummer > with-phone.csv
expect_exit 3 clerk send --protocol 2024_VB_00591 with-phone.csv
sed 's/^/   | /' last.err
if grep -qE '[0-9]{11}' last.err; then fail "a refusal message contains a number that looks like personal data"; fi

step "The clerk tries to send the list a second time: refused, the protocol allows one transfer"
expect_exit 3 clerk send --protocol 2024_VB_00591 cir-list.csv
sed 's/^/   | /' last.err

step "Time passes: the test clock moves past 27 September 2024 (end of day, Brussels time)"
as operator clock advance 8d >/dev/null || fail "clock advance"
deleted=""
for _ in $(seq 1 50); do
  if as dpo-ocmw audit events --exchange "$exchange" --json > events.json &&
     grep -q 'exchange.deleted_expiry' events.json; then deleted=yes; break; fi
  sleep 0.2
done
[ -n "$deleted" ] || fail "the list was not deleted after its retention date"
expect_exit 1 worker receive "$exchange" -o too-late.csv
say "the gateway deleted the list on the agreed day; downloading it now fails"
[ -z "$(ls "$work/state/blobs/" | grep -v '^tmp$' || true)" ] || fail "a blob is left in the state directory"
say "no encrypted file is left in the gateway's blob store"

step "The OCMW DPO verifies the audit log, sees who accessed what, and checks the deletion receipt"
as dpo-ocmw audit verify > verify.txt || fail "audit verify"
sed 's/^/   | /' verify.txt
as dpo-ocmw audit events --exchange "$exchange" > events.txt || fail "audit events"
sed 's/^/   | /' events.txt
grep -q "$exchange" events.txt || fail "the audit listing does not name the exchange"
grep -q "exchange.download_refused.*by Colleague, parking department" events.txt ||
  fail "the colleague's attempt is not in the audit log, by name"
as dpo-ocmw audit events --exchange "$exchange" --json > events.json || fail "audit events --json"
grep -q "$colleague_id" events.json || fail "the colleague's id is not in the proven events"
as dpo-ocmw audit receipt "$exchange" -o receipt.json > receipt.txt || fail "deletion receipt"
sed 's/^/   | /' receipt.txt
"$xgwd_bin" audit-verify --state "$work/state" > offline-verify.txt || fail "offline verification of the state directory"
say "offline: $(grep -E '^(events|result)' offline-verify.txt | tr '\n' ' ')"

step "The gateway stops (SIGTERM); nothing is left running"
kill -TERM "$daemon_pid"
wait "$daemon_pid" || fail "xgwd did not exit cleanly"
daemon_pid=""
say "scenario complete: every outcome was as the protocol requires"
