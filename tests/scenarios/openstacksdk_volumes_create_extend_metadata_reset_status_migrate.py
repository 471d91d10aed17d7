#!/usr/bin/env python3
"""A short script on Debian's openstacksdk (0.101, block_storage v3, a token session on the
daemon's endpoint) lists and creates a volume, extends it, sets, reads and deletes metadata,
resets its status, sets it bootable and migrates it to the daemon's other backend. What the SDK
reports is checked against the daemon's own view and the storage: the file's size after the
extend, the metadata and status records, the bytes after the migration."""
import os
import sys

from volmig_lab import GiB, write_pattern_volume

SUPPORT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "support")
sys.path.insert(0, SUPPORT)
from openstack_clients import run_sdk_script
from scenario_support import check, content_digest, run_scenario

BACKENDS = {"gold": {"volume_driver": "thin_file"}, "silver": {"volume_driver": "thin_file"}}
SCRIPT = os.path.join(SUPPORT, "sdk_volume_calls.py")


def scenario(lab):
    d = lab.daemon("host-a", backends=BACKENDS, auth_token="sdk-s3cret")
    sdk = lambda *args: run_sdk_script(SCRIPT, d.url, d.auth_token, "p", *args)

    seen = sdk("create")
    vid = seen["id"]
    check(seen["listed_before"] == [] and seen["listed_after"] == [vid], f"the SDK's listings: {seen}")
    v = d.show(vid)
    check(v["status"] == "available" and v["size"] == 1 and v["name"] == "sdk-vol" and v["metadata"] == {"origin": "sdk"},
          f"the daemon's view of the SDK's volume: {v['status']} {v['size']} {v['name']} {v['metadata']}")
    path = d.volume_path(v)

    seen = sdk("change", vid)
    check(seen["size_after_extend"] == 2 and os.stat(path).st_size == 2 * GiB,
          f"extend: the SDK saw {seen['size_after_extend']}, the file is {os.stat(path).st_size} bytes")
    check(seen["metadata_after_set"] == {"origin": "sdk", "app": "sdk", "tier": "gold"}, f"metadata after set: {seen['metadata_after_set']}")
    check(seen["metadata_after_delete"] == {"origin": "sdk", "app": "sdk"}, f"metadata after delete: {seen['metadata_after_delete']}")
    check(seen["status_after_reset"] == "error", f"status after reset_volume_status: {seen['status_after_reset']}")
    v = d.show(vid)
    check(v["metadata"] == {"origin": "sdk", "app": "sdk"} and v["status"] == "available" and v["bootable"] == "true"
          and v["migration_status"] is None, f"the daemon's records after the SDK's changes: {v['metadata']} {v['status']} {v['bootable']}")
    with open(d.log_path, errors="replace") as f:
        log = f.read()
    check(f"os-reset_status of volume {vid}: status available -> error" in log and f"os-reset_status of volume {vid}: status error -> available" in log,
          "the SDK's status resets are not logged old -> new")

    write_pattern_volume(path, seed=21)
    digest = content_digest(path, 2 * GiB)
    seen = sdk("migrate", vid, "host-a@silver#silver")
    check(seen["migration_status"] == "success" and seen["host"] == "host-a@silver#silver", f"the SDK saw the migration end: {seen}")
    check(seen["size"] == 2 and seen["metadata"] == {"origin": "sdk", "app": "sdk"} and seen["is_bootable"] is True,
          f"the SDK's view after the migration: {seen}")
    v = d.show(vid)
    check(v["os-vol-host-attr:host"] == "host-a@silver#silver" and content_digest(d.volume_path(v), 2 * GiB) == digest,
          "the migrated volume is not on silver with the same bytes")
    check(not os.path.exists(path), f"the source file {path} is still there")
    print("SDK: volumes, create, extend, metadata set/get/delete, reset status, bootable, migrate checked against the daemon")


if __name__ == "__main__":
    run_scenario(scenario)
