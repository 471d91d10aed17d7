#!/usr/bin/env python3
"""A volume type whose extra spec volmig:host names a peer's pool (host-b@thin#thin) retypes a
volume of host-a to that peer: with migration_policy never it is refused saying a migration is
needed; on-demand it is the migration os-migrate_volume runs (extent stream, verified), after
which host-a's forwarding record shows the new type and migration_status success, and host-b
holds the volume with the source's bytes; killed while the adoption is out, host-a finishes the
retype after its restart. A volume cannot be created on host-a with that type."""
import os
import signal
import sys
import time

from volmig_lab import GiB, sha256_of

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import check, daemon_pair, new_source, run_scenario, settle, volume_action


def scenario(lab):
    a, b = daemon_pair(lab)
    remote = a.request("POST", "/v3/types", {"volume_type": {"name": "remote-thin", "extra_specs": {"volmig:host": "host-b@thin#thin"}}})
    remote_id = remote["volume_type"]["id"]
    v, path, sha = new_source(a, "web", seed=4)
    vid = v["id"]

    status, message = volume_action(a, vid, {"os-retype": {"new_type": "remote-thin"}}, expect=400)
    check(status == 400 and "needs a migration" in str(message) and "host-b@thin#thin" in str(message), f"retype with policy never: {status} {message}")
    status, message = volume_action(a, vid, {"os-retype": {"new_type": remote_id, "migration_policy": "on-demand"}}, expect=202)
    check(status == 202, f"retype on-demand answered {status}: {message}")
    view = settle(a, vid, timeout=60)
    m = view["volmig:migration"]
    check(view["migration_status"] == "success", f"the retype's migration ended in {view['migration_status']}: {m.get('error')}")
    check(m["destination"] == "host-b@thin#thin" and m["report"]["transport"] != "local", f"the migration: {m['destination']} {m['report']}")
    check(view["volume_type"] == "remote-thin" and view["volume_type_id"] == remote_id and view["volmig:moved_to"] == "host-b@thin#thin",
          f"host-a's record after the retype: type {view['volume_type']}, moved_to {view['volmig:moved_to']}")
    there = b.show(vid)
    check(there["status"] == "available" and there["os-vol-host-attr:host"] == "host-b@thin#thin", f"host-b's volume: {there}")
    check(sha256_of(b.volume_path(there), GiB) == sha, "host-b's volume differs from the source")
    check(not os.path.exists(path), "the source file is left on host-a")

    # Killed while the adoption is out, host-a finishes the migration after its restart, and the
    # completion (in that restart) gives the volume the new type.
    w, _, w_sha = new_source(a, "db", seed=6)
    a.stop()
    a.start(env={"VOLMIG_FAILPOINTS": "source.during_adoption=kill"})
    volume_action(a, w["id"], {"os-retype": {"new_type": "remote-thin", "migration_policy": "on-demand"}}, expect=202)
    deadline = time.time() + 30
    while a.running():
        check(time.time() < deadline, "host-a did not die at source.during_adoption")
        time.sleep(0.05)
    check(a.proc.returncode == -signal.SIGKILL, f"host-a ended with {a.proc.returncode}, not by SIGKILL")
    a.start()
    view = settle(a, w["id"], timeout=60)
    check(view["migration_status"] == "success" and view["volume_type"] == "remote-thin" and view["volmig:moved_to"] == "host-b@thin#thin",
          f"after the restart: {view['migration_status']}, type {view['volume_type']}, moved_to {view['volmig:moved_to']}")
    check(sha256_of(b.volume_path(b.show(w["id"])), GiB) == w_sha, "host-b's second volume differs from its source")

    refused = a.request("POST", "/v3/volumes", {"volume": {"size": 1, "volume_type": "remote-thin"}}, expect=400)
    check("host-b@thin#thin" in refused["badRequest"]["message"], f"creating a volume of a peer's type on host-a: {refused}")
    check([x["id"] for x in a.volumes()] == [], "host-a lists a volume after the refused create")


if __name__ == "__main__":
    run_scenario(scenario)
