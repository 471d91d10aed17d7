# volmig stat shows size, allocation, Data% and extents, for a file and for a loop device.
source "$(dirname "$0")/lib.sh"
make_thin "$T/src"
expect_exit 0 "$VOLMIG" stat "$T/src" --json
python3 - "$T/out" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["size"] == 64 << 20
assert r["allocated"] == (2048 + 192 + 4096 + 1024) * 1024, r
assert r["extent_count"] == 4, r
assert abs(r["data_percent"] - 100.0 * r["allocated"] / r["size"]) < 0.01
PY
loop=$(new_loop "$T/src")
expect_exit 0 "$VOLMIG" stat "$loop"
expect_grep "loop device" "$T/out"
expect_grep "4 extents" "$T/out"
expect_grep "Data%" "$T/out"
