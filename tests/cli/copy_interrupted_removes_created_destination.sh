# SIGINT during a copy exits 130 and removes the destination file volmig created.
source "$(dirname "$0")/lib.sh"
truncate -s 64M "$T/src"
dd if=/dev/urandom of="$T/src" bs=1M count=64 conv=notrunc status=none
"$VOLMIG" copy "$T/src" "$T/dst" --rate-limit 4M >"$T/out" 2>"$T/err" &
pid=$!
for _ in $(seq 50); do [ -e "$T/dst" ] && break; sleep 0.1; done
sleep 0.5
kill -INT $pid
set +e; wait $pid; code=$?; set -e
[ "$code" = 130 ] || { cat "$T/err"; fail "expected exit 130, got $code"; }
expect_grep "cancelled" "$T/err"
[ ! -e "$T/dst" ] || fail "partial destination left behind"
