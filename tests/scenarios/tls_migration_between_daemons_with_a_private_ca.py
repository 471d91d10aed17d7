#!/usr/bin/env python3
"""Two daemons serving HTTPS only, with certificates of a private CA made at test time: a
migration from host-a to host-b succeeds over TLS (the peer calls and the extent stream) and
the bytes on host-b are identical. The daemons answer no plain HTTP, the start log says https,
and the small calls of the migration reuse connections (host-b's accepted connections are
fewer than the requests it served from host-a)."""
import os
import re
import sys

from volmig_lab import GiB, sha256_of

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import check, http, metrics, new_source, run_scenario, settle  # noqa: E402
from tls_lab import tls_pair  # noqa: E402


def counts(daemon):
    """(requests served, connections accepted) so far, from /metrics."""
    m = metrics(daemon)
    return (sum(v for (name, _), v in m.items() if name == "volmig_http_requests_total"),
            m[("volmig_http_connections_accepted_total", "")])


def scenario(lab):
    _, a, b = tls_pair(lab)
    check(a.url.startswith("https://"), f"host-a's URL is {a.url}")
    with open(a.log_path) as f:
        check("on https://127.0.0.1:" in f.read(), f"host-a's start line does not say https:\n{a.log_tail()}")

    # Plain HTTP to the HTTPS port: a 400 that says to use https://, nothing served.
    status, _, body = http("GET", f"http://127.0.0.1:{a.port}/v3/volumes")
    check(status == 400 and b"https://" in body, f"plain HTTP to the TLS port answered {status} {body[:200]!r}")

    v, src_path, src_sha = new_source(a, "web")
    before = counts(b)
    a.migrate(v["id"], "host-b@thin")
    view = settle(a, v["id"], timeout=60)
    m = view["volmig:migration"]
    check(m["state"] == "success", f"the migration over TLS ended {m['state']}: {m.get('error')}")
    bv = b.show(v["id"])
    check(bv["status"] == "available", f"the volume on host-b is {bv['status']}")
    dst_sha = sha256_of(b.volume_path(bv), GiB)
    check(dst_sha == src_sha, f"content differs after the TLS migration: {src_sha} != {dst_sha}")
    check(not os.path.exists(src_path), "the source file is still there after success")

    # Connection reuse: host-a's calls against host-b's new connections. The test's own calls
    # in between (show, and the second GET /metrics) are one connection and one request each.
    after = counts(b)
    requests, connections = after[0] - before[0], after[1] - before[1]
    print(f"host-b served {requests} requests on {connections} new connections during the migration")
    check(requests - connections >= 2, f"no connection reuse: {requests} requests on {connections} connections")


if __name__ == "__main__":
    run_scenario(scenario)
