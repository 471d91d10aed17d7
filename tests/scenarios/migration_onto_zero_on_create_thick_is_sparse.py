#!/usr/bin/env python3
"""Migrating a thin volume onto a thick_file backend with zero_on_create = true is planned sparse:
the backend zeroes every new volume's region, so it advertises cinder_sparse_copy_volume even on
a pool that was full of old data, and the copy writes only the source's non-zero data. The
destination is byte-identical to the source and no stale byte of the pool survives."""
import os
import sys

from volmig_lab import GiB, MiB, Lab, sha256_of, write_pattern_volume

STALE = b"\xa5" * 4096  # what the pool held before volmig was pointed at it


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def stale_blocks(path, length):
    n = 0
    with open(path, "rb") as f:
        for _ in range(length // MiB):
            chunk = f.read(MiB)
            n += sum(1 for i in range(0, MiB, 4096) if chunk[i:i + 4096] == STALE)
    return n


def scenario(lab):
    a = lab.daemon("host-a", backends={"thin": {"volume_driver": "thin_file"}}, start=False)
    b = lab.daemon("host-b", backends={"thick": {"volume_driver": "thick_file", "zero_on_create": "true"}}, start=False)
    # An operator-supplied pool full of old bytes: only zero_on_create makes new volumes zero.
    pool = b.backends["thick"]["pool_file"]
    with open(pool, "wb") as f:
        block = STALE * 256
        for _ in range(GiB // len(block)):
            f.write(block)
        os.fsync(f.fileno())
    a.add_peer(b)
    b.add_peer(a)
    a.start()
    b.start()

    caps = b.capabilities("thick")
    check(caps["properties"]["cinder_sparse_copy_volume"]["default"] is True,
          "host-b@thick with zero_on_create = true does not advertise cinder_sparse_copy_volume=true")

    v = a.create(1, name="db")
    vid = v["id"]
    src_path = a.volume_path(v)
    write_pattern_volume(src_path, seed=11)
    src_sha = sha256_of(src_path, GiB)

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
    stale = stale_blocks(dst, GiB)
    check(stale == 0, f"{stale} blocks of the destination still hold the pool's stale bytes")
    dst_sha = sha256_of(dst, GiB)
    check(dst_sha == src_sha, f"content differs: source sha256 {src_sha}, destination {dst_sha}")
    print(f"sparse copy in {m['report']['seconds']:.1f} s: written {moved['written'] // MiB} MiB, skipped {moved['skipped'] // MiB} MiB; "
          "no stale block left")


if __name__ == "__main__":
    with Lab(volmigd=os.environ["VOLMIGD"]) as lab:
        try:
            scenario(lab)
        except Exception as e:
            print(f"FAIL: {type(e).__name__}: {e}", file=sys.stderr)
            for d in lab.daemons:
                print(f"--- {d.host} log (tail) ---\n{d.log_tail()}", file=sys.stderr)
            sys.exit(1)
    print("PASS")
