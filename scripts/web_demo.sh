#!/usr/bin/env bash
# The web app's demo: a real xgwd on this machine with the CIR scenario's
# organisations and people (Thuispunt Gent sends, OCMW Gent receives), the
# protocol in force, and an invitation code for each person, so that anyone
# can try the pages in their own browser. Runs until Ctrl-C, then stops the
# gateway and removes everything it made.
#
# usage: web_demo.sh BIN_DIR      (bash scripts/demo.sh --web sets up and builds first)
#   XGW_DEMO_LISTEN=127.0.0.1:8443   where the gateway listens
#
# The gateway runs on the real clock (authenticator apps compute their codes
# from it), so the demo's copy of protocol 2024_VB_00591 is valid from today
# for 30 days, its lists kept 7 days; everything else is the real protocol.
set -euo pipefail
bin=$(cd "${1:?usage: web_demo.sh BIN_DIR}" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
listen=${XGW_DEMO_LISTEN:-127.0.0.1:8443}
[ -f "$bin/../share/xgw/web/index.html" ] || { echo "web_demo: no web app in $bin/../share/xgw/web (build it first)" >&2; exit 2; }

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
trap 'echo; echo "web demo: stopping"; exit 0' INT TERM
cd "$work"
fail() { echo "web demo: $*" >&2; [ -f last.err ] && sed 's/^/  /' last.err >&2; exit 1; }
as() { XGW_CONFIG="$work/$1.json" "$bin/xgw" "${@:2}" 2>last.err </dev/null; }
json_field() { python3 -c 'import json,sys; print(eval("json.load(sys.stdin)"+sys.argv[1]))' "$1"; }

"$bin/xgwd" init --state "$work/state" > init.txt
token=$(sed -n 's/^operator-token: //p' init.txt)
pin=$(sed -n 's/^certificate-pin: //p' init.txt)
config=$(sed -n 's/^config: //p' init.txt)
python3 - "$config" "$listen" <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1]))
cfg["listen"] = sys.argv[2]
cfg["server"] = {"public_origin": "https://" + sys.argv[2]}
json.dump(cfg, open(sys.argv[1], "w"), indent=2)
PY
"$bin/xgwd" serve -c "$config" --port-file "$work/port" > xgwd.log 2>&1 &
daemon_pid=$!
for _ in $(seq 1 100); do [ -s port ] && break; sleep 0.1; done
[ -s port ] || { cat xgwd.log >&2; fail "xgwd did not start (is $listen in use? set XGW_DEMO_LISTEN)"; }
url="https://$listen"
printf '%s\n' "$token" > operator.tok
as operator login --gateway "$url" --token-file operator.tok --pin "$pin" >/dev/null || fail "operator login"

thuispunt=$(as operator org create --name "Thuispunt Gent" --enterprise-number "BE 0400.032.156" --json | json_field '["id"]')
ocmw=$(as operator org create --name "OCMW Gent" --enterprise-number "0212.214.125" --json | json_field '["id"]')
python3 - "$root/config/examples/cir-thuispunt-ocmw-2024_VB_00591.json" > protocol.json <<'PY'
import datetime, json, sys
p = json.load(open(sys.argv[1]))
today = datetime.date.today()
p["validity"] = {"from": today.isoformat(), "until": (today + datetime.timedelta(days=30)).isoformat()}
p["retention"]["delete_on"] = (today + datetime.timedelta(days=7)).isoformat()
json.dump(p, sys.stdout, indent=2)
PY
as operator protocol propose protocol.json >/dev/null || fail "propose"
as operator protocol accept 2024_VB_00591 --org "$thuispunt" >/dev/null || fail "accept by Thuispunt"
as operator protocol accept 2024_VB_00591 --org "$ocmw" >/dev/null || fail "accept by OCMW"
as operator protocol activate 2024_VB_00591 >/dev/null || fail "activate"

invite() {  # invite SIGNIN ORG ROLE DISPLAY_NAME
  local id code
  id=$(as operator user create --org "$2" --name "$4" --role "$3" --json | json_field '["id"]') || fail "user $1"
  code=$(as operator user invite "$id" --signin-name "$1" --ttl 72h --json | json_field '["code"]') || fail "invitation of $1"
  printf '  %-22s %-40s invitation code: %s\n' "$1" "$4" "$code"
}
cat <<EOF2

xgw web demo: the gateway is running at

    $url/

Its certificate is self-signed: your browser will warn once. The certificate's
key pin is $pin.

Open the address, choose "First time here? Enrol with the invitation code you
received", and enrol as one of these people (you need an authenticator app
for the six-digit codes, e.g. FreeOTP or Google Authenticator):

EOF2
invite clerk.thuispunt "$thuispunt" sender "Clerk, Thuispunt Gent"
invite worker.ocmw "$ocmw" social-worker-thuislozenzorg "Social worker, Dienst Thuislozenzorg"
invite colleague.ocmw "$ocmw" staff-parking-department "Colleague, parking department"
invite dpo.ocmw "$ocmw" dpo "DPO, OCMW Gent"
invite dpo.thuispunt "$thuispunt" dpo "DPO, Thuispunt Gent"
cat <<EOF2

Protocol 2024_VB_00591 is in force from today for 30 days (the demo's copy;
one transfer, lists deleted after 7 days or on receipt). The social worker
makes a key in the page at the first sign-in; then lists can be sent to them:
with xgw (scripts/sample_list.py makes a list of fictional people) or, where
the page offers it, in the browser. Press Ctrl-C to stop: the gateway and all
its data are removed.
EOF2
wait "$daemon_pid"
