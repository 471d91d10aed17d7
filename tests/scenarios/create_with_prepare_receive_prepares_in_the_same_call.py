#!/usr/bin/env python3
"""POST /v3/volumes may carry volmig-prepare_receive beside "volume" (api/rest.hpp
kPrepareOnCreate): the new volume is prepared to receive a migration in the same call, and the
answer carries the action's reply. Arguments that do not parse are a 400 naming the field, and
nothing is created; a receive the backend refuses (a sparse copy onto a thick pool) leaves the
volume created, not a target, with the refusal under the key. A migration between two daemons
makes no separate prepare call and no read-back of the destination: the calls a proxy sees are
capabilities, create, the slice streams, finish and adopt."""
import json
import os
import sys
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from peer_doubles import RefusingProxy
from scenario_support import THIN, check, expect, fill_file, http, listed, new_source, raise_problems, run_scenario, settle, volume_digest

KEY = "volmig-prepare_receive"


def prepare_args(**changes):
    args = {"source_volume": str(uuid.uuid4()), "source_host": "host-a@thin#thin", "strategy": "sparse", "block_size": 4096,
            "streams": 4, "compression": ["zstd"], "data_bytes": 64 << 20}
    args.update(changes)
    return args


def create(daemon, body):
    status, _, raw = http("POST", daemon.url + "/v3/volumes", body)
    return status, json.loads(raw) if raw else None


def scenario(lab):
    b = lab.daemon("host-b", backends={"thin": {"volume_driver": "thin_file"}, "thick": {"volume_driver": "thick_file"}}, start=False)
    fill_file(b.backends["thick"]["pool_file"], b"\xa5" * 4096)  # an operator's pool of old bytes: it does not read as zeros
    b.start()

    # Prepared in the same call.
    status, body = create(b, {"volume": {"size": 1, "volume_type": "thin"}, KEY: prepare_args()})
    check(status == 202, f"create with {KEY}: {status} {body}")
    prepared = body.get(KEY) or {}
    check(isinstance(prepared.get("stream_token"), str) and prepared["stream_token"], f"no stream token in the answer: {body}")
    check(prepared.get("strategy") == "sparse" and prepared.get("streams", 0) >= 1 and prepared.get("compression") == "zstd",
          f"the receive terms: {prepared}")
    view = b.show(body["volume"]["id"])
    check((view["migration_status"] or "").startswith("target"), f"the new volume is not a migration target: migration_status {view['migration_status']}")
    print(f"created and prepared in one call: {prepared['strategy']}, {prepared['streams']} stream(s), checkpoint {prepared['checkpoint_bytes']}")

    # Malformed arguments: a 400 naming the field, nothing made.
    before = len(listed(b))
    for bad, field in ((prepare_args(block_size=3), "block_size"), (prepare_args(streams=0), "streams"),
                       (prepare_args(source_volume="../x"), "source_volume"), (prepare_args(strategy="bogus"), "strategy"),
                       (prepare_args(extra=1), "extra"), ("yes", KEY)):
        status, answer = create(b, {"volume": {"size": 1, "volume_type": "thin"}, KEY: bad})
        text = str(answer)
        expect(status == 400 and field in text, f"{KEY} = {str(bad)[:60]}: {status} {text[:200]}")
    check(len(listed(b)) == before, f"refused creates made volumes: {len(listed(b))} listed, {before} before")
    status, answer = create(b, {"volume": {"size": 1}, "volmig-prepare_something": {}})
    expect(status == 400 and "volmig-prepare_something" in str(answer), f"an unknown top-level field: {status} {answer}")

    # Refused by the backend: a dirty thick pool does not read as zeros, so no sparse copy onto it.
    status, body = create(b, {"volume": {"size": 1, "volume_type": "thick"}, KEY: prepare_args()})
    check(status == 202, f"create on thick with a sparse prepare: {status} {body}")
    refusal = str((body.get(KEY) or {}).get("error"))
    expect("sparse" in refusal and "zero" in refusal, f"the refusal under {KEY}: {body.get(KEY)}")
    view = b.show(body["volume"]["id"])
    expect(not (view["migration_status"] or "").startswith("target"), f"a refused prepare made a target: {view['migration_status']}")
    check("/" not in refusal.replace("host-a@thin#thin", ""), f"the refusal shows a path: {refusal}")

    # A migration through a proxy that records the calls: no prepare call of its own, no show.
    proxy = RefusingProxy(b.url, refuse={})
    try:
        a = lab.daemon("host-a", backends=THIN, start=False)
        a.peers["host-b"] = proxy.url
        a.start()
        v, _, digest = new_source(a, "one-call", seed=7, extents=((1, 4), (300, 8)), zeros=(), digest=True)
        a.migrate(v["id"], "host-b@thin")
        m = settle(a, v["id"], timeout=60)["volmig:migration"]
        check(m["state"] == "success", f"the migration ended in {m['state']}: {m.get('error')}")
        check(volume_digest(b, b.show(v["id"])) == digest, "the volume arrived with other content")
        calls = [r.call for r in proxy.requests]
        creates = proxy.calls("create")
        check(len(creates) == 1 and KEY in (creates[0].json or {}), f"the create did not carry {KEY}: {creates[0].json if creates else None}")
        check(calls.count("prepare") == 0, f"a separate prepare call as well: {calls}")
        check(calls.count("show") == 0, f"the destination was read back: {calls}")
        # The allocation comes with the finish's answer now: 12 MiB written, a thin destination.
        allocated = (m["report"].get("allocation") or {}).get("destination_after", {}).get("allocated")
        check(isinstance(allocated, int) and 12 << 20 <= allocated < 16 << 20,
              f"the report's destination allocation: {m['report'].get('allocation')}")
        print(f"calls to host-b: {calls}")
    finally:
        proxy.close()
    raise_problems()


if __name__ == "__main__":
    run_scenario(scenario)
