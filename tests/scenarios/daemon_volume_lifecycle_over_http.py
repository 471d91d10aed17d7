#!/usr/bin/env python3
"""A volume's life over Cinder's v3 API on a thin_file backend, both with /v3/{project_id}/ and
with project-less /v3/ URLs: create (202, available, a sparse file of the right size in the pool
directory), show, list, detail, extend (the file grows), delete (the file is gone, show is 404)."""
import json
import os
import sys

from volmig_lab import GiB

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import check, http as http_request, pool_listing, run_scenario


def http(method, url, body=None):
    status, _, raw = http_request(method, url, body=body)
    return status, (json.loads(raw) if raw else None)


def lifecycle(d, pool, prefix, project):
    base = d.url + prefix
    what = f"[{prefix}]"
    before = set(pool_listing(pool))

    # create
    status, body = http("POST", base + "/volumes",
                        {"volume": {"size": 1, "name": f"web{project}", "description": "lifecycle", "metadata": {"tier": "gold"}}})
    check(status == 202, f"{what} create answered {status}, expected 202: {body}")
    v = body["volume"]
    vid = v["id"]
    check(v["status"] == "available", f"{what} created volume status is {v['status']!r}, expected 'available'")
    check(v["size"] == 1 and v["volmig:size_bytes"] == GiB, f"{what} created volume size {v['size']} / {v['volmig:size_bytes']}")
    check(v["name"] == f"web{project}" and v["description"] == "lifecycle", f"{what} name/description: {v['name']!r} {v['description']!r}")
    check(v["metadata"] == {"tier": "gold"}, f"{what} metadata: {v['metadata']}")
    check(v["os-vol-host-attr:host"] == "host-l@thin#thin", f"{what} host: {v['os-vol-host-attr:host']!r}")
    check(v["os-vol-tenant-attr:tenant_id"] == project, f"{what} tenant_id {v['os-vol-tenant-attr:tenant_id']!r}, expected {project!r}")
    check(v["volume_type"] == "thin", f"{what} volume_type {v['volume_type']!r}")
    self_href = [l["href"] for l in v["links"] if l["rel"] == "self"]
    check(self_href == [f"{base}/volumes/{vid}"], f"{what} self link {self_href}, expected {base}/volumes/{vid}")
    path = os.path.join(pool, f"volume-{vid}")
    check(v["volmig:location"] == path, f"{what} location {v['volmig:location']!r}, expected {path!r}")
    check(set(pool_listing(pool)) - before == {f"volume-{vid}"}, f"{what} pool directory after create: {sorted(pool_listing(pool))}")
    st = os.stat(path)
    check(st.st_size == GiB, f"{what} volume file is {st.st_size} bytes, expected {GiB}")
    check(st.st_blocks * 512 <= 1 << 20, f"{what} new volume file is not sparse: {st.st_blocks * 512} bytes allocated")
    check(v["volmig:allocated_bytes"] == st.st_blocks * 512, f"{what} allocated_bytes {v['volmig:allocated_bytes']} vs the file's {st.st_blocks * 512}")

    # show
    status, body = http("GET", f"{base}/volumes/{vid}")
    check(status == 200, f"{what} show answered {status}: {body}")
    shown = body["volume"]
    for k in ("id", "name", "size", "status", "metadata", "os-vol-host-attr:host", "created_at", "volmig:location", "links"):
        check(shown[k] == v[k], f"{what} show's {k} is {shown[k]!r}, create said {v[k]!r}")

    # list: id, name, links only
    status, body = http("GET", f"{base}/volumes")
    check(status == 200, f"{what} list answered {status}")
    mine = [x for x in body["volumes"] if x["id"] == vid]
    check(len(mine) == 1, f"{what} list does not hold {vid} once: {body}")
    check(set(mine[0]) == {"id", "name", "links"}, f"{what} list entry keys {sorted(mine[0])}, expected id, name, links")
    check(mine[0]["name"] == f"web{project}", f"{what} list entry name {mine[0]['name']!r}")
    check(mine[0]["links"][0]["href"] == f"{base}/volumes/{vid}", f"{what} list link {mine[0]['links']}")

    # detail: full views
    status, body = http("GET", f"{base}/volumes/detail")
    check(status == 200, f"{what} detail answered {status}")
    mine = [x for x in body["volumes"] if x["id"] == vid]
    check(len(mine) == 1 and mine[0]["status"] == "available" and mine[0]["size"] == 1 and mine[0]["volmig:location"] == path,
          f"{what} detail entry: {mine}")

    # extend: 202 with no body, the file grows and stays sparse
    status, body = http("POST", f"{base}/volumes/{vid}/action", {"os-extend": {"new_size": 3}})
    check(status == 202, f"{what} os-extend answered {status}: {body}")
    st = os.stat(path)
    check(st.st_size == 3 * GiB, f"{what} after os-extend to 3 the file is {st.st_size} bytes, expected {3 * GiB}")
    check(st.st_blocks * 512 <= 1 << 20, f"{what} extending allocated {st.st_blocks * 512} bytes")
    status, body = http("GET", f"{base}/volumes/{vid}")
    check(body["volume"]["size"] == 3 and body["volume"]["volmig:size_bytes"] == 3 * GiB and body["volume"]["status"] == "available",
          f"{what} after extend show says size {body['volume']['size']} status {body['volume']['status']}")

    # delete: 202, the file is gone, show 404, not listed
    status, body = http("DELETE", f"{base}/volumes/{vid}")
    check(status == 202, f"{what} delete answered {status}: {body}")
    check(not os.path.exists(path), f"{what} the volume file {path} still exists after delete")
    check(set(pool_listing(pool)) == before, f"{what} pool directory after delete: {sorted(pool_listing(pool))}")
    status, body = http("GET", f"{base}/volumes/{vid}")
    check(status == 404 and "itemNotFound" in body, f"{what} show after delete answered {status}: {body}")
    status, body = http("GET", f"{base}/volumes/detail")
    check(all(x["id"] != vid for x in body["volumes"]), f"{what} the deleted volume is still listed")
    return vid


def main(lab):
    d = lab.daemon("host-l", backends={"thin": {"volume_driver": "thin_file"}})
    pool = d.backends["thin"]["pool_path"]
    lifecycle(d, pool, "/v3", "")
    lifecycle(d, pool, "/v3/6f1a0c2e8d", "6f1a0c2e8d")
    check(pool_listing(pool) == [], f"the pool is not empty at the end: {pool_listing(pool)}")
    log = open(d.log_path).read()
    check(log.count("created volume ") == 2 and log.count("deleted volume ") == 2, "the log does not record 2 creates and 2 deletes")


if __name__ == "__main__":
    run_scenario(main)
