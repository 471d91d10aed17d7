# auto onto a dirty loop device (not declared zeroed) picks full+discard: identical content,
# and the backing file ends up holding little more than the source's non-zero data.
source "$(dirname "$0")/lib.sh"
make_thin "$T/src"
head -c 64M /dev/urandom > "$T/dst"
loop=$(new_loop "$T/dst")
expect_exit 0 "$VOLMIG" copy "$T/src" "$loop" --verify
expect_grep "strategy *full+discard" "$T/out"
cmp "$T/src" "$loop" || fail "content differs"
alloc=$(( $(stat -c %b "$T/dst") * 512 ))
[ "$alloc" -le $(( 4 * 1024 * 1024 )) ] || fail "backing file still allocates $alloc bytes"
