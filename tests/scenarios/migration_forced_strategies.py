#!/usr/bin/env python3
"""Operators can force a copy strategy, but never an unsafe one:
- volmig:strategy full onto a thin destination writes every block: the destination is 100%
  allocated (what dd would do) and identical to the source;
- volmig:strategy sparse onto a thick destination whose pool is dirty (no
  cinder_sparse_copy_volume) is refused: the migration ends in error saying why, no byte is
  written, no destination volume is left, and the source is untouched;
- force_host_copy (Cinder's flag) plans a full copy even onto a zero-initialized thin pool."""
import os
import sys

from volmig_lab import GiB, MiB, sha256_of

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import check, daemon_pair, fill_file, new_source, run_scenario, settle

STALE = b"\x5a" * (1 << 20)


def scenario(lab):
    a, b = daemon_pair(lab, b_backends={"thin": {"volume_driver": "thin_file"}, "thick": {"volume_driver": "thick_file"}}, start=False)
    fill_file(b.backends["thick"]["pool_file"], STALE)  # an operator-supplied, dirty pool
    a.start()
    b.start()

    # 1. volmig:strategy full onto thin: every block written, 100% allocated.
    v, path, sha = new_source(a, "full-onto-thin", seed=21)
    vid = v["id"]
    a.migrate(vid, "host-b@thin", strategy="full")
    m = a.wait_migration(vid, timeout=120)["volmig:migration"]
    check(m["state"] == "success", f"volmig:strategy full: migration ended in {m['state']}: {m.get('error')}")
    check(m["plan"]["strategy"] == "full", f"volmig:strategy full gave plan {m['plan']['strategy']}: {m['plan']['summary']}")
    check("full requested" in m["plan"]["summary"], f"the plan does not say full was requested: {m['plan']['summary']}")
    dst = b.volume_path(b.show(vid))
    alloc = os.stat(dst).st_blocks * 512
    check(alloc >= GiB, f"volmig:strategy full left the thin destination {alloc / GiB:.1%} allocated, expected 100%")
    check(sha256_of(dst, GiB) == sha, "volmig:strategy full: the destination differs from the source")
    print(f"volmig:strategy full onto thin: {alloc / GiB:.0%} allocated")

    # 2. volmig:strategy sparse onto a dirty thick pool: refused, nothing written, source untouched.
    v2, path2, sha2 = new_source(a, "sparse-onto-dirty", seed=22)
    vid2 = v2["id"]
    before_b = sorted(x["id"] for x in b.volumes())
    with open(b.backends["thick"]["pool_file"], "rb") as f:
        pool_head = f.read(64 * MiB)
    a.migrate(vid2, "host-b@thick", strategy="sparse")
    view = settle(a, vid2)
    m = view["volmig:migration"]
    check(m["state"] == "error", f"volmig:strategy sparse onto a dirty thick pool ended in {m['state']}, expected error")
    for needed in ("refused", "cinder_sparse_copy_volume", "stale"):
        check(needed in m["error"], f"the refusal does not say {needed!r}: {m['error']}")
    check(view["migration_status"] == "error", f"migration_status is {view['migration_status']}")
    check(view["status"] == "available", f"the refused source is {view['status']}")
    check(view["volmig:error"] and "refused" in view["volmig:error"], f"volmig:error is {view['volmig:error']!r}")
    check(view["os-vol-host-attr:host"] == "host-a@thin#thin", f"the refused volume moved to {view['os-vol-host-attr:host']}")
    check(sha256_of(path2, GiB) == sha2, "the refused migration changed the source")
    check(sorted(x["id"] for x in b.volumes()) == before_b, "the refused migration left a volume on host-b")
    with open(b.backends["thick"]["pool_file"], "rb") as f:
        check(f.read(64 * MiB) == pool_head, "the refused migration wrote into host-b's thick pool")
    print(f"volmig:strategy sparse onto a dirty pool refused: {m['error']}")

    # 3. force_host_copy: full, even onto a zero-initialized thin pool.
    v3, path3, sha3 = new_source(a, "force-host-copy", seed=23)
    vid3 = v3["id"]
    a.migrate(vid3, "host-b@thin", force_full=True)
    m = a.wait_migration(vid3, timeout=120)["volmig:migration"]
    check(m["state"] == "success", f"force_host_copy: migration ended in {m['state']}: {m.get('error')}")
    check(m["force_host_copy"] is True and m["plan"]["strategy"] == "full",
          f"force_host_copy gave plan {m['plan']['strategy']}: {m['plan']['summary']}")
    dst3 = b.volume_path(b.show(vid3))
    alloc3 = os.stat(dst3).st_blocks * 512
    check(alloc3 >= GiB, f"force_host_copy left the destination {alloc3 / GiB:.1%} allocated, expected 100%")
    check(sha256_of(dst3, GiB) == sha3, "force_host_copy: the destination differs from the source")
    print(f"force_host_copy onto thin: plan full, {alloc3 / GiB:.0%} allocated")


if __name__ == "__main__":
    run_scenario(scenario)
