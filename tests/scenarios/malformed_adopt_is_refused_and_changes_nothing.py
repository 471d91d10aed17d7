#!/usr/bin/env python3
"""The receiving side, driven directly as a fake source would: a volume created on host-b is
prepared (volmig-prepare_receive) and sent a valid extent stream built in Python (accepted and
verified). A volmig-adopt whose volume.name is a number answers 400 with a Cinder error body
naming the field, and changes nothing: the temporary volume is still there, available and
still a migration target, the adopted id does not exist, host-b lists only the temporary
volume. The correct volmig-adopt afterwards succeeds: the volume answers under its new id with
its name and the streamed bytes, and the temporary id is gone (404, not listed, one file in the
pool)."""
import os
import random
import sys

from volmig_lab import GiB, MiB

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from extent_streams import build_stream, post_stream, prepare_receive
from scenario_support import (THIN, check, expect, extents_digest, http, listed, pool_files, raise_problems,
                              run_scenario, volume_action, volume_digest)

SOURCE_ID = "5a5a5a5a-1111-4222-8333-444455556666"  # the id the volume takes when adopted


def scenario(lab):
    b = lab.daemon("host-b", backends=THIN)
    pool = b.backends["thin"]["pool_path"]
    temp = b.create(1, name="migration target of " + SOURCE_ID)
    tid = temp["id"]
    token = prepare_receive(b, tid, source_volume=SOURCE_ID)

    rng = random.Random(7)
    extents = [(0, rng.randbytes(MiB)), (512 * MiB, rng.randbytes(3 * MiB))]
    status, answer = post_stream(b, tid, build_stream(GiB, extents), token)
    check(status == 200 and '"verified":true' in answer.replace(" ", ""), f"the valid stream answered {status}: {answer}")
    sent = extents_digest(GiB, extents)
    check(volume_digest(b, b.show(tid)) == sent, "the streamed bytes are not what host-b holds")
    before = b.show(tid)

    # The malformed adopt: refused, nothing changed.
    bad = {"volmig-adopt": {"volume": {"id": SOURCE_ID, "name": 5}, "stream_token": token}}
    status, message = volume_action(b, tid, bad)
    expect(status == 400, f"volmig-adopt with \"name\": 5 answered {status}, not 400: {message}")
    expect("name" in str(message), f"the refusal does not name the field: {message}")
    print(f"malformed adopt: {status} {message}")
    code, _, raw = http("GET", f"{b.url}/v3/volumes/{SOURCE_ID}")
    expect(code == 404, f"after the refused adopt GET of {SOURCE_ID} answers {code}: {raw[:200]!r}")
    after = b.show(tid)
    for key in ("status", "migration_status", "volmig:location", "name"):
        expect(after[key] == before[key], f"the refused adopt changed the temporary volume's {key}: {before[key]!r} -> {after[key]!r}")
    expect([x["id"] for x in listed(b)] == [tid], f"after the refused adopt host-b lists {[x['id'] for x in listed(b)]}")

    # The correct adopt: succeeds.
    good = {"volmig-adopt": {"volume": {"id": SOURCE_ID, "name": "adopted"}, "stream_token": token}}
    status, answer = volume_action(b, tid, good, expect=200)
    check(answer == {"volume_id": SOURCE_ID}, f"the correct adopt answered {answer}")
    adopted = b.show(SOURCE_ID)
    check(adopted["status"] == "available" and adopted["name"] == "adopted",
          f"the adopted volume is {adopted['status']} named {adopted['name']!r}")
    check(volume_digest(b, adopted) == sent, "the adopted volume does not hold the streamed bytes")
    code, _, _ = http("GET", f"{b.url}/v3/volumes/{tid}")
    check(code == 404, f"the temporary id {tid} still answers {code} after the adoption")
    check([x["id"] for x in listed(b)] == [SOURCE_ID], f"host-b lists {[x['id'] for x in listed(b)]}")
    check(pool_files(pool) == [os.path.basename(adopted["volmig:location"])], f"host-b's pool holds {pool_files(pool)}")
    raise_problems()


if __name__ == "__main__":
    run_scenario(scenario)
