#!/usr/bin/env python3
"""The destination peer is unreachable or hangs. With host-b down (nothing listens on its
port) the migration fails fast with an error naming host-b and the failed connection; with a
fake host-b that accepts TCP connections but never answers, and peer_timeout = 2 on host-a, it
fails within a few seconds with an error naming the timeout, instead of hanging. Each time
host-a stays up, and the source stays intact and available with migration_status error. With
the real host-b up on that port, the retry succeeds."""
import os
import sys
import time

from volmig_lab import GiB, sha256_of

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import (SilentPeer, check, daemon_pair, expect, new_source, raise_problems, run_scenario, settle)


def crash_lines(daemon):
    lines = daemon.log_tail(10).splitlines()
    return " | ".join(line.strip() for line in lines if "volmigd:" not in line) or "(nothing in the log)"


def check_failed_cleanly(a, vid, src, sha, started, limit, fragments, what):
    view = settle(a, vid, timeout=60, died_ok=True)
    if view is None:
        expect(False, f"{what}: host-a's volmigd died (exit code {a.proc.returncode}) during the migration: {crash_lines(a)}")
        a.start()  # the restart rolls the interrupted job back; the source must still be fine
        view = settle(a, vid, timeout=30)
        m = view["volmig:migration"]
        check(m["state"] == "error" and view["status"] == "available", f"{what}: after host-a's restart: state {m['state']}, status {view['status']}")
        check(sha256_of(src, GiB) == sha, f"{what}: the source changed")
        print(f"{what}: host-a crashed; after its restart: {m['error']}")
        return m
    took = time.time() - started
    m = view["volmig:migration"]
    check(m["state"] == "error", f"{what}: the migration ended in {m['state']}")
    check(took < limit, f"{what}: the error came only after {took:.1f} s (limit {limit} s)")
    for fragment in fragments:
        check(fragment.lower() in m["error"].lower(), f"{what}: the error does not say {fragment!r}: {m['error']}")
    check(view["status"] == "available" and view["os-vol-host-attr:host"] == "host-a@thin#thin",
          f"{what}: after the failure: status {view['status']} on {view['os-vol-host-attr:host']}")
    check(view["volmig:error"] and m["error"] in view["volmig:error"], f"{what}: volmig:error is {view['volmig:error']!r}")
    check(sha256_of(src, GiB) == sha, f"{what}: the source changed")
    print(f"{what}: error after {took:.1f} s: {m['error']}")
    return m


def scenario(lab):
    a, b = daemon_pair(lab, a_defaults={"peer_timeout": 2}, start=False)
    a.start()  # host-b is not running yet: nothing listens on its port

    v, src, sha = new_source(a, "stranded", seed=71)
    vid = v["id"]

    # 1. host-b down: connection refused, fast.
    t = time.time()
    a.migrate(vid, "host-b@thin")
    check_failed_cleanly(a, vid, src, sha, t, 5, ["host-b", "connect"], "host-b down")

    # 2. host-b hangs: accepts TCP, never answers; peer_timeout = 2.
    silent = SilentPeer(b.port)
    try:
        t = time.time()
        a.migrate(vid, "host-b@thin")
        check_failed_cleanly(a, vid, src, sha, t, 10, ["host-b", "timeout"], "host-b silent")
        check(silent.connections >= 1, "host-a never connected to the silent host-b")
    finally:
        silent.close()

    # 3. The real host-b on that port: the retry succeeds.
    b.start()
    a.migrate(vid, "host-b@thin")
    view = settle(a, vid)
    m = view["volmig:migration"]
    check(m["state"] == "success", f"with host-b up the retry ended in {m['state']}: {m.get('error')}")
    check(view["os-vol-host-attr:host"] in ("host-b@thin", "host-b@thin#thin"), f"after the retry host-a points at {view['os-vol-host-attr:host']}")
    check(sha256_of(b.volume_path(b.show(vid)), GiB) == sha, "the retried destination differs from the source")
    check([x["id"] for x in b.volumes()] == [vid], f"host-b lists {[x['id'] for x in b.volumes()]}")
    print("retry with host-b up: success")
    raise_problems()


if __name__ == "__main__":
    run_scenario(scenario)
