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
import time

from volmig_lab import GiB, MiB, Lab, sha256_of, write_pattern_volume

EXTENTS = ((1, 50), (300, 60), (700, 40))  # 150 MiB of data
FS_SIZE = 256 * MiB
FREE = 64 * MiB


PROBLEMS = []  # failed checks after which the scenario can still go on and show more


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def expect(cond, what):
    if not cond:
        PROBLEMS.append(what)
        print(f"problem: {what}", file=sys.stderr)


def settle(daemon, vid, timeout=60):
    deadline = time.time() + timeout
    while True:
        view = daemon.show(vid)
        state = (view.get("volmig:migration") or {}).get("state")
        if state in ("success", "error") and view["migration_status"] == state:
            return view
        check(time.time() < deadline, f"the migration of {vid} did not settle within {timeout} s: state {state}, migration_status {view['migration_status']}")
        time.sleep(0.05)


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def pool_files(path):
    return sorted(f for f in os.listdir(path) if f.startswith("volume-"))


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

    a = lab.daemon("host-a", backends={"thin": {"volume_driver": "thin_file"}}, start=False)
    b = lab.daemon("host-b", backends={"thin": {"volume_driver": "thin_file", "pool_path": os.path.join(mnt, "pool"), "pool_size": "100G"}},
                   start=False)
    a.add_peer(b)
    b.add_peer(a)
    a.start()
    b.start()
    b_pool = b.backends["thin"]["pool_path"]

    v = a.create(1, name="big")
    vid = v["id"]
    src = a.volume_path(v)
    write_pattern_volume(src, seed=61, extents=EXTENTS, zeros=())
    sha = sha256_of(src, GiB)

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
    if PROBLEMS:
        raise AssertionError(f"{len(PROBLEMS)} problem(s):\n  " + "\n  ".join(PROBLEMS))


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
