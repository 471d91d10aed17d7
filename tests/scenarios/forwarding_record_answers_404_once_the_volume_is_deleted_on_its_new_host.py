#!/usr/bin/env python3
"""A forwarding record does not outlive the volume it points at. host-a runs with
forwarding_check_interval = 1 ([DEFAULT], seconds: how often a daemon re-checks volumes that
moved away against their new host). After a migration host-a -> host-b, GET on host-a shows
the volume with migration_status success on host-b; once the volume is deleted on host-b, GET
on host-a for that id answers 404 (a Cinder itemNotFound body) within 5 s."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import check, daemon_pair, expect, http, new_source, raise_problems, run_scenario, settle

INTERVAL = {"forwarding_check_interval": "1"}


def scenario(lab):
    a, b = daemon_pair(lab, a_defaults=INTERVAL, start=False)
    try:
        a.start()
    except RuntimeError as e:  # a daemon that does not know the option refuses to start
        expect(False, f"host-a refuses forwarding_check_interval = 1: {str(e).splitlines()[-1]}")
        del a.extra_defaults["forwarding_check_interval"]
        a.start()  # go on without it, to show what the forwarding record does then
    b.start()
    v, _, _ = new_source(a, "moved", seed=21, extents=((1, 4),), zeros=(), digest=True)
    vid = v["id"]
    a.migrate(vid, "host-b@thin")
    view = settle(a, vid)
    check(view["volmig:migration"]["state"] == "success", f"the migration ended in {view['volmig:migration']['state']}")
    check(view["migration_status"] == "success" and view["os-vol-host-attr:host"].startswith("host-b@thin"),
          f"before the delete host-a shows migration_status {view['migration_status']} on {view['os-vol-host-attr:host']}")

    b.delete(vid)
    deleted = time.time()
    while True:
        status, _, raw = http("GET", f"{a.url}/v3/volumes/{vid}")
        if status != 200 or time.time() - deleted > 5:
            break
        time.sleep(0.2)
    took = time.time() - deleted
    check(status == 404, f"{took:.1f} s after the delete on host-b, GET {vid} on host-a answers {status}: {raw[:300]!r}")
    check(b'"itemNotFound"' in raw, f"the 404 is not a Cinder itemNotFound body: {raw[:300]!r}")
    print(f"GET on host-a answered 404 {took:.1f} s after the delete on host-b")
    raise_problems()


if __name__ == "__main__":
    run_scenario(scenario)
