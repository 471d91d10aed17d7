#!/usr/bin/env python3
"""A thin_file volume's file goes from sight the moment its DELETE is answered (renamed to a
hidden .deleting- name, driver/deferred_unlink.hpp) and from the disk soon after: the pool ends
empty and the filesystem gets its blocks back. Hidden files a crashed daemon left are unlinked
when it starts again (the log says how many); a volume file without a record is only reported
by the orphan check, never deleted."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import DELETING, THIN, check, new_source, pool_listing, run_scenario

EXTENTS = ((1, 16), (300, 16), (700, 16))  # 48 MiB of data


def allocated(path):
    return os.stat(path).st_blocks * 512


def scenario(lab):
    d = lab.daemon("host-d", backends=THIN)
    pool = d.backends["thin"]["pool_path"]
    v, path, _ = new_source(d, "doomed", seed=3, extents=EXTENTS, zeros=())
    check(allocated(path) >= 48 << 20, f"the volume holds {allocated(path)} bytes, expected 48 MiB")
    d.delete(v["id"])
    check(not os.path.exists(path), f"{path} is still there once DELETE was answered")
    check(pool_listing(pool) == [], f"the pool still holds {os.listdir(pool)} 10 s after the DELETE")
    print("deleted: out of sight at once, unlinked after")

    # What a crash between the rename and the unlink leaves, and a file nobody recorded.
    d.stop()
    left = os.path.join(pool, DELETING + "volume-left-by-a-crash")
    with open(left, "wb") as f:
        f.seek(8 << 20)
        f.write(b"x" * 4096)
    stray = os.path.join(pool, "volume-without-a-record")
    open(stray, "wb").close()
    d.start()
    deadline = time.time() + 10
    while os.path.exists(left) and time.time() < deadline:
        time.sleep(0.05)
    check(not os.path.exists(left), f"{left} is still there 10 s after the start")
    log = open(d.log_path).read()
    check("deleting 1 volume file(s) a previous run had removed" in log, "the log does not say it deleted the leftover")
    check(os.path.exists(stray), "the orphan volume file was deleted; it is only to be reported")
    check("storage without record" in log, "the orphan check did not report the stray volume file")
    print("at start: the leftover unlinked, the orphan reported and kept")


if __name__ == "__main__":
    run_scenario(scenario)
