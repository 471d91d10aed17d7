#!/usr/bin/env python3
"""The destination daemon (host-b) is SIGKILLed while the extent stream is flowing and started
again a moment later, well within host-a's stream_resume_grace. Its restart leaves the target
resumable (its verified ranges kept), host-a resumes the slices from them, and the migration
succeeds: the volume on host-b holds the source's bytes (sha256), the report counts the
resume(s), and only the volume itself is left on host-b."""
import os
import sys
import time

from volmig_lab import GiB, MiB, sha256_of

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import check, daemon_pair, listed, new_source, pool_files, run_scenario, settle

EXTENTS = ((1, 16), (300, 24), (700, 8))  # 48 MiB of data
LIMIT = 12 * MiB                          # about 4 s of copy


def scenario(lab):
    a, b = daemon_pair(lab, a_defaults={"volume_copy_bps_limit": str(LIMIT), "migration_streams": "2"})
    v, src, sha = new_source(a, "restarted", seed=71, extents=EXTENTS, zeros=())
    vid = v["id"]
    a.migrate(vid, "host-b@thin")
    deadline = time.time() + 30
    while True:
        m = a.show(vid)["volmig:migration"]
        check(m["state"] in ("starting", "migrating"), f"the migration ended ({m['state']}: {m.get('error')}) before host-b could be killed")
        if m["state"] == "migrating" and m["progress"]["bytes_done"] >= 16 * MiB:
            break
        check(time.time() < deadline, "the copy did not reach 16 MiB within 30 s")
        time.sleep(0.05)
    b.kill()
    time.sleep(1)
    b.start()
    view = settle(a, vid, timeout=90)
    m = view["volmig:migration"]
    check(m["state"] == "success", f"after host-b's restart the migration ended in {m['state']}: {m.get('error')}")
    check(m["report"]["resumes"] >= 1, f"the report counts {m['report']['resumes']} resumes")
    bv = b.show(vid)
    dst = b.volume_path(bv)
    check(sha256_of(dst, GiB) == sha, "the resumed destination differs from the source")
    check([x["id"] for x in listed(b)] == [vid], f"host-b lists {[x['id'] for x in listed(b)]}, expected only {vid}")
    check(pool_files(b.backends["thin"]["pool_path"]) == [os.path.basename(dst)], "host-b's pool holds more than the volume")
    print(f"killed host-b at {m['progress']['bytes_total'] and 16} MiB; resumes {m['report']['resumes']}, "
          f"{m['report']['bytes']['sent'] / MiB:.1f} MiB sent for 48 MiB of data")


if __name__ == "__main__":
    run_scenario(scenario)
