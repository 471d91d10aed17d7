#!/usr/bin/env python3
"""An os-retype that needs a migration (thin_file -> thick_file on one daemon, on-demand) gives
the volume its new type in the transaction that completes the migration, so a restart cannot
split them: killed after the copy was verified (before completing), the restarted daemon rolls
the migration back and the volume keeps its old type on its old backend, bytes intact; killed
after the take-over was recorded (before the old storage is deleted), the restarted daemon
finishes and the volume has the new type on the new backend. A retype after the rollback works."""
import os
import signal
import sys
import time

from volmig_lab import GiB, sha256_of, write_pattern_volume

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import check, pool_files, run_scenario, settle, volume_action


def retype(d, vid, new_type):
    status, answer = volume_action(d, vid, {"os-retype": {"new_type": new_type, "migration_policy": "on-demand"}}, expect=202)
    check(status == 202, f"os-retype {new_type} answered {status}: {answer}")


def die_at(d, point, vid, new_type):
    """Restarts `d` with the failpoint, retypes, waits for the SIGKILL, restarts without it."""
    d.stop()
    d.start(env={"VOLMIG_FAILPOINTS": f"{point}=kill"})
    retype(d, vid, new_type)
    deadline = time.time() + 30
    while d.running():
        check(time.time() < deadline, f"volmigd did not die at {point}")
        time.sleep(0.05)
    check(d.proc.returncode == -signal.SIGKILL, f"volmigd ended with {d.proc.returncode} at {point}, not by SIGKILL")
    d.start()
    return settle(d, vid, timeout=60)


def scenario(lab):
    d = lab.daemon("host-a", backends={"thin": {"volume_driver": "thin_file"}, "thick": {"volume_driver": "thick_file", "pool_size": "3G"}})
    types = {t["name"]: t["id"] for t in d.request("GET", "/v3/types")["volume_types"]}
    v = d.create(1, name="db", backend="thin")
    vid, path = v["id"], v["volmig:location"]
    write_pattern_volume(path, seed=8)
    sha = sha256_of(path, GiB)

    # Killed before completing: rolled back, the old type stays.
    view = die_at(d, "source.after_verification", vid, "thick")
    check(view["migration_status"] == "error", f"after a kill before completing: migration_status {view['migration_status']}")
    check(view["volume_type"] == "thin" and view["volume_type_id"] == types["thin"] and view["os-vol-host-attr:host"] == "host-a@thin#thin",
          f"a rolled-back retype changed the volume: type {view['volume_type']}, host {view['os-vol-host-attr:host']}")
    check(view["volmig:location"] == path and sha256_of(path, GiB) == sha, "the source's bytes changed in a rolled-back retype")

    # Killed after the take-over: finished by the restart, with the new type.
    view = die_at(d, "source.before_source_delete", vid, "thick")
    check(view["migration_status"] == "success", f"after a kill while releasing: migration_status {view['migration_status']}")
    check(view["volume_type"] == "thick" and view["volume_type_id"] == types["thick"] and view["os-vol-host-attr:host"] == "host-a@thick#thick",
          f"after the restart finished the retype: type {view['volume_type']}, host {view['os-vol-host-attr:host']}")
    deadline = time.time() + 10
    while pool_files(d.backends["thin"]["pool_path"]):
        check(time.time() < deadline, "the thin file was not released after the restart")
        time.sleep(0.1)
    check(sha256_of(d.volume_path(view), GiB) == sha, "the retyped volume's bytes differ from the source's")

    # And back, with no failpoint: the earlier rolled-back retype does not interfere.
    retype(d, vid, "thin")
    view = settle(d, vid, timeout=60)
    check(view["migration_status"] == "success" and view["volume_type"] == "thin" and view["os-vol-host-attr:host"] == "host-a@thin#thin",
          f"the retype back: {view['migration_status']}, type {view['volume_type']}, host {view['os-vol-host-attr:host']}")
    check(sha256_of(view["volmig:location"], GiB) == sha, "the bytes differ after the retype back")


if __name__ == "__main__":
    run_scenario(scenario)
