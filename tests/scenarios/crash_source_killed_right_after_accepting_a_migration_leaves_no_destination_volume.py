#!/usr/bin/env python3
"""The source daemon (host-a) is SIGKILLed (from outside, no failpoint) just after it answered
202 to os-migrate_volume, at three moments: at once; as soon as host-b lists a new volume (the
destination's record exists); as soon as host-b's pool holds a new volume file (its storage
exists). After host-a's restart the migration ends (success or error) within 60 s, and within
a few seconds more no destination volume is left on host-b: nothing in its listing of all
projects nor in its pool unless the volume itself arrived there; the volume is intact on the
side its final state names, and a retry after error succeeds (support/crash_points.py's
checks)."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from crash_points import EXTENTS, end_clean_and_retry, run_points
from scenario_support import THIN, daemon_pair, listed, new_source, pool_files

MOMENTS = ("at once", "when host-b lists the destination", "when host-b's pool holds its file")


def kill_after_accepting(lab, moment, b_backends):
    a, b = daemon_pair(lab, b_backends=b_backends)
    b_pool = b.backends["thin"]["pool_path"]
    v, _, before = new_source(a, "kill-after-202", seed=17, extents=EXTENTS, zeros=(), digest=True)
    vid = v["id"]
    a.migrate(vid, "host-b@thin")
    deadline = time.time() + 10
    while moment != MOMENTS[0] and time.time() < deadline:
        if (listed(b) if moment == MOMENTS[1] else pool_files(b_pool)):
            break
    a.kill()
    then = f"host-b had {len(listed(b))} volume(s), pool {pool_files(b_pool)}"
    a.start()
    end_clean_and_retry(lab, a, b, vid, before, "host-b@thin", f"killed {moment} ({then})")


if __name__ == "__main__":
    run_points(MOMENTS, b_backends=THIN, runner=kill_after_accepting)
