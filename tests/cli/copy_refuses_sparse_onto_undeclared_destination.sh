# --strategy sparse onto a destination not declared zeroed exits 3 and writes nothing.
source "$(dirname "$0")/lib.sh"
make_thin "$T/src"
head -c 64M /dev/zero | tr '\0' '\253' > "$T/dst"
before=$(sha256sum < "$T/dst")
loop=$(new_loop "$T/dst")
expect_exit 3 "$VOLMIG" copy "$T/src" "$loop" --strategy sparse
expect_grep "refusing sparse copy" "$T/err"
expect_grep "\-\-dest-zeroed" "$T/err"
[ "$(sha256sum < "$T/dst")" = "$before" ] || fail "destination was modified"
