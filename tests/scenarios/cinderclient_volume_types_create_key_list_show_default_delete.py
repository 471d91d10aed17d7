#!/usr/bin/env python3
"""Debian's cinderclient manages volume types on a volmigd: type-list shows each backend as a type
of its volume_backend_name, type-create and type-key set volume_backend_name=... make a type
that chooses a backend, type-show and extra-specs-list show it, type-default names the first
backend's type, create --volume-type puts the volume on the type's backend, type-delete is
refused while a volume has the type and works once none does. openstackclient (admin_token)
lists the same types and creates, shows, renames, sets a property on and deletes one. Effects
are checked on the daemon (REST) and the storage, not only on the clients' exit codes."""
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

from volmig_lab import GiB

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import check, run_scenario
from openstack_clients import table, props

PROJECT = "p"
TOKEN = "types-admin-token"


def main(lab):
    cinder, openstack = shutil.which("cinder"), shutil.which("openstack")
    check(cinder is not None and openstack is not None, "cinder or openstack is missing: apt-get install -y python3-cinderclient python3-openstackclient")
    d = lab.daemon("host-ty", auth_token=TOKEN, backends={
        "thin": {"volume_driver": "thin_file"},
        "thick": {"volume_driver": "thick_file", "pool_size": "3G"},
    })
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["PYTHONPATH"] = ""  # Debian's clients, not anything of ours
    base = [cinder, "--os-auth-type", "admin_token", "--os-token", TOKEN, "--os-project-id", PROJECT, "--os-endpoint", f"{d.url}/v3/{PROJECT}"]

    def run(argv, ok=True):
        t0 = time.time()
        r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
        print(f"{' '.join(argv[:1] + argv[9:])}: {time.time() - t0:.1f} s", file=sys.stderr)
        if ok:
            check(r.returncode == 0, f"{' '.join(argv)} exited {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr[-2000:]}")
        return r

    def cinder_ok(*args):
        return run(base + list(args)).stdout

    def rest(method, path, body=None, expect=None):
        req = urllib.request.Request(d.url + path, method=method, data=None if body is None else json.dumps(body).encode())
        req.add_header("X-Auth-Token", TOKEN)
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        check(expect is None or status == expect, f"{method} {path} answered {status}: {raw[:500]!r}")
        return json.loads(raw) if raw else None

    # type-list: the backends, as types of their volume_backend_name.
    rows = table(cinder_ok("type-list"))
    check(rows and rows[0] == ["ID", "Name", "Description", "Is_Public"], f"cinder type-list header: {rows[:1]}")
    names = {r[1]: r for r in rows[1:]}
    check(set(names) == {"thin", "thick"} and all(r[3] == "True" for r in names.values()), f"cinder type-list: {rows}")
    thick_id = names["thick"][0]
    check(rest("GET", f"/v3/{PROJECT}/types/{thick_id}")["volume_type"]["extra_specs"] == {"volume_backend_name": "thick"},
          "the thick backend's type does not select volume_backend_name thick")

    # type-default: the first backend's.
    rows = table(cinder_ok("type-default"))
    check(len(rows) == 2 and rows[1][1] == "thin", f"cinder type-default: {rows}")

    # type-create and type-key: a type choosing the thick backend.
    rows = table(cinder_ok("type-create", "Gold", "--description", "database volumes"))
    check(len(rows) == 2 and rows[1][1] == "Gold" and rows[1][2] == "database volumes", f"cinder type-create: {rows}")
    gold_id = rows[1][0]
    cinder_ok("type-key", "Gold", "set", "volume_backend_name=thick", "volmig:note=fast")
    specs = rest("GET", f"/v3/{PROJECT}/types/{gold_id}/extra_specs")["extra_specs"]
    check(specs == {"volume_backend_name": "thick", "volmig:note": "fast"}, f"extra specs after type-key set: {specs}")
    cinder_ok("type-key", gold_id, "unset", "volmig:note")
    specs = rest("GET", f"/v3/{PROJECT}/types/{gold_id}/extra_specs")["extra_specs"]
    check(specs == {"volume_backend_name": "thick"}, f"extra specs after type-key unset: {specs}")
    p = props(cinder_ok("type-show", "Gold"))
    check(p.get("id") == gold_id and p.get("name") == "Gold" and "volume_backend_name : thick" in p.get("extra_specs", ""),
          f"cinder type-show Gold: {p}")
    check(p.get("os-volume-type-access:is_public") == "True", f"cinder type-show is_public: {p}")
    rows = table(cinder_ok("extra-specs-list"))
    check(any(r[1] == "Gold" and "volume_backend_name" in r[2] for r in rows), f"cinder extra-specs-list: {rows}")
    r = run(base + ["type-create", "Gold"], ok=False)
    check(r.returncode != 0 and "already exists" in (r.stdout + r.stderr), f"a second type-create Gold: {r.returncode} {r.stdout} {r.stderr[-500:]}")

    # create --volume-type by name and by id: the type's backend, the type's name in the view.
    vid = props(cinder_ok("create", "--volume-type", "Gold", "--name", "db", "1")).get("id", "")
    v = rest("GET", f"/v3/{PROJECT}/volumes/{vid}")["volume"]
    check(v["os-vol-host-attr:host"] == "host-ty@thick#thick" and v["volume_type"] == "Gold" and v["volume_type_id"] == gold_id,
          f"create --volume-type Gold: host {v['os-vol-host-attr:host']}, type {v['volume_type']}, type id {v['volume_type_id']}")
    check(v["volmig:allocated_bytes"] is not None, "no allocation shown for the thick volume")
    wid = props(cinder_ok("create", "--volume-type", thick_id, "1")).get("id", "")
    w = rest("GET", f"/v3/{PROJECT}/volumes/{wid}")["volume"]
    check(w["os-vol-host-attr:host"] == "host-ty@thick#thick" and w["volume_type"] == "thick", f"create --volume-type <thick id>: {w}")
    plain = props(cinder_ok("create", "1")).get("id", "")
    x = rest("GET", f"/v3/{PROJECT}/volumes/{plain}")["volume"]
    check(x["os-vol-host-attr:host"] == "host-ty@thin#thin" and x["volume_type"] == "thin", f"create without a type: {x}")
    check(os.path.getsize(x["volmig:location"]) == GiB, "the default volume's file is not 1 GiB")
    rows = {r[0]: r for r in table(cinder_ok("list"))[1:]}
    check(rows[vid][5] == "Gold" and rows[plain][5] == "thin", f"cinder list volume types: {rows}")
    r = run(base + ["create", "--volume-type", "Platinum", "1"], ok=False)
    check(r.returncode != 0 and "could not be found" in (r.stdout + r.stderr), f"create --volume-type Platinum: {r.stdout} {r.stderr[-500:]}")

    # type-delete: refused while a volume has the type, done once none does.
    out = run(base + ["type-delete", "Gold"], ok=False)
    check(out.returncode != 0 and "in use" in out.stdout, f"type-delete Gold while in use: {out.returncode} {out.stdout}")
    check(rest("GET", f"/v3/{PROJECT}/types/{gold_id}", expect=200)["volume_type"]["name"] == "Gold", "Gold vanished after a refused delete")
    cinder_ok("delete", vid)
    deadline = time.time() + 20
    while rest("GET", f"/v3/{PROJECT}/volumes/detail")["volumes"] and any(x["id"] == vid for x in rest("GET", f"/v3/{PROJECT}/volumes/detail")["volumes"]):
        check(time.time() < deadline, "the Gold volume was not deleted")
        time.sleep(0.1)
    out = cinder_ok("type-delete", "Gold")
    check("has been accepted" in out, f"cinder type-delete Gold: {out}")
    rest("GET", f"/v3/{PROJECT}/types/{gold_id}", expect=404)
    check({r[1] for r in table(cinder_ok("type-list"))[1:]} == {"thin", "thick"}, "type-list after type-delete")

    # openstackclient: the same types.
    r = run([openstack, "--os-auth-type", "admin_token", "--os-token", TOKEN, "--os-endpoint", f"{d.url}/v3/{PROJECT}",
             "--os-volume-api-version", "3", "volume", "type", "list", "--long", "-f", "json"])
    listed = {t["Name"]: t for t in json.loads(r.stdout)}
    check(set(listed) == {"thin", "thick"}, f"openstack volume type list: {r.stdout}")
    check(listed["thick"]["ID"] == thick_id and listed["thick"]["Is Public"] is True, f"openstack volume type list: {listed['thick']}")
    check(listed["thick"]["Properties"] == {"volume_backend_name": "thick"}, f"openstack volume type list --long properties: {listed['thick']}")

    # openstackclient: create with properties, show, set name and property, delete.
    osc = [openstack, "--os-auth-type", "admin_token", "--os-token", TOKEN, "--os-endpoint", f"{d.url}/v3/{PROJECT}",
           "--os-volume-api-version", "3", "volume", "type"]
    made = json.loads(run(osc + ["create", "--description", "from osc", "--property", "volume_backend_name=thick", "Silver",
                                 "-f", "json"]).stdout)
    silver = rest("GET", f"/v3/{PROJECT}/types/{made['id']}")["volume_type"]
    check(silver["name"] == "Silver" and silver["description"] == "from osc" and silver["extra_specs"] == {"volume_backend_name": "thick"},
          f"openstack volume type create: {silver}")
    run(osc + ["set", "--name", "Bronze", "--property", "tier=3", "Silver"])
    shown = json.loads(run(osc + ["show", "Bronze", "-f", "json"]).stdout)
    check(shown["id"] == made["id"] and shown["properties"] == {"volume_backend_name": "thick", "tier": "3"},
          f"openstack volume type show after set: {shown}")
    run(osc + ["delete", "Bronze"])
    rest("GET", f"/v3/{PROJECT}/types/{made['id']}", expect=404)

    # The types survive a restart with the same ids.
    d.stop()
    d.start()
    again = {t["name"]: t["id"] for t in rest("GET", f"/v3/{PROJECT}/types?is_public=None")["volume_types"]}
    check(again == {"thin": names["thin"][0], "thick": thick_id}, f"types after a restart: {again}")


if __name__ == "__main__":
    run_scenario(main)
