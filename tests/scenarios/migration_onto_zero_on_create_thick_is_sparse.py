#!/usr/bin/env python3
"""Migrating a thin volume onto a thick_file backend with zero_on_create = true is planned sparse:
the backend zeroes every new volume's region, so it advertises cinder_sparse_copy_volume even on
a pool that was full of old data, and the copy writes only the source's non-zero data. The
destination is byte-identical to the source and no stale byte of the pool survives."""
import os
import sys

from volmig_lab import GiB, MiB, sha256_of

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import check, daemon_pair, fill_file, new_source, run_scenario, stale_blocks

STALE = b"\xa5" * 4096  # what the pool held before volmig was pointed at it


def scenario(lab):
    a, b = daemon_pair(lab, b_backends={"thick": {"volume_driver": "thick_file", "zero_on_create": "true"}}, start=False)
    # An operator-supplied pool full of old bytes: only zero_on_create makes new volumes zero.
    fill_file(b.backends["thick"]["pool_file"], STALE)
    a.start()
    b.start()

    caps = b.capabilities("thick")
    check(caps["properties"]["cinder_sparse_copy_volume"]["default"] is True,
          "host-b@thick with zero_on_create = true does not advertise cinder_sparse_copy_volume=true")

    v, src_path, src_sha = new_source(a, "db", seed=11)
    vid = v["id"]

    a.migrate(vid, "host-b@thick")
    view = a.wait_migration(vid, timeout=120)
    m = view["volmig:migration"]
    check(m["state"] == "success", f"migration ended in {m['state']}: {m.get('error')}")
    plan = m["plan"]
    check(plan["strategy"] == "sparse", f"plan is {plan['strategy']}, expected sparse onto zero_on_create: {plan['summary']}")
    moved = m["report"]["bytes"]
    check(moved["written"] <= 32 * MiB, f"a sparse copy wrote {moved['written']} bytes for 31 MiB of data: {moved}")
    check(moved["zeroed"] == 0 and moved["skipped"] >= 990 * MiB, f"zero ranges were not skipped: {moved}")

    bv = b.show(vid)
    check(bv["os-vol-host-attr:host"].startswith("host-b@thick"), f"host-b reports host {bv['os-vol-host-attr:host']}")
    dst = b.volume_path(bv)
    stale = stale_blocks(dst, GiB, STALE)
    check(stale == 0, f"{stale} blocks of the destination still hold the pool's stale bytes")
    dst_sha = sha256_of(dst, GiB)
    check(dst_sha == src_sha, f"content differs: source sha256 {src_sha}, destination {dst_sha}")
    print(f"sparse copy in {m['report']['seconds']:.1f} s: written {moved['written'] // MiB} MiB, skipped {moved['skipped'] // MiB} MiB; "
          "no stale block left")


if __name__ == "__main__":
    run_scenario(scenario)
