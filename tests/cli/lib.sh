# Shared by the CLI scenario scripts: a temp dir removed on exit, loop devices detached on
# exit, and assertions that print what was expected and what happened.
set -euo pipefail
VOLMIG=${VOLMIG:?set VOLMIG to the volmig binary}
T=$(mktemp -d "${VOLMIG_TEST_TMP:-/var/tmp}/volmig-test.XXXXXX")
echo $$ > "$T/.owner"   # tests/cleanup-test-loops.sh leaves a live owner's directory alone
LOOPS=()
cleanup() {
  for l in "${LOOPS[@]}"; do losetup -d "$l" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
new_loop() { local l; l=$(losetup --find --show "$1"); LOOPS+=("$l"); echo "$l"; }
# expect_exit CODE CMD...: runs CMD, captures stdout/stderr in $T/out, $T/err, checks the code.
expect_exit() {
  local want=$1; shift
  set +e; "$@" >"$T/out" 2>"$T/err"; local got=$?; set -e
  [ "$got" = "$want" ] || { cat "$T/out" "$T/err" >&2; fail "expected exit $want, got $got: $*"; }
}
expect_grep() { grep -q -- "$1" "$2" || { cat "$2" >&2; fail "expected '$1' in $2"; }; }
# A 64 MiB thin volume: 3 data extents, one allocated-zero extent, holes.
make_thin() {
  truncate -s 64M "$1"
  dd if=/dev/urandom of="$1" bs=1M count=2 seek=1 conv=notrunc status=none
  dd if=/dev/urandom of="$1" bs=64K count=3 seek=300 conv=notrunc status=none
  dd if=/dev/zero of="$1" bs=1M count=4 seek=30 conv=notrunc status=none
  dd if=/dev/urandom of="$1" bs=1M count=1 seek=63 conv=notrunc status=none
}
