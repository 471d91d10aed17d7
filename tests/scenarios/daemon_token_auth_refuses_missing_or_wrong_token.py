#!/usr/bin/env python3
"""auth_strategy = token: every request but GET / needs X-Auth-Token equal to auth_token. Without
it or with a wrong one the daemon answers 401 in Cinder's error shape, changes nothing, and logs
the failure (without echoing the token); with the right one it answers 200. GET / needs none."""
import json
import os
import sys


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import check, http as http_request, pool_listing, run_scenario

TOKEN = "s3cret-admin-token"
WRONG = "not-the-token-42"


def http(method, url, token=None, body=None):
    status, _, raw = http_request(method, url, body=body, token=token)
    return status, raw


def expect_401(status, raw, what):
    check(status == 401, f"{what} answered {status}, expected 401: {raw[:300]!r}")
    body = json.loads(raw)
    check(list(body) == ["unauthorized"], f"{what}: 401 body is not Cinder's shape {{'unauthorized': ...}}: {body}")
    check(body["unauthorized"].get("code") == 401, f"{what}: 401 body code: {body}")
    check("X-Auth-Token" in body["unauthorized"].get("message", ""), f"{what}: 401 message does not say what is needed: {body}")


def main(lab):
    d = lab.daemon("host-t", backends={"thin": {"volume_driver": "thin_file"}}, auth_token=TOKEN)
    pool = d.backends["thin"]["pool_path"]

    # GET / needs no token (version discovery).
    status, raw = http("GET", d.url + "/")
    check(status == 300, f"GET / without a token answered {status}, expected 300: {raw[:200]!r}")

    # No token, wrong token, empty token: 401 on reads, writes and /metrics.
    for path in ("/v3/volumes", "/v3/proj/volumes/detail", "/v3/capabilities/host-t@thin", "/metrics"):
        expect_401(*http("GET", d.url + path), f"GET {path} without X-Auth-Token")
        expect_401(*http("GET", d.url + path, token=WRONG), f"GET {path} with a wrong X-Auth-Token")
    expect_401(*http("GET", d.url + "/v3/volumes", token=""), "GET /v3/volumes with an empty X-Auth-Token")
    expect_401(*http("GET", d.url + "/v3/volumes", token=TOKEN + "x"), "GET /v3/volumes with the token plus a character")
    expect_401(*http("POST", d.url + "/v3/volumes", body={"volume": {"size": 1}}), "POST /v3/volumes without X-Auth-Token")
    expect_401(*http("POST", d.url + "/v3/volumes", token=WRONG, body={"volume": {"size": 1}}), "POST /v3/volumes with a wrong token")
    check(pool_listing(pool) == [], f"refused creates left files in the pool: {pool_listing(pool)}")

    # The right token: 200, and a create works.
    status, raw = http("GET", d.url + "/v3/volumes", token=TOKEN)
    check(status == 200, f"GET /v3/volumes with the right token answered {status}: {raw[:300]!r}")
    check(json.loads(raw) == {"volumes": []}, f"refused creates made volumes: {raw[:300]!r}")
    status, raw = http("POST", d.url + "/v3/volumes", token=TOKEN, body={"volume": {"size": 1, "name": "ok"}})
    check(status == 202, f"POST /v3/volumes with the right token answered {status}: {raw[:300]!r}")
    vid = json.loads(raw)["volume"]["id"]
    check(pool_listing(pool) == [f"volume-{vid}"], f"pool holds {pool_listing(pool)}, expected only volume-{vid}")
    status, raw = http("GET", d.url + "/metrics", token=TOKEN)
    check(status == 200 and b"volmig_http_requests_total" in raw, f"GET /metrics with the right token answered {status}")

    # A wrong token cannot delete it.
    expect_401(*http("DELETE", d.url + f"/v3/volumes/{vid}", token=WRONG), "DELETE with a wrong token")
    check(os.path.exists(os.path.join(pool, f"volume-{vid}")), "a DELETE with a wrong token removed the volume file")
    status, raw = http("GET", d.url + f"/v3/volumes/{vid}", token=TOKEN)
    check(status == 200 and json.loads(raw)["volume"]["status"] == "available", f"volume after a refused delete: {status} {raw[:200]!r}")

    # The log names each failure and its kind, but never the tokens themselves.
    log = open(d.log_path).read()
    check("authentication failed: no X-Auth-Token for GET /v3/volumes" in log,
          "the daemon's log has no 'authentication failed: no X-Auth-Token for GET /v3/volumes' line")
    check("authentication failed: wrong X-Auth-Token for GET /metrics" in log,
          "the daemon's log has no 'authentication failed: wrong X-Auth-Token for GET /metrics' line")
    check(f"authentication failed: wrong X-Auth-Token for DELETE /v3/volumes/{vid}" in log,
          "the daemon's log does not record the refused DELETE")
    failures = [l for l in log.splitlines() if "authentication failed" in l]
    check(len(failures) == 13, f"expected 13 (one per refused request) 'authentication failed' log lines, found {len(failures)}:\n" + "\n".join(failures))
    check(" GET /v3/volumes 401 " in log, "the daemon's request log has no 'GET /v3/volumes 401' line")
    check(WRONG not in log, "the daemon logged the wrong token's value")
    check(TOKEN not in log, "the daemon logged its own auth_token")


if __name__ == "__main__":
    run_scenario(main)
