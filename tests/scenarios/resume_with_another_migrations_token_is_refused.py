#!/usr/bin/env python3
"""Two volumes on host-b are prepared as targets of two migrations (each with its own stream
token), and the first receives the start of a v2 slice, so that it holds verified ranges. With
the second migration's token, the first target's volmig-stream_resume_point,
volmig-finish_receive and a slice stream are each refused with 403, and change nothing: the
first target's verified ranges, state and bytes are what they were, and its own token still
resumes it. A resume offset beyond the verified ranges is refused with 400 and changes nothing."""
import hashlib
import os
import sys

from volmig_lab import ApiError, GiB, MiB, sha256_of

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from extent_streams import DATA, END, ZERO, header_v2, partial_checksum, post_stream, prepare_receive, record
from scenario_support import check, run_scenario, volume_action


def resume_point(b, vid, token):
    return volume_action(b, vid, {"volmig-stream_resume_point": {"stream_token": token}})


def scenario(lab):
    b = lab.daemon("host-b", backends={"thin": {"volume_driver": "thin_file"}})
    first, second = b.create(1, name="first")["id"], b.create(1, name="second")["id"]
    answer = prepare_receive(b, first, source_volume="0f0f0f0f-0000-0000-0000-00000000000a", full=True, streams=2, compression=["zstd"],
                             data_bytes=64 * MiB)
    token1, grid = answer["stream_token"], answer["checkpoint_bytes"]
    check(answer["streams"] == 2 and answer["compression"] == "zstd", f"volmig-prepare_receive answered {answer}")
    token2 = prepare_receive(b, second, source_volume="0f0f0f0f-0000-0000-0000-00000000000b")

    # The first target receives 3 ranges of a slice, then the connection ends without END.
    blob = bytes(range(256)) * (grid // 256)
    body = header_v2(GiB, 0, GiB // 2, 0)
    for k in range(3):
        body += record(DATA, k * grid, grid) + blob
    status, message = post_stream(b, first, body, token1)
    check(status == 400 and "truncated" in message, f"the cut slice stream answered {status}: {message}")
    status, held = resume_point(b, first, token1)
    check(status == 200, f"resume point with the right token answered {status}: {held}")
    ranges = held["resume"]["ranges"]
    check([k for k, _ in ranges] == [0, 1, 2], f"the first target holds ranges {ranges}")
    check(held["resume"]["source_volume"] == "0f0f0f0f-0000-0000-0000-00000000000a" and held["resume"]["destination_volume"] == first,
          f"the resume point names {held['resume']}")
    path = b.volume_path(b.show(first))
    sha = sha256_of(path, GiB)

    # Another migration's token: 403 for every call, and nothing changes.
    status, message = resume_point(b, first, token2)
    check(status == 403, f"volmig-stream_resume_point with another migration's token answered {status}: {message}")
    status, message = volume_action(b, first, {"volmig-finish_receive": {"stream_token": token2, "checksum": "xxh3sum:" + "0" * 32}})
    check(status == 403, f"volmig-finish_receive with another migration's token answered {status}: {message}")
    status, message = post_stream(b, first, header_v2(GiB, 0, GiB // 2, 3 * grid) + record(ZERO, 3 * grid, GiB // 2 - 3 * grid), token2)
    check(status == 403, f"a slice stream with another migration's token answered {status}: {message}")
    # A resume beyond the verified ranges (range 3 is not verified): 400, nothing changes.
    status, message = post_stream(b, first, header_v2(GiB, 0, GiB // 2, 5 * grid) + record(ZERO, 5 * grid, GiB // 2 - 5 * grid), token1)
    check(status == 400 and "not verified" in message, f"a resume beyond the verified ranges answered {status}: {message}")
    check(sha256_of(path, GiB) == sha, "a refused call changed the first target's bytes")
    status, again = resume_point(b, first, token1)
    check(status == 200 and again["resume"]["ranges"] == ranges, f"the verified ranges changed: {again}")
    check(b.show(first)["migration_status"].startswith("target:"), f"the first target is {b.show(first)['migration_status']}")
    status, other = resume_point(b, second, token2)
    check(status == 200 and other["resume"]["ranges"] == [], f"the second target's resume point: {other}")

    # Its own token resumes it: the rest of the slice from range 3, then the other half, then finish.
    rest = header_v2(GiB, 0, GiB // 2, 3 * grid) + record(ZERO, 3 * grid, GiB // 2 - 3 * grid)
    total = partial_checksum([(0, blob * 3)])
    status, message = post_stream(b, first, rest + record(END, GiB // 2, len(total)) + total.encode(), token1)
    check(status == 200, f"the resumed slice answered {status}: {message}")
    empty = partial_checksum([])
    status, message = post_stream(b, first, header_v2(GiB, GiB // 2, GiB, GiB // 2) + record(ZERO, GiB // 2, GiB // 2) +
                                  record(END, GiB, len(empty)) + empty.encode(), token1)
    check(status == 200, f"the second slice answered {status}: {message}")
    from extent_streams import content_checksum
    whole = content_checksum(GiB, [(0, blob * 3)])
    status, done = volume_action(b, first, {"volmig-finish_receive": {"stream_token": token1, "checksum": whole}})
    check(status == 200 and done["received"]["destination_checksum"] == whole, f"volmig-finish_receive answered {status}: {done}")
    with open(path, "rb") as f:
        check(f.read(3 * grid) == blob * 3, "the first target does not hold the slice's bytes")
    print(f"403 for another migration's token on resume point, finish and stream; 400 beyond the verified ranges; grid {grid // MiB} MiB")


if __name__ == "__main__":
    run_scenario(scenario)
