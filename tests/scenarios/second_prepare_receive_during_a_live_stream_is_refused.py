#!/usr/bin/env python3
"""While host-a's extent stream into a destination volume on host-b is flowing (slowed by
host-a's volume_copy_bps_limit), a second volmig-prepare_receive on that destination volume
answers 409 with a Cinder-shaped conflict body, and leaves the running migration alone: it
still ends in success within 60 s, the volume arrives on host-b under its id with the source's
bytes, host-a's storage of it is gone, and host-b lists only that volume."""
import os
import sys

from volmig_lab import ApiError, MiB

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from extent_streams import prepare_receive
from scenario_support import (check, daemon_pair, expect, listed, new_source, pool_files, raise_problems, run_scenario,
                              settle, volume_digest, wait_copying)

EXTENTS = ((1, 16), (300, 24), (700, 8))  # 48 MiB of data
LIMIT = 8 * MiB                          # about 6 s of copy


def scenario(lab):
    a, b = daemon_pair(lab, a_defaults={"volume_copy_bps_limit": str(LIMIT)})
    v, src, before = new_source(a, "busy", seed=61, extents=EXTENTS, zeros=(), digest=True)
    vid = v["id"]

    a.migrate(vid, "host-b@thin")
    m = wait_copying(a, vid, "a second volmig-prepare_receive could be sent")
    target = m["destination_volume_id"]
    try:
        token = prepare_receive(b, target, source_volume="0e0e0e0e-0000-0000-0000-000000000002")
        expect(False, f"a second volmig-prepare_receive on {target} during its stream was accepted (token {token})")
    except ApiError as e:
        expect(e.status == 409, f"a second volmig-prepare_receive during the stream answered {e.status}, not 409: {e.message}")
        expect(isinstance(e.body, dict) and any(isinstance(x, dict) and x.get("code") == e.status for x in e.body.values()),
               f"the refusal is not a Cinder error body: {e.body}")
        print(f"second prepare_receive: {e.status} {e.message}")
    bytes_then = m["progress"]["bytes_done"]

    view = settle(a, vid, timeout=60)
    m = view["volmig:migration"]
    check(m["state"] == "success", f"after the refused second prepare_receive the migration ended in {m['state']}: {m.get('error')}")
    bv = b.show(vid)
    check(volume_digest(b, bv) == before, "the volume arrived on host-b with other content")
    check(not os.path.exists(src), "host-a still holds the source's storage after success")
    check([x["id"] for x in listed(b)] == [vid], f"host-b lists {[x['id'] for x in listed(b)]}, expected only {vid}")
    check(pool_files(b.backends["thin"]["pool_path"]) == [os.path.basename(bv["volmig:location"])],
          f"host-b's pool holds {pool_files(b.backends['thin']['pool_path'])}")
    print(f"the second prepare_receive came at {bytes_then // MiB} MiB; the migration ended in success")
    raise_problems()


if __name__ == "__main__":
    run_scenario(scenario)
