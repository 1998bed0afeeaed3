#!/usr/bin/env bash
# Benchmark: xgw encrypt/decrypt vs Debian's age on the same random file, in
# the same run. Prints MB/s (1 MB = 10^6 bytes), the xgw/age ratio and peak
# RSS, as a Markdown table for docs/benchmarks.md ("## Crypto").
#
# usage: bench/crypto/run.sh [XGW_BINARY]      (default: build/bin/xgw)
#   SIZE_MIB=1024  size of the random plaintext
#   REPS=3         runs per measurement; the fastest is reported
# Needs: age, age-keygen, /usr/bin/time (Debian packages age, time).
#
# Both tools write to their standard output, redirected by this script to
# /dev/null or to a file: no device is ever given as an output path (-o).
# Older xgw builds replaced an -o path by rename, which as root turned
# /dev/null into a regular file; every "to /dev/null" figure measured on such
# a machine was a write into the page cache. The script therefore refuses to
# run unless /dev/null is the character device it should be.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
XGW=${1:-$ROOT/build/bin/xgw}
AGE=${AGE:-/usr/bin/age}
SIZE_MIB=${SIZE_MIB:-1024}
REPS=${REPS:-3}
[ -x "$XGW" ] || { echo "no xgw binary at $XGW (build it first)" >&2; exit 2; }
[ -c /dev/null ] || { echo "/dev/null is not a character device (something replaced it): fix the machine first" >&2; exit 2; }

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
T=$(mktemp -d "${TMPDIR:-/tmp}/xgw-bench-crypto.XXXXXX")
trap 'rm -rf "$T"' EXIT
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom > "$T/plain"
age-keygen -o "$T/key" 2>/dev/null
R=$(age-keygen -y "$T/key")
BYTES=$((SIZE_MIB * 1024 * 1024))

# run LABEL OUTFILE CMD... : best wall time of REPS runs and its peak RSS,
# stdout redirected to OUTFILE (removed before each run if it is a file, so
# that freeing the previous run's pages is not timed).
declare -A SECS RSS CPU
run() {
  local label=$1 out=$2; shift 2
  local best="" best_rss=0 best_cpu=0
  for _ in $(seq "$REPS"); do
    [ "$out" = /dev/null ] || rm -f "$out"
    local t0 t1
    t0=$(date +%s.%N)
    /usr/bin/time -f "%M %U %S" -o "$T/time" "$@" > "$out"
    t1=$(date +%s.%N)
    local s rss cpu
    s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')
    rss=$(tail -1 "$T/time" | awk '{ print $1 }')
    cpu=$(tail -1 "$T/time" | awk '{ printf "%.2f", $2 + $3 }')
    if [ -z "$best" ] || awk -v a="$s" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$s; best_rss=$rss; best_cpu=$cpu; fi
  done
  SECS[$label]=$best
  RSS[$label]=$best_rss
  CPU[$label]=$best_cpu
}

# Ciphertext inputs for the decrypt runs (age's file is decrypted by both).
"$AGE" -r "$R" -o "$T/c.age" "$T/plain"
"$XGW" encrypt -r "$R" -o "$T/c.xgw" "$T/plain"
"$AGE" -d -i "$T/key" "$T/c.xgw" | cmp -s - "$T/plain" || { echo "age cannot decrypt xgw output" >&2; exit 1; }

run xgw_enc_null /dev/null "$XGW" encrypt -r "$R" "$T/plain"
run age_enc_null /dev/null "$AGE" -r "$R" "$T/plain"
run xgw_dec_null /dev/null "$XGW" decrypt -i "$T/key" "$T/c.age"
run age_dec_null /dev/null "$AGE" -d -i "$T/key" "$T/c.age"
run xgw_enc_file "$T/out" "$XGW" encrypt -r "$R" "$T/plain"
run age_enc_file "$T/out" "$AGE" -r "$R" "$T/plain"
run xgw_dec_file "$T/out" "$XGW" decrypt -i "$T/key" "$T/c.age"
run age_dec_file "$T/out" "$AGE" -d -i "$T/key" "$T/c.age"

mbs() { awk -v n="$BYTES" -v s="${SECS[$1]}" 'BEGIN { printf "%d", n / s / 1e6 }'; }
ratio() { awk -v a="${SECS[$1]}" -v b="${SECS[$2]}" 'BEGIN { printf "%.2f", b / a }'; }
cpuratio() { awk -v a="${CPU[$1]}" -v b="${CPU[$2]}" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "n/a" }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

[ -c /dev/null ] || { echo "/dev/null stopped being a character device during the run: results discarded" >&2; exit 1; }

echo "plaintext: $SIZE_MIB MiB random; best of $REPS; $(nproc) cores; $(uname -m); age $("$AGE" --version); load average $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo
echo "| operation | xgw MB/s | age MB/s | xgw / age (wall) | xgw CPU s | age CPU s | xgw / age (CPU) | xgw peak RSS MiB | age peak RSS MiB |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for op in enc_null dec_null enc_file dec_file; do
  case $op in
    enc_null) name="encrypt to /dev/null" ;;
    dec_null) name="decrypt to /dev/null" ;;
    enc_file) name="encrypt to a file" ;;
    dec_file) name="decrypt to a file" ;;
  esac
  echo "| $name | $(mbs xgw_$op) | $(mbs age_$op) | $(ratio xgw_$op age_$op)× | ${CPU[xgw_$op]} | ${CPU[age_$op]} | $(cpuratio xgw_$op age_$op)× | $(mib "${RSS[xgw_$op]}") | $(mib "${RSS[age_$op]}") |"
done
