# --engine dd runs Cinder's dd command line and the result is identical, fully allocated for full.
source "$(dirname "$0")/lib.sh"
make_thin "$T/src"
truncate -s 64M "$T/dst"
loop=$(new_loop "$T/dst")
expect_exit 0 "$VOLMIG" copy "$T/src" "$loop" --engine dd --strategy full --verify
expect_grep "iflag=count_bytes" "$T/out"
expect_grep "MATCH" "$T/out"
cmp "$T/src" "$loop" || fail "content differs"
[ $(( $(stat -c %b "$T/dst") * 512 )) -ge $((64 << 20)) ] || fail "full dd copy did not allocate everything"
