#!/usr/bin/env python3
"""A request target that is not a valid URI is the client's error: %zz, a lone % and a cut-off
%2 in the path, or %zz in the query, are answered 400 (badRequest, the message saying the target
is not a valid URI), never 500; the daemon keeps serving."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from http_clients import get, json_body, token_daemon  # noqa: E402
from scenario_support import check, expect, run_scenario  # noqa: E402


def scenario(lab):
    d = token_daemon(lab)
    for target in ("/v3/volumes/%zz", "/v3/%", "/v3/volumes/%2", "/v3/volumes?name=%zz"):
        status, _, body, _ = get(d.port, target)
        expect(status == 400, f"GET {target} was answered {status} {body[:200]!r}")
        if status == 400:
            message = json_body(body)["badRequest"]["message"]
            expect("not a valid URI" in message, f"GET {target}: the 400 says {message!r}")
    status, _, _, _ = get(d.port, "/v3/volumes")
    check(status == 200, f"after the malformed targets the daemon answers {status}")


if __name__ == "__main__":
    run_scenario(scenario)
