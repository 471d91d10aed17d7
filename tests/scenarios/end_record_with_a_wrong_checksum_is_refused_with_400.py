#!/usr/bin/env python3
"""An extent stream sent straight to a receiver whose END record carries a checksum that does
not match the data is the sender's fault, and answered as one: 400 with a Cinder badRequest
body saying the verification failed, not a 500. The volume records the failure, stays
available, the daemon stays up, and the same volume can be prepared again and then receives a
correct stream."""
import os
import random
import sys

from volmig_lab import GiB, MiB

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from extent_streams import build_stream, post_stream, prepare_receive
from scenario_support import THIN, check, expect, extents_digest, health_problems, raise_problems, run_scenario, volume_digest


def scenario(lab):
    b = lab.daemon("host-b", backends=THIN)
    tid = b.create(1, name="target")["id"]
    extents = [(4 * MiB, random.Random(3).randbytes(2 * MiB))]

    token = prepare_receive(b, tid)
    lie = "xxh3sum:" + "0" * 32
    status, answer = post_stream(b, tid, build_stream(GiB, extents, checksum=lie), token)
    print(f"wrong END checksum: {status} {answer.strip()}")
    expect(status == 400, f"a stream whose END checksum is wrong answered {status}, not 400: {answer}")
    expect('"badRequest"' in answer and "verification FAILED" in answer, f"the answer is not a badRequest saying verification FAILED: {answer}")
    view = b.show(tid)
    expect("verification FAILED" in (view["volmig:error"] or ""), f"the volume's error is {view['volmig:error']!r}")
    check(view["status"] == "available", f"after the refused stream the volume is {view['status']}")
    check(not health_problems(b), f"host-b: {health_problems(b)}")

    token = prepare_receive(b, tid)
    status, answer = post_stream(b, tid, build_stream(GiB, extents), token)
    check(status == 200, f"the correct stream afterwards answered {status}: {answer}")
    check(volume_digest(b, b.show(tid)) == extents_digest(GiB, extents), "the volume does not hold the correct stream's bytes")
    raise_problems()


if __name__ == "__main__":
    run_scenario(scenario)
