#!/usr/bin/env python3
"""The volmig CLI drives a token-protected daemon: volumes, create, show, delete, capabilities and
plan, with the daemon found through --url / $VOLMIG_URL and the token through --token /
$VOLMIG_TOKEN. Effects are checked on the daemon (REST) and the storage. Exit codes: 0 ok, 3 when
the daemon refuses (4xx: unknown id, wrong token, no room), 1 when it cannot be reached, 2 for bad
arguments."""
import json
import os
import subprocess
import sys

from volmig_lab import GiB, MiB, free_port

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import check, run_scenario

TOKEN = "cli-token-7"


def volmig(*args, env=None, code=0, what=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("VOLMIG_")}
    e.update(env or {})
    r = subprocess.run([os.environ["VOLMIG"], *args], capture_output=True, text=True, env=e, timeout=60)
    check(r.returncode == code, f"volmig {' '.join(args)} ({what or 'case'}) exited {r.returncode}, expected {code}\n"
                                f"stdout: {r.stdout}\nstderr: {r.stderr}")
    return r


def main(lab):
    supplied = os.path.join(lab.dir, "supplied.pool")
    with open(supplied, "wb") as f:
        f.truncate(2 * GiB)
        f.write(b"\x77" * MiB)
    d = lab.daemon("host-cli", backends={
        "thin": {"volume_driver": "thin_file"},
        "thick": {"volume_driver": "thick_file", "pool_size": "2G"},
        "legacy": {"volume_driver": "thick_file", "pool_file": supplied},
    }, auth_token=TOKEN)
    thin_pool = d.backends["thin"]["pool_path"]
    conn = ["--url", d.url, "--token", TOKEN]
    env = {"VOLMIG_URL": d.url + "/", "VOLMIG_TOKEN": TOKEN}

    # create (--url/--token, JSON): the volume exists on the daemon and on disk.
    r = volmig("create", "1", "--name", "web", "--type", "thin", *conn, "--json", what="create --json")
    v = json.loads(r.stdout)["volume"]
    vid = v["id"]
    check(v["status"] == "available" and v["name"] == "web" and v["size"] == 1, f"create --json printed {v}")
    path = os.path.join(thin_pool, f"volume-{vid}")
    check(os.path.isfile(path) and os.stat(path).st_size == GiB, f"the CLI's create made no 1 GiB file at {path}")
    check(d.show(vid)["name"] == "web", "the daemon does not know the CLI's volume")

    # create through the environment, table output, a G suffix, on the thick backend.
    r = volmig("create", "1G", "--name", "db", "--type", "thick", env=env, what="create via VOLMIG_URL")
    lines = {l.split()[0]: l.split()[1] for l in r.stdout.splitlines() if len(l.split()) >= 2}
    did = lines.get("id")
    check(did and lines.get("status") == "available" and lines.get("os-vol-host-attr:host") == "host-cli@thick#thick",
          f"create's table output: {r.stdout}")
    check(d.show(did)["volume_type"] == "thick", "the thick volume is not on thick")

    # volumes: both, with status and host, through --url and through the environment.
    for how, args, e in (("--url", conn, None), ("VOLMIG_URL", [], env)):
        r = volmig("volumes", *args, env=e, what=f"volumes via {how}")
        rows = {l.split()[0]: l.split() for l in r.stdout.splitlines()[1:] if l.strip()}
        check(r.stdout.startswith("ID"), f"volumes via {how}: no header: {r.stdout}")
        check(set(rows) == {vid, did}, f"volumes via {how} lists {sorted(rows)}, expected {sorted([vid, did])}")
        check(rows[vid][1:4] == ["web", "available", "1"] and rows[vid][-1] == "host-cli@thin#thin", f"volumes row for web: {rows[vid]}")
    r = volmig("volumes", *conn, "--json", what="volumes --json")
    check(sorted(x["id"] for x in json.loads(r.stdout)["volumes"]) == sorted([vid, did]), "volumes --json")

    # show
    r = volmig("show", vid, *conn, what="show")
    check(vid in r.stdout and "available" in r.stdout and "1073741824" in r.stdout, f"show printed: {r.stdout}")

    # capabilities: the live fact and its reason, for a clean and a foreign pool.
    r = volmig("capabilities", "host-cli@thick", *conn, what="capabilities thick")
    check(any(l.split()[:2] == ["cinder_sparse_copy_volume", "true"] for l in r.stdout.splitlines()), f"capabilities thick: {r.stdout}")
    check("created by volmig" in r.stdout, f"capabilities thick does not say why: {r.stdout}")
    r = volmig("capabilities", "host-cli@legacy", *conn, "--json", what="capabilities legacy --json")
    check(json.loads(r.stdout)["properties"]["cinder_sparse_copy_volume"]["default"] is False, "capabilities legacy --json is not false")

    # plan: to a second, local backend, with the strategy and the reasons, and nothing copied.
    r = volmig("plan", "--to", "host-cli@thick", vid, *conn, what="plan to thick")
    check("strategy    sparse" in r.stdout and "local (same daemon)" in r.stdout and "cinder_sparse_copy_volume=true" in r.stdout,
          f"plan to a zero-initialized thick pool: {r.stdout}")
    r = volmig("plan", "--to", "host-cli@legacy", vid, *conn, "--json", what="plan to legacy")
    p = json.loads(r.stdout)["plan"]
    check(p["strategy"] == "full" and p["same_daemon"] is True and p["destination"] == "host-cli@legacy", f"plan to legacy: {p}")
    check(any("cinder_sparse_copy_volume" in x for x in p["reasons"]), f"plan to legacy does not say why: {p['reasons']}")
    r = volmig("plan", "--to", "host-cli@thick", vid, "--force-full", *conn, what="plan --force-full")
    check("strategy    full" in r.stdout and "force_host_copy" in r.stdout, f"plan --force-full: {r.stdout}")
    check(sorted(x["id"] for x in d.volumes()) == sorted([vid, did]), "planning created volumes")
    check(d.show(vid)["volmig:migration"] is None, "planning started a migration")

    # Refusals: exit 3, nothing changed.
    ghost = "00000000-0000-4000-8000-000000000000"
    r = volmig("show", ghost, *conn, code=3, what="show of an unknown id")
    check("404" in r.stderr and ghost in r.stderr, f"show of an unknown id said: {r.stderr}")
    r = volmig("delete", ghost, *conn, code=3, what="delete of an unknown id")
    check("404" in r.stderr, f"delete of an unknown id said: {r.stderr}")
    r = volmig("volumes", "--url", d.url, "--token", "wrong", code=3, what="a wrong token")
    check("401" in r.stderr, f"a wrong token said: {r.stderr}")
    r = volmig("volumes", "--url", d.url, code=3, what="no token")
    check("401" in r.stderr, f"no token said: {r.stderr}")
    r = volmig("create", "5", "--type", "thick", *conn, code=3, what="a size beyond the pool")
    check("400" in r.stderr and "size" in r.stderr, f"a size beyond the pool said: {r.stderr}")
    r = volmig("create", "1", "--type", "gold", *conn, code=3, what="an unknown type")
    check("volume_type" in r.stderr, f"an unknown type said: {r.stderr}")
    r = volmig("plan", "--to", "host-cli@nope", vid, *conn, code=3, what="plan to an unknown backend")
    check(sorted(x["id"] for x in d.volumes()) == sorted([vid, did]), "refused requests changed the volumes")

    # Unreachable: exit 1.
    dead = f"http://127.0.0.1:{free_port()}"
    r = volmig("volumes", "--url", dead, code=1, what="an unreachable daemon")
    check("connect" in r.stderr.lower(), f"an unreachable daemon said: {r.stderr}")
    volmig("show", vid, env={"VOLMIG_URL": dead, "VOLMIG_TOKEN": TOKEN}, code=1, what="an unreachable VOLMIG_URL")

    # Bad arguments: exit 2, usage on stderr, nothing sent.
    for args in (["create"], ["create", "abc"], ["create", "1.5"], ["create", "-1"], ["show"], ["show", "a", "b"], ["delete"],
                 ["plan", vid], ["capabilities"], ["volumes", "extra"], ["show", vid, "--bogus"], ["volumes", "--url"]):
        r = volmig(*args, *([] if args == ["volumes", "--url"] else conn), code=2, what="bad arguments")
        check("usage:" in r.stderr or "volmig" in r.stderr, f"volmig {' '.join(args)}: no usage message: {r.stderr}")
    check(sorted(x["id"] for x in d.volumes()) == sorted([vid, did]), "bad arguments changed the volumes")

    # delete: exit 0, the file is gone and the daemon no longer knows it.
    r = volmig("delete", vid, *conn, what="delete")
    check(f"deleted volume {vid}" in r.stdout, f"delete printed: {r.stdout}")
    check(not os.path.exists(path), f"the volume file {path} survived the CLI's delete")
    d.request("GET", f"/v3/volumes/{vid}", expect=404)
    volmig("delete", did, env=env, what="delete via VOLMIG_URL")
    check(d.volumes() == [], "volumes remain after deleting both")
    log = open(d.log_path).read()
    check(log.count("created volume ") == 2 and log.count("deleted volume ") == 2, "the daemon's log does not show 2 creates and 2 deletes")


if __name__ == "__main__":
    run_scenario(main)
