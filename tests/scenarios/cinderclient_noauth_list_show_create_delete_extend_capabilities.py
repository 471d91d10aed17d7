#!/usr/bin/env python3
"""Debian's python3-cinderclient (the `cinder` command) drives a noauth volmigd through its
/v3/{project_id} endpoint: list, create, show, extend, get-capabilities and delete all work, and
their effects are checked on the daemon (REST) and on the storage, not only on cinder's exit code."""
import os
import re
import shutil
import subprocess
import sys
import time

from volmig_lab import GiB

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from openstack_clients import props, table
from scenario_support import check, run_scenario

PROJECT = "p"


def main(lab):
    cinder = shutil.which("cinder")
    check(cinder is not None, "the `cinder` command is missing: apt-get install -y python3-cinderclient")
    d = lab.daemon("host-cc", backends={
        "thin": {"volume_driver": "thin_file"},
        "thick": {"volume_driver": "thick_file", "pool_size": "3G"},
    })
    pool = d.backends["thin"]["pool_path"]
    base = [cinder, "--os-auth-type", "noauth", "--os-user-id", "u", "--os-project-id", PROJECT,
            "--os-endpoint", f"{d.url}/v3/{PROJECT}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["PYTHONPATH"] = ""  # Debian's cinderclient, not anything of ours

    def cinder_ok(*args):
        t0 = time.time()
        r = subprocess.run(base + list(args), capture_output=True, text=True, env=env, timeout=60)
        print(f"cinder {' '.join(args)}: {time.time() - t0:.1f} s", file=sys.stderr)
        check(r.returncode == 0, f"cinder {' '.join(args)} exited {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr[-2000:]}")
        return r.stdout

    # list: empty.
    out = cinder_ok("list")
    rows = table(out)
    check(rows and rows[0][:3] == ["ID", "Status", "Name"] and len(rows) == 1, f"cinder list on an empty daemon:\n{out}")

    # create: a 1 GiB volume on the default (thin) backend, then one of type thick.
    out = cinder_ok("create", "--name", "cc-web", "--description", "from cinderclient", "--metadata", "app=web", "1")
    p = props(out)
    vid = p.get("id", "")
    check(re.fullmatch(r"[0-9a-f-]{36}", vid), f"cinder create printed no id:\n{out}")
    check(p.get("status") == "available" and p.get("size") == "1" and p.get("name") == "cc-web", f"cinder create printed:\n{out}")
    v = d.show(vid)
    check(v["status"] == "available" and v["size"] == 1 and v["name"] == "cc-web" and v["description"] == "from cinderclient",
          f"the daemon's view of cinder's volume: {v}")
    check(v["metadata"] == {"app": "web"}, f"metadata from cinder --metadata: {v['metadata']}")
    check(v["os-vol-tenant-attr:tenant_id"] == PROJECT, f"tenant of cinder's volume: {v['os-vol-tenant-attr:tenant_id']!r}")
    path = os.path.join(pool, f"volume-{vid}")
    check(os.path.isfile(path) and os.stat(path).st_size == GiB, f"no 1 GiB volume file at {path}")

    out = cinder_ok("create", "--volume-type", "thick", "--name", "cc-db", "1")
    tid = props(out).get("id", "")
    t = d.show(tid)
    check(t["os-vol-host-attr:host"] == "host-cc@thick#thick" and t["volume_type"] == "thick", f"--volume-type thick landed on {t['os-vol-host-attr:host']}")

    # list: both, with the right fields.
    out = cinder_ok("list")
    rows = {r[0]: r for r in table(out)[1:]}
    check(set(rows) == {vid, tid}, f"cinder list shows {sorted(rows)}, expected {sorted([vid, tid])}:\n{out}")
    check(rows[vid][1:4] == ["available", "cc-web", "1"], f"cinder list row: {rows[vid]}")
    check(rows[tid][5] == "thick", f"cinder list volume type of cc-db: {rows[tid]}")

    # show: by id and by name.
    for ref in (vid, "cc-web"):
        p = props(cinder_ok("show", ref))
        check(p.get("id") == vid and p.get("status") == "available" and p.get("os-vol-host-attr:host") == "host-cc@thin#thin",
              f"cinder show {ref}: {p}")

    # extend: the file grows, the daemon says 2 GiB.
    cinder_ok("extend", vid, "2")
    check(os.stat(path).st_size == 2 * GiB, f"after cinder extend the volume file is {os.stat(path).st_size} bytes, expected {2 * GiB}")
    v = d.show(vid)
    check(v["size"] == 2 and v["status"] == "available", f"after cinder extend the daemon says size {v['size']} status {v['status']}")
    check(props(cinder_ok("show", vid)).get("size") == "2", "cinder show after extend does not say 2")

    # get-capabilities: the document, with the sparse-copy fact.
    out = cinder_ok("get-capabilities", "host-cc@thick")
    p = props(out)
    check(p.get("volume_backend_name") == "thick" and p.get("vendor_name") == "volmig", f"cinder get-capabilities:\n{out}")
    check(p.get("sparse_copy_volume") == "True", f"sparse_copy_volume in cinder get-capabilities: {p.get('sparse_copy_volume')!r}")
    check("default : True" in p.get("cinder_sparse_copy_volume", ""), f"cinder_sparse_copy_volume: {p.get('cinder_sparse_copy_volume')!r}")
    p = props(cinder_ok("get-capabilities", "host-cc@thin"))
    check("default : True" in p.get("thin_provisioning", ""), f"thin_provisioning of thin: {p.get('thin_provisioning')!r}")

    # delete: both, the file is gone, the daemon forgets them, the thick region is freed.
    cinder_ok("delete", vid, tid)
    check(not os.path.exists(path), f"the volume file {path} survived cinder delete")
    d.request("GET", f"/v3/volumes/{vid}", expect=404)
    d.request("GET", f"/v3/volumes/{tid}", expect=404)
    check(d.volumes() == [], "volumes remain after cinder delete")
    check(len(table(cinder_ok("list"))) == 1, "cinder list is not empty after delete")

    # An error through cinderclient: a show of an unknown id fails (non-zero) with the daemon's message.
    r = subprocess.run(base + ["show", "00000000-0000-4000-8000-000000000000"], capture_output=True, text=True, env=env, timeout=60)
    check(r.returncode != 0, f"cinder show of an unknown id exited 0:\n{r.stdout}")
    log = open(d.log_path).read()
    check(f"POST /v3/{PROJECT}/volumes 202" in log and f"/v3/{PROJECT}/volumes/{vid}/action 202" in log,
          "the daemon's log does not show cinder's create and extend on the project URL")


if __name__ == "__main__":
    run_scenario(main)
