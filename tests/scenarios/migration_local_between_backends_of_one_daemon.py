#!/usr/bin/env python3
"""A migration between two backends of one daemon (host-a@gold -> host-a@silver, both thin_file)
copies locally, with no peer and no stream: planned sparse, same volume id, now reported on
host-a@silver, identical bytes, allocation about the source's non-zero data, the source file
deleted, and no temporary migration volume left in the volume list."""
import os
import sys

from volmig_lab import GiB, MiB, sha256_of

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import check, new_source, pool_files, run_scenario

NONZERO = (8 + 20 + 3) * MiB  # write_pattern_volume's default data extents


def scenario(lab):
    a = lab.daemon("host-a", backends={"gold": {"volume_driver": "thin_file"}, "silver": {"volume_driver": "thin_file"}})
    gold, silver = a.backends["gold"]["pool_path"], a.backends["silver"]["pool_path"]

    v, src_path, src_sha = new_source(a, "logs", seed=3, backend="gold")
    vid = v["id"]
    check(v["os-vol-host-attr:host"] == "host-a@gold#gold", f"created on {v['os-vol-host-attr:host']}")

    a.migrate(vid, "host-a@silver")
    view = a.wait_migration(vid, timeout=60)
    m = view["volmig:migration"]
    check(m["state"] == "success", f"migration ended in {m['state']}: {m.get('error')}")
    check(m["plan"]["same_daemon"] is True, "the plan does not say same_daemon")
    check(m["plan"]["strategy"] == "sparse", f"plan is {m['plan']['strategy']}: {m['plan']['summary']}")
    check(m["report"]["transport"] == "local", f"transport is {m['report']['transport']}, expected local")

    check(view["id"] == vid and view["status"] == "available" and view["migration_status"] == "success",
          f"after the migration: id {view['id']}, status {view['status']}, migration_status {view['migration_status']}")
    check(view["os-vol-host-attr:host"] == "host-a@silver#silver", f"the volume is on {view['os-vol-host-attr:host']}, expected host-a@silver#silver")
    check(view["volmig:moved_to"] is None, "a local migration left a forwarding record")
    dst_path = a.volume_path(view)
    check(os.path.dirname(dst_path) == silver, f"the volume's file {dst_path} is not in the silver pool {silver}")
    dst_sha = sha256_of(dst_path, GiB)
    check(dst_sha == src_sha, f"content differs: source sha256 {src_sha}, destination {dst_sha}")
    dst_alloc = os.stat(dst_path).st_blocks * 512
    check(NONZERO <= dst_alloc <= NONZERO + 2 * MiB, f"destination allocates {dst_alloc} bytes, expected about {NONZERO}")

    check(not os.path.exists(src_path), f"the source file {src_path} still exists")
    check(pool_files(gold) == [], f"the gold pool still holds {pool_files(gold)}")
    check(pool_files(silver) == [os.path.basename(dst_path)], f"the silver pool holds {pool_files(silver)}")
    listed = [(x["id"], x["os-vol-host-attr:host"]) for x in a.volumes()]
    check(listed == [(vid, "host-a@silver#silver")], f"the volume list is {listed}: a temporary migration volume is left, or the volume is missing")
    print(f"local sparse copy in {m['report']['seconds']:.2f} s; destination allocates {dst_alloc // MiB} MiB")


if __name__ == "__main__":
    run_scenario(scenario)
