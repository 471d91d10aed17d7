#!/usr/bin/env python3
"""`volmig evacuate --from host-a@thin --to host-b@thin --wait` moves every available volume of
host-a@thin to host-b (each identical there), skips the one in use and the one in error (listed
with the reason, left untouched on host-a), shows one progress table with queue positions while
max_concurrent_migrations = 2 holds the others back, and ends with a summary and exit 0. Before
that: a --to equal to --from, an unknown backend and an unreachable daemon are refused with a
clear message, and onto a disabled destination (another backend of host-a) every migration is shown as refused with the
reason (each of them asked), exit 1, nothing changed."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from evacuation_support import data_volume, volmig
from scenario_support import check, content_digest, daemon_pair, listed, run_scenario
from volmig_lab import GiB, free_port

MOVED = 4


def scenario(lab):
    a, b = daemon_pair(lab, a_backends={"thin": {"volume_driver": "thin_file"}, "other": {"volume_driver": "thin_file"}},
                       a_defaults={"max_concurrent_migrations": "2", "volume_copy_bps_limit": "24M"})
    sources = [data_volume(a, f"web{i}", seed=40 + i, mib=6, backend="thin") for i in range(MOVED)]
    busy, busy_digest = data_volume(a, "db", seed=50, mib=2, backend="thin")
    broken, broken_digest = data_volume(a, "broken", seed=51, mib=2, backend="thin")
    a.request("POST", f"/v3/volumes/{busy['id']}/action", {"os-reserve": None})
    a.request("POST", f"/v3/volumes/{busy['id']}/action", {"os-attach": {"host_name": "node-1", "mountpoint": "/dev/vdb"}})
    a.request("POST", f"/v3/volumes/{broken['id']}/action", {"os-reset_status": {"status": "error"}})
    ids = [v["id"] for v, _ in sources]

    # Refused before anything is asked.
    same = volmig("evacuate", "--from", "host-a@thin", "--to", "host-a@thin#thin", "--url", a.url)
    check(same.returncode == 2 and "is the backend being evacuated" in same.stderr, f"--to equal to --from: {same.returncode} {same.stderr}")
    unknown = volmig("evacuate", "--from", "host-a@nope", "--to", "host-b@thin", "--url", a.url)
    check(unknown.returncode == 2 and "has no backend host-a@nope" in unknown.stderr and "host-a@thin" in unknown.stderr,
          f"unknown backend: {unknown.returncode} {unknown.stderr}")
    down = volmig("evacuate", "--from", "host-a@thin", "--to", "host-b@thin", "--url", f"http://127.0.0.1:{free_port()}")
    check(down.returncode == 1 and "cannot ask the daemon" in down.stderr, f"unreachable daemon: {down.returncode} {down.stderr}")
    usage = volmig("evacuate", "--help")
    check(usage.returncode == 0 and "--from HOST@BACKEND" in usage.stdout and "queue" in usage.stdout, f"--help: {usage.stdout}")

    # A disabled destination: each migration refused at once with the reason, all of them asked.
    a.request("PUT", "/v3/os-services/disable-log-reason",
              {"host": "host-a@other", "binary": "cinder-volume", "disabled_reason": "rack move"})
    refused = volmig("evacuate", "--from", "host-a@thin", "--to", "host-a@other", "--url", a.url)
    check(refused.returncode == 1, f"evacuating onto a disabled backend exited {refused.returncode}:\n{refused.stdout}{refused.stderr}")
    for vid in ids:
        check(any(line.startswith(f"  failed {vid}") and "rack move" in line for line in refused.stdout.splitlines()),
              f"{vid} is not shown failed with the reason:\n{refused.stdout}")
        view = a.show(vid)
        check(view["status"] == "available" and view["os-vol-host-attr:host"].startswith("host-a@thin") and view["migration_status"] is None,
              f"a refused volume changed: {view}")

    # The evacuation.
    run = volmig("evacuate", "--from", "host-a@thin", "--to", "host-b@thin", "--wait", "--url", a.url)
    out = run.stdout
    print(out)
    check(run.returncode == 0, f"evacuate --wait exited {run.returncode}:\n{out}{run.stderr}")
    check(f"{MOVED} volume(s) to migrate, 2 skipped" in out, f"the plan line:\n{out}")
    skipped = {line.split()[1]: line for line in out.splitlines() if line.startswith("  skipped ")}
    check("in use" in skipped.get(busy["id"], ""), f"the volume in use is not listed as skipped in use:\n{out}")
    check("error" in skipped.get(broken["id"], ""), f"the volume in error is not listed as skipped in error:\n{out}")
    check(out.count("VOLUME ") >= 2 and "PROGRESS" in out and "ETA" in out, f"no progress table:\n{out}")
    check("queued #1" in out, f"the table never showed a queue position (max_concurrent_migrations = 2, {MOVED} volumes):\n{out}")
    last_table = out[out.rindex("VOLUME "):]
    for vid in ids:
        row = next((line for line in last_table.splitlines() if line.startswith(vid)), "")
        check(" success " in row and "100.0%" in row, f"the final table's row of {vid}: {row!r}\n{out}")
    check(f"evacuated {MOVED} of {MOVED} volume(s) from host-a@thin to host-b@thin" in out and "0 failed, 2 skipped" in out,
          f"the summary:\n{out}")

    # Every moved volume identical on host-b; the skipped ones untouched on host-a.
    for (v, digest) in sources:
        moved = b.show(v["id"])
        check(moved["os-vol-host-attr:host"].startswith("host-b@thin"), f"{v['id']} is on {moved['os-vol-host-attr:host']}")
        check(content_digest(b.volume_path(moved), GiB) == digest, f"{v['id']} differs on host-b")
    for (v, digest, status) in ((busy, busy_digest, "in-use"), (broken, broken_digest, "error")):
        view = a.show(v["id"])
        check(view["status"] == status and view["os-vol-host-attr:host"].startswith("host-a@thin") and view["migration_status"] is None,
              f"the skipped volume {v['id']} changed: {view['status']} {view['os-vol-host-attr:host']} {view['migration_status']}")
        check(content_digest(v["volmig:location"], GiB) == digest, f"the skipped volume {v['id']} changed content")
    check(sorted(x["id"] for x in listed(a)) == sorted([busy["id"], broken["id"]]), f"host-a still lists {listed(a)}")


if __name__ == "__main__":
    run_scenario(scenario)
