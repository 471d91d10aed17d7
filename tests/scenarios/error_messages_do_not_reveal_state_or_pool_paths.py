#!/usr/bin/env python3
"""Error messages in API responses never carry the daemon's state or pool directory paths: an
API client learns what failed, not where the files are. Provoked here, each response's JSON is
searched for the lab's directory (every daemon's state and pools lie below it): a create larger
than a thick_file pool; a migration onto a thick_file pool whose file became too small after
start; a stream with a wrong END checksum sent straight to a receiver, and GET of that volume;
a create on a thin_file pool whose directory is gone; a create whose zero_on_create fails
because the thick pool file is gone (202 with a volume in error), GET of that volume, the
listing, and its DELETE. Error bodies are searched whole; volume views everywhere but
volmig:location and volmig:migration.report, which name storage on purpose."""
import json
import os
import shutil
import sys

from volmig_lab import GiB, MiB

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from extent_streams import build_stream, post_stream, prepare_receive
from scenario_support import check, daemon_pair, expect, http, new_source, raise_problems, run_scenario, settle

ON_PURPOSE = ("volmig:location", "report")  # fields that name storage by design


def leaks(doc, secret, where=""):
    """(where, text) of every string in `doc` that contains `secret`, outside ON_PURPOSE fields."""
    if isinstance(doc, dict):
        return [x for k, v in doc.items() if k not in ON_PURPOSE for x in leaks(v, secret, f"{where}.{k}")]
    if isinstance(doc, list):
        return [x for i, v in enumerate(doc) for x in leaks(v, secret, f"{where}[{i}]")]
    return [(where or "body", doc)] if isinstance(doc, str) and secret in doc else []


def scenario(lab):
    seen = []

    def look(what, status, raw, error_expected=True):
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
        doc = json.loads(text) if text.strip() else None
        if error_expected:
            check(status >= 400 or "error" in text, f"{what}: expected an error, got {status}: {text[:300]}")
        found = [("body", text)] if status >= 400 and lab.dir in text else leaks(doc, lab.dir)
        for where, s in found:
            expect(False, f"{what}: the answer ({status}) shows the lab's directory {lab.dir} in {where}: {s[:300]!r}")
        seen.append(what)
        print(f"{what}: {status} {'LEAKS' if found else 'clean'}: {text[:160]}")
        return doc

    a, b = daemon_pair(lab, a_backends={"thin": {"volume_driver": "thin_file"},
                                        "zeroed": {"volume_driver": "thick_file", "pool_size": "1G", "zero_on_create": "true"}},
                       b_backends={"thick": {"volume_driver": "thick_file", "pool_size": "2G"}})

    # A create larger than a thick pool.
    look("create of 4 GiB on a 2 GiB thick pool", *post(b, {"volume": {"size": 4, "volume_type": "thick"}}))

    # A migration onto a thick pool whose file is now too small for the region it hands out.
    os.truncate(b.backends["thick"]["pool_file"], 256 * MiB)
    v, _, _ = new_source(a, "to-small-pool", seed=5, extents=((1, 4),), zeros=(), digest=True, backend="thin")
    a.migrate(v["id"], "host-b@thick")
    view = settle(a, v["id"])
    check(view["volmig:migration"]["state"] == "error", f"the migration onto a truncated pool ended in {view['volmig:migration']['state']}")
    look("GET of the source after a migration onto a too small thick pool", *get(a, v["id"]))

    # A stream with a wrong END checksum, straight to a receiver.
    tid = a.create(1, name="target", backend="thin")["id"]
    token = prepare_receive(a, tid)
    body = build_stream(GiB, [(0, b"\x11" * MiB)], checksum="xxh3sum:" + "0" * 32)
    look("a stream whose END checksum is wrong", *post_stream(a, tid, body, token))
    look("GET of the volume that refused the stream", *get(a, tid))

    # A create on a thin pool whose directory is gone.
    shutil.rmtree(a.backends["thin"]["pool_path"])
    look("create on a thin pool whose directory is gone", *post(a, {"volume": {"size": 1, "volume_type": "thin"}}))

    # A create whose driver fails (zero_on_create on a pool file that is gone): a volume in error.
    os.remove(a.backends["zeroed"]["pool_file"])
    created = look("create on a thick pool whose file is gone", *post(a, {"volume": {"size": 1, "volume_type": "zeroed"}}))
    failed = (created or {}).get("volume", {}).get("id")
    if failed:
        look("GET of the volume in error", *get(a, failed))
        look("the listing with the volume in error", *http("GET", f"{a.url}/v3/volumes/detail")[::2], error_expected=False)
        status, _, raw = http("DELETE", f"{a.url}/v3/volumes/{failed}")
        look("DELETE of the volume in error", status, raw, error_expected=False)
    check(len(seen) >= 6, f"only {len(seen)} responses were looked at")
    raise_problems()


def post(daemon, body):
    status, _, raw = http("POST", f"{daemon.url}/v3/volumes", body)
    return status, raw


def get(daemon, vid):
    status, _, raw = http("GET", f"{daemon.url}/v3/volumes/{vid}")
    return status, raw


if __name__ == "__main__":
    run_scenario(scenario)
