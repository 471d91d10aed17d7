# volmig --help lists the commands and every exit code; each command has its own --help.
source "$(dirname "$0")/lib.sh"
expect_exit 0 "$VOLMIG" --help
for code in 0 1 2 3 4 5 130; do grep -qE "^  $code " "$T/out" || fail "exit code $code not documented"; done
expect_exit 0 "$VOLMIG" copy --help
expect_grep "full+discard" "$T/out"
expect_grep "\-\-force-unsafe-sparse" "$T/out"
expect_exit 0 "$VOLMIG" stat --help
