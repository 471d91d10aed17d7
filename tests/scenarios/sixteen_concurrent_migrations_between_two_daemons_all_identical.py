#!/usr/bin/env python3
"""Sixteen migrations between two daemons at once (max_concurrent_migrations = 16), each volume
holding distinct random data: all end in success, every destination identical to its source.
Prints, for the bench to check: one migration alone (its throughput), then the sixteen's
slowest / fastest copy time and their aggregate throughput (data bytes / wall time from the
first request to the last success) and its ratio to the one alone."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from evacuation_support import ACTIVE, data_volume, wait_all
from scenario_support import check, content_digest, daemon_pair, run_scenario
from volmig_lab import GiB, MiB

COUNT, DATA_MIB = 16, 32


def scenario(lab):
    a, b = daemon_pair(lab, a_defaults={"max_concurrent_migrations": str(COUNT)})
    solo, solo_digest = data_volume(a, "solo", seed=999, mib=DATA_MIB)
    vols = [data_volume(a, f"c{i:02d}", seed=100 + i, mib=DATA_MIB) for i in range(COUNT)]
    ids = [v["id"] for v, _ in vols]

    started = time.time()
    a.migrate(solo["id"], "host-b@thin")
    one = wait_all(a, [solo["id"]])[solo["id"]]
    solo_wall = time.time() - started
    check(one["state"] == "success", f"the single migration ended {one['state']}: {one.get('error')}")
    solo_rate = DATA_MIB * MiB / solo_wall

    most = [0]

    def look(seen):
        most[0] = max(most[0], sum(1 for m in seen.values() if m.get("state") in ACTIVE))
        check(not any(m.get("state") == "queued" for m in seen.values()), "a migration was queued with max_concurrent_migrations = 16")

    started = time.time()
    for vid in ids:
        a.migrate(vid, "host-b@thin")
    ended = wait_all(a, ids, timeout=120, on_look=look)
    wall = time.time() - started
    for vid, m in ended.items():
        check(m["state"] == "success", f"{vid} ended {m['state']}: {m.get('error')}")
    for v, digest in vols:
        check(content_digest(b.volume_path(b.show(v["id"])), GiB) == digest, f"{v['id']} differs on host-b")
    check(content_digest(b.volume_path(b.show(solo["id"])), GiB) == solo_digest, "the single migration's volume differs on host-b")

    seconds = sorted(m["report"]["seconds"] for m in ended.values())
    aggregate = COUNT * DATA_MIB * MiB / wall
    print(f"one migration alone: {DATA_MIB} MiB in {solo_wall:.2f} s = {solo_rate / MiB:.1f} MiB/s (create to success)")
    print(f"{COUNT} at once (at most {most[0]} seen running at one look): {COUNT * DATA_MIB} MiB in {wall:.2f} s = "
          f"{aggregate / MiB:.1f} MiB/s aggregate = {aggregate / solo_rate:.2f} x one alone")
    print(f"copy times: fastest {seconds[0]:.2f} s, slowest {seconds[-1]:.2f} s, slowest / fastest = {seconds[-1] / seconds[0]:.2f}")


if __name__ == "__main__":
    run_scenario(scenario)
