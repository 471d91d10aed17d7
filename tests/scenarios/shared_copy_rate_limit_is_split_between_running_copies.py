#!/usr/bin/env python3
"""volume_copy_bps_limit is one daemon-wide limit split between the copies running: at 8 MiB/s,
two migrations of 16 MiB of data each, started together, take about the same time, and
together about 32 MiB / 8 MiB/s = 4 s; one alone takes about half as long. A local copy (another
backend of host-a) beside a stream to host-b shares the same one limit: together they take
about 4 s too. Every destination is identical."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from evacuation_support import data_volume, wait_all
from scenario_support import check, content_digest, daemon_pair, run_scenario
from volmig_lab import GiB, MiB

LIMIT = 8 * MiB
DATA_MIB = 16


def run_together(a, moves):
    """Starts every (volume id, destination) at once; returns (wall seconds, {id: copy seconds})."""
    started = time.time()
    for vid, destination in moves:
        a.migrate(vid, destination)
    ended = wait_all(a, [vid for vid, _ in moves], timeout=60)
    wall = time.time() - started
    for vid, m in ended.items():
        check(m["state"] == "success", f"{vid} ended {m['state']}: {m.get('error')}")
    return wall, {vid: m["report"]["seconds"] for vid, m in ended.items()}


def scenario(lab):
    a, b = daemon_pair(lab, a_backends={"thin": {"volume_driver": "thin_file"}, "other": {"volume_driver": "thin_file"}},
                       a_defaults={"volume_copy_bps_limit": str(LIMIT)})
    vols = [data_volume(a, f"s{i}", seed=80 + i, mib=DATA_MIB, backend="thin") for i in range(5)]
    ids = [v["id"] for v, _ in vols]
    together = DATA_MIB * 2 * MiB / LIMIT  # 4 s

    # Two streams at once.
    wall, seconds = run_together(a, [(ids[0], "host-b@thin"), (ids[1], "host-b@thin")])
    t = sorted(seconds.values())
    print(f"two streams at once: {t[0]:.2f} s and {t[1]:.2f} s (wall {wall:.2f} s; expected about {together:.1f} s each)")
    check(t[1] / t[0] < 1.35, f"two equal copies at once took {t[0]:.2f} s and {t[1]:.2f} s: not an even split")
    check(0.75 * together < t[0] and t[1] < 1.5 * together, f"two copies at once took {t}, expected about {together:.1f} s each")

    # One alone: about half as long.
    wall_alone, alone = run_together(a, [(ids[2], "host-b@thin")])
    alone_s = list(alone.values())[0]
    print(f"one stream alone: {alone_s:.2f} s (wall {wall_alone:.2f} s; expected about {together / 2:.1f} s)")
    check(alone_s < 0.7 * t[0], f"one copy alone took {alone_s:.2f} s, two at once {t[0]:.2f} s each: the limit is not shared")
    check(alone_s > 0.4 * together / 2, f"one copy alone took {alone_s:.2f} s: faster than the limit allows")

    # A local copy beside a stream: the same one limit.
    wall_mixed, mixed = run_together(a, [(ids[3], "host-a@other"), (ids[4], "host-b@thin")])
    m = sorted(mixed.values())
    print(f"a local copy beside a stream: {m[0]:.2f} s and {m[1]:.2f} s (wall {wall_mixed:.2f} s)")
    # The stream needs more set-up (a volume on the peer, prepare) than the local copy, so they
    # overlap only partly and their times differ; but together they stay under the one limit:
    # the later one ends about 32 MiB / 8 MiB/s after the start, not 2 s as a limit per copy would allow.
    check(0.75 * together < m[1] and 0.8 * together < wall_mixed,
          f"a local copy and a stream at once took {m} (wall {wall_mixed:.2f} s): together faster than the shared limit allows")

    for i, (v, digest) in enumerate(vols):
        holder = a if i == 3 else b
        check(content_digest(holder.volume_path(holder.show(v["id"])), GiB) == digest, f"{v['id']} differs at its destination")


if __name__ == "__main__":
    run_scenario(scenario)
