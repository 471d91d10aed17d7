# A missing source: exit 3, the message names the path, and no destination appears.
source "$(dirname "$0")/lib.sh"
expect_exit 3 "$VOLMIG" copy "$T/nope" "$T/dst"
expect_grep "$T/nope" "$T/err"
[ ! -e "$T/dst" ] || fail "destination was created"
