#!/usr/bin/env bash
# Benchmark: the web page's age encryption and decryption (age-encryption in
# a Web Worker of headless Chromium, streaming, the plaintext hashed as the
# receiving page does) against `xgw encrypt` / `xgw decrypt` on a list of the
# same size, in the same run; and the JavaScript a first visit transfers.
# Prints a Markdown table for docs/benchmarks.md ("## Web app").
#
# usage: bench/web/run.sh [SIZE_MB]     (default 100; 1 MB = 10^6 bytes)
# Needs: a build (build/bin/xgw, build/share/xgw/web), web/node_modules
# (scripts/setup.sh), chromium, age-keygen.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIZE_MB=${1:-100}
BYTES=$((SIZE_MB * 1000000))
XGW=$ROOT/build/bin/xgw
[ -x "$XGW" ] || { echo "no xgw binary at $XGW (build it first)" >&2; exit 2; }
T=$(mktemp -d "${TMPDIR:-/tmp}/xgw-bench-web.XXXXXX")
trap 'rm -rf "$T"' EXIT
age-keygen -o "$T/key" 2>/dev/null
R=$(age-keygen -y "$T/key")
head -c "$BYTES" /dev/urandom > "$T/plain"

seconds() { python3 -c 'import sys,time; print(sys.argv[1])' "$1"; }
now() { date +%s.%N; }
t0=$(now); "$XGW" encrypt -r "$R" -o "$T/plain.age" "$T/plain"; t1=$(now)
"$XGW" decrypt -i "$T/key" -o "$T/back" "$T/plain.age"; t2=$(now)
cmp -s "$T/plain" "$T/back" || { echo "xgw round trip differs" >&2; exit 1; }
rm -f "$T/back"
page=$(node "$ROOT/bench/web/page_crypto.mjs" "$BYTES" "$R" "$T/key")

python3 - "$BYTES" "$t0" "$t1" "$t2" "$page" "$ROOT/build/share/xgw/web" <<'PY'
import gzip, json, os, re, sys
size, t0, t1, t2, page, web = int(sys.argv[1]), *map(float, sys.argv[2:5]), json.loads(sys.argv[5]), sys.argv[6]
mb = size / 1e6
xe, xd = t1 - t0, t2 - t1
pe, pd = page["encryptSeconds"], page["decryptSeconds"]
print(f"| {mb:.0f} MB list | page (Chromium, Web Worker) | xgw | page / xgw |")
print("|---|---|---|---|")
print(f"| encrypt | {mb/pe:.1f} MB/s | {mb/xe:.1f} MB/s | {xe/pe:.2f} |")
print(f"| decrypt (page: and SHA-256, as the receiving page does; xgw: to a file) | {mb/pd:.1f} MB/s | {mb/xd:.1f} MB/s | {xd/pd:.2f} |")
print(f"\nChromium's processes: {page['baselineRssMiB']} MiB before, {page['peakRssMiB']} MiB at the peak "
      f"(the decrypting worker holds the ciphertext chunks it is given; the receiving page holds the list until it is verified).")
index = open(os.path.join(web, "index.html")).read()
first = ["index.html"] + [m[len("/assets/"):] for m in re.findall(r"/assets/[^\"]+", index)]
def gz(name):
    path = os.path.join(web, name if name == "index.html" else os.path.join("assets", name))
    data = open(path, "rb").read()
    return len(data), len(gzip.compress(data, 9))
raw = sum(gz(n)[0] for n in first); packed = sum(gz(n)[1] for n in first)
print(f"\nFirst visit (sign-in page): {', '.join(first)}: {raw/1024:.0f} KiB, {packed/1024:.0f} KiB gzipped.")
workers = [n for n in os.listdir(os.path.join(web, "assets")) if n.startswith("key-worker-") and n.endswith(".js")]
for w in workers:
    r, p = gz(w)
    print(f"The key worker ({w}), loaded when a key is made, unlocked or a list opened: {r/1024:.0f} KiB, {p/1024:.0f} KiB gzipped.")
PY
