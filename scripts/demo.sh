#!/usr/bin/env bash
# Sets up, builds and runs the xgw demo: the crypto core end to end.
# Two recipients of OCMW Gent get a sample list encrypted to both of them; each
# decrypts it; an outsider's key is refused. Everything happens in a temporary
# directory that is removed at the end; nothing is left running.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
XGW_TARGETS="xgw xgwd" bash scripts/build.sh >/dev/null
xgw=$PWD/build/bin/xgw

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

step() { printf '\n== %s\n' "$*"; }

step "A social worker and a head social worker of OCMW Gent each create a key pair"
"$xgw" keygen -o social-worker.key 2>&1 | sed 's/^/   /'
"$xgw" keygen -o head-social-worker.key 2>&1 | sed 's/^/   /'
"$xgw" keygen -o outsider.key >/dev/null 2>&1
echo "   (an outsider, not named in the protocol, also has a key)"

step "Thuispunt Gent prepares the list (generated: fictional people, valid national numbers)"
python3 "$OLDPWD/scripts/sample_list.py" --rows 5 > list.csv
echo "   list.csv: $(($(wc -l < list.csv) - 1)) rows, columns: $(head -1 list.csv)"

step "The list is encrypted end-to-end to both recipients (age format)"
"$xgw" encrypt -r "$("$xgw" keygen -y social-worker.key)" \
               -r "$("$xgw" keygen -y head-social-worker.key)" -o list.csv.age list.csv
echo "   list.csv.age: $(wc -c < list.csv.age) bytes, header: $(head -c 21 list.csv.age)"

step "Each recipient decrypts it with their own key"
for who in social-worker head-social-worker; do
  "$xgw" decrypt -i "$who.key" -o "$who.csv" list.csv.age
  if cmp -s "$who.csv" list.csv; then echo "   $who: decrypted, identical to the original"; else echo "   $who: MISMATCH"; exit 1; fi
done

step "The standard age tool decrypts it too (no lock-in)"
age -d -i social-worker.key list.csv.age | cmp -s - list.csv && echo "   age -d: identical to the original"

step "The outsider is refused"
if "$xgw" decrypt -i outsider.key -o outsider.csv list.csv.age 2> refusal.txt; then
  echo "   outsider decrypted the list: THIS MUST NOT HAPPEN"; exit 1
fi
sed 's/^/   /' refusal.txt
[ ! -e outsider.csv ] && echo "   no output file was written"

step "Done: the demo leaves nothing behind"
