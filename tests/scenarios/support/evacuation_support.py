"""What the evacuation scenarios share (max_concurrent_migrations, the shared copy rate,
`volmig evacuate`): volumes holding a known amount of distinct random data, the CLI run as an
operator runs it, and the migration states of many volumes at one look."""
import os
import subprocess
import time

from scenario_support import check, content_digest
from volmig_lab import GiB, write_pattern_volume

ACTIVE = ("starting", "migrating", "completing", "releasing")  # a started, unfinished source-side migration


def data_volume(daemon, name, seed, mib, backend=None):
    """A new 1 GiB volume holding `mib` MiB of random data (seeded) from 1 MiB on; returns
    (its view, its content_digest)."""
    v = daemon.create(1, name=name, backend=backend)
    path = daemon.volume_path(v)
    write_pattern_volume(path, seed=seed, extents=((1, mib),), zeros=())
    return v, content_digest(path, GiB)


def volmig(*args, timeout=120):
    """Runs the volmig CLI ($VOLMIG) with `args`, without the caller's VOLMIG_* environment;
    returns the CompletedProcess (text stdout and stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOLMIG_")}
    return subprocess.run([os.environ["VOLMIG"], *args], capture_output=True, text=True, env=env, timeout=timeout)


def migrations(daemon, ids):
    """{volume id: its volmig:migration (or {})} as of one moment: one listing, whose migrations
    are read in one query (a GET per volume would see one job end and the next start between
    two GETs, and count both as running). A volume that moved away is not listed; its own GET
    after the listing can only show it further on (releasing, then success)."""
    views = {v["id"]: v for v in daemon.request("GET", "/v3/volumes/detail?all_tenants=1")["volumes"]}
    return {vid: (views[vid] if vid in views else daemon.show(vid)).get("volmig:migration") or {} for vid in ids}


def wait_all(daemon, ids, timeout=60, on_look=None):
    """Polls until every volume's migration ended (success or error), calling on_look(views)
    at each look; returns the last {id: migration}."""
    deadline = time.time() + timeout
    while True:
        seen = migrations(daemon, ids)
        if on_look:
            on_look(seen)
        if all(m.get("state") in ("success", "error") for m in seen.values()):
            return seen
        check(time.time() < deadline, f"the migrations did not end within {timeout} s: "
              f"{ {vid[:8]: m.get('state') for vid, m in seen.items()} }")
        time.sleep(0.03)
