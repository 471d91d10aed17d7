#!/usr/bin/env python3
"""Volume records and the thick_file pools' facts survive a restart: volumes are created (and one
extended, one deleted), volmigd is stopped with SIGTERM (exit code 0, the log says it stopped), and
started again with the same configuration: the same volumes with the same fields, the same bytes in
them, the same capability documents (a clean pool stays zero-initialized, one with an unwiped
freed region stays not), the same pool allocation, and a clean orphan check."""
import json
import os
import signal
import sys
import urllib.request

from volmig_lab import GiB, MiB, sha256_of

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import check, run_scenario


def metrics(d):
    text = urllib.request.urlopen(d.url + "/metrics", timeout=30).read().decode()
    return {line.rsplit(" ", 1)[0]: line.rsplit(" ", 1)[1] for line in text.splitlines()
            if line.startswith(("volmig_volumes", "volmig_pool_"))}


def main(lab):
    d = lab.daemon("host-r", backends={
        "thin": {"volume_driver": "thin_file"},
        "clean": {"volume_driver": "thick_file", "pool_size": "4G", "volume_clear": "zero"},
        "dirty": {"volume_driver": "thick_file", "pool_size": "3G", "volume_clear": "none"},
    })
    a = d.request("POST", "/v3/proj-a/volumes", {"volume": {"size": 1, "name": "alpha", "description": "first",
                                                             "metadata": {"app": "db", "tier": "1"}}})["volume"]
    b = d.create(1, name="beta", backend="clean")
    c = d.create(2, name="gamma", backend="clean")
    e = d.create(1, name="epsilon", backend="dirty")
    gone = d.create(1, name="gone", backend="dirty")
    d.request("POST", f"/v3/volumes/{a['id']}/action", {"os-extend": {"new_size": 2}}, expect=202)
    d.delete(gone["id"])  # volume_clear = none: the dirty pool is no longer zero-initialized
    # Some data in the thin volume, to see it is the same storage afterwards.
    with open(a["volmig:location"], "r+b") as f:
        f.seek(5 * MiB)
        f.write(os.urandom(3 * MiB))
    digest = sha256_of(a["volmig:location"], 16 * MiB)

    ids = [a["id"], b["id"], c["id"], e["id"]]
    before = {v["id"]: v for v in d.volumes()}
    check(sorted(before) == sorted(ids), f"before the restart the daemon lists {sorted(before)}, expected {sorted(ids)}")
    shown_before = {i: d.show(i) for i in ids}
    caps_before = {n: d.capabilities(n) for n in ("thin", "clean", "dirty")}
    check(caps_before["clean"]["properties"]["cinder_sparse_copy_volume"]["default"] is True, "the clean pool is not zero-initialized to begin with")
    check(caps_before["dirty"]["properties"]["cinder_sparse_copy_volume"]["default"] is False,
          "the dirty pool still claims zero-initialization after a volume_clear = none delete")
    metrics_before = metrics(d)
    pool_sizes = {n: os.stat(d.backends[n]["pool_file"]).st_size for n in ("clean", "dirty")}

    # SIGTERM: exit code 0, and the log says so.
    code = d.stop(signal.SIGTERM)
    check(code == 0, f"volmigd exited {code} on SIGTERM, expected 0")
    log = open(d.log_path).read()
    check("received SIGTERM, stopping" in log, "the log does not say 'received SIGTERM, stopping'")
    check(log.rstrip().endswith("stopped"), f"the log's last line is not 'stopped': {log.splitlines()[-1]!r}")
    log_len = len(log)

    d.start()
    after_log = open(d.log_path).read()[log_len:]
    check("orphan check: every volume record matches its storage" in after_log, f"the orphan check after the restart is not clean:\n{after_log}")
    check("not the file volmig created" not in after_log, f"after the restart a pool file was taken for a foreign one:\n{after_log}")

    after = {v["id"]: v for v in d.volumes()}
    check(sorted(after) == sorted(ids), f"after the restart the daemon lists {sorted(after)}, expected {sorted(ids)}")
    for i in ids:
        check(after[i] == before[i], f"volume {i} in the list changed across the restart:\n before {json.dumps(before[i], sort_keys=True)}\n after  {json.dumps(after[i], sort_keys=True)}")
        s = d.request("GET", f"/v3/proj-a/volumes/{i}")["volume"] if i == a["id"] else d.show(i)
        want = dict(shown_before[i])
        if i == a["id"]:  # shown through the project URL: only the links differ
            want["links"] = s["links"]
        check(s == want, f"volume {i} changed across the restart:\n before {json.dumps(want, sort_keys=True)}\n after  {json.dumps(s, sort_keys=True)}")
    av = after[a["id"]]
    check(av["size"] == 2 and av["name"] == "alpha" and av["description"] == "first" and av["metadata"] == {"app": "db", "tier": "1"}
          and av["os-vol-tenant-attr:tenant_id"] == "proj-a" and av["status"] == "available", f"alpha's fields after the restart: {av}")
    check(sha256_of(a["volmig:location"], 16 * MiB) == digest, "alpha's bytes changed across the restart")
    check(os.stat(a["volmig:location"]).st_size == 2 * GiB, "alpha's file size changed across the restart")
    status = d.request("GET", f"/v3/volumes/{gone['id']}", expect=404) is not None
    check(status, "show of the deleted volume after the restart has no error body")

    for n in ("thin", "clean", "dirty"):
        cap = d.capabilities(n)
        check(cap == caps_before[n], f"the capability document of {n} changed across the restart:\n before {json.dumps(caps_before[n], sort_keys=True)}\n after  {json.dumps(cap, sort_keys=True)}")
    for n, size in pool_sizes.items():
        check(os.stat(d.backends[n]["pool_file"]).st_size == size, f"the {n} pool file changed size across the restart")
    m = metrics(d)
    check(m == metrics_before, f"volume counts or pool bytes changed across the restart:\n before {metrics_before}\n after  {m}")

    # The restarted daemon carries on: the regions of b and c are still theirs, a new volume
    # lands in free space, and deleting works.
    n = d.create(1, name="after", backend="clean")
    offsets = {int(after[b["id"]]["volmig:location"]), int(after[c["id"]]["volmig:location"])}
    check(int(n["volmig:location"]) not in offsets, f"a volume created after the restart got a region in use: {n['volmig:location']} in {offsets}")
    d.delete(n["id"])
    check(d.capabilities("clean")["properties"]["cinder_sparse_copy_volume"]["default"] is True, "the clean pool lost zero-initialization")


if __name__ == "__main__":
    run_scenario(main)
