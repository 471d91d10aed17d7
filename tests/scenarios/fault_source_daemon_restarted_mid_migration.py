#!/usr/bin/env python3
"""The source daemon (host-a) is SIGKILLed in the middle of the copy and restarted. On restart
the interrupted job is rolled back, never left migrating: migration_status error with a
message naming the restart, the source intact and available, the half-written destination
deleted from host-b. The retry then succeeds."""
import os
import sys
import time

from volmig_lab import GiB, MiB, sha256_of

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import check, daemon_pair, new_source, pool_files, run_scenario, settle, wait_copying

EXTENTS = ((1, 16), (300, 24), (700, 8))  # 48 MiB of data
LIMIT = 8 * MiB                          # about 6 s of copy


def scenario(lab):
    a, b = daemon_pair(lab, a_defaults={"volume_copy_bps_limit": str(LIMIT)})
    b_pool = b.backends["thin"]["pool_path"]

    v, src, sha = new_source(a, "interrupted", seed=81, extents=EXTENTS, zeros=())
    vid = v["id"]

    a.migrate(vid, "host-b@thin")
    m = wait_copying(a, vid, "host-a could be killed", timeout=30)
    destination = m["destination_volume_id"]
    check(pool_files(b_pool) == [f"volume-{destination}"], f"host-b's pool holds {pool_files(b_pool)} during the copy")
    a.kill()
    killed_at_bytes = m["progress"]["bytes_done"]

    a.start()
    view = settle(a, vid, timeout=30)
    m = view["volmig:migration"]
    check(m["state"] == "error", f"after host-a's restart the interrupted job is {m['state']}")
    check("interrupted by a restart of the source daemon" in m["error"], f"the error does not name the restart: {m['error']}")
    check(view["status"] == "available" and view["migration_status"] == "error" and view["os-vol-host-attr:host"] == "host-a@thin#thin",
          f"after the restart: status {view['status']}, migration_status {view['migration_status']}, host {view['os-vol-host-attr:host']}")
    check(view["volmig:error"] and "interrupted by a restart" in view["volmig:error"], f"volmig:error is {view['volmig:error']!r}")
    check(sha256_of(src, GiB) == sha, "the source changed although the migration was rolled back")
    check(pool_files(b_pool) == [], f"the half-written destination was not deleted: host-b's pool holds {pool_files(b_pool)}")
    check(b.volumes() == [], f"host-b still lists {[x['id'] for x in b.volumes()]}")
    time.sleep(1)
    check(a.show(vid)["volmig:migration"]["state"] == "error", "the rolled-back job came back to life")

    a.migrate(vid, "host-b@thin")
    view = settle(a, vid, timeout=60)
    m2 = view["volmig:migration"]
    check(m2["state"] == "success", f"the retry ended in {m2['state']}: {m2.get('error')}")
    bv = b.show(vid)
    dst = b.volume_path(bv)
    check(sha256_of(dst, GiB) == sha, "the retried destination differs from the source")
    check(pool_files(b_pool) == [os.path.basename(dst)], f"host-b's pool holds {pool_files(b_pool)} after the retry")
    check(not os.path.exists(src), "the source's storage was not deleted after the successful retry")
    print(f"killed host-a at {killed_at_bytes // MiB} MiB; after restart: {m['error']}; retry: success")


if __name__ == "__main__":
    run_scenario(scenario)
