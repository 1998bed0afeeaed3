#!/usr/bin/env bash
# Drives a real xgwd with the curl and openssl command-line tools: TLS
# version and cipher policy, the operator API, and the config commands
# (--check-config / --dump-config round trip, unknown keys).
# Usage: cli_e2e_test.sh PATH/TO/xgwd
set -euo pipefail
XGWD=${1:?usage: cli_e2e_test.sh PATH/TO/xgwd}
dir=$(mktemp -d /tmp/xgw-cli-e2e-XXXXXX)
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT
passed=0
failed=0
check() {  # check NAME COMMAND...: the command must succeed
  local name=$1; shift
  if "$@" >"$dir/last.out" 2>&1; then passed=$((passed + 1)); echo "ok   $name"
  else failed=$((failed + 1)); echo "FAIL $name"; sed 's/^/     /' "$dir/last.out" | head -20; fi
}
refuse() {  # refuse NAME COMMAND...: the command must fail
  local name=$1; shift
  if "$@" >"$dir/last.out" 2>&1; then failed=$((failed + 1)); echo "FAIL $name (unexpectedly succeeded)"
  else passed=$((passed + 1)); echo "ok   $name"; fi
}

"$XGWD" init --state "$dir/state" --listen 127.0.0.1:0 >"$dir/init.out"
token=$(sed -n 's/^operator-token: //p' "$dir/init.out")
cfg="$dir/state/xgwd.json"
ca="$dir/state/tls/server.crt"

check "state directory is private (0700)" test "$(stat -c %a "$dir/state")" = 700
check "tls key is 0600" test "$(stat -c %a "$dir/state/tls/server.key")" = 600
check "signing key is 0600" test "$(stat -c %a "$dir/state/keys/gateway-ed25519.key")" = 600
check "token is not stored in the database" bash -c "! grep -q '$token' '$dir/state/xgwd.db'"
refuse "init refuses a non-empty state directory" "$XGWD" init --state "$dir/state"

check "check-config accepts the generated config" "$XGWD" --check-config -c "$cfg"
"$XGWD" --dump-config -c "$cfg" >"$dir/dump1.json"
check "dumped config passes check-config" "$XGWD" -t -c "$dir/dump1.json"
"$XGWD" -T -c "$dir/dump1.json" >"$dir/dump2.json"
check "dump re-parses to itself" cmp "$dir/dump1.json" "$dir/dump2.json"
python3 - "$cfg" "$dir/bad.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c.setdefault("limits", {})["max_header_bytez"] = 1
json.dump(c, open(sys.argv[2], "w"))
PY
refuse "check-config refuses an unknown key" "$XGWD" -t -c "$dir/bad.json"
check "the error names the key's JSON path" bash -c "'$XGWD' -t -c '$dir/bad.json' 2>&1 | grep -q 'limits.max_header_bytez'"

"$XGWD" serve -c "$cfg" --port-file "$dir/port" >"$dir/xgwd.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do [ -s "$dir/port" ] && break; sleep 0.05; done
port=$(cat "$dir/port")
url="https://127.0.0.1:$port"
check "listening line is printed" grep -q "xgwd: listening on $url" "$dir/xgwd.log"

check "curl: healthz over TLS" curl -sSf --cacert "$ca" "$url/healthz"
check "curl: TLS 1.3 works" curl -sSf --cacert "$ca" --tlsv1.3 "$url/healthz"
check "curl: TLS 1.2 with ECDHE-GCM works" curl -sSf --cacert "$ca" --tlsv1.2 --tls-max 1.2 \
  --ciphers ECDHE-ECDSA-AES256-GCM-SHA384 "$url/healthz"
refuse "curl: TLS 1.1 is refused" curl -sSf --cacert "$ca" --tlsv1.0 --tls-max 1.1 \
  --ciphers 'DEFAULT:@SECLEVEL=0' "$url/healthz"
refuse "curl: CBC-only ciphers are refused" curl -sSf --cacert "$ca" --tls-max 1.2 \
  --ciphers 'ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA:AES128-SHA' "$url/healthz"
refuse "openssl: TLS 1.1 handshake fails" bash -c \
  "openssl s_client -connect 127.0.0.1:$port -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' </dev/null"
check "openssl: TLS 1.3 handshake succeeds" bash -c \
  "openssl s_client -connect 127.0.0.1:$port -tls1_3 -CAfile '$ca' -verify_return_error </dev/null"

refuse "curl: no token → error" curl -sSf --cacert "$ca" "$url/api/v1/me"
check "curl: operator creates an organisation" bash -c "curl -sSf --cacert '$ca' \
  -H 'Authorization: Bearer $token' -H 'Content-Type: application/json' \
  -d '{\"name\":\"Thuispunt Gent\",\"enterprise_number\":\"BE 0400.032.156\"}' \
  '$url/api/v1/orgs' | grep -q '\"enterprise_number\":\"0400032156\"'"
check "curl: problem+json for bad input" bash -c "curl -s --cacert '$ca' -o /dev/null \
  -w '%{http_code} %{content_type}' -H 'Authorization: Bearer $token' \
  -H 'Content-Type: application/json' -d '{\"name\":1}' '$url/api/v1/orgs' \
  | grep -q '^400 application/problem+json'"
check "curl: metrics in Prometheus format" bash -c "curl -sSf --cacert '$ca' \
  -H 'Authorization: Bearer $token' '$url/metrics' | grep -q '^xgw_http_requests_total{'"

kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
pid=""
check "SIGTERM → exit 0" test "$rc" = 0
check "log never contains the token" bash -c "! grep -q '$token' '$dir/xgwd.log'"

# RSA key exchange can only be offered by a server with an RSA certificate
# (the generated one is ECDSA, with which no RSA key exchange is possible
# anyway): the same state directory, served with an RSA certificate, must
# complete an ECDHE-RSA handshake and refuse one with RSA key exchange.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/rsa.key" -out "$dir/rsa.crt" \
  -subj /CN=127.0.0.1 -days 1 2>/dev/null
python3 - "$cfg" "$dir/rsa.json" "$dir/rsa.crt" "$dir/rsa.key" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c.setdefault("tls", {}).update(cert_file=sys.argv[3], key_file=sys.argv[4])
json.dump(c, open(sys.argv[2], "w"))
PY
rm -f "$dir/port"
"$XGWD" serve -c "$dir/rsa.json" --port-file "$dir/port" >"$dir/xgwd-rsa.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do [ -s "$dir/port" ] && break; sleep 0.05; done
port=$(cat "$dir/port")
check "openssl: the RSA certificate is served (ECDHE-RSA handshake succeeds)" bash -c \
  "openssl s_client -connect 127.0.0.1:$port -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256 -CAfile '$dir/rsa.crt' \
   -verify_return_error </dev/null 2>&1 | grep -q 'Cipher is ECDHE-RSA-AES128-GCM-SHA256'"
refuse "openssl: RSA key exchange is refused" bash -c \
  "openssl s_client -connect 127.0.0.1:$port -tls1_2 -cipher AES128-GCM-SHA256:AES256-GCM-SHA384 </dev/null"
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
pid=""
check "SIGTERM → exit 0 (RSA certificate)" test "$rc" = 0

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
