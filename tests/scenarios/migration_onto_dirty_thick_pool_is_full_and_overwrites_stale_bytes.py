#!/usr/bin/env python3
"""Migrating a thin volume onto a thick_file pool that the operator supplied already filled with
old data (host-b) is planned full, never sparse: the destination region ends up byte-identical
to the source, with every stale byte of the pool overwritten (the zero ranges of the source
included). Four slice streams write it at once (migration_streams = 4), through one opening of
the destination's loop device, which a writer holds exclusively."""
import os
import sys

from volmig_lab import GiB, MiB, sha256_of

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import check, daemon_pair, fill_file, new_source, run_scenario, stale_blocks

STALE = b"\xa5" * 4096  # what the pool held before volmig was pointed at it


def scenario(lab):
    a, b = daemon_pair(lab, b_backends={"thick": {"volume_driver": "thick_file"}}, start=False, a_defaults={"migration_streams": "4"})
    # The operator's pool: 1 GiB of old bytes, not created by volmig (so its free space is dirty).
    fill_file(b.backends["thick"]["pool_file"], STALE)
    a.start()
    b.start()

    caps = b.capabilities("thick")
    check(caps["properties"]["cinder_sparse_copy_volume"]["default"] is False,
          f"host-b@thick advertises cinder_sparse_copy_volume={caps['properties']['cinder_sparse_copy_volume']['default']} on a dirty pool")

    v, src_path, src_sha = new_source(a, "db", seed=7)
    vid = v["id"]

    a.migrate(vid, "host-b@thick")
    view = a.wait_migration(vid, timeout=120)
    m = view["volmig:migration"]
    check(m["state"] == "success", f"migration ended in {m['state']}: {m.get('error')}")
    plan = m["plan"]
    check(plan["strategy"] == "full", f"plan is {plan['strategy']}, expected full onto a dirty thick pool: {plan['summary']}")
    check("cinder_sparse_copy_volume=false" in plan["summary"], f"the plan does not say why: {plan['summary']}")
    check(m["report"].get("streams") == 4, f"the report says {m['report'].get('streams')} streams onto thick_file, expected 4")
    written = m["report"]["bytes"]
    check(written["skipped"] == 0, f"a full copy skipped {written['skipped']} bytes: {written}")

    bv = b.show(vid)
    check(bv["os-vol-host-attr:host"].startswith("host-b@thick"), f"host-b reports host {bv['os-vol-host-attr:host']}")
    dst = b.volume_path(bv)  # a loop device over the volume's region of the pool
    stale = stale_blocks(dst, GiB, STALE)
    check(stale == 0, f"{stale} blocks of the destination still hold the pool's stale bytes")
    dst_sha = sha256_of(dst, GiB)
    check(dst_sha == src_sha, f"content differs: source sha256 {src_sha}, destination {dst_sha}")
    fwd = a.show(vid)["os-vol-host-attr:host"]
    check(fwd in ("host-b@thick", bv["os-vol-host-attr:host"]), f"host-a's forwarding record points at {fwd}, not at host-b@thick")
    print(f"full copy in {m['report']['seconds']:.1f} s: written {written['written'] // MiB} MiB, zeroed {written['zeroed'] // MiB} MiB, "
          f"released {written['released'] // MiB} MiB; no stale block left")


if __name__ == "__main__":
    run_scenario(scenario)
