#!/usr/bin/env python3
"""Debian's `openstack` (python3-openstackclient 6.0, --os-auth-type admin_token with the daemon's
token and endpoint) drives a token daemon: volume create --property, list, show, set --name
--description --property --size, unset --property, set --state, set --bootable, and volume
migrate to the daemon's other backend; every step is checked on the daemon's view, its log and
the storage (file size, the bytes after the migration). A refused property (a 256-character
key) makes the command fail and changes nothing."""
import json
import os
import sys

from volmig_lab import GiB, write_pattern_volume

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from openstack_clients import openstack_cli, table
from scenario_support import check, content_digest, run_scenario, settle

BACKENDS = {"gold": {"volume_driver": "thin_file"}, "silver": {"volume_driver": "thin_file"}}


def scenario(lab):
    d = lab.daemon("host-a", backends=BACKENDS, auth_token="osc-s3cret")
    osc = openstack_cli(d)

    created = json.loads(osc.ok("volume", "create", "--size", "1", "--type", "gold", "--property", "app=web", "osc-a", "-f", "json"))
    vid = created.get("id", "")
    v = d.show(vid)
    check(v["name"] == "osc-a" and v["size"] == 1 and v["metadata"] == {"app": "web"} and v["os-vol-host-attr:host"] == "host-a@gold#gold",
          f"the daemon's view of openstack's volume: {v['name']} {v['size']} {v['metadata']} {v['os-vol-host-attr:host']}")
    path = d.volume_path(v)
    check(os.stat(path).st_size == GiB, f"the volume file {path} is {os.stat(path).st_size} bytes")
    rows = {r[0]: r for r in table(osc.ok("volume", "list"))[1:]}
    check(vid in rows and rows[vid][1] == "osc-a", f"openstack volume list: {rows}")

    osc.ok("volume", "set", "--name", "osc-b", "--description", "set by osc", "--property", "tier=gold", "--property", "owner=ops",
           "--size", "2", vid)
    v = d.show(vid)
    check(v["name"] == "osc-b" and v["description"] == "set by osc", f"after volume set: name {v['name']!r}, description {v['description']!r}")
    check(v["metadata"] == {"app": "web", "tier": "gold", "owner": "ops"}, f"after volume set --property: {v['metadata']}")
    check(v["size"] == 2 and os.stat(path).st_size == 2 * GiB, f"after volume set --size 2: size {v['size']}, file {os.stat(path).st_size}")
    osc.ok("volume", "unset", "--property", "owner", vid)
    check(d.show(vid)["metadata"] == {"app": "web", "tier": "gold"}, f"after volume unset --property: {d.show(vid)['metadata']}")
    osc.fails("volume", "set", "--property", "k" * 256 + "=v", vid)
    check(d.show(vid)["metadata"] == {"app": "web", "tier": "gold"}, "a refused property changed the metadata")

    osc.ok("volume", "set", "--state", "error", vid)
    check(d.show(vid)["status"] == "error", f"after volume set --state error: {d.show(vid)['status']}")
    with open(d.log_path, errors="replace") as f:
        check(f"os-reset_status of volume {vid}: status available -> error" in f.read(), "the state reset is not logged old -> new")
    osc.ok("volume", "set", "--state", "available", "--bootable", vid)
    v = d.show(vid)
    check(v["status"] == "available" and v["bootable"] == "true", f"after --state available --bootable: {v['status']} {v['bootable']}")
    shown = json.loads(osc.ok("volume", "show", vid, "-f", "json"))
    check(shown.get("name") == "osc-b" and shown.get("status") == "available" and shown.get("bootable") == "true",
          f"openstack volume show: name {shown.get('name')!r}, status {shown.get('status')!r}, bootable {shown.get('bootable')!r}")

    write_pattern_volume(path, seed=11)
    digest = content_digest(path, 2 * GiB)
    osc.ok("volume", "migrate", "--host", "host-a@silver#silver", vid)
    v = settle(d, vid)
    check(v["volmig:migration"]["state"] == "success" and v["os-vol-host-attr:host"] == "host-a@silver#silver",
          f"volume migrate: {v['volmig:migration']['state']} ({v['volmig:migration'].get('error')}) on {v['os-vol-host-attr:host']}")
    check(content_digest(d.volume_path(v), 2 * GiB) == digest, "the migrated volume's bytes differ")
    check(not os.path.exists(path), f"the source file {path} is still there")
    check(v["name"] == "osc-b" and v["metadata"] == {"app": "web", "tier": "gold"} and v["bootable"] == "true",
          f"the migration lost records: {v['name']} {v['metadata']} {v['bootable']}")
    print("openstack volume create/list/show/set/unset/migrate checked against the daemon and the storage")


if __name__ == "__main__":
    run_scenario(scenario)
