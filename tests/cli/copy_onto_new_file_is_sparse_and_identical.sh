# volmig copy onto a path that does not exist creates a sparse file with the same bytes,
# allocating only the non-zero data (the 4 MiB of written zeros are not allocated).
source "$(dirname "$0")/lib.sh"
make_thin "$T/src"
expect_exit 0 "$VOLMIG" copy "$T/src" "$T/dst" --verify
cmp "$T/src" "$T/dst" || fail "content differs"
expect_grep "strategy *sparse" "$T/out"
expect_grep "MATCH" "$T/out"
alloc=$(( $(stat -c %b "$T/dst") * 512 ))
[ "$alloc" -le $(( (2*1024 + 192 + 1024) * 1024 + 4 * 4096 )) ] || fail "destination allocates $alloc bytes"
[ "$alloc" -ge $(( (2*1024 + 192 + 1024) * 1024 )) ] || fail "destination allocates only $alloc bytes"
