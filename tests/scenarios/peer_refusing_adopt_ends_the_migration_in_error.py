#!/usr/bin/env python3
"""A destination that refuses volmig-adopt every time does not leave the migration stuck in
completing. host-a's peer "host-b" is a Python proxy in front of the real host-b that forwards
every call (create, show, prepare_receive, the stream, delete) but answers volmig-adopt with a
400 of its own. The migration ends in error within 60 s, naming host-b and the adoption; the
source is available on host-a with its content unchanged and its storage in place; host-b
keeps nothing: no volume in its listing for all projects, no volume file in its pool."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from peer_doubles import RefusingProxy
from scenario_support import (THIN, check, content_digest, expect, listed, new_source, pool_files, raise_problems,
                              run_scenario, settle)


def scenario(lab):
    b = lab.daemon("host-b", backends=THIN)
    proxy = RefusingProxy(b.url, refuse={"adopt": (400, "volmig-adopt refused by the test's proxy")})
    try:
        a = lab.daemon("host-a", backends=THIN, start=False)
        a.peers["host-b"] = proxy.url
        a.start()
        v, src, before = new_source(a, "unadoptable", seed=31, extents=((1, 4), (300, 4)), zeros=(), digest=True)
        vid = v["id"]

        started = time.time()
        a.migrate(vid, "host-b@thin")
        view = settle(a, vid, timeout=60)
        m = view["volmig:migration"]
        check(m["state"] == "error", f"with adopt refused the migration ended in {m['state']}")
        check(len(proxy.calls("adopt")) >= 1, "host-a never asked host-b to adopt the volume")
        expect("host-b" in (m["error"] or "") and "adopt" in (m["error"] or "").lower(),
               f"the error does not name host-b and the adoption: {m['error']!r}")
        check(view["status"] == "available" and view["migration_status"] == "error" and view["os-vol-host-attr:host"] == "host-a@thin#thin",
              f"after the failure: {view['status']}, migration_status {view['migration_status']} on {view['os-vol-host-attr:host']}")
        check(os.path.exists(src) and content_digest(src, v["volmig:size_bytes"]) == before, "the source changed or is gone")
        deadline = time.time() + 10  # the clean-up may follow the error by a moment
        while (listed(b) or pool_files(b.backends["thin"]["pool_path"])) and time.time() < deadline:
            time.sleep(0.2)
        check(listed(b) == [], f"host-b keeps {[(x['id'], x['name']) for x in listed(b)]}")
        check(pool_files(b.backends["thin"]["pool_path"]) == [], f"host-b's pool keeps {pool_files(b.backends['thin']['pool_path'])}")
        print(f"error after {time.time() - started:.1f} s and {len(proxy.calls('adopt'))} adopt request(s): {m['error']}")
        raise_problems()
    finally:
        proxy.close()


if __name__ == "__main__":
    run_scenario(scenario)
