#!/usr/bin/env python3
"""The destination daemon (host-b) is SIGKILLed while the extent stream is flowing and stays
down longer than host-a's stream_resume_grace (2 s here). The source (host-a) tries to resume
for that long, then rolls back: migration_status error with a message naming the broken stream
and the grace, the source intact and available. The half-written destination volume cannot be deleted while
host-b is down; once host-b is back, the retry deletes that leftover and succeeds."""
import os
import sys
import time

from volmig_lab import ApiError, GiB, MiB, sha256_of

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import (check, daemon_pair, expect, new_source, pool_files, raise_problems, run_scenario,
                              settle, wait_copying)

EXTENTS = ((1, 16), (300, 24), (700, 8))  # 48 MiB of data
LIMIT = 8 * MiB                          # about 6 s of copy: time to kill host-b in the middle
GRACE = 2                                # s: host-a's stream_resume_grace


def scenario(lab):
    a, b = daemon_pair(lab, a_defaults={"volume_copy_bps_limit": str(LIMIT), "stream_resume_grace": str(GRACE)})
    b_pool = b.backends["thin"]["pool_path"]

    v, src, sha = new_source(a, "victim", seed=51, extents=EXTENTS, zeros=())
    vid = v["id"]

    a.migrate(vid, "host-b@thin")
    m = wait_copying(a, vid, "host-b could be killed", timeout=30)
    done_at_kill = m["progress"]["bytes_done"]
    leftover = m["destination_volume_id"]
    b.kill()
    killed_at = time.time()

    view = settle(a, vid, timeout=60)
    m = view["volmig:migration"]
    check(m["state"] == "error", f"with host-b killed mid-stream the migration ended in {m['state']}")
    check(time.time() - killed_at < 30, f"the source noticed the dead destination only after {time.time() - killed_at:.0f} s")
    check(time.time() - killed_at >= GRACE, f"the source gave up after {time.time() - killed_at:.1f} s, before its grace of {GRACE} s")
    expect("stream_resume_grace" in m["error"], f"the error does not say the stream was not resumed within the grace: {m['error']}")
    expect("streaming to host-b failed" in m["error"] and "reading the source failed" not in m["error"],
           f"the error does not name the broken stream to host-b (it blames the source): {m['error']}")
    check(leftover in m["error"] and "could not be deleted" in m["error"],
          f"the error does not say the destination volume {leftover} is left for cleanup: {m['error']}")
    check(view["status"] == "available" and view["os-vol-host-attr:host"] == "host-a@thin#thin",
          f"after the failure: status {view['status']} on {view['os-vol-host-attr:host']}")
    check(view["volmig:error"] and m["error"] in view["volmig:error"], f"volmig:error is {view['volmig:error']!r}")
    check(sha256_of(src, GiB) == sha, "the source changed although the migration failed")
    check(pool_files(b_pool) == [f"volume-{leftover}"], f"expected the half-written destination in host-b's pool, found {pool_files(b_pool)}")

    b.start()
    check(b.show(leftover)["status"] == "available", "the leftover destination is not visible on the restarted host-b")
    a.migrate(vid, "host-b@thin")
    view = settle(a, vid, timeout=60)
    m2 = view["volmig:migration"]
    check(m2["state"] == "success", f"the retry ended in {m2['state']}: {m2.get('error')}")
    try:
        b.show(leftover)
        expect(False, f"the retry did not delete the leftover destination volume {leftover} on host-b")
    except ApiError as e:
        check(e.status == 404, f"GET of the leftover answered {e.status}: {e.message}")
    bv = b.show(vid)
    dst = b.volume_path(bv)
    expect(pool_files(b_pool) == [os.path.basename(dst)], f"host-b's pool holds {pool_files(b_pool)} after the retry, expected only {os.path.basename(dst)}")
    expect([x["id"] for x in b.volumes()] == [vid], f"host-b lists {[x['id'] for x in b.volumes()]} after the retry, expected only {vid}")
    check(sha256_of(dst, GiB) == sha, "the retried destination differs from the source")
    check(not os.path.exists(src), "the source's storage was not deleted after the successful retry")
    print(f"killed host-b at {done_at_kill // MiB} MiB of {m['progress']['bytes_total'] // MiB}; error: {m['error']}; retry: success")
    raise_problems()


if __name__ == "__main__":
    run_scenario(scenario)
