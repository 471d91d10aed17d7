#!/usr/bin/env python3
"""Migrating a thin volume onto a thick_file pool that the operator supplied already filled with
old data (host-b) is planned full, never sparse: the destination region ends up byte-identical
to the source, with every stale byte of the pool overwritten (the zero ranges of the source
included)."""
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
    b = lab.daemon("host-b", backends={"thick": {"volume_driver": "thick_file"}}, start=False)
    # The operator's pool: 1 GiB of old bytes, not created by volmig (so its free space is dirty).
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
    check(caps["properties"]["cinder_sparse_copy_volume"]["default"] is False,
          f"host-b@thick advertises cinder_sparse_copy_volume={caps['properties']['cinder_sparse_copy_volume']['default']} on a dirty pool")

    v = a.create(1, name="db")
    vid = v["id"]
    src_path = a.volume_path(v)
    write_pattern_volume(src_path, seed=7)
    src_sha = sha256_of(src_path, GiB)

    a.migrate(vid, "host-b@thick")
    view = a.wait_migration(vid, timeout=120)
    m = view["volmig:migration"]
    check(m["state"] == "success", f"migration ended in {m['state']}: {m.get('error')}")
    plan = m["plan"]
    check(plan["strategy"] == "full", f"plan is {plan['strategy']}, expected full onto a dirty thick pool: {plan['summary']}")
    check("cinder_sparse_copy_volume=false" in plan["summary"], f"the plan does not say why: {plan['summary']}")
    written = m["report"]["bytes"]
    check(written["skipped"] == 0, f"a full copy skipped {written['skipped']} bytes: {written}")

    bv = b.show(vid)
    check(bv["os-vol-host-attr:host"].startswith("host-b@thick"), f"host-b reports host {bv['os-vol-host-attr:host']}")
    dst = b.volume_path(bv)  # a loop device over the volume's region of the pool
    stale = stale_blocks(dst, GiB)
    check(stale == 0, f"{stale} blocks of the destination still hold the pool's stale bytes")
    dst_sha = sha256_of(dst, GiB)
    check(dst_sha == src_sha, f"content differs: source sha256 {src_sha}, destination {dst_sha}")
    fwd = a.show(vid)["os-vol-host-attr:host"]
    check(fwd in ("host-b@thick", bv["os-vol-host-attr:host"]), f"host-a's forwarding record points at {fwd}, not at host-b@thick")
    print(f"full copy in {m['report']['seconds']:.1f} s: written {written['written'] // MiB} MiB, zeroed {written['zeroed'] // MiB} MiB, "
          f"released {written['released'] // MiB} MiB; no stale block left")


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
