#!/usr/bin/env python3
"""The capability document (GET /v3/{project_id}/capabilities/HOST@BACKEND) follows the backend's
live facts: a thick_file pool volmig created advertises cinder_sparse_copy_volume true, and keeps
it while every freed region is wiped (volume_clear = zero); deleting a volume with volume_clear =
none (or a partial volume_clear_size) turns it false at once, with a description that says why; thin_file is true; a pool file the
operator supplied (pre-filled, not made by volmig) is false unless zero_on_create = true."""
import json
import os
import sys
import urllib.error
import urllib.request

from volmig_lab import MiB

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import check, run_scenario


def caps(d, backend, project="p1"):
    with urllib.request.urlopen(f"{d.url}/v3/{project}/capabilities/{d.host}@{backend}", timeout=30) as r:
        check(r.status == 200, f"capabilities of {backend} answered {r.status}")
        return json.loads(r.read())


def sparse(d, backend):
    doc = caps(d, backend)
    p = doc["properties"]["cinder_sparse_copy_volume"]
    check(p.get("type") == "boolean" and isinstance(p.get("default"), bool), f"{backend}: cinder_sparse_copy_volume is not a boolean property: {p}")
    check(doc.get("sparse_copy_volume") == p["default"], f"{backend}: top-level sparse_copy_volume {doc.get('sparse_copy_volume')!r} disagrees with the property {p['default']!r}")
    return p["default"], p.get("description", ""), doc


def main(lab):
    # An operator-supplied pool file, pre-filled with stale bytes, that volmig did not create.
    supplied = os.path.join(lab.dir, "supplied.pool")
    supplied_z = os.path.join(lab.dir, "supplied-z.pool")
    for path in (supplied, supplied_z):
        with open(path, "wb") as f:
            f.truncate(1024 * MiB)
            f.seek(0)
            f.write(b"\xa5" * MiB)  # old data at the front, where the first volume will land
    d = lab.daemon("host-k", backends={
        "thin": {"volume_driver": "thin_file"},
        "wiped": {"volume_driver": "thick_file", "pool_size": "2G", "volume_clear": "zero"},
        "unwiped": {"volume_driver": "thick_file", "pool_size": "2G", "volume_clear": "none"},
        "partial": {"volume_driver": "thick_file", "pool_size": "2G", "volume_clear": "zero", "volume_clear_size": "1"},
        "supplied": {"volume_driver": "thick_file", "pool_file": supplied},
        "supplied_z": {"volume_driver": "thick_file", "pool_file": supplied_z, "zero_on_create": "true"},
    })

    # thin_file: always zero-initialized.
    val, desc, doc = sparse(d, "thin")
    check(val is True, f"thin_file advertises cinder_sparse_copy_volume {val}, expected true")
    check(doc["properties"]["thin_provisioning"]["default"] is True, "thin_file does not advertise thin_provisioning")
    check(doc["volume_backend_name"] == "thin" and doc["namespace"] == "OS::Storage::Capabilities::host-k@thin", f"thin document identity: {doc}")

    # thick_file pools volmig created: true, and the description says why.
    for b in ("wiped", "unwiped", "partial"):
        val, desc, doc = sparse(d, b)
        check(val is True, f"{b}: a thick_file pool created by volmig advertises {val}, expected true")
        check("created by volmig" in desc, f"{b}: the description does not say why: {desc!r}")
        check(doc["properties"]["thin_provisioning"]["default"] is False, f"{b}: thick_file claims thin provisioning")

    # volume_clear = zero: create and delete, still true (the region was wiped).
    v = d.create(1, backend="wiped")
    with open(d.backends["wiped"]["pool_file"], "r+b") as f:
        f.seek(int(v["volmig:location"]))
        f.write(b"\x5a" * MiB)  # data in the volume, which the delete must wipe
    d.delete(v["id"])
    with open(d.backends["wiped"]["pool_file"], "rb") as f:
        f.seek(int(v["volmig:location"]))
        check(f.read(MiB) == bytes(MiB), "volume_clear = zero left the deleted volume's bytes in the pool")
    val, desc, _ = sparse(d, "wiped")
    check(val is True, f"wiped: after a delete with volume_clear = zero the pool advertises {val}, expected true")

    # volume_clear = none: true while the volume lives, false as soon as it is deleted, and says why.
    v = d.create(1, backend="unwiped")
    val, _, _ = sparse(d, "unwiped")
    check(val is True, f"unwiped: creating a volume changed cinder_sparse_copy_volume to {val}")
    with open(d.backends["unwiped"]["pool_file"], "r+b") as f:
        f.seek(int(v["volmig:location"]))
        f.write(b"\x5a" * MiB)
    d.delete(v["id"])
    with open(d.backends["unwiped"]["pool_file"], "rb") as f:
        f.seek(int(v["volmig:location"]))
        check(f.read(MiB) == b"\x5a" * MiB, "volume_clear = none wiped the region anyway (test premise broken)")
    val, desc, _ = sparse(d, "unwiped")
    check(val is False, f"unwiped: after a delete with volume_clear = none the pool still advertises {val}")
    check("volume_clear" in desc and "not fully wiped" in desc, f"unwiped: the description does not say why it is false: {desc!r}")
    # ...and it does not come back by itself.
    v = d.create(2, backend="unwiped")
    val, _, _ = sparse(d, "unwiped")
    check(val is False, "unwiped: creating another volume restored zero-initialization")
    d.delete(v["id"])

    # volume_clear_size = 1 (MiB): only the head of a freed region is wiped, so false after a delete.
    v = d.create(1, backend="partial")
    d.delete(v["id"])
    val, desc, _ = sparse(d, "partial")
    check(val is False, f"partial: after a delete that wiped only volume_clear_size = 1 MiB the pool still advertises {val}")
    check("volume_clear_size" in desc, f"partial: the description does not say why it is false: {desc!r}")

    # An operator-supplied pre-filled pool: false, because volmig cannot know its free space.
    val, desc, _ = sparse(d, "supplied")
    check(val is False, f"supplied: an operator-supplied pool advertises cinder_sparse_copy_volume {val}, expected false")
    check("not created by volmig" in desc, f"supplied: the description does not say why: {desc!r}")
    v = d.create(1, backend="supplied")
    with open(supplied, "rb") as f:
        f.seek(int(v["volmig:location"]))
        check(f.read(16) == b"\xa5" * 16, "supplied: the first volume does not see the stale bytes (the test's premise)")
    d.delete(v["id"])
    val, _, _ = sparse(d, "supplied")
    check(val is False, "supplied: a wiped delete made an operator-supplied pool zero-initialized")

    # The same supplied pool with zero_on_create = true: true, and new volumes really read zeros.
    val, desc, _ = sparse(d, "supplied_z")
    check(val is True, f"supplied_z: zero_on_create = true advertises {val}, expected true")
    check("zero_on_create" in desc, f"supplied_z: the description does not say why: {desc!r}")
    v = d.create(1, backend="supplied_z")
    with open(supplied_z, "rb") as f:
        f.seek(int(v["volmig:location"]))
        check(f.read(MiB) == bytes(MiB), "supplied_z: zero_on_create advertised zeros but the new volume holds stale bytes")

    # Cinder's URL forms: with and without a project id; unknown host or backend is 404.
    check(caps(d, "thin", project="other") == caps(d, "thin"), "the document depends on the project id")
    with urllib.request.urlopen(f"{d.url}/v3/capabilities/host-k@thin", timeout=30) as r:
        check(json.loads(r.read()) == caps(d, "thin"), "the project-less URL answers a different document")
    with urllib.request.urlopen(f"{d.url}/v3/p1/capabilities/host-k@thin%23thin", timeout=30) as r:
        check(json.loads(r.read()) == caps(d, "thin"), "HOST@BACKEND#POOL (with the right pool) answers a different document")
    for bad in ("host-k@nope", "elsewhere@thin", "host-k@thin%23nopool"):
        try:
            urllib.request.urlopen(f"{d.url}/v3/p1/capabilities/{bad}", timeout=30)
            check(False, f"capabilities of {bad} answered 200")
        except urllib.error.HTTPError as e:
            check(e.code == 404, f"capabilities of {bad} answered {e.code}, expected 404")


if __name__ == "__main__":
    run_scenario(main)
