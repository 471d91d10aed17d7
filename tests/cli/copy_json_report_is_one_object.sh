# --json prints exactly one JSON object with the report's figures.
source "$(dirname "$0")/lib.sh"
make_thin "$T/src"
expect_exit 0 "$VOLMIG" copy "$T/src" "$T/dst" --json --verify
python3 - "$T/out" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["strategy"] == "sparse", r["strategy"]
assert r["size"] == 64 << 20
b = r["bytes"]
assert b["read"] == (2048 + 192 + 4096 + 1024) * 1024, b
assert b["written"] + b["skipped"] + b["zeroed"] + b["released"] == r["size"], b
assert r["checksum"]["match"] is True
for k in ("source_before", "source_after", "destination_before", "destination_after"):
    assert "data_percent" in r["allocation"][k]
assert r["seconds"] >= 0 and r["reason"]
PY
