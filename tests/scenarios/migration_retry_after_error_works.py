#!/usr/bin/env python3
"""A volume whose migration failed can simply be migrated again once the cause is gone: the
first attempt to host-b@thick fails because host-b's thick pool is taken by another volume
(migration_status error, a message naming the cause, the source untouched and available,
nothing left on host-b); after the operator frees the pool, the same request succeeds as a new
migration, and the old error is cleared."""
import os
import sys

from volmig_lab import GiB, sha256_of

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import check, daemon_pair, new_source, run_scenario, settle


def scenario(lab):
    a, b = daemon_pair(lab, b_backends={"thick": {"volume_driver": "thick_file", "pool_size": "1G"}})

    v, src, sha = new_source(a, "retry", seed=41)
    vid = v["id"]
    squatter = b.create(1, name="squatter")  # takes all of host-b's 1 GiB thick pool

    a.migrate(vid, "host-b@thick")
    view = settle(a, vid)
    first = view["volmig:migration"]
    check(first["state"] == "error", f"the migration into a full pool ended in {first['state']}")
    check("creating the destination volume failed" in first["error"] and "no contiguous free region" in first["error"],
          f"the error does not name the cause: {first['error']}")
    check(view["status"] == "available" and view["os-vol-host-attr:host"] == "host-a@thin#thin",
          f"after the failure: status {view['status']} on {view['os-vol-host-attr:host']}")
    check(view["volmig:error"] and "no contiguous free region" in view["volmig:error"], f"volmig:error is {view['volmig:error']!r}")
    check(os.path.exists(src) and sha256_of(src, GiB) == sha, "the failed migration changed the source")
    check([x["id"] for x in b.volumes()] == [squatter["id"]], f"the failed migration left volumes on host-b: {[x['id'] for x in b.volumes()]}")

    b.delete(squatter["id"])
    a.migrate(vid, "host-b@thick")
    view = settle(a, vid)
    second = view["volmig:migration"]
    check(second["state"] == "success", f"the retry ended in {second['state']}: {second.get('error')}")
    check(second["id"] != first["id"], "the retry did not start a new migration")
    check(second["error"] is None and view["volmig:error"] is None, f"the old error was not cleared: {second['error']!r} / {view['volmig:error']!r}")
    check(view["os-vol-host-attr:host"] in ("host-b@thick", "host-b@thick#thick"), f"after the retry host-a points at {view['os-vol-host-attr:host']}")
    bv = b.show(vid)
    check(sha256_of(b.volume_path(bv), GiB) == sha, "the retried destination differs from the source")
    check(not os.path.exists(src), "the source's storage was not deleted after the successful retry")
    print(f"first attempt: {first['error']}; retry: success")


if __name__ == "__main__":
    run_scenario(scenario)
