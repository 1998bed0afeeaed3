#!/usr/bin/env bash
# Benchmark: xgwd's end-to-end upload path side by side with nginx (Debian
# package, WebDAV PUT) in the same run, same load driver (upload_bench.cc,
# libcurl, HTTP/1.1 over TLS 1.3 on loopback, certificates verified).
#
#   large: one upload of a 1 GiB age file (made by `xgw encrypt`; the same
#          ciphertext goes to both servers), streamed from disk; MB/s, best
#          of REPS_LARGE; xgwd's peak RSS (VmHWM) afterwards.
#   small: THREADS clients, keep-alive, uploading a 50 KiB age file back to
#          back for SMALL_SECONDS; uploads/s, p50/p99 latency per upload.
#          nginx: one `PUT /upload/<name>`. xgwd, as `xgw send` does it for
#          lists up to 16 MiB: one `POST /api/v1/exchanges/upload` (signed
#          manifest, newline, age file: policy decision, fsync, rename, dir
#          fsync, audited); and, for comparison, the two-request form
#          `POST /api/v1/exchanges` + `PUT .../content` that `xgw send` uses
#          for larger lists (the large measurement).
#          Context beside them (durable_floor.cc, same rounds): the same
#          THREADS storing SMALL_KIB KiB files durably with no network at all
#          (temp file, fdatasync, rename, directory fsync; and the same plus
#          one SQLite commit each), because nginx answers without any fsync.
#
# usage: bench/gateway/run.sh [BUILD_DIR]     (default: build; needs bin/xgwd, bin/xgw)
#   LARGE_MIB=1024 SMALL_KIB=50 THREADS=8 SMALL_SECONDS=10 REPS_LARGE=2 SMALL_ROUNDS=2
#   NGINX_ONLY=1   measure nginx alone (also chosen automatically when xgwd
#                  has no exchange routes yet)
#   PACKED_BLOB_MAX_BYTES=1048576  xgwd's exchanges.packed_blob_max_bytes:
#                  ciphertexts up to this size packed into segment files
#                  (gateway/segment_blob_store.h); 0 = one file each (the
#                  key's default)
#   COMPARE_FILES=1  also measure xgwd with packing off (0) in every round:
#                  xgwd is restarted on the same state for that phase
# Installs nginx with apt-get if it is missing (benchmarks are not run by CI,
# so it is not in scripts/setup.sh). Everything lives in one temp directory,
# removed at exit; both servers are stopped by the EXIT trap.
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin  # nginx lives in /usr/sbin
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build}
BUILD=$(cd "$BUILD" && pwd)
XGWD=$BUILD/bin/xgwd
XGW=$BUILD/bin/xgw
LARGE_MIB=${LARGE_MIB:-1024}
SMALL_KIB=${SMALL_KIB:-50}
THREADS=${THREADS:-8}
SMALL_SECONDS=${SMALL_SECONDS:-10}
REPS_LARGE=${REPS_LARGE:-2}
SMALL_ROUNDS=${SMALL_ROUNDS:-2}
NGINX_ONLY=${NGINX_ONLY:-0}
PACKED_BLOB_MAX_BYTES=${PACKED_BLOB_MAX_BYTES:-1048576}
COMPARE_FILES=${COMPARE_FILES:-0}
[ -x "$XGWD" ] && [ -x "$XGW" ] || { echo "need $XGWD and $XGW (build targets xgwd xgw)" >&2; exit 2; }

need_pkg() {  # need_pkg COMMAND PACKAGE
  command -v "$1" > /dev/null && return 0
  echo "installing $2 (apt-get) ..." >&2
  if [ "$(id -u)" -eq 0 ]; then apt-get install -y --no-install-recommends "$2" > /dev/null
  else sudo apt-get install -y --no-install-recommends "$2" > /dev/null; fi
}
need_pkg nginx nginx
need_pkg curl curl
need_pkg g++ g++
[ -f /usr/include/x86_64-linux-gnu/curl/curl.h ] || [ -f /usr/include/curl/curl.h ] || need_pkg curl-config libcurl4-openssl-dev
nginx -V 2>&1 | grep -q -- --with-http_dav_module || { echo "this nginx has no dav module" >&2; exit 2; }
NGINX=$(command -v nginx)

T=$(mktemp -d "${TMPDIR:-/tmp}/xgw-bench-gateway.XXXXXX")
NGINX_PID=""
XGWD_PID=""
cleanup() {
  if [ -n "$NGINX_PID" ]; then kill -QUIT "$NGINX_PID" 2> /dev/null || true; fi
  if [ -n "$XGWD_PID" ]; then kill -TERM "$XGWD_PID" 2> /dev/null || true; fi
  for _ in $(seq 50); do
    local alive=0
    [ -n "$NGINX_PID" ] && kill -0 "$NGINX_PID" 2> /dev/null && alive=1
    [ -n "$XGWD_PID" ] && kill -0 "$XGWD_PID" 2> /dev/null && alive=1
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  if [ -n "$NGINX_PID" ]; then kill -KILL "$NGINX_PID" 2> /dev/null || true; fi
  if [ -n "$XGWD_PID" ]; then kill -KILL "$XGWD_PID" 2> /dev/null || true; fi
  wait 2> /dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
LOAD_START=$(load)

# --- load driver ----------------------------------------------------------
g++ -std=c++20 -O2 -Wall -Wextra -pthread "$ROOT/bench/gateway/upload_bench.cc" -lcurl -o "$T/upload_bench"
DRIVER=$T/upload_bench
g++ -std=c++20 -O2 -Wall -Wextra -pthread "$ROOT/bench/gateway/durable_floor.cc" -lsqlite3 -o "$T/durable_floor"
FLOOR=$T/durable_floor

# --- payloads: age files from xgw encrypt, the same bytes for both servers --
"$XGW" keygen -o "$T/recipient.key" 2> /dev/null
RECIPIENT_AGE=$("$XGW" keygen -y "$T/recipient.key")
"$XGW" keygen -o "$T/sender.key" 2> /dev/null
SENDER_AGE=$("$XGW" keygen -y "$T/sender.key")
# A one-column CSV list of SMALL_KIB KiB: header "ref", one random hex cell.
python3 -c 'import os,sys; n=int(sys.argv[2]); open(sys.argv[1],"w").write("ref\n"+os.urandom(n).hex()[:n-5]+"\n")' \
  "$T/small.csv" "$((SMALL_KIB * 1024))"
"$XGW" encrypt -r "$RECIPIENT_AGE" -o "$T/small.age" "$T/small.csv"
head -c "$((LARGE_MIB * 1024 * 1024))" /dev/urandom > "$T/large.plain"
"$XGW" encrypt -r "$RECIPIENT_AGE" -o "$T/large.age" "$T/large.plain"
SMALL_BYTES=$(stat -c %s "$T/small.age")
LARGE_BYTES=$(stat -c %s "$T/large.age")

# --- nginx ----------------------------------------------------------------
N=$T/nginx
mkdir -p "$N/www/upload" "$N/body" "$N/tmp" "$N/logs"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$N/key.pem" -out "$N/cert.pem" 2> /dev/null
NGINX_PORT=$(free_port)
USER_LINE=""
[ "$(id -u)" -eq 0 ] && USER_LINE="user root;"
cat > "$N/nginx.conf" << EOF
$USER_LINE
worker_processes auto;
pid $N/nginx.pid;
error_log $N/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 65;
  keepalive_requests 1000000;
  client_body_temp_path $N/body;
  proxy_temp_path $N/tmp;
  fastcgi_temp_path $N/tmp;
  uwsgi_temp_path $N/tmp;
  scgi_temp_path $N/tmp;
  client_body_buffer_size 128k;
  server {
    listen 127.0.0.1:$NGINX_PORT ssl;
    ssl_certificate $N/cert.pem;
    ssl_certificate_key $N/key.pem;
    ssl_protocols TLSv1.3;
    ssl_conf_command Ciphersuites TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256;
    ssl_session_cache shared:SSL:1m;
    location /upload/ {
      root $N/www;
      dav_methods PUT;
      create_full_put_path on;
      client_max_body_size 2g;
      client_body_temp_path $N/body;
    }
  }
}
EOF
"$NGINX" -p "$N" -c "$N/nginx.conf" -e "$N/logs/error.log"
for _ in $(seq 100); do [ -s "$N/nginx.pid" ] && break; sleep 0.05; done
NGINX_PID=$(cat "$N/nginx.pid")
NGINX_URL=https://127.0.0.1:$NGINX_PORT
curl -sS --tlsv1.3 --cacert "$N/cert.pem" -T "$T/small.age" "$NGINX_URL/upload/probe" -o /dev/null \
  || { cat "$N/logs/error.log" >&2; exit 1; }

# --- xgwd -----------------------------------------------------------------
X=$T/xgwd
mkdir -p "$X"
INIT_OUT=$("$XGWD" init --state "$X/state" --listen 127.0.0.1:0)
OP_TOKEN=$(printf '%s\n' "$INIT_OUT" | sed -n 's/^operator-token: //p')
CONFIG=$X/state/xgwd.json
# The 1 GiB age file is larger than the default 1 GiB upload limit.
python3 - "$CONFIG" "$PACKED_BLOB_MAX_BYTES" << 'EOF'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c.setdefault("limits", {})["max_upload_bytes"] = 4 << 30
# The bench is one client at thousands of requests a second, on purpose.
c["limits"]["requests_per_second_per_address"] = 0
c["limits"]["requests_per_second_per_token"] = 0
c.setdefault("exchanges", {})["packed_blob_max_bytes"] = int(sys.argv[2])
json.dump(c, open(p, "w"), indent=2)
EOF
"$XGWD" serve -c "$CONFIG" --port-file "$X/port" > "$X/xgwd.log" 2>&1 &
XGWD_PID=$!
for _ in $(seq 300); do [ -s "$X/port" ] && break; sleep 0.05; done
[ -s "$X/port" ] || { cat "$X/xgwd.log" >&2; exit 1; }
XGWD_URL=https://127.0.0.1:$(cat "$X/port")
XCA=$X/state/tls/server.crt

# api METHOD PATH TOKEN [JSON]: body to $T/resp, status to $STATUS.
api() {
  local data=()
  [ $# -ge 4 ] && data=(-H 'Content-Type: application/json' --data-binary "$4")
  STATUS=$(curl -sS --tlsv1.3 --cacert "$XCA" -X "$1" -H "Authorization: Bearer $3" "${data[@]}" \
    -o "$T/resp" -w '%{http_code}' "$XGWD_URL$2")
}
jget() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval("d"+sys.argv[2]))' "$T/resp" "$1"; }
must() {  # must STATUS...: the last api call returned one of these
  for s in "$@"; do [ "$STATUS" = "$s" ] && return 0; done
  echo "xgwd setup: unexpected HTTP $STATUS: $(head -c 600 "$T/resp")" >&2
  exit 1
}

XGWD_READY=0
if [ "$NGINX_ONLY" != 1 ]; then
  api POST /api/v1/orgs "$OP_TOKEN" '{"name":"Bench sender","enterprise_number":"0212.214.125","dpo_contact":"dpo@sender.example"}'
  must 201; ORG_S=$(jget '["id"]')
  api POST /api/v1/orgs "$OP_TOKEN" '{"name":"Bench recipient","enterprise_number":"0123.456.749","dpo_contact":"dpo@recipient.example"}'
  must 201; ORG_R=$(jget '["id"]')
  api POST "/api/v1/orgs/$ORG_S/users" "$OP_TOKEN" '{"display_name":"Bench sender","roles":["sender"]}'
  must 201; USER_S=$(jget '["id"]')
  api POST "/api/v1/orgs/$ORG_R/users" "$OP_TOKEN" '{"display_name":"Bench recipient","roles":["bench-recipient"]}'
  must 201; USER_R=$(jget '["id"]')
  api POST "/api/v1/users/$USER_S/tokens" "$OP_TOKEN" '{"label":"bench"}'
  must 201 200; SENDER_TOKEN=$(jget '["token"]')
  # Sender's signing key: any registered Ed25519 pair will do for the bench.
  openssl genpkey -algorithm ed25519 -out "$T/sender-ed25519.pem" 2> /dev/null
  ED_PUB=$(openssl pkey -in "$T/sender-ed25519.pem" -pubout -outform DER | tail -c 32 | base64 -w0)
  openssl genpkey -algorithm ed25519 -out "$T/recipient-ed25519.pem" 2> /dev/null
  ED_PUB_R=$(openssl pkey -in "$T/recipient-ed25519.pem" -pubout -outform DER | tail -c 32 | base64 -w0)
  api PUT "/api/v1/users/$USER_S/keys" "$OP_TOKEN" "{\"age_recipient\":\"$SENDER_AGE\",\"ed25519_verify_key\":\"$ED_PUB\"}"
  must 200 201
  api PUT "/api/v1/users/$USER_R/keys" "$OP_TOKEN" "{\"age_recipient\":\"$RECIPIENT_AGE\",\"ed25519_verify_key\":\"$ED_PUB_R\"}"
  must 200 201
  api POST /api/v1/protocols "$OP_TOKEN" "$(cat "$ROOT/bench/gateway/bench-protocol.json")"
  if [ "$STATUS" = 404 ] || [ "$STATUS" = 405 ]; then
    echo "xgwd has no protocol/exchange routes yet: measuring nginx only" >&2
  else
    XGWD_READY=1
  fi
fi

# After POST /api/v1/protocols: both parties accept the proposed version and
# the operator puts it in force; sets PROTO and VH.
accept_and_activate() {
  must 201 200; PROTO=$(jget '["id"]'); VH=$(jget '["version_hash"]')
  for party in org-bench-sender org-bench-recipient; do
    api POST "/api/v1/protocols/$PROTO/accept" "$OP_TOKEN" "{\"version_hash\":\"$VH\",\"organisation\":\"$party\"}"
    if [ "$STATUS" != 200 ] && [ "$STATUS" != 201 ]; then  # the gateway's organisation id instead
      org=$ORG_S; [ "$party" = org-bench-recipient ] && org=$ORG_R
      api POST "/api/v1/protocols/$PROTO/accept" "$OP_TOKEN" "{\"version_hash\":\"$VH\",\"organisation\":\"$org\"}"
      must 200 201 204
    fi
  done
  api POST "/api/v1/protocols/$PROTO/activate" "$OP_TOKEN" '{}'
  must 200 201 204
}

if [ "$XGWD_READY" = 1 ]; then
  accept_and_activate

  # Manifests (canonical JSON, ASCII only, so sorted keys + no spaces is JCS)
  # signed with the sender's Ed25519 key; one per payload size.
  make_create() {  # make_create PLAIN_FILE OUT_JSON
    python3 - "$1" "$PROTO" "$VH" "$T/manifest.json" << 'EOF'
import hashlib, json, sys
plain, proto, vh, out = sys.argv[1:5]
h = hashlib.sha256()
size = 0
with open(plain, "rb") as f:
    while True:
        b = f.read(1 << 20)
        if not b:
            break
        h.update(b)
        size += len(b)
# The small list is a real one-column CSV: declare its true rows. The large
# "list" is random bytes (the gateway sees only ciphertext in end-to-end mode
# and cannot tell): it declares one row.
rows = [b'["bench"]\n']
if plain.endswith(".csv"):
    lines = open(plain, encoding="ascii").read().split("\n")[1:]
    rows = [json.dumps([c], separators=(",", ":")).encode() + b"\n" for c in lines if c]
m = {"byte_size": size, "columns": ["ref"], "format": "xgw-manifest/1", "list_format": "csv",
     "protocol_id": proto, "protocol_version": vh, "row_count": len(rows),
     "rows_sha256": hashlib.sha256(b"".join(rows)).hexdigest(), "sha256": h.hexdigest(),
     "subject_index": {"key_id": "", "values": []}}
open(out, "w").write(json.dumps(m, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
EOF
    openssl pkeyutl -sign -rawin -inkey "$T/sender-ed25519.pem" -in "$T/manifest.json" -out "$T/manifest.sig"
    python3 - "$T/manifest.json" "$T/manifest.sig" "$PROTO" "$VH" "$2" << 'EOF'
import base64, json, sys
mf, sf, proto, vh, out = sys.argv[1:6]
body = {"protocol_id": proto, "version_hash": vh, "manifest": json.load(open(mf)),
        "manifest_signature": base64.b64encode(open(sf, "rb").read()).decode()}
open(out, "w").write(json.dumps(body, separators=(",", ":")))
EOF
  }
  make_create "$T/small.csv" "$T/create-small.json"
  make_create "$T/large.plain" "$T/create-large.json"
  # A second protocol, the same but for its id, for the two-request and
  # packing-off phases: the quota (at most 100,000 a day per protocol) then
  # holds three rounds of each at ~2,000 uploads/s.
  PROTO_A=$PROTO
  VH_A=$VH
  python3 -c 'import json, sys
d = json.load(open(sys.argv[1])); d["id"] += "-b"; json.dump(d, open(sys.argv[2], "w"))' \
    "$ROOT/bench/gateway/bench-protocol.json" "$T/bench-protocol-b.json"
  api POST /api/v1/protocols "$OP_TOKEN" "$(cat "$T/bench-protocol-b.json")"
  accept_and_activate
  make_create "$T/small.csv" "$T/create-small-b.json"
  PROTO=$PROTO_A
  VH=$VH_A
fi
rm -f "$T/large.plain"

# --- measurements ---------------------------------------------------------
kv() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
XGWD_ARGS=(--mode xgwd --url "$XGWD_URL" --cacert "$XCA" --token "${SENDER_TOKEN:-}")
restart_xgwd() {  # restart_xgwd PACKED_BYTES: xgwd again on the same state with that key
  kill -TERM "$XGWD_PID" 2> /dev/null || true
  wait "$XGWD_PID" 2> /dev/null || true
  python3 -c 'import json, sys
c = json.load(open(sys.argv[1]))
c.setdefault("exchanges", {})["packed_blob_max_bytes"] = int(sys.argv[2])
json.dump(c, open(sys.argv[1], "w"), indent=2)' "$CONFIG" "$1"
  rm -f "$X/port"
  "$XGWD" serve -c "$CONFIG" --port-file "$X/port" >> "$X/xgwd.log" 2>&1 &
  XGWD_PID=$!
  for _ in $(seq 300); do [ -s "$X/port" ] && break; sleep 0.05; done
  [ -s "$X/port" ] || { cat "$X/xgwd.log" >&2; exit 1; }
  XGWD_URL=https://127.0.0.1:$(cat "$X/port")
  XGWD_ARGS=(--mode xgwd --url "$XGWD_URL" --cacert "$XCA" --token "${SENDER_TOKEN:-}")
}
NGINX_ARGS=(--mode nginx --url "$NGINX_URL" --cacert "$N/cert.pem")
# The two servers take turns (nginx, xgwd, nginx, xgwd, ...) so that a change
# in the machine's load hits both; each keeps its best round.
large() {  # large nginx|xgwd: one 1 GiB upload, prints MB/s
  local line
  if [ "$1" = nginx ]; then
    line=$("$DRIVER" "${NGINX_ARGS[@]}" --body "$T/large.age" --stream) || true
  else
    line=$("$DRIVER" "${XGWD_ARGS[@]}" --create "$T/create-large.json" --body "$T/large.age" --stream) || true
  fi
  echo "  $1 large: $line" >&2
  rm -f "$N/www/upload/large"
  sync
  [ "$(kv "$line" ok)" = 1 ] && kv "$line" mbps || echo 0
}
small() {  # small nginx|xgwd|xgwd2: prints the driver's key=value line (xgwd2: two requests)
  local line
  if [ "$1" = nginx ]; then
    line=$("$DRIVER" "${NGINX_ARGS[@]}" --body "$T/small.age" --threads "$THREADS" --seconds "$SMALL_SECONDS") || true
  else
    local form=(--one-request) create=$T/create-small.json
    [ "$1" = xgwd2 ] && form=()
    [ "$1" != xgwd ] && create=$T/create-small-b.json  # the second protocol's quota
    line=$("$DRIVER" "${XGWD_ARGS[@]}" "${form[@]}" --create "$create" --body "$T/small.age" \
      --threads "$THREADS" --seconds "$SMALL_SECONDS") || true
  fi
  echo "  $1 small: $line" >&2
  sync
  echo "$line"
}
floor() {  # floor file|file+row: prints durable_floor's key=value line
  local line
  line=$("$FLOOR" --dir "$T/floor" --steps "$1" --bytes "$SMALL_BYTES" --threads "$THREADS" \
    --seconds "$SMALL_SECONDS") || true
  echo "  floor $1: $line" >&2
  sync
  echo "$line"
}
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 > b + 0) ? a : b }'; }
hwm() { awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$XGWD_PID/status"; }
rss() { awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$XGWD_PID/status"; }

NG_MBPS=0
XG_MBPS=0
for _ in $(seq "$REPS_LARGE"); do
  NG_MBPS=$(max "$(large nginx)" "$NG_MBPS")
  [ "$XGWD_READY" = 1 ] && XG_MBPS=$(max "$(large xgwd)" "$XG_MBPS")
done
[ "$XGWD_READY" = 1 ] && XG_HWM_LARGE=$(hwm)
# Context: xgwd answers only after fsync of the blob (nginx does not fsync).
# What this disk gives for writing + fsyncing the same bytes, no network.
t0=$(date +%s.%N)
dd if="$T/large.age" of="$T/dd.out" bs=1M conv=fsync status=none
t1=$(date +%s.%N)
DD_MBPS=$(awk -v n="$LARGE_BYTES" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", n / (b - a) / 1e6 }')
rm -f "$T/dd.out"
sync
NG_SMALL="rps=0"
XG_SMALL="rps=0"
XG2_SMALL="rps=0"
XGF_SMALL="rps=0"
FLOOR_FILE="rps=0"
FLOOR_ROW="rps=0"
better() { awk -v a="$(kv "$1" rps)" -v b="$(kv "$2" rps)" 'BEGIN { exit !(a + 0 > b + 0) }'; }
for _ in $(seq "$SMALL_ROUNDS"); do
  line=$(small nginx)
  better "$line" "$NG_SMALL" && NG_SMALL=$line
  if [ "$XGWD_READY" = 1 ]; then
    line=$(small xgwd)
    better "$line" "$XG_SMALL" && XG_SMALL=$line
    line=$(small xgwd2)
    better "$line" "$XG2_SMALL" && XG2_SMALL=$line
    if [ "$COMPARE_FILES" = 1 ]; then
      restart_xgwd 0
      line=$(small xgwdfiles)
      better "$line" "$XGF_SMALL" && XGF_SMALL=$line
      restart_xgwd "$PACKED_BLOB_MAX_BYTES"
    fi
  fi
  line=$(floor file)
  better "$line" "$FLOOR_FILE" && FLOOR_FILE=$line
  line=$(floor file+row)
  better "$line" "$FLOOR_ROW" && FLOOR_ROW=$line
done
if [ "$XGWD_READY" = 1 ]; then
  XG_HWM_END=$(hwm)
  XG_RSS_END=$(rss)
fi
LOAD_END=$(load)

# --- table ----------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "") printf "%.2f×", a / b; else print "—" }'; }
echo
echo "payloads: large $LARGE_BYTES B age file, small $SMALL_BYTES B age file; $THREADS clients for ${SMALL_SECONDS} s;"
echo "HTTP/1.1, TLS 1.3, loopback; $(nproc) cores; load average at start $LOAD_START, at end $LOAD_END; nginx $("$NGINX" -v 2>&1 | sed 's|.*/||')"
echo "xgwd exchanges.packed_blob_max_bytes = $PACKED_BLOB_MAX_BYTES; commit $(git -C "$ROOT" rev-parse --short HEAD 2> /dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD 2> /dev/null || echo ' + uncommitted changes')"
echo
echo "| measurement | nginx | xgwd | xgwd / nginx | goal |"
echo "|---|---:|---:|---:|---|"
if [ "$XGWD_READY" = 1 ]; then
  echo "| $LARGE_MIB MiB upload, MB/s (best of $REPS_LARGE) | $NG_MBPS | $XG_MBPS | $(ratio "$XG_MBPS" "$NG_MBPS") | ≥ 0.8× |"
  echo "| (context) dd write + fsync of the same file, MB/s | $DD_MBPS | | | |"
  echo "| xgwd peak RSS after the large uploads (VmHWM) | — | $XG_HWM_LARGE MiB | — | < 64 MiB |"
  echo "| ${SMALL_KIB} KiB uploads/s, $THREADS clients, one request each (best of $SMALL_ROUNDS) | $(kv "$NG_SMALL" rps) | $(kv "$XG_SMALL" rps) | $(ratio "$(kv "$XG_SMALL" rps)" "$(kv "$NG_SMALL" rps)") | reported |"
  echo "| ${SMALL_KIB} KiB upload p50 latency, ms | $(kv "$NG_SMALL" p50_ms) | $(kv "$XG_SMALL" p50_ms) | $(ratio "$(kv "$XG_SMALL" p50_ms)" "$(kv "$NG_SMALL" p50_ms)") | |"
  echo "| ${SMALL_KIB} KiB upload p99 latency, ms | $(kv "$NG_SMALL" p99_ms) | $(kv "$XG_SMALL" p99_ms) | $(ratio "$(kv "$XG_SMALL" p99_ms)" "$(kv "$NG_SMALL" p99_ms)") | ≤ 2× |"
  echo "| uploads counted / failed | $(kv "$NG_SMALL" uploads) / $(kv "$NG_SMALL" errors) | $(kv "$XG_SMALL" uploads) / $(kv "$XG_SMALL" errors) | | |"
  echo "| (two-request form) ${SMALL_KIB} KiB uploads/s | $(kv "$NG_SMALL" rps) | $(kv "$XG2_SMALL" rps) | $(ratio "$(kv "$XG2_SMALL" rps)" "$(kv "$NG_SMALL" rps)") | |"
  echo "| (two-request form) ${SMALL_KIB} KiB upload p99 latency, ms | $(kv "$NG_SMALL" p99_ms) | $(kv "$XG2_SMALL" p99_ms) | $(ratio "$(kv "$XG2_SMALL" p99_ms)" "$(kv "$NG_SMALL" p99_ms)") | |"
  if [ "$COMPARE_FILES" = 1 ]; then
    echo "| (packing off: one file per ciphertext) ${SMALL_KIB} KiB uploads/s, one request | $(kv "$NG_SMALL" rps) | $(kv "$XGF_SMALL" rps) | $(ratio "$(kv "$XGF_SMALL" rps)" "$(kv "$NG_SMALL" rps)") | |"
    echo "| (packing off) p50 / p99 latency, ms | $(kv "$NG_SMALL" p50_ms) / $(kv "$NG_SMALL" p99_ms) | $(kv "$XGF_SMALL" p50_ms) / $(kv "$XGF_SMALL" p99_ms) | | |"
  fi
  echo "| xgwd peak RSS at the end (VmHWM) / RSS now | — | $XG_HWM_END / $XG_RSS_END MiB | | |"
else
  echo "| $LARGE_MIB MiB upload, MB/s (best of $REPS_LARGE) | $NG_MBPS | not measured | — | ≥ 0.8× |"
  echo "| ${SMALL_KIB} KiB uploads/s, $THREADS clients (best of $SMALL_ROUNDS) | $(kv "$NG_SMALL" rps) | not measured | — | ≥ 0.5× |"
  echo "| ${SMALL_KIB} KiB upload p50 latency, ms | $(kv "$NG_SMALL" p50_ms) | not measured | — | |"
  echo "| ${SMALL_KIB} KiB upload p99 latency, ms | $(kv "$NG_SMALL" p99_ms) | not measured | — | ≤ 2× |"
  echo "| uploads counted / failed | $(kv "$NG_SMALL" uploads) / $(kv "$NG_SMALL" errors) | — | | |"
fi
if [ "$XGWD_READY" = 1 ]; then
  echo
  echo "Context, no network (durable_floor.cc, $THREADS threads, ${SMALL_KIB} KiB each, best of $SMALL_ROUNDS):"
  echo
  echo "| storage steps alone | stores/s | p50 ms | p99 ms | xgwd one-request uploads/s / it |"
  echo "|---|---:|---:|---:|---:|"
  echo "| temp file, fdatasync, rename, directory fsync | $(kv "$FLOOR_FILE" rps) | $(kv "$FLOOR_FILE" p50_ms) | $(kv "$FLOOR_FILE" p99_ms) | $(ratio "$(kv "$XG_SMALL" rps)" "$(kv "$FLOOR_FILE" rps)") |"
  echo "| the same + one SQLite commit (WAL, synchronous=FULL) each | $(kv "$FLOOR_ROW" rps) | $(kv "$FLOOR_ROW" p50_ms) | $(kv "$FLOOR_ROW" p99_ms) | $(ratio "$(kv "$XG_SMALL" rps)" "$(kv "$FLOOR_ROW" rps)") (goal ≥ 1.2×) |"
fi
