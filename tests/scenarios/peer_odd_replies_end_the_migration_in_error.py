#!/usr/bin/env python3
"""A peer that answers a migration call with well-formed JSON of the wrong shape ends that
migration in error; it never knocks the source daemon over. host-a migrates to "host-b", a
Python FakePeer answering GET /v3/capabilities with a real daemon's document (host-c's, renamed)
and, case by case, one call oddly: create (POST /v3/volumes) with [], null, "", {},
{"volume": []}, {"volume": {"id": 12345}} or {"volume": {"id": "<uuid>", "status": 7}}; show
(GET /v3/volumes/ID, create having answered a valid "creating" volume) with [] or
{"volume": null}; volmig-prepare_receive with {"stream_token": 99}; the stream POST with
{"received": []}, a numeric destination_checksum, or bytes_written as a string (the checksum
right); volmig-adopt with []. Every case: the migration ends in error within 30 s; the volume is
available with migration_status error; its error (volmig:error or volmig:migration.error)
names host-b and the call (create: "creat" or "POST /v3/volumes"; show: "GET /v3/volumes",
"read back" or "show"; prepare: "prepare"; stream: "stream"; adopt: "adopt"); host-a is still
running, GET / answers 300 and its log shows no crash; the source's content is unchanged; and
every volume id the fake's create handed out was DELETEd by host-a. A create answer embedding a
malformed prepare answer is not trusted, and a peer refusing the combined create (an older
volmigd) gets the plain create: either way host-a prepares with the action and the migration
succeeds. At the end a migration to the real host-c still succeeds with identical content."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from extent_streams import end_checksum
from peer_doubles import FakePeer
from scenario_support import (THIN, check, content_digest, expect, health_problems, log_size, new_source, run_scenario,
                              settle, volume_digest)

DATA = ((1, 4),)  # 4 MiB at 1 MiB: each case gets its own small source


def received(req, **fields):
    """A healthy stream answer for the stream in `req`, with `fields` replaced."""
    size, checksum = end_checksum(req.raw)
    doc = {"volume_size": size, "wire_bytes": len(req.raw), "bytes_written": 4 << 20, "bytes_skipped": 0, "bytes_zeroed": 0,
           "bytes_released": 0, "zero_method": "", "source_checksum": checksum, "destination_checksum": checksum,
           "verified": True, "seconds": 0.1}
    doc.update(fields)
    return json.dumps({"received": doc})


CASES = (  # (call answered oddly, the reply, how to say it)
    ("create", "[]", "create answers []"),
    ("create", "null", "create answers null"),
    ("create", '""', 'create answers ""'),
    ("create", "{}", "create answers {}"),
    ("create", '{"volume": []}', 'create answers {"volume": []}'),
    ("create", '{"volume": {"id": 12345}}', "create answers a numeric id"),
    ("create", '{"volume": {"id": "<uuid>", "status": 7}}', "create answers a numeric status"),
    ("show", "[]", "show answers []"),
    ("show", '{"volume": null}', 'show answers {"volume": null}'),
    ("prepare", '{"stream_token": 99}', "prepare_receive answers a numeric stream_token"),
    ("stream", '{"received": []}', 'the stream answers {"received": []}'),
    ("stream", lambda req: received(req, destination_checksum=12345), "the stream answers a numeric destination_checksum"),
    ("stream", lambda req: received(req, bytes_written="4194304"), "the stream answers bytes_written as a string"),
    ("adopt", "[]", "adopt answers []"),
)
CALL_WORDS = {"create": ("creat", "POST /v3/volumes"), "show": ("GET /v3/volumes", "read back", "show"),
              "prepare": ("prepare",), "stream": ("stream",), "adopt": ("adopt",)}


def run_case(a, fake, n, call, reply, what):
    fake.reset(create_status="creating" if call == "show" else "available")
    fake.odd[call] = reply
    v, src, before = new_source(a, f"odd-{n}", seed=100 + n, extents=DATA, zeros=(), digest=True)
    vid = v["id"]
    mark = log_size(a)
    a.migrate(vid, "host-b@thin")
    view = settle(a, vid, timeout=30, died_ok=True)
    problems = health_problems(a, mark)
    for p in problems:
        expect(False, f"{what}: {p}")
    if view is None or not a.running():
        a.start()  # the restart rolls the interrupted job back: go on with what it left
        view = settle(a, vid, timeout=30)
    m = view["volmig:migration"] or {}
    text = f"{view.get('volmig:error') or ''} {m.get('error') or ''}"
    expect(m.get("state") == "error", f"{what}: the migration ended in {m.get('state')}")
    expect(view["status"] == "available" and view["migration_status"] == "error",
           f"{what}: the volume is {view['status']} with migration_status {view['migration_status']}")
    expect("host-b" in text, f"{what}: the error does not name host-b: {text.strip()!r}")
    expect(any(w.lower() in text.lower() for w in CALL_WORDS[call]),
           f"{what}: the error does not name the {call} call ({' / '.join(CALL_WORDS[call])}): {text.strip()!r}")
    intact = os.path.exists(src) and content_digest(src, v["volmig:size_bytes"]) == before
    expect(intact, f"{what}: the source's content changed or is gone ({src})")
    deleted = {r.volume_id for r in fake.calls("delete")}
    expect(set(fake.created) <= deleted, f"{what}: host-a did not DELETE the destination volume(s) "
                                         f"{sorted(set(fake.created) - deleted)} the fake created")
    print(f"{what}: {m.get('state')}, {'crashed, ' if problems else ''}error {text.strip()[:160]!r}")


def scenario(lab):
    c = lab.daemon("host-c", backends=THIN)
    doc = json.loads(json.dumps(c.capabilities("thin")).replace("host-c", "host-b"))
    fake = FakePeer(capabilities=doc)
    try:
        a = lab.daemon("host-a", backends=THIN, start=False)
        a.peers["host-b"] = fake.url
        a.add_peer(c)
        a.start()
        for n, (call, reply, what) in enumerate(CASES):
            run_case(a, fake, n, call, reply, what)
        unknown = [r for r in fake.requests if r.call == "unknown"]
        print(f"requests the fake did not know: {unknown or 'none'}")

        # A create answer whose embedded prepare answer (api/rest.hpp kPrepareOnCreate) does not
        # fit is not trusted: the source prepares with the action, answered healthily, and goes on.
        fake.reset(create_status="available")
        fake.odd["create"] = lambda req: json.dumps({"volume": fake._new_volume(), "volmig-prepare_receive": {"stream_token": 99}})
        v, _, _ = new_source(a, "odd-embedded", seed=98, extents=DATA, zeros=(), digest=True)
        a.migrate(v["id"], "host-b@thin")
        m = settle(a, v["id"], timeout=30)["volmig:migration"]
        create_body = fake.calls("create")[0].json or {}
        check("volmig-prepare_receive" in create_body, f"host-a's create did not offer to prepare in the same call: {create_body}")
        check(m["state"] == "success", f"with a malformed embedded prepare answer the migration ended in {m['state']}: {m.get('error')}")
        check(len(fake.calls("prepare")) == 1, f"host-a made {len(fake.calls('prepare'))} prepare calls after the malformed one, expected 1")
        print("create embedding a malformed prepare answer: not trusted, prepared by the action, success")

        # A peer older than the combined call refuses the create's extra field: the same create
        # again without it, then the action.
        fake.reset(create_status="available", strict_create=True)
        v, _, _ = new_source(a, "older-peer", seed=97, extents=DATA, zeros=(), digest=True)
        a.migrate(v["id"], "host-b@thin")
        m = settle(a, v["id"], timeout=30)["volmig:migration"]
        bodies = [sorted(r.json or {}) for r in fake.calls("create")]
        check(m["state"] == "success", f"to a peer refusing the combined create the migration ended in {m['state']}: {m.get('error')}")
        check(bodies == [["volmig-prepare_receive", "volume"], ["volume"]], f"the creates host-a sent: {bodies}")
        check(len(fake.calls("prepare")) == 1 and len(fake.created) == 1, f"{len(fake.calls('prepare'))} prepare calls, {len(fake.created)} volumes made")
        print("a peer refusing the combined create: created again without it, prepared by the action, success")
    finally:
        fake.close()

    # A healthy peer afterwards: the daemon still migrates.
    v, src, before = new_source(a, "after", seed=99, extents=DATA, zeros=(), digest=True)
    mark = log_size(a)
    a.migrate(v["id"], "host-c@thin")
    m = settle(a, v["id"], timeout=60)["volmig:migration"]
    check(m["state"] == "success", f"the migration to the healthy host-c ended in {m['state']}: {m.get('error')}")
    check(volume_digest(c, c.show(v["id"])) == before, "the volume arrived on host-c with other content")
    check(not health_problems(a, mark), f"host-a after the healthy migration: {health_problems(a, mark)}")
    print("healthy migration to host-c: success")


if __name__ == "__main__":
    run_scenario(scenario)
