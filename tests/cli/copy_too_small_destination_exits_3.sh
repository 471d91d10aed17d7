# A destination smaller than the source: exit 3, message names both sizes, nothing written.
source "$(dirname "$0")/lib.sh"
make_thin "$T/src"
truncate -s 32M "$T/dst"
expect_exit 3 "$VOLMIG" copy "$T/src" "$T/dst"
expect_grep "too small" "$T/err"
expect_grep "33554432 bytes" "$T/err"
[ "$(stat -c %b "$T/dst")" = 0 ] || fail "destination was written"
