#!/usr/bin/env python3
"""Debian's cinderclient retypes volumes on one volmigd with a thin_file and a thick_file backend:
`retype VOL TYPE` to a type of the same backend changes the type in place (no byte moves);
to a type of the other backend it is refused with the default policy never, saying a migration
is needed; to the type the volume has it is refused; `retype --migration-policy on-demand` migrates
the volume (the same planned, verified job as os-migrate_volume, migration_status as Cinder's)
and the volume takes the new type exactly when it takes the new storage. Afterwards the bytes read from
the destination's storage are the source's and the destination's allocation is what the plan
said; the thin file is gone."""
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request

from volmig_lab import GiB, MiB, sha256_of, write_pattern_volume

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import check, pool_files, run_scenario
from openstack_clients import table, props

PROJECT = "p"
NONZERO = (8 + 20 + 3) * MiB  # write_pattern_volume's default data extents


def main(lab):
    cinder = shutil.which("cinder")
    check(cinder is not None, "the `cinder` command is missing: apt-get install -y python3-cinderclient")
    d = lab.daemon("host-rt", backends={
        "thin": {"volume_driver": "thin_file"},
        "thick": {"volume_driver": "thick_file", "pool_size": "3G"},
    })
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["PYTHONPATH"] = ""
    base = [cinder, "--os-auth-type", "noauth", "--os-user-id", "u", "--os-project-id", PROJECT, "--os-endpoint", f"{d.url}/v3/{PROJECT}"]

    def cinder_run(*args, ok=True):
        t0 = time.time()
        r = subprocess.run(base + list(args), capture_output=True, text=True, env=env, timeout=60)
        print(f"cinder {' '.join(args)}: {time.time() - t0:.1f} s", file=sys.stderr)
        if ok:
            check(r.returncode == 0, f"cinder {' '.join(args)} exited {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr[-2000:]}")
        return r

    types = {t["name"]: t["id"] for t in d.request("GET", "/v3/types?is_public=None")["volume_types"]}
    cinder_run("type-create", "thin-gold")
    cinder_run("type-key", "thin-gold", "set", "volume_backend_name=thin")
    types = {t["name"]: t["id"] for t in d.request("GET", "/v3/types?is_public=None")["volume_types"]}

    vid = props(cinder_run("create", "--volume-type", "thin", "--name", "data", "1").stdout).get("id", "")
    v = d.show(vid)
    src_path = v["volmig:location"]
    check(v["volume_type"] == "thin" and os.path.dirname(src_path) == d.backends["thin"]["pool_path"], f"created: {v}")
    write_pattern_volume(src_path, seed=21)
    src_sha = sha256_of(src_path, GiB)

    # Same backend: in place.
    cinder_run("retype", "data", "thin-gold")
    v = d.show(vid)
    check(v["volume_type"] == "thin-gold" and v["volume_type_id"] == types["thin-gold"], f"after retype thin-gold: {v['volume_type']} {v['volume_type_id']}")
    check(v["volmig:location"] == src_path and v["migration_status"] is None and v["volmig:migration"] is None,
          f"an in-place retype moved something: location {v['volmig:location']}, migration_status {v['migration_status']}")
    check(sha256_of(src_path, GiB) == src_sha, "an in-place retype changed the bytes")
    check(props(cinder_run("show", vid).stdout).get("volume_type") == "thin-gold", "cinder show does not say thin-gold")

    # Another backend with the default policy (never), and the type it already has: refused.
    r = cinder_run("retype", "data", "thick", ok=False)
    check(r.returncode != 0 and "needs a migration" in r.stderr, f"retype to thick with policy never: {r.returncode} {r.stderr[-800:]}")
    r = cinder_run("retype", "--migration-policy", "never", "data", "thick", ok=False)
    check(r.returncode != 0 and "needs a migration" in r.stderr, f"retype --migration-policy never: {r.returncode} {r.stderr[-800:]}")
    r = cinder_run("retype", "data", "thin-gold", ok=False)
    check(r.returncode != 0 and "already has volume type thin-gold" in r.stderr, f"retype to its own type: {r.returncode} {r.stderr[-800:]}")
    r = cinder_run("retype", "--migration-policy", "on-demand", "data", "no-such-type", ok=False)
    check(r.returncode != 0 and "could not be found" in r.stderr, f"retype to an unknown type: {r.returncode} {r.stderr[-800:]}")
    v = d.show(vid)
    check(v["volume_type"] == "thin-gold" and v["volmig:location"] == src_path and v["migration_status"] is None, f"a refused retype changed {v}")

    # Another backend on demand: a migration; the type changes when it completes.
    cinder_run("retype", "--migration-policy", "on-demand", "data", "thick")
    seen, deadline = [], time.time() + 60
    while True:
        v = d.show(vid)
        now = (v["migration_status"], v["volume_type"], v["os-vol-host-attr:host"])
        if not seen or seen[-1] != now:
            seen.append(now)
        if v["migration_status"] in ("success", "error"):
            break
        check(time.time() < deadline, f"the retype's migration did not end within 60 s: {seen}")
        time.sleep(0.02)
    m = v["volmig:migration"]
    check(v["migration_status"] == "success", f"the retype's migration ended in {v['migration_status']}: {m and m.get('error')}")
    # The type changes with the take-over (the volume's new storage), in one transaction.
    check(all((t == "thick") == (h == "host-rt@thick#thick") and (t == "thick" or s != "success") for s, t, h in seen),
          f"the type did not change exactly when the volume moved: {seen}")
    check(v["volume_type"] == "thick" and v["volume_type_id"] == types["thick"], f"after the migration the type is {v['volume_type']} ({v['volume_type_id']})")
    check(v["id"] == vid and v["status"] == "available" and v["os-vol-host-attr:host"] == "host-rt@thick#thick", f"after the migration: {v}")
    check(m["destination"] == "host-rt@thick#thick" and m["plan"]["same_daemon"] is True and m["report"]["transport"] == "local",
          f"the migration: destination {m['destination']}, plan {m['plan']['summary']}")

    # The bytes, read through the destination's storage (a loop device over the thick region).
    dst = d.volume_path(v)
    dst_sha = sha256_of(dst, GiB)
    check(dst_sha == src_sha, f"content differs after the retype: source {src_sha}, destination {dst_sha}")
    # The allocation the plan said: sparse writes the source's non-zero data only and skips the
    # rest (the fresh thick region reads as zeros), full writes every block; either way a thick
    # region is allocated whole.
    moved = m["report"]["bytes"]
    if m["plan"]["strategy"] == "sparse":
        check(NONZERO <= moved["written"] <= NONZERO + MiB and moved["skipped"] >= GiB - NONZERO - MiB,
              f"a sparse plan, yet the copy moved {moved}: {m['plan']['summary']}")
    else:
        check(moved["written"] + moved["zeroed"] >= GiB - MiB, f"a {m['plan']['strategy']} plan, yet the copy moved {moved}")
    check(v["volmig:allocated_bytes"] == GiB and v["volmig:data_percent"] == 100.0,
          f"the thick destination allocates {v['volmig:allocated_bytes']} bytes ({v['volmig:data_percent']}%)")
    check(not os.path.exists(src_path) and pool_files(d.backends["thin"]["pool_path"]) == [], "the thin file is left after the retype")
    check(props(cinder_run("show", vid).stdout).get("volume_type") == "thick", "cinder show does not say thick")
    rows = {r[0]: r for r in table(cinder_run("list").stdout)[1:]}
    check(list(rows) == [vid] and rows[vid][5] == "thick", f"cinder list after the retype: {rows}")
    print(f"retype by a {m['plan']['strategy']} migration: written {moved['written'] // MiB} MiB, skipped {moved['skipped'] // MiB} MiB; "
          f"statuses seen {seen}")


if __name__ == "__main__":
    run_scenario(main)
