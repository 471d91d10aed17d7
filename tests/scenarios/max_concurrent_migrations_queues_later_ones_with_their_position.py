#!/usr/bin/env python3
"""With max_concurrent_migrations = 2, five migrations asked for at once: two start, the other
three wait with migration_status starting and volmig:migration state queued at positions 1, 2,
3 (in the order asked), holding no destination volume on the peer; positions only move up (each
leaves the queue from a position within the cap), and
at no look are more than two migrations started and unfinished. All five end in success,
identical on the destination."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from evacuation_support import ACTIVE, data_volume, migrations, wait_all
from scenario_support import check, content_digest, daemon_pair, listed, run_scenario
from volmig_lab import GiB

CAP, COUNT = 2, 5


def scenario(lab):
    # 8 MiB each at a shared 16 MiB/s: two copies at once take about a second each.
    a, b = daemon_pair(lab, a_defaults={"max_concurrent_migrations": str(CAP), "volume_copy_bps_limit": "16M"})
    sources = [data_volume(a, f"v{i}", seed=60 + i, mib=8) for i in range(COUNT)]
    ids = [v["id"] for v, _ in sources]
    for vid in ids:
        a.migrate(vid, "host-b@thin")

    first = migrations(a, ids)
    queued = [vid for vid in ids if first[vid].get("state") == "queued"]
    check(queued == ids[CAP:], f"queued right after the requests: {[first[v].get('state') for v in ids]}, expected the last {COUNT - CAP}")
    check([first[v]["queue_position"] for v in queued] == [1, 2, 3], f"queue positions {[first[v].get('queue_position') for v in queued]}")
    for vid in queued:
        view = a.show(vid)
        check(view["migration_status"] == "starting", f"a queued volume shows migration_status {view['migration_status']}")
        check(view["volmig:migration"]["destination_volume_id"] == "", f"a queued migration has a destination volume: {view['volmig:migration']}")
        check(view["status"] == "available", f"a queued volume is {view['status']}")
    check(len(listed(b)) <= CAP, f"host-b holds {len(listed(b))} volumes while only {CAP} migrations may have started")

    most = [0]
    positions = {vid: [first[vid]["queue_position"]] for vid in queued}
    states = {vid: [] for vid in ids}

    def look(seen):
        running = [vid for vid, m in seen.items() if m.get("state") in ACTIVE]
        most[0] = max(most[0], len(running))
        check(len(running) <= CAP, f"{len(running)} migrations started at once with max_concurrent_migrations = {CAP}")
        for vid, m in seen.items():
            if not states[vid] or states[vid][-1] != m.get("state"):
                states[vid].append(m.get("state"))
            if m.get("state") == "queued":
                positions[vid].append(m["queue_position"])

    started = time.time()
    ended = wait_all(a, ids, timeout=60, on_look=look)
    wall = time.time() - started
    for vid in ids:
        check(ended[vid]["state"] == "success", f"{vid} ended {ended[vid]['state']}: {ended[vid].get('error')}")
    check(most[0] == CAP, f"never saw {CAP} migrations running at once (at most {most[0]})")
    for vid, seen in positions.items():
        # Both running copies may end between two looks, so a migration can leave the queue from
        # any position up to CAP without being seen at 1.
        check(all(x >= y for x, y in zip(seen, seen[1:])) and seen[-1] <= CAP, f"the queue positions of {vid} went {seen}")
        check(states[vid][0] == "queued" and "migrating" in states[vid], f"{vid} went through {states[vid]}")
    for v, digest in sources:
        moved = b.show(v["id"])
        check(content_digest(b.volume_path(moved), GiB) == digest, f"{v['id']} differs on host-b")
    print(f"{COUNT} migrations, at most {most[0]} at once, in {wall:.1f} s; positions seen: "
          f"{ {vid[:8]: sorted(set(p), reverse=True) for vid, p in positions.items()} }")


if __name__ == "__main__":
    run_scenario(scenario)
