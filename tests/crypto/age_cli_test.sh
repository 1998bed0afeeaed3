#!/usr/bin/env bash
# Interop of `xgw` with Debian's age/age-keygen (1.1.1), one case per run:
#   age_cli_test.sh CASE XGW AGE AGE_KEYGEN PTY_HELPER
# Cases: xgw_to_age age_to_xgw passphrase_age_to_xgw passphrase_xgw_to_age
#        protected_identity keygen_file cli_behaviour
set -euo pipefail
CASE=$1 XGW=$2 AGE=$3 AGE_KEYGEN=$4 PTY=$5
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T"

fail() { echo "FAIL: $*" >&2; exit 1; }
sizes=(0 1 65535 65536 65537 10485760)
make_plain() { head -c "$1" /dev/urandom > "p$1"; }

keys() {
  "$AGE_KEYGEN" -o a1.key 2>/dev/null
  "$AGE_KEYGEN" -o a2.key 2>/dev/null
  "$XGW" keygen -o x1.key 2>/dev/null
  A1=$("$AGE_KEYGEN" -y a1.key); A2=$("$AGE_KEYGEN" -y a2.key); X1=$("$XGW" keygen -y x1.key)
}

case "$CASE" in
xgw_to_age)
  keys
  for s in "${sizes[@]}"; do
    make_plain "$s"
    for armor in "" "-a"; do
      "$XGW" encrypt $armor -r "$A1" -r "$A2" -r "$X1" -o "c$s$armor" "p$s"
      for k in a1.key a2.key x1.key; do
        rm -f out
        "$AGE" -d -i "$k" -o out "c$s$armor" || fail "age -d $k size $s $armor"
        [ -e out ] || : > out  # age creates its output lazily, not at all when empty
        cmp -s out "p$s" || fail "plaintext differs: $k size $s $armor"
      done
    done
    # stdin -> stdout path too
    "$XGW" encrypt -r "$A1" < "p$s" | "$AGE" -d -i a1.key | cmp -s - "p$s" || fail "pipe size $s"
  done
  ;;
age_to_xgw)
  keys
  for s in "${sizes[@]}"; do
    make_plain "$s"
    for armor in "" "-a"; do
      "$AGE" $armor -r "$A1" -r "$X1" -r "$A2" -o "c$s$armor" "p$s"
      for k in a1.key a2.key x1.key; do
        rm -f out  # xgw refuses to overwrite a file without --force
        "$XGW" decrypt -i "$k" -o out "c$s$armor" || fail "xgw decrypt $k size $s $armor"
        cmp -s out "p$s" || fail "plaintext differs: $k size $s $armor"
      done
    done
    "$AGE" -r "$X1" < "p$s" | "$XGW" decrypt -i x1.key | cmp -s - "p$s" || fail "pipe size $s"
  done
  # several identity files, only one matching
  "$AGE" -r "$A2" -o multi p65537
  "$XGW" decrypt --force -i x1.key -i a1.key -i a2.key -o out multi && cmp -s out p65537 || fail "multi -i"
  ;;
passphrase_age_to_xgw)
  make_plain 70000
  python3 "$PTY" "pass phrase 1" "$AGE" -p -o c.age p70000 2>/dev/null || fail "age -p"
  printf 'pass phrase 1\n' > pw
  XGW_PASSPHRASE_FILE=pw "$XGW" decrypt -o out c.age && cmp -s out p70000 || fail "xgw decrypt (file)"
  rm -f out
  python3 "$PTY" "pass phrase 1" "$XGW" decrypt -o out c.age 2>/dev/null && cmp -s out p70000 || fail "xgw decrypt (tty)"
  printf 'wrong\n' > bad
  if XGW_PASSPHRASE_FILE=bad "$XGW" decrypt -o out2 c.age 2>err; then fail "wrong passphrase accepted"; fi
  grep -q "no_match" err || fail "wrong passphrase class"
  [ ! -e out2 ] || fail "output left after failure"
  ;;
passphrase_xgw_to_age)
  make_plain 70000
  printf 'pass phrase 2\n' > pw
  XGW_PASSPHRASE_FILE=pw "$XGW" encrypt -p -o c.age p70000
  python3 "$PTY" "pass phrase 2" "$AGE" -d -o out c.age 2>/dev/null && cmp -s out p70000 || fail "age -d of xgw -p"
  XGW_PASSPHRASE_FILE=pw "$XGW" encrypt -p -a -o c.asc p70000
  python3 "$PTY" "pass phrase 2" "$AGE" -d -o out2 c.asc 2>/dev/null && cmp -s out2 p70000 || fail "age -d of xgw -p -a"
  # the tty prompt asks twice when creating
  python3 "$PTY" "pass phrase 3" "$XGW" encrypt -p -o c3.age p70000 2>log || fail "xgw -p via tty"
  grep -q "answered 2 prompt" log || fail "expected two prompts"
  python3 "$PTY" "pass phrase 3" "$AGE" -d -o out3 c3.age 2>/dev/null && cmp -s out3 p70000 || fail "age -d of tty -p"
  ;;
protected_identity)
  printf 'key pass\n' > pw
  XGW_PASSPHRASE_FILE=pw "$XGW" keygen --passphrase -o prot.key 2>pub
  head -1 prot.key | grep -q "^-----BEGIN AGE ENCRYPTED FILE-----$" || fail "not armored"
  [ "$(stat -c %a prot.key)" = 600 ] || fail "mode"
  R=$(XGW_PASSPHRASE_FILE=pw "$XGW" keygen -y prot.key)
  grep -q "Public key: $R" pub || fail "public key line"
  make_plain 65537
  "$AGE" -r "$R" -o c.age p65537
  python3 "$PTY" "key pass" "$AGE" -d -i prot.key -o out c.age 2>/dev/null && cmp -s out p65537 || fail "age -d -i protected"
  XGW_PASSPHRASE_FILE=pw "$XGW" decrypt -i prot.key -o out2 c.age && cmp -s out2 p65537 || fail "xgw -i protected"
  # and the file is `age-keygen | age -p -a` compatible: age can decrypt it to the plain key
  python3 "$PTY" "key pass" "$AGE" -d -o plain.key prot.key 2>/dev/null || fail "age -d of key file"
  [ "$("$AGE_KEYGEN" -y plain.key)" = "$R" ] || fail "inner key"
  ;;
keygen_file)
  "$XGW" keygen -o k.txt 2>pub
  [ "$(stat -c %a k.txt)" = 600 ] || fail "mode is $(stat -c %a k.txt)"
  sed -n 1p k.txt | grep -Eq '^# created: [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}(Z|[+-][0-9]{2}:[0-9]{2})$' || fail "created line"
  R=$("$AGE_KEYGEN" -y k.txt)
  [ "$(sed -n 2p k.txt)" = "# public key: $R" ] || fail "public key line"
  grep -Eq '^AGE-SECRET-KEY-1[0-9A-Z]{58}$' k.txt || fail "secret line"
  [ "$(cat pub)" = "Public key: $R" ] || fail "stderr public key"
  [ "$("$XGW" keygen -y k.txt)" = "$R" ] || fail "-y"
  "$XGW" keygen -y < k.txt | grep -qx "$R" || fail "-y stdin"
  cp k.txt k.before
  if "$XGW" keygen -o k.txt 2>err; then fail "overwrote key file"; fi
  cmp -s k.txt k.before || fail "key file changed"
  grep -q "refusing to overwrite" err || fail "message"
  # age-keygen's files are read by xgw
  "$AGE_KEYGEN" -o ak.txt 2>/dev/null
  [ "$("$XGW" keygen -y ak.txt)" = "$("$AGE_KEYGEN" -y ak.txt)" ] || fail "-y of age-keygen file"
  ;;
cli_behaviour)
  "$XGW" keygen -o k.txt 2>/dev/null
  R=$("$XGW" keygen -y k.txt)
  make_plain 200000
  # binary ciphertext is never written to a terminal; armor is
  if python3 "$PTY" x "$XGW" encrypt -r "$R" p200000 2>log; then fail "binary to terminal"; fi
  grep -q "refusing to write binary ciphertext to a terminal" log || fail "terminal message"
  python3 "$PTY" x "$XGW" encrypt -a -r "$R" p200000 2>log || fail "armor to terminal"
  # a failed decrypt with -o leaves no file, and exits 1 with the class named
  "$XGW" encrypt -r "$R" -o c.age p200000
  cp c.age bad.age
  printf '\x01' | dd of=bad.age bs=1 seek=150000 conv=notrunc status=none
  if "$XGW" decrypt -i k.txt -o out bad.age 2>err; then fail "tampered accepted"; fi
  [ ! -e out ] || fail "partial plaintext left"
  grep -q "xgw: error: payload:" err || fail "payload class"
  grep -q "xgw: hint:" err || fail "hint"
  ls | grep -q "out.tmp" && fail "temp file left"
  # -R files, usage errors exit 2
  "$XGW" keygen -y k.txt > rcpts
  "$XGW" encrypt -R rcpts -o c2.age p200000 && "$XGW" decrypt -i k.txt c2.age | cmp -s - p200000 || fail "-R"
  set +e
  "$XGW" encrypt p200000 2>/dev/null; [ $? = 2 ] || fail "missing recipients exit code"
  "$XGW" encrypt --bogus 2>/dev/null; [ $? = 2 ] || fail "unknown flag exit code"
  "$XGW" nonsense 2>/dev/null; [ $? = 2 ] || fail "unknown command exit code"
  "$XGW" encrypt -r age1invalid p200000 2>/dev/null >/dev/null; [ $? = 1 ] || fail "bad recipient exit code"
  "$XGW" decrypt -i k.txt p200000 >/dev/null 2>err; [ $? = 1 ] || fail "not age exit code"
  set -e
  grep -q "xgw: error: header:" err || fail "header class"
  "$XGW" --help | grep -q "XGW_PASSPHRASE_FILE" || fail "help"
  ;;
*)
  fail "unknown case $CASE"
  ;;
esac
echo "ok: $CASE"
