#!/usr/bin/env python3
"""The destination's filesystem runs out of space in the middle of the copy. host-b's thin pool
lives on a small mounted ext4 (a filler file leaves 64 MiB free) while its pool_size claims
100G, so the capacity check passes and the source's 150 MiB of data hit ENOSPC mid-stream. The
migration ends in error with a message that says there is no space, the source is intact and
available, the partial destination is deleted; after the operator frees space (removes the
filler), the retry succeeds."""
import os
import subprocess
import sys

from volmig_lab import GiB, MiB, sha256_of

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import check, daemon_pair, expect, new_source, pool_files, raise_problems, run_scenario, settle

EXTENTS = ((1, 50), (300, 60), (700, 40))  # 150 MiB of data
FS_SIZE = 256 * MiB
FREE = 64 * MiB


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def scenario(lab):
    # host-b's filesystem: 256 MiB of ext4 on a loop device, mounted inside the lab.
    image, mnt = os.path.join(lab.dir, "host-b-fs.img"), os.path.join(lab.dir, "host-b-fs")
    os.makedirs(mnt)
    with open(image, "wb") as f:
        f.truncate(FS_SIZE)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", image], check=True, capture_output=True)
    subprocess.run(["mount", "-o", "loop", image, mnt], check=True)  # the loop device goes with the umount
    try:
        run(lab, mnt)
    finally:
        for d in lab.daemons:
            d.stop()
        subprocess.run(["umount", mnt], check=True)


def run(lab, mnt):
    filler = os.path.join(mnt, "filler")
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    os.posix_fallocate(fd, 0, free_bytes(mnt) - FREE)
    os.fsync(fd)
    os.close(fd)
    check(FREE - 8 * MiB <= free_bytes(mnt) <= FREE + 8 * MiB, f"the filesystem has {free_bytes(mnt)} bytes free, wanted about {FREE}")

    a, b = daemon_pair(lab, b_backends={"thin": {"volume_driver": "thin_file", "pool_path": os.path.join(mnt, "pool"), "pool_size": "100G"}})
    b_pool = b.backends["thin"]["pool_path"]

    v, src, sha = new_source(a, "big", seed=61, extents=EXTENTS, zeros=())
    vid = v["id"]

    a.migrate(vid, "host-b@thin")
    view = settle(a, vid)
    m = view["volmig:migration"]
    check(m["state"] == "error", f"150 MiB into 64 MiB of free space ended in {m['state']}")
    check(m["plan"]["strategy"] == "sparse", f"plan {m['plan']['strategy']}: the copy should have started")
    expect("no space" in m["error"].lower(), f"the error does not say the destination ran out of space: {m['error']}")
    check(view["status"] == "available" and view["os-vol-host-attr:host"] == "host-a@thin#thin",
          f"after the failure: status {view['status']} on {view['os-vol-host-attr:host']}")
    check(view["volmig:error"] and m["error"] in view["volmig:error"], f"volmig:error is {view['volmig:error']!r}")
    check(sha256_of(src, GiB) == sha, "the source changed although the migration failed")
    check(pool_files(b_pool) == [], f"the partial destination was not deleted: host-b's pool holds {pool_files(b_pool)}")
    check(b.volumes() == [], f"host-b still lists {[x['id'] for x in b.volumes()]}")

    os.unlink(filler)
    a.migrate(vid, "host-b@thin")
    view = settle(a, vid)
    m2 = view["volmig:migration"]
    check(m2["state"] == "success", f"after freeing space the retry ended in {m2['state']}: {m2.get('error')}")
    bv = b.show(vid)
    dst = b.volume_path(bv)
    check(sha256_of(dst, GiB) == sha, "the retried destination differs from the source")
    check(pool_files(b_pool) == [os.path.basename(dst)], f"host-b's pool holds {pool_files(b_pool)}")
    print(f"out of space: {m['error']}; retry after freeing space: success")
    raise_problems()


if __name__ == "__main__":
    run_scenario(scenario)
