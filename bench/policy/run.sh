#!/usr/bin/env bash
# Policy benchmark: CheckList on a 1,000,000-row CSV (~108 MB) and a
# 1,000,000-row XLSX (~45 MB, openpyxl write-only; generating both takes about
# a minute) against the CIR protocol, with peers in the same run:
#   - wc -l on the CSV (a plain byte scan: the floor),
#   - python3's csv module reading the CSV (a common CSV reader),
#   - openpyxl read-only mode iterating the XLSX.
# Peak RSS comes from /usr/bin/time -v; the speed ratios (CSV against python's
# csv module, XLSX against openpyxl) are printed at the end. Usage: bench/policy/run.sh [BUILD_DIR]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build-policy}
WORK=${XGW_BENCH_DIR:-/tmp/xgw-bench-policy}
CSV_ROWS=${CSV_ROWS:-1000000}
XLSX_ROWS=${XLSX_ROWS:-1000000}
PY=/usr/bin/python3
mkdir -p "$WORK"

cmake --build "$BUILD" -j2 --target xgw_policy >/dev/null
g++ -O2 -std=c++20 -DNDEBUG -I"$ROOT" "$ROOT/bench/policy/policy_bench.cc" -o "$WORK/policy_bench" \
  "$BUILD/policy/libxgw_policy.a" "$BUILD/crypto/libxgw_crypto.a" \
  $(pkg-config --libs libzip pugixml libsodium) -lcrypto

# Regenerated when the row counts change (an older run may have left a smaller list).
if [ ! -f "$WORK/cir.csv" ] || [ ! -f "$WORK/cir.xlsx" ] || [ "$(cat "$WORK/rows" 2>/dev/null)" != "$CSV_ROWS $XLSX_ROWS" ]; then
  $PY "$ROOT/bench/policy/gen_lists.py" "$WORK" "$CSV_ROWS" "$XLSX_ROWS"
  echo "$CSV_ROWS $XLSX_ROWS" >"$WORK/rows"
fi
PROTO="$ROOT/config/examples/cir-thuispunt-ocmw-2024_VB_00591.json"

measure() {  # label command...
  local label=$1; shift
  local out
  out=$( { /usr/bin/time -v "$@" >"$WORK/out.txt"; } 2>&1 )
  local wall rss cpu
  wall=$(grep "Elapsed (wall clock)" <<<"$out" | awk '{print $NF}')
  rss=$(grep "Maximum resident set size" <<<"$out" | awk '{print $NF}')
  # user + system CPU seconds: less sensitive than wall time to other jobs on the machine.
  cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {printf "%.2f", s}' <<<"$out")
  printf '%-34s wall=%-8s cpu_s=%-6s peak_rss_kib=%-8s %s\n' "$label" "$wall" "$cpu" "$rss" "$(head -c 200 "$WORK/out.txt" | tr '\n' ' ')"
  # wall as seconds (time prints m:ss.ss or h:mm:ss) for the ratios below
  printf '%s\t%s\t%s\n' "$label" "$(awk -F: '{s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s}' <<<"$wall")" "$cpu" >>"$WORK/results.tsv"
}
ratio() {  # peer label, xgw label: how many times faster xgw is, wall and CPU
  awk -F'\t' -v a="$1" -v b="$2" '$1 == a {pw = $2; pc = $3} $1 == b {xw = $2; xc = $3}
    END {printf "%-34s wall %.1fx, cpu %.1fx  (%s vs %s)\n", "ratio", pw / xw, pc / xc, b, a}' "$WORK/results.tsv"
}
: >"$WORK/results.tsv"

echo "csv: $(wc -c <"$WORK/cir.csv") bytes, $CSV_ROWS rows; xlsx: $(wc -c <"$WORK/cir.xlsx") bytes, $XLSX_ROWS rows"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
cat "$WORK/cir.csv" >/dev/null  # warm the page cache
measure "wc -l (floor)"                 wc -l "$WORK/cir.csv"
measure "python3 csv.reader"            $PY -c "import csv,sys; n=sum(1 for _ in csv.reader(open(sys.argv[1], newline='', encoding='utf-8'), delimiter=';')); print('rows', n)" "$WORK/cir.csv"
measure "xgw CheckList csv (index)"     "$WORK/policy_bench" "$PROTO" "$WORK/cir.csv"
measure "xgw CheckList csv (no index)"  "$WORK/policy_bench" "$PROTO" "$WORK/cir.csv" --no-index
measure "openpyxl read_only xlsx"       $PY -c "import openpyxl,sys; wb=openpyxl.load_workbook(sys.argv[1], read_only=True); print('rows', sum(1 for _ in wb.active.iter_rows(values_only=True)))" "$WORK/cir.xlsx"
measure "xgw CheckList xlsx (index)"    "$WORK/policy_bench" "$PROTO" "$WORK/cir.xlsx"
measure "xgw CheckList xlsx (no index)" "$WORK/policy_bench" "$PROTO" "$WORK/cir.xlsx" --no-index
ratio "python3 csv.reader" "xgw CheckList csv (index)"
ratio "python3 csv.reader" "xgw CheckList csv (no index)"
ratio "openpyxl read_only xlsx" "xgw CheckList xlsx (index)"
ratio "openpyxl read_only xlsx" "xgw CheckList xlsx (no index)"
