#!/usr/bin/env python3
"""os-migrate_volume validates its request before anything happens: a bad request answers 400
with a message that says what is wrong (unknown field, malformed or unknown host, unknown
backend or pool, the volume's own backend, a volume that is not available, a non-boolean
flag, an unknown strategy), and leaves the volume untouched with no migration started.
Booleans sent as strings, as cinderclient sends them ("True"/"False"), are accepted. While a
volume is migrating, a second migration, delete and extend are refused with 400."""
import os
import subprocess
import sys

from volmig_lab import ApiError, GiB, sha256_of

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import check, new_source, run_scenario, volume_action


def expect_400(daemon, vid, args, *fragments):
    status, message = volume_action(daemon, vid, {"os-migrate_volume": args}, expect=202)
    check(status == 400, f"os-migrate_volume {args} answered {status} ({message}), expected 400")
    for fragment in fragments:
        check(fragment in message, f"os-migrate_volume {args}: the message {message!r} does not say {fragment!r}")
    return message


def scenario(lab):
    a = lab.daemon("host-a", backends={"thin": {"volume_driver": "thin_file"}, "thin2": {"volume_driver": "thin_file"}})
    v, path, sha = new_source(a, "vol", seed=2)
    vid = v["id"]

    # Malformed requests.
    expect_400(a, vid, {"host": "host-a@thin2", "bogus": 1}, "unknown field 'bogus'")
    expect_400(a, vid, {"force_host_copy": False}, "needs host")
    expect_400(a, vid, {"host": 7}, "host must be a string")
    expect_400(a, vid, {"host": "host-a"}, "'host-a'", "HOST@BACKEND")
    expect_400(a, vid, {"host": "@thin2"}, "HOST@BACKEND")
    expect_400(a, vid, {"host": "host-a@"}, "names no backend")
    expect_400(a, vid, {"host": "host-a@thin2", "force_host_copy": "maybe"}, "force_host_copy must be a boolean")
    expect_400(a, vid, {"host": "host-a@thin2", "lock_volume": 2}, "lock_volume must be a boolean")
    expect_400(a, vid, {"host": "host-a@thin2", "volmig:strategy": "fast"}, "volmig:strategy must be")
    status, message = volume_action(a, vid, {"os-migrate_volume": "host-a@thin2"}, expect=202)
    check(status == 400 and "takes an object" in message, f"a string as os-migrate_volume answered {status}: {message}")
    # Destinations that do not exist or are where the volume already is.
    expect_400(a, vid, {"host": "host-z@thin"}, "host-z", "[peers]")
    expect_400(a, vid, {"host": "host-a@nosuch"}, "backend 'nosuch' is not enabled on host host-a")
    expect_400(a, vid, {"host": "host-a@thin2#nopool"}, "no pool 'nopool'")
    expect_400(a, vid, {"host": "host-a@thin"}, "already on host-a@thin")
    expect_400(a, vid, {"host": "host-a@thin#thin"}, "already on host-a@thin")

    view = a.show(vid)
    check(view["migration_status"] is None and view["volmig:migration"] is None,
          f"a refused request left migration_status {view['migration_status']} / migration {view['volmig:migration']}")
    check(view["status"] == "available" and view["os-vol-host-attr:host"] == "host-a@thin#thin", f"the volume changed: {view['status']} on {view['os-vol-host-attr:host']}")
    check(len(a.volumes()) == 1, f"a refused request created volumes: {[x['id'] for x in a.volumes()]}")

    # A volume that is not available: created while its pool directory refused new files.
    pool = a.backends["thin"]["pool_path"]
    subprocess.run(["chattr", "+i", pool], check=True)
    try:
        broken = a.create(1, name="broken")
    finally:
        subprocess.run(["chattr", "-i", pool], check=True)
    check(broken["status"] == "error", f"the volume created in an immutable pool directory is {broken['status']}, expected error")
    expect_400(a, broken["id"], {"host": "host-a@thin2"}, "is error", "only available volumes can be migrated")
    check(a.show(broken["id"])["migration_status"] is None, "a refused migration changed the error volume's migration_status")

    # Booleans as strings, as cinderclient sends them: "False" means false.
    status, message = volume_action(a, vid, {"os-migrate_volume": {"host": "host-a@thin2", "force_host_copy": "False",
                                                                   "lock_volume": "False", "volmig:auto_complete": "False"}},
                                    expect=202)
    check(status == 202, f"string booleans were refused: {status} {message}")
    view = a.wait_migration(vid, timeout=60)
    m = view["volmig:migration"]
    check(m["state"] == "awaiting_completion", f"volmig:auto_complete \"False\" did not wait for completion: state {m['state']} ({m.get('error')})")
    check(m["plan"]["strategy"] == "sparse" and m["force_host_copy"] is False, f"force_host_copy \"False\" was taken as true: plan {m['plan']['strategy']}")
    check(view["status"] == "available", f"lock_volume \"False\" still changed the status to {view['status']}")

    # While it is migrating (copied, waiting for completion): no second migration, no delete, no extend.
    check(view["migration_status"] == "migrating", f"migration_status while waiting for completion is {view['migration_status']}")
    expect_400(a, vid, {"host": "host-a@thin2"}, "already migrating")
    try:
        a.delete(vid)
        status, message = 202, ""
    except ApiError as e:
        status, message = e.status, e.message
    check(status == 400 and "migrating" in message, f"DELETE during the migration answered {status}: {message}")
    status, message = volume_action(a, vid, {"os-extend": {"new_size": 2}}, expect=202)
    check(status == 400 and "migration" in message, f"os-extend during the migration answered {status}: {message}")
    check(a.show(vid)["size"] == 1, "os-extend during the migration changed the size")
    done = a.request("POST", f"/v3/volumes/{vid}/action", {"os-migrate_volume_completion": {"new_volume": m["destination_volume_id"], "error": False}})
    check(done == {"save_volume_id": vid}, f"os-migrate_volume_completion answered {done}")
    view = a.wait_migration(vid, timeout=30)  # completion runs in the job (it may need the peer), not in the request
    check(view["migration_status"] == "success" and view["os-vol-host-attr:host"] == "host-a@thin2#thin2",
          f"after completion: migration_status {view['migration_status']} on {view['os-vol-host-attr:host']}")

    # "True" means true: force_host_copy "True" forces a full copy; lock_volume "True" is accepted.
    status, message = volume_action(a, vid, {"os-migrate_volume": {"host": "host-a@thin", "force_host_copy": "True", "lock_volume": "True"}}, expect=202)
    check(status == 202, f"string booleans were refused: {status} {message}")
    view = a.wait_migration(vid, timeout=60)
    m = view["volmig:migration"]
    check(m["state"] == "success", f"the second migration ended in {m['state']}: {m.get('error')}")
    check(m["force_host_copy"] is True and m["plan"]["strategy"] == "full", f"force_host_copy \"True\" gave plan {m['plan']['strategy']}")
    check(view["status"] == "available", f"after a lock_volume migration the volume is {view['status']}")
    check(sha256_of(a.volume_path(view), GiB) == sha, "the volume's content changed across the two migrations")
    a.delete(vid)  # allowed again once the migration is over
    print("all bad requests refused with 400; string booleans accepted; delete/extend refused while migrating")


if __name__ == "__main__":
    run_scenario(scenario)
