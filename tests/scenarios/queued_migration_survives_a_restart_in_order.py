#!/usr/bin/env python3
"""A restart of the source daemon keeps queued migrations queued, in the order asked: with
max_concurrent_migrations = 1 and four migrations, the started one rolls back (source untouched,
available, nothing left on the peer) while the queued ones come back as queued with their
positions; the second then runs first and all the queued ones succeed, identical on the
destination, except the one abandoned over HTTP while queued (os-migrate_volume_completion
with error = true), which stays on host-a, available, untouched."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from evacuation_support import ACTIVE, data_volume, migrations, wait_all
from scenario_support import check, content_digest, daemon_pair, listed, run_scenario, volume_action
from volmig_lab import GiB


def scenario(lab):
    a, b = daemon_pair(lab, a_defaults={"max_concurrent_migrations": "1", "volume_copy_bps_limit": "2M"})
    sources = [data_volume(a, f"r{i}", seed=70 + i, mib=8) for i in range(4)]
    ids = [v["id"] for v, _ in sources]
    for vid in ids:
        a.migrate(vid, "host-b@thin")
    before = migrations(a, ids)
    check([before[v].get("queue_position") for v in ids[1:]] == [1, 2, 3], f"before the restart: {before}")

    a.stop()
    a.start()
    after = migrations(a, ids)
    # The started one was interrupted: rolled back. The queued ones kept their places.
    check([after[v]["state"] for v in ids[2:]] == ["queued", "queued"], f"after the restart: {[after[v]['state'] for v in ids]}")
    check(after[ids[1]]["state"] in ("queued",) + ACTIVE, f"the second after the restart: {after[ids[1]]}")
    positions = [after[v].get("queue_position") for v in ids[1:] if after[v]["state"] == "queued"]
    check(positions == list(range(1, len(positions) + 1)), f"queue positions after the restart: {positions}")

    # Abandon the last one while it waits.
    status, answer = volume_action(a, ids[3], {"os-migrate_volume_completion": {"new_volume": "", "error": True}})
    check(status == 200, f"abandoning a queued migration: {status} {answer}")

    ended = wait_all(a, ids, timeout=60)
    check(ended[ids[0]]["state"] == "error", f"the interrupted migration ended {ended[ids[0]]['state']}")
    check(ended[ids[1]]["state"] == "success" and ended[ids[2]]["state"] == "success",
          f"the queued ones ended {ended[ids[1]]['state']}, {ended[ids[2]]['state']}: {ended[ids[1]].get('error')} {ended[ids[2]].get('error')}")
    check("abandoned while queued" in (ended[ids[3]].get("error") or ""), f"the abandoned one: {ended[ids[3]]}")
    check(ended[ids[1]]["updated_at"] <= ended[ids[2]]["updated_at"], "the third finished before the second")
    for i in (1, 2):
        v, digest = sources[i]
        check(content_digest(b.volume_path(b.show(v["id"])), GiB) == digest, f"{v['id']} differs on host-b")
    for i in (0, 3):
        v, digest = sources[i]
        view = a.show(v["id"])
        check(view["status"] == "available" and view["os-vol-host-attr:host"].startswith("host-a@thin"), f"{v['id']} after: {view}")
        check(content_digest(v["volmig:location"], GiB) == digest, f"the untouched source {v['id']} changed")
    check(sorted(x["id"] for x in listed(b)) == sorted(ids[1:3]), f"host-b lists {[x['id'] for x in listed(b)]}")


if __name__ == "__main__":
    run_scenario(scenario)
