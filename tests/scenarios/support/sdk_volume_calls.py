"""Calls of a volmig daemon through Debian's openstacksdk (0.101, block_storage v3), run by
/usr/bin/python3 (openstack_clients.run_sdk_script). Prints what the SDK saw as one JSON line.

    sdk_volume_calls.py URL TOKEN PROJECT create            list, create, wait until available
    sdk_volume_calls.py URL TOKEN PROJECT change ID         extend, metadata set/get/delete, reset status, bootable
    sdk_volume_calls.py URL TOKEN PROJECT migrate ID HOST   migrate and wait for migration_status success
"""
import json
import sys
import time

from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint
import openstack.connection


def connect(url, token, project):
    endpoint = f"{url}/v3/{project}"
    sess = ks_session.Session(auth=token_endpoint.Token(endpoint, token))
    return openstack.connection.Connection(session=sess, block_storage_endpoint_override=endpoint, block_storage_api_version="3")


def main():
    url, token, project, phase = sys.argv[1:5]
    bs = connect(url, token, project).block_storage
    out = {}
    if phase == "create":
        out["listed_before"] = [v.id for v in bs.volumes()]
        v = bs.create_volume(size=1, name="sdk-vol", metadata={"origin": "sdk"})
        v = bs.wait_for_status(v, "available", wait=30)
        out.update(id=v.id, status=v.status, size=v.size)
        out["listed_after"] = [v.id for v in bs.volumes()]
    elif phase == "change":
        vid = sys.argv[5]
        bs.extend_volume(vid, 2)
        out["size_after_extend"] = bs.wait_for_status(bs.get_volume(vid), "available", wait=30).size
        bs.set_volume_metadata(vid, app="sdk", tier="gold")
        out["metadata_after_set"] = bs.get_volume_metadata(vid).metadata
        bs.delete_volume_metadata(vid, keys=["tier"])
        out["metadata_after_delete"] = bs.get_volume_metadata(vid).metadata
        bs.reset_volume_status(vid, status="error", attach_status=None, migration_status=None)
        out["status_after_reset"] = bs.get_volume(vid).status
        bs.reset_volume_status(vid, status="available", attach_status=None, migration_status="none")
        bs.set_volume_bootable_status(vid, True)
        v = bs.get_volume(vid)
        out.update(status=v.status, is_bootable=v.is_bootable, migration_status=v.migration_status)
    elif phase == "migrate":
        vid, host = sys.argv[5], sys.argv[6]
        bs.migrate_volume(vid, host=host)
        deadline = time.time() + 60
        v = bs.get_volume(vid)
        while v.migration_status not in ("success", "error") and time.time() < deadline:
            time.sleep(0.2)
            v = bs.get_volume(vid)
        out.update(host=v.host, migration_status=v.migration_status, status=v.status, size=v.size, metadata=v.metadata,
                   is_bootable=v.is_bootable)
    else:
        raise SystemExit(f"unknown phase {phase}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
