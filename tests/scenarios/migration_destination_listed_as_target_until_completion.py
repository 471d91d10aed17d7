#!/usr/bin/env python3
"""While a migration is under way its destination volume is a volume like any other, as in
Cinder: it shows in an all_tenants listing and by id with migration_status (and
os-vol-mig-status-attr:migstat) target:<source id>, on the same daemon for a migration between
two of its backends and on the destination daemon for a migration between daemons (also through
`cinder list --all-tenants` and `cinder show`), and `cinder reset-state --reset-migration-status`
of it is refused there while it waits. os-migrate_volume_completion answers
{"save_volume_id": <source id>}, as Cinder's; afterwards the destination's temporary id is gone
and the volume keeps its id on its new backend."""
import os
import sys

from volmig_lab import ApiError

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from openstack_clients import cinder_cli, props, table
from scenario_support import check, content_digest, daemon_pair, listed, new_source, run_scenario, settle, volume_action
from volmig_lab import GiB

A_BACKENDS = {"gold": {"volume_driver": "thin_file"}, "silver": {"volume_driver": "thin_file"}}
B_BACKENDS = {"thin": {"volume_driver": "thin_file"}}


def waiting_destination(daemon, holder, vid, destination):
    """Migrates vid from `daemon` to `destination` with completion left to us; checks that
    `holder` lists and shows the destination as target:<vid>; returns its id."""
    daemon.migrate(vid, destination, auto_complete=False)
    view = settle(daemon, vid, states=("awaiting_completion", "error", "success"))
    m = view["volmig:migration"]
    check(m["state"] == "awaiting_completion", f"the migration to {destination} is {m['state']}: {m.get('error')}")
    dest = m["destination_volume_id"]
    rows = {x["id"]: x for x in listed(holder)}
    check(dest in rows, f"{holder.host}'s all_tenants listing lacks the destination {dest}: {sorted(rows)}")
    for where, shown in (("listing", rows[dest]), ("GET by id", holder.show(dest))):
        check(shown["migration_status"] == f"target:{vid}" and shown["os-vol-mig-status-attr:migstat"] == f"target:{vid}",
              f"{holder.host} {where}: the destination shows migration_status {shown['migration_status']!r}, "
              f"migstat {shown['os-vol-mig-status-attr:migstat']!r}, expected target:{vid}")
    check(view["migration_status"] == "migrating", f"the source shows migration_status {view['migration_status']!r}")
    return dest


def complete(daemon, vid, dest):
    status, body = volume_action(daemon, vid, {"os-migrate_volume_completion": {"new_volume": dest, "error": False}})
    check(status == 200 and body == {"save_volume_id": vid}, f"os-migrate_volume_completion answered {status}: {body}")
    return settle(daemon, vid, timeout=20, states=("success", "error"))


def gone(daemon, vid):
    try:
        daemon.show(vid)
        return False
    except ApiError as e:
        return e.status == 404


def scenario(lab):
    a, b = daemon_pair(lab, a_backends=A_BACKENDS, b_backends=B_BACKENDS)

    # Between two backends of host-a.
    v, path, digest = new_source(a, "local-move", seed=41, backend="gold", digest=True)
    vid = v["id"]
    dest = waiting_destination(a, a, vid, "host-a@silver")
    view = complete(a, vid, dest)
    check(view["volmig:migration"]["state"] == "success" and view["os-vol-host-attr:host"] == "host-a@silver#silver",
          f"the local migration ended {view['volmig:migration']['state']} on {view['os-vol-host-attr:host']}")
    check(gone(a, dest) and dest not in [x["id"] for x in listed(a)], f"the local destination {dest} is still there after completion")
    check(content_digest(a.volume_path(view), GiB) == digest, "the locally migrated volume's bytes differ")

    # From host-a to host-b: the destination daemon lists it.
    w, wpath, wdigest = new_source(a, "remote-move", seed=42, backend="gold", digest=True)
    wid = w["id"]
    dest = waiting_destination(a, b, wid, "host-b@thin")
    cinder = cinder_cli(b)
    rows = [r[0] for r in table(cinder.ok("list", "--all-tenants"))[1:]]
    check(dest in rows, f"cinder list --all-tenants on host-b lacks {dest}: {rows}")
    check(props(cinder.ok("show", dest)).get("migration_status") == f"target:{wid}", "cinder show of the destination does not say target:<id>")
    # The receiving daemon drives the destination too: a reset there is refused, naming its migration.
    out = cinder.fails("reset-state", "--reset-migration-status", dest)
    check("(target, received) on this daemon" in out, f"host-b's refusal does not name its receiving migration: {out[-600:]}")
    check(b.show(dest)["migration_status"] == f"target:{wid}", "the refused reset changed the destination on host-b")
    view = complete(a, wid, dest)
    check(view["volmig:migration"]["state"] == "success", f"the migration to host-b ended {view['volmig:migration']['state']}")
    moved = b.show(wid)
    check(moved["status"] == "available" and moved["migration_status"] == "success", f"on host-b: {moved['status']} {moved['migration_status']}")
    check(gone(b, dest) and dest not in [x["id"] for x in listed(b)], f"host-b still has the temporary id {dest}")
    check(content_digest(b.volume_path(moved), GiB) == wdigest, "the volume on host-b has other bytes")
    print("destinations listed as target:<id> locally and on the peer; completion answered save_volume_id")


if __name__ == "__main__":
    run_scenario(scenario)
