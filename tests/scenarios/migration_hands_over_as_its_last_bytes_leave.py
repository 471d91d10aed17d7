#!/usr/bin/env python3
"""A migration that completes on its own hands the volume over as its last bytes leave (api/
migration.hpp EarlyHandover): the destination's capability document lists adopt_with_finish
under volmig:calls, and the source sends volmig-adopt carrying "finish" (its checksum of the
whole volume) instead of a volmig-finish_receive and an adopt after the slices' receipts. The
receiver verifies every range before it adopts; the report says verified, with matching sums
and the destination's allocation. Asked for directly, an adopt with a finish that does not hold
(no range received, an unknown field) is a 400 naming the problem and changes nothing: the
volume stays a migration target. With volmig:auto_complete false the copy is finished with
volmig-finish_receive and waits for os-migrate_volume_completion, as before."""
import json
import os
import sys
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from peer_doubles import RefusingProxy
from scenario_support import THIN, check, expect, http, new_source, raise_problems, run_scenario, settle, volume_action, volume_digest


def scenario(lab):
    b = lab.daemon("host-b", backends=THIN)
    doc = b.capabilities("thin")
    check("adopt_with_finish" in (doc.get("volmig:calls") or []), f"the capability document lists no adopt_with_finish: {doc.get('volmig:calls')}")
    proxy = RefusingProxy(b.url, refuse={})
    try:
        a = lab.daemon("host-a", backends=THIN, start=False)
        a.peers["host-b"] = proxy.url
        a.start()

        v, _, digest = new_source(a, "early", seed=5, extents=((1, 8), (400, 16)), zeros=((200, 2),), digest=True)
        a.migrate(v["id"], "host-b@thin")
        m = settle(a, v["id"], timeout=60)["volmig:migration"]
        check(m["state"] == "success", f"the migration ended in {m['state']}: {m.get('error')}")
        check(volume_digest(b, b.show(v["id"])) == digest, "the volume arrived with other content")
        calls = [r.call for r in proxy.requests]
        check("action" not in calls, f"a separate volmig-finish_receive as well: {calls}")
        adopts = proxy.calls("adopt")
        check(len(adopts) == 1, f"adopt calls: {calls}")
        finish = adopts[0].json["volmig-adopt"].get("finish") or {}
        check(isinstance(finish.get("checksum"), str) and finish.get("volume_size") == 1 << 30, f"the adopt's finish: {finish}")
        report = m["report"]
        check(report.get("verified") is True and (report.get("checksum") or {}).get("match") is True,
              f"the report's verification: verified {report.get('verified')}, {report.get('checksum')}")
        allocated = (report.get("allocation") or {}).get("destination_after", {}).get("allocated")
        expect(isinstance(allocated, int) and 24 << 20 <= allocated < 28 << 20, f"the destination's allocation: {allocated}")
        print(f"calls to host-b: {calls}")

        # Not completing on its own: the finish action, then it waits.
        before = len(proxy.requests)
        v2, _, _ = new_source(a, "waits", seed=6, extents=((1, 4),), zeros=(), digest=True)
        a.migrate(v2["id"], "host-b@thin", auto_complete=False)
        m2 = settle(a, v2["id"], timeout=60, states=("awaiting_completion", "error", "success"))["volmig:migration"]
        check(m2["state"] == "awaiting_completion", f"auto_complete false ended in {m2['state']}: {m2.get('error')}")
        later = [r.call for r in proxy.requests[before:]]
        check(later.count("action") == 1 and "adopt" not in later, f"calls without auto_complete: {later}")
    finally:
        proxy.close()

    # Asked for directly: an adopt whose finish does not hold changes nothing.
    prepare = {"source_volume": str(uuid.uuid4()), "source_host": "host-a@thin#thin", "strategy": "sparse", "block_size": 4096,
               "streams": 2, "compression": [], "data_bytes": 8 << 20}
    status, _, raw = http("POST", b.url + "/v3/volumes", {"volume": {"size": 1, "volume_type": "thin"}, "volmig-prepare_receive": prepare})
    check(status == 202, f"create with prepare: {status} {raw[:200]}")
    created = json.loads(raw)
    target, token = created["volume"]["id"], created["volmig-prepare_receive"]["stream_token"]
    adopt = {"volume": {"id": prepare["source_volume"]}, "stream_token": token,
             "finish": {"checksum": "xxh3sum:00000000000000000000000000000000", "volume_size": 1 << 30}}
    status, message = volume_action(b, target, {"volmig-adopt": adopt}, expect=400)
    expect(status == 400 and "not verified" in str(message), f"an adopt with nothing received: {status} {message}")
    bad = dict(adopt, finish=dict(adopt["finish"], extra=1))
    status, message = volume_action(b, target, {"volmig-adopt": bad}, expect=400)
    expect(status == 400 and "volmig-adopt.finish" in str(message), f"an unknown field in finish: {status} {message}")
    view = b.show(target)
    check((view["migration_status"] or "").startswith("target"), f"a refused adopt changed the target: {view['migration_status']}")
    check(all(x["id"] != prepare["source_volume"] for x in b.volumes()), "a refused adopt made the volume")
    raise_problems()


if __name__ == "__main__":
    run_scenario(scenario)
