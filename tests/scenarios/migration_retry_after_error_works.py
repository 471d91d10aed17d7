#!/usr/bin/env python3
"""A volume whose migration failed can simply be migrated again once the cause is gone: the
first attempt to host-b@thick fails because host-b's thick pool is taken by another volume
(migration_status error, a message naming the cause, the source untouched and available,
nothing left on host-b); after the operator frees the pool, the same request succeeds as a new
migration, and the old error is cleared."""
import os
import sys
import time

from volmig_lab import GiB, Lab, sha256_of, write_pattern_volume


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def settle(daemon, vid, timeout=60):
    """Waits until the migration has ended and the volume's migration_status says so too."""
    deadline = time.time() + timeout
    while True:
        view = daemon.show(vid)
        state = (view.get("volmig:migration") or {}).get("state")
        if state in ("success", "error") and view["migration_status"] == state:
            return view
        check(time.time() < deadline, f"the migration of {vid} did not settle within {timeout} s: state {state}, migration_status {view['migration_status']}")
        time.sleep(0.05)


def scenario(lab):
    a = lab.daemon("host-a", backends={"thin": {"volume_driver": "thin_file"}}, start=False)
    b = lab.daemon("host-b", backends={"thick": {"volume_driver": "thick_file", "pool_size": "1G"}}, start=False)
    a.add_peer(b)
    b.add_peer(a)
    a.start()
    b.start()

    v = a.create(1, name="retry")
    vid = v["id"]
    src = a.volume_path(v)
    write_pattern_volume(src, seed=41)
    sha = sha256_of(src, GiB)
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
    with Lab(volmigd=os.environ["VOLMIGD"]) as lab:
        try:
            scenario(lab)
        except Exception as e:
            print(f"FAIL: {type(e).__name__}: {e}", file=sys.stderr)
            for d in lab.daemons:
                print(f"--- {d.host} log (tail) ---\n{d.log_tail()}", file=sys.stderr)
            sys.exit(1)
    print("PASS")
