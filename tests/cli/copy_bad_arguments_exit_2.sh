# Bad arguments exit 2 with a message naming the problem.
source "$(dirname "$0")/lib.sh"
make_thin "$T/src"
expect_exit 2 "$VOLMIG" copy "$T/src"
expect_exit 2 "$VOLMIG" copy "$T/src" "$T/dst" --frobnicate
expect_grep "frobnicate" "$T/err"
expect_exit 2 "$VOLMIG" copy "$T/src" "$T/dst" --strategy dense
expect_grep "dense" "$T/err"
expect_exit 2 "$VOLMIG" copy "$T/src" "$T/dst" --block-size 3000
expect_grep "block size" "$T/err"
expect_exit 2 "$VOLMIG" copy "$T/src" "$T/dst" --rate-limit 1.5G
expect_grep "rate-limit" "$T/err"
expect_exit 2 "$VOLMIG" copy "$T/src" "$T/dst" --direct --no-direct
expect_exit 2 "$VOLMIG" nonsense
[ ! -e "$T/dst" ] || fail "destination was created"
