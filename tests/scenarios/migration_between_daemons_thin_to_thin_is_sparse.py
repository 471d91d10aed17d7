#!/usr/bin/env python3
"""A thin volume migrated from host-a@thin to host-b@thin (two daemons) is planned sparse and
arrives sparse: the destination allocates about the source's non-zero data, not the volume's
size, holds the same bytes, keeps the volume's id on host-b, and host-a deletes its copy only
after the migration succeeded, keeping a forwarding record that points at host-b."""
import os
import sys
import time

from volmig_lab import GiB, MiB, sha256_of

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import check, daemon_pair, new_source, pool_files, run_scenario

# write_pattern_volume's default layout: 8 + 20 + 3 MiB of random data, 4 MiB of explicit zeros.
NONZERO = (8 + 20 + 3) * MiB


def scenario(lab):
    # Slow the copy a little so the source can be watched while the job runs.
    a, b = daemon_pair(lab, a_defaults={"volume_copy_bps_limit": "16M"})
    a_pool, b_pool = a.backends["thin"]["pool_path"], b.backends["thin"]["pool_path"]

    v, src_path, src_sha = new_source(a, "web")
    vid = v["id"]
    src_alloc = os.stat(src_path).st_blocks * 512
    check(pool_files(b_pool) == [], f"host-b's pool is not empty before the migration: {pool_files(b_pool)}")

    a.migrate(vid, "host-b@thin")
    deadline = time.time() + 60
    observed = []
    while True:
        view = a.show(vid)
        state = (view.get("volmig:migration") or {}).get("state")
        exists = os.path.exists(src_path)
        observed.append((view["migration_status"], state, exists))
        if state in ("success", "error"):
            break
        # Until the destination owns the volume (releasing: adopted there, the old storage going),
        # the source must still be there.
        check(state in ("releasing", "success") or exists,
              f"the source file {src_path} vanished while the migration was {state} (migration_status {view['migration_status']})")
        check(time.time() < deadline, f"the migration did not end within 60 s: {observed[-5:]}")
        time.sleep(0.05)
    m = view["volmig:migration"]
    check(m["state"] == "success", f"migration ended in {m['state']}: {m.get('error')}")
    check(any(s == "migrating" and e for s, _, e in observed), f"never saw the source present while migrating: {observed}")

    # The plan: sparse, because host-b@thin advertises zero-initialized volumes.
    plan = m["plan"]
    check(plan["strategy"] == "sparse", f"plan is {plan['strategy']}, expected sparse: {plan['summary']}")
    check(plan["same_daemon"] is False, "plan says same_daemon for a migration between daemons")
    check(m["report"]["transport"].startswith("extent stream"), f"transport: {m['report']['transport']}")
    check(m["report"]["bytes"]["sent"] < 40 * MiB, f"{m['report']['bytes']['sent']} bytes on the wire for {NONZERO} bytes of data")

    # host-b now holds the volume, under the same id.
    bv = b.show(vid)
    check(bv["os-vol-host-attr:host"].startswith("host-b@thin"), f"host-b reports host {bv['os-vol-host-attr:host']}")
    check(bv["status"] == "available", f"the volume on host-b is {bv['status']}")
    check(bv["name"] == "web", f"the volume's name did not travel: {bv['name']!r}")
    dst_path = b.volume_path(bv)
    check(os.path.dirname(dst_path) == b_pool, f"destination {dst_path} is not in host-b's pool {b_pool}")
    check(os.path.getsize(dst_path) == GiB, f"destination file is {os.path.getsize(dst_path)} bytes, expected 1 GiB")
    dst_sha = sha256_of(dst_path, GiB)
    check(dst_sha == src_sha, f"content differs: source sha256 {src_sha}, destination {dst_sha}")
    dst_alloc = os.stat(dst_path).st_blocks * 512
    check(NONZERO <= dst_alloc <= NONZERO + 2 * MiB,
          f"destination allocates {dst_alloc} bytes; expected about the source's non-zero data {NONZERO} "
          f"(source allocated {src_alloc}, volume size {GiB})")
    check(pool_files(b_pool) == [os.path.basename(dst_path)], f"host-b's pool holds {pool_files(b_pool)}")
    ids_b = [x["id"] for x in b.volumes()]
    check(ids_b == [vid], f"host-b lists {ids_b}, expected only {vid} (no temporary migration volume left)")

    # host-a: storage gone, a forwarding record answers GET.
    check(not os.path.exists(src_path), f"the source file {src_path} still exists after success")
    check(pool_files(a_pool) == [], f"host-a's pool still holds {pool_files(a_pool)}")
    fwd = a.show(vid)
    check(fwd["migration_status"] == "success", f"host-a's record has migration_status {fwd['migration_status']}")
    check(fwd["status"] == "available", f"host-a's record has status {fwd['status']}")
    # The destination as requested (host-b@thin) or with its pool, as host-b names it (host-b@thin#thin).
    check(fwd["os-vol-host-attr:host"] in ("host-b@thin", bv["os-vol-host-attr:host"]),
          f"host-a's record points at {fwd['os-vol-host-attr:host']}, expected host-b@thin")
    check(fwd["volmig:moved_to"] in ("host-b@thin", bv["os-vol-host-attr:host"]), f"volmig:moved_to is {fwd['volmig:moved_to']}")
    check(vid not in [x["id"] for x in a.volumes()], "host-a still lists the moved volume as one of its own")
    print(f"migrated {NONZERO // MiB} MiB of data in {m['report']['seconds']:.1f} s; destination allocates {dst_alloc // MiB} MiB of 1024")


if __name__ == "__main__":
    run_scenario(scenario)
