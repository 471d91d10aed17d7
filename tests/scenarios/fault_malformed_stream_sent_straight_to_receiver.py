#!/usr/bin/env python3
"""The receiving end of a migration defends itself against bad extent streams sent straight to
POST /volmig/v1/streams/<id>: a volume on host-b (thick_file, so that its neighbour in the pool
is the next region of the same file) is prepared with volmig-prepare_receive, then sent a wrong
or missing token (403), garbage (400), a truncated stream, a record reaching beyond the
volume, a stream larger than the volume, a record out of order (400 each), an END whose
checksum does not match (refused), a stream for a volume that was not prepared, or a second
stream while one is being received (409). Every answer says what is wrong, the volume records
the error, the daemon stays up, and no byte lands beyond the volume: the neighbouring volume is
unchanged and the target itself still reads as zeros."""
import hashlib
import http.client
import os
import sys
import time

from volmig_lab import GiB, MiB, sha256_of

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from extent_streams import DATA, END, ZERO, header, post_stream, prepare_receive as prepare, record
from scenario_support import check, run_scenario


def scenario(lab):
    b = lab.daemon("host-b", backends={"thick": {"volume_driver": "thick_file", "pool_size": "2G"}})
    pool = b.backends["thick"]["pool_file"]
    target = b.create(1, name="target")
    neighbour = b.create(1, name="neighbour")
    tid, nid = target["id"], neighbour["id"]
    check(int(target["volmig:location"]) + GiB == int(neighbour["volmig:location"]),
          f"the neighbour does not follow the target in the pool: {target['volmig:location']} / {neighbour['volmig:location']}")
    n_path = b.volume_path(neighbour)
    with open(n_path, "r+b") as f:  # a recognisable neighbour: its first and last MiB
        f.write(b"\x4e" * MiB)
        f.seek(GiB - MiB)
        f.write(b"\x4e" * MiB)
        os.fsync(f.fileno())
    n_sha = sha256_of(n_path, GiB)
    zero_sha = hashlib.sha256()
    for _ in range(GiB // MiB):
        zero_sha.update(bytes(MiB))
    zero_sha = zero_sha.hexdigest()
    pool_size = os.path.getsize(pool)

    def expect_refused(body, token, status, fragments, what, records_error=True):
        got, message = post_stream(b, tid, body, token)
        check(got == status, f"{what}: answered {got} ({message}), expected {status}")
        for fragment in fragments:
            check(fragment in message, f"{what}: the answer {message!r} does not say {fragment!r}")
        view = b.show(tid)
        if records_error:
            check(view["volmig:error"] and fragments[0] in view["volmig:error"], f"{what}: the volume's error is {view['volmig:error']!r}")
        check(view["status"] == "available", f"{what}: the target is {view['status']}")
        check(b.running(), f"{what}: host-b's volmigd died")
        print(f"{what}: {got} {message.strip()}")

    token = prepare(b, tid)
    check(b.show(tid)["migration_status"].startswith("target:"), "a prepared volume is not marked as a migration target")
    zeros_stream = header(GiB) + record(ZERO, 0, GiB) + record(END, GiB, 8) + b"xxh3sum:"

    # Wrong or missing token: refused before anything else; the preparation still stands.
    expect_refused(zeros_stream, "not-the-token", 403, ["X-Volmig-Stream-Token"], "wrong token", records_error=False)
    expect_refused(zeros_stream, None, 403, ["X-Volmig-Stream-Token"], "missing token", records_error=False)
    # Garbage.
    expect_refused(b"this is not a volmig extent stream, just words " * 20, token, 400, ["bad magic"], "garbage")
    # The failed stream used up the preparation: the same token is refused now.
    expect_refused(zeros_stream, token, 409, ["not prepared"], "stream after a failed one", records_error=False)

    # A truncated stream: a DATA record that announces 1 MiB and carries 1000 bytes.
    token = prepare(b, tid)
    expect_refused(header(GiB) + record(DATA, 0, MiB) + b"\xee" * 1000, token, 400, ["truncated"], "truncated stream")
    # A stream that simply stops (no END).
    token = prepare(b, tid)
    expect_refused(header(GiB) + record(ZERO, 0, GiB // 2), token, 400, ["truncated"], "stream without END")
    # A record reaching beyond the volume's last byte.
    token = prepare(b, tid)
    body = header(GiB) + record(ZERO, 0, GiB - MiB) + record(DATA, GiB - MiB, 2 * MiB) + b"\xee" * (2 * MiB)
    expect_refused(body, token, 400, ["reaches beyond the volume"], "record beyond the volume")
    # A stream that claims a bigger volume than the destination.
    token = prepare(b, tid)
    body = header(2 * GiB) + record(ZERO, 0, GiB) + record(DATA, GiB, MiB) + b"\xee" * MiB
    expect_refused(body, token, 400, ["holds only"], "stream larger than the volume")
    # Records out of order (a gap at the start).
    token = prepare(b, tid)
    expect_refused(header(GiB) + record(DATA, 4096, 4096) + b"\xee" * 4096, token, 400, ["out-of-order"], "record out of order")
    # A well-formed stream whose END checksum does not match what the volume holds.
    token = prepare(b, tid)
    got, message = post_stream(b, tid, header(GiB) + record(ZERO, 0, GiB) + record(END, GiB, 20) + b"xxh3sum:000000000000", token)
    check(got >= 400 and "verification FAILED" in message, f"a stream with a wrong END checksum answered {got}: {message}")
    check("verification FAILED" in (b.show(tid)["volmig:error"] or ""), "the checksum mismatch is not recorded on the volume")
    print(f"wrong END checksum: {got} {message.strip()}")

    # A volume that was never prepared.
    got, message = post_stream(b, nid, zeros_stream, "anything")
    check(got == 409 and "not prepared" in message, f"a stream to an unprepared volume answered {got}: {message}")
    print(f"unprepared volume: {got} {message.strip()}")

    # A second stream while one is being received.
    token = prepare(b, tid)
    slow = http.client.HTTPConnection("127.0.0.1", b.port, timeout=60)
    slow.putrequest("POST", f"/volmig/v1/streams/{tid}")
    for k, v in {"Content-Type": "application/octet-stream", "X-Volmig-Stream-Token": token, "X-Auth-Token": "lab",
                 "Content-Length": str(len(header(GiB)) + 24 + MiB)}.items():
        slow.putheader(k, v)
    slow.endheaders()
    slow.send(header(GiB) + record(DATA, 0, MiB))
    time.sleep(0.5)  # let host-b claim the target for this stream
    expect_refused(zeros_stream, token, 409, ["already being received"], "second concurrent stream", records_error=False)
    slow.close()  # the first stream is cut short
    deadline = time.time() + 10
    while "truncated" not in (b.show(tid)["volmig:error"] or "") and time.time() < deadline:
        time.sleep(0.1)
    check("truncated" in (b.show(tid)["volmig:error"] or ""), f"the cut stream is not recorded: {b.show(tid)['volmig:error']!r}")

    # Nothing landed outside the target, and none of the rejected payload inside it.
    check(os.path.getsize(pool) == pool_size, f"the pool file grew from {pool_size} to {os.path.getsize(pool)} bytes")
    check(sha256_of(n_path, GiB) == n_sha, "the neighbouring volume changed: a stream wrote beyond the target")
    t_sha = sha256_of(b.volume_path(b.show(tid)), GiB)
    check(t_sha == zero_sha, "the target no longer reads as zeros: a rejected record was written")
    check(b.running(), "host-b's volmigd died")


if __name__ == "__main__":
    run_scenario(scenario)
