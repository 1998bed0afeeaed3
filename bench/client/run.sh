#!/usr/bin/env bash
# The largest list `xgw send` sends with xgwd's default limits: generates a
# synthetic CIR list of ROWS rows (bench/policy/gen_lists.py: invented names,
# synthetic national numbers; nothing of it is printed), sends it with the
# sender's subject-index key against the real xgwd (the hidden test case
# BenchSendAGeneratedList of build/tests/large_list_send_test) and prints
# rows, bytes, the client's peak RSS (/usr/bin/time -v) and the wall time.
#
# usage: bench/client/run.sh [ROWS ...]      (default: 1000000)
# Needs a build with -DXGW_TESTS=ON (targets xgw xgwd large_list_send_test),
# python3 and the `time` package (scripts/setup.sh installs both).
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d "${TMPDIR:-/tmp}/xgw-bench-client.XXXXXX")
trap 'rm -rf "$work"' EXIT
for rows in "${@:-1000000}"; do
  # gen_lists.py's CSV rows (its XLSX part needs openpyxl, not wanted here).
  python3 - "$work/$rows.csv" "$rows" <<'PY'
import random, sys
sys.path.insert(0, "bench/policy")
import gen_lists
path, rows, rnd = sys.argv[1], int(sys.argv[2]), random.Random(1)
with open(path, "w", encoding="utf-8", newline="") as f:
    f.write("Naam;Voornaam;Rijksregisternummer;Status dossier;Ontbrekende documenten;"
            "Datum uitnodigingsbrief;Datum herinnering\r\n")
    for i in range(rows):
        cells = gen_lists.row(i, rnd)
        cells[4] = '"' + cells[4] + '"' if ";" in cells[4] else cells[4]
        f.write(";".join(cells) + "\r\n")
PY
  (cd build && XGW_BENCH_LIST="$work/$rows.csv" ./tests/large_list_send_test "BenchSendAGeneratedList" \
     | grep '^bench:')
  rm -f "$work/$rows.csv"
done
