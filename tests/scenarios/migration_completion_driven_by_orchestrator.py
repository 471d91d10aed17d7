#!/usr/bin/env python3
"""With volmig:auto_complete false the orchestrator (Nova/Cinder) drives the end of a migration
with os-migrate_volume_completion: the job copies and verifies, then waits in
awaiting_completion with the source intact and the destination filled; a completion naming the
wrong new_volume is refused with 400; error = true abandons the job (destination deleted,
source kept, migration_status error); a second run completed with error = false finishes it
(the volume is on host-b, the source's storage deleted)."""
import os
import sys
import time

from volmig_lab import ApiError, GiB, sha256_of

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import check, daemon_pair, new_source, pool_files, run_scenario, settle, volume_action


def complete(daemon, vid, new_volume, error):
    return volume_action(daemon, vid, {"os-migrate_volume_completion": {"new_volume": new_volume, "error": error}})


def scenario(lab):
    a, b = daemon_pair(lab)
    b_pool = b.backends["thin"]["pool_path"]
    v, src, sha = new_source(a, "orchestrated", seed=31)
    vid = v["id"]

    # First run: copied and verified, then waiting.
    a.migrate(vid, "host-b@thin", auto_complete=False)
    view = settle(a, vid, states=("awaiting_completion", "error", "success"))
    m = view["volmig:migration"]
    check(m["state"] == "awaiting_completion", f"with volmig:auto_complete false the job ended in {m['state']}: {m.get('error')}")
    check(m["report"]["verified"] is True, f"the job waits before verifying: {m['report']}")
    time.sleep(1.0)  # it stays waiting: nothing completes it behind the orchestrator's back
    view = a.show(vid)
    check(view["volmig:migration"]["state"] == "awaiting_completion", f"the waiting job moved on to {view['volmig:migration']['state']}")
    check(view["status"] == "available" and view["os-vol-host-attr:host"] == "host-a@thin#thin",
          f"while waiting: status {view['status']}, host {view['os-vol-host-attr:host']}")
    check(os.path.exists(src) and sha256_of(src, GiB) == sha, "the source changed while the job waits for completion")
    new_volume = m["destination_volume_id"]
    target = b.show(new_volume)
    check(target["migration_status"] == f"target:{vid}", f"the destination's migration_status is {target['migration_status']}")
    check(sha256_of(b.volume_path(target), GiB) == sha, "the waiting destination does not hold the source's bytes")

    # The wrong new_volume is refused and changes nothing.
    status, message = complete(a, vid, "00000000-0000-0000-0000-000000000000", False)
    check(status == 400 and "not the destination of this migration" in message and new_volume in message,
          f"completion with the wrong new_volume answered {status}: {message}")
    check(a.show(vid)["volmig:migration"]["state"] == "awaiting_completion", "a refused completion changed the job")

    # error = true: abandoned, destination deleted, source kept.
    status, body = complete(a, vid, new_volume, True)
    check(status == 200 and body == {"save_volume_id": vid}, f"completion with error = true answered {status}: {body}")
    view = settle(a, vid, timeout=10, states=("error",))
    check("abandoned by os-migrate_volume_completion" in (view["volmig:migration"]["error"] or ""),
          f"the abandoned job's error is {view['volmig:migration']['error']!r}")
    check(view["status"] == "available" and view["os-vol-host-attr:host"] == "host-a@thin#thin",
          f"after abandoning: status {view['status']}, host {view['os-vol-host-attr:host']}")
    check(sha256_of(src, GiB) == sha, "abandoning the migration changed the source")
    try:
        b.show(new_volume)
        check(False, f"the abandoned destination volume {new_volume} still exists on host-b")
    except ApiError as e:
        check(e.status == 404, f"GET of the abandoned destination answered {e.status}: {e.message}")
    check(pool_files(b_pool) == [], f"host-b's pool still holds {pool_files(b_pool)}")
    status, message = complete(a, vid, new_volume, False)
    check(status == 400 and "no migration waiting" in message, f"completing an abandoned job answered {status}: {message}")

    # Second run, completed with error = false.
    a.migrate(vid, "host-b@thin", auto_complete=False)
    view = settle(a, vid, states=("awaiting_completion", "error", "success"))
    m2 = view["volmig:migration"]
    check(m2["state"] == "awaiting_completion" and m2["id"] != m["id"], f"the second run is {m2['state']} (id {m2['id']})")
    status, body = complete(a, vid, m2["destination_volume_id"], False)
    check(status == 200 and body == {"save_volume_id": vid}, f"completion with error = false answered {status}: {body}")
    view = settle(a, vid, timeout=10, states=("success",))
    check(view["os-vol-host-attr:host"] in ("host-b@thin", "host-b@thin#thin"), f"after completion host-a points at {view['os-vol-host-attr:host']}")
    check(not os.path.exists(src), "the source's storage still exists after completion")
    bv = b.show(vid)
    check(bv["status"] == "available" and bv["os-vol-host-attr:host"].startswith("host-b@thin"), f"on host-b: {bv['status']} at {bv['os-vol-host-attr:host']}")
    check(sha256_of(b.volume_path(bv), GiB) == sha, "the completed destination differs from the source")
    check(pool_files(b_pool) == [os.path.basename(b.volume_path(bv))], f"host-b's pool holds {pool_files(b_pool)}")
    print("awaiting_completion held; wrong new_volume refused; error=true rolled back; error=false completed")


if __name__ == "__main__":
    run_scenario(scenario)
