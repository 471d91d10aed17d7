#!/usr/bin/env python3
"""Debian's `cinder` (admin_token against a token daemon) changes a volume's records and never its
data: `metadata VOL set/unset` (unset at 3.15+ reads the ETag and PUTs with If-Match), `rename`
(name and description), `reset-state --state` and `--reset-migration-status`, each checked on
the daemon's view, its log (old -> new) and the volume's bytes. reset-state is refused with the
migration named while a migration on this daemon still waits for completion (the job and the
record keep agreeing; the destination stays listed as target:<id>), and goes through once the
job is abandoned. A record stuck in `migrating` with no job (written into the database while the
daemon was down) blocks delete and migrate until `cinder reset-state --reset-migration-status`,
after which both work."""
import os
import sqlite3
import sys

from volmig_lab import GiB

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from openstack_clients import cinder_cli, props
from scenario_support import check, content_digest, listed, new_source, run_scenario, settle, volume_action

BACKENDS = {"gold": {"volume_driver": "thin_file"}, "silver": {"volume_driver": "thin_file"}}


def log_text(d):
    with open(d.log_path, errors="replace") as f:
        return f.read()


def scenario(lab):
    d = lab.daemon("host-a", backends=BACKENDS, auth_token="cinder-s3cret")
    cinder = cinder_cli(d)
    v, path, sha = new_source(d, "cc-meta", seed=5, backend="gold", digest=True)
    vid = v["id"]

    # metadata set / unset.
    cinder.ok("metadata", vid, "set", "app=web", "tier=gold", "owner=ops")
    check(d.show(vid)["metadata"] == {"app": "web", "tier": "gold", "owner": "ops"}, f"after metadata set: {d.show(vid)['metadata']}")
    cinder.ok("metadata", vid, "unset", "tier", "owner")
    check(d.show(vid)["metadata"] == {"app": "web"}, f"after metadata unset: {d.show(vid)['metadata']}")
    log = log_text(d)
    check(f"GET /v3/p/volumes/{vid}/metadata 200" in log and f"PUT /v3/p/volumes/{vid}/metadata 200" in log,
          "cinder's unset did not read the metadata and PUT it back (the If-Match path)")
    out = cinder.fails("metadata", vid, "set", "k" * 256 + "=v")
    check("255" in out, f"a 256-character key was refused without saying why: {out[-500:]}")
    check(d.show(vid)["metadata"] == {"app": "web"}, "a refused metadata set changed the metadata")

    # rename: name and description.
    cinder.ok("rename", vid, "cc-renamed", "--description", "renamed by cinder")
    view = d.show(vid)
    check(view["name"] == "cc-renamed" and view["description"] == "renamed by cinder", f"after rename: {view['name']!r} {view['description']!r}")
    check(props(cinder.ok("show", vid)).get("name") == "cc-renamed", "cinder show does not print the new name")

    # reset-state --state: records only.
    cinder.ok("reset-state", "--state", "error", vid)
    check(d.show(vid)["status"] == "error", f"after reset-state --state error: {d.show(vid)['status']}")
    check(f"os-reset_status of volume {vid}: status available -> error (records only; no data was touched)" in log_text(d),
          "the daemon did not log the reset with old -> new")
    out = cinder.fails("reset-state", vid)  # cinderclient 9 sends no field at all: Cinder refuses that too
    check("must specify" in out, f"a reset-state without a field was not refused as Cinder does: {out[-400:]}")
    cinder.ok("reset-state", "--state", "available", vid)
    check(d.show(vid)["status"] == "available", f"after reset-state --state available: {d.show(vid)['status']}")
    cinder.fails("reset-state", "--state", "deleting", vid)
    check(d.show(vid)["status"] == "available", "a refused reset-state changed the status")
    check(content_digest(path, GiB) == sha, "metadata, rename or reset-state changed the volume's bytes")

    # A migration waiting for completion on this daemon: the reset is refused, naming it.
    d.migrate(vid, "host-a@silver", auto_complete=False)
    view = settle(d, vid, states=("awaiting_completion", "error", "success"))
    m = view["volmig:migration"]
    check(m["state"] == "awaiting_completion", f"the migration is {m['state']}: {m.get('error')}")
    dest = m["destination_volume_id"]
    shown = {x["id"]: x for x in listed(d)}
    check(dest in shown and shown[dest]["migration_status"] == f"target:{vid}",
          f"the destination {dest} is not listed as target:{vid}: {[(k, x['migration_status']) for k, x in shown.items()]}")
    out = cinder.fails("reset-state", "--reset-migration-status", vid)
    check(m["id"] in out and "os-migrate_volume_completion" in out, f"the refusal does not name the migration and the way out: {out[-800:]}")
    view = d.show(vid)
    check(view["migration_status"] == "migrating" and view["volmig:migration"]["state"] == "awaiting_completion",
          f"the refused reset changed the record or the job: {view['migration_status']}, {view['volmig:migration']['state']}")
    cinder.fails("reset-state", "--reset-migration-status", dest)
    check(d.show(dest)["migration_status"] == f"target:{vid}", "the refused reset of the destination changed it")

    status, body = volume_action(d, vid, {"os-migrate_volume_completion": {"new_volume": dest, "error": True}})
    check(status == 200 and body == {"save_volume_id": vid}, f"abandoning answered {status}: {body}")
    view = settle(d, vid, timeout=20, states=("error",))
    cinder.ok("reset-state", "--reset-migration-status", vid)
    view = d.show(vid)
    check(view["migration_status"] is None and view["status"] == "available", f"after the reset: {view['migration_status']}, {view['status']}")
    check(f"migration_status error -> none" in log_text(d), "the migration_status reset is not logged old -> new")
    check(content_digest(path, GiB) == sha, "the abandoned migration or the reset changed the source's bytes")

    # A record stuck in migrating with no job (as a crash of an older volmig could leave it).
    w, wpath, wsha = new_source(d, "cc-stuck", seed=6, backend="gold", digest=True)
    gone, _, _ = new_source(d, "cc-stuck-2", seed=7, backend="gold", digest=True)
    d.stop()
    db = sqlite3.connect(os.path.join(d.dir, "state", "volmig.sqlite"))
    with db:
        db.execute("UPDATE volumes SET migration_status = 'migrating' WHERE id IN (?, ?)", (w["id"], gone["id"]))
    db.close()
    d.start()
    check(d.show(w["id"])["migration_status"] == "migrating", "the stuck record did not survive the restart")
    out = cinder.fails("delete", gone["id"])
    check(d.show(gone["id"])["status"] == "available", f"a delete of a stuck volume changed it: {out[-400:]}")
    r = cinder.run("migrate", w["id"], "host-a@silver#silver")  # exits 0 whatever the answer: read what it prints
    out = r.stdout + r.stderr
    check("already migrating" in out and d.show(w["id"])["os-vol-host-attr:host"] == "host-a@gold#gold", f"a migration of a stuck volume was not refused as migrating: {out[-400:]}")

    cinder.ok("reset-state", "--reset-migration-status", gone["id"], w["id"])
    cinder.ok("delete", gone["id"])
    d.request("GET", f"/v3/volumes/{gone['id']}", expect=404)
    cinder.ok("migrate", w["id"], "host-a@silver#silver")
    view = settle(d, w["id"])
    check(view["volmig:migration"]["state"] == "success" and view["os-vol-host-attr:host"] == "host-a@silver#silver",
          f"the migration after the reset: {view['volmig:migration']['state']} on {view['os-vol-host-attr:host']}")
    check(content_digest(d.volume_path(view), GiB) == wsha, "the migrated volume's bytes differ from the source's")
    check(not os.path.exists(wpath), "the source file of the migration after the reset is still there")
    print("metadata set/unset, rename, reset-state checked; a live migration refused the reset; a stuck record was freed")


if __name__ == "__main__":
    run_scenario(scenario)
