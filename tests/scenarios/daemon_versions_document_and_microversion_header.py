#!/usr/bin/env python3
"""GET / answers 300 with Cinder's versions document, and every answer carries the
OpenStack-API-Version the client asked for: 3.27 -> 3.27, latest -> the maximum (3.70), nothing ->
the minimum (3.0); 3.99 (or a number too long for an int) is refused with 406 and a malformed
header with 400. Over real HTTP."""
import json
import os
import sys


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import check, http as http_request, run_scenario


def http(method, url, headers=None, data=None):
    return http_request(method, url, raw=data, headers=headers, content_type=None)


def main(lab):
    d = lab.daemon("host-v", backends={"thin": {"volume_driver": "thin_file"}})

    # The versions document: 300 Multiple Choices, Cinder's shape.
    status, headers, raw = http("GET", d.url + "/", {"Accept": "application/json"})
    check(status == 300, f"GET / answered {status}, expected 300: {raw[:300]!r}")
    check(headers.get("Content-Type", "").startswith("application/json"), f"GET / Content-Type is {headers.get('Content-Type')!r}")
    doc = json.loads(raw)
    check(isinstance(doc.get("versions"), list) and len(doc["versions"]) == 1, f"GET / body has no single-entry 'versions' list: {doc}")
    v = doc["versions"][0]
    check(v.get("id") == "v3.0", f"version id is {v.get('id')!r}, expected 'v3.0'")
    check(v.get("status") == "CURRENT", f"version status is {v.get('status')!r}, expected CURRENT")
    check(v.get("version") == "3.70", f"max version is {v.get('version')!r}, expected '3.70'")
    check(v.get("min_version") == "3.0", f"min_version is {v.get('min_version')!r}, expected '3.0'")
    hrefs = [l.get("href") for l in v.get("links", []) if l.get("rel") == "self"]
    check(hrefs == [d.url + "/v3/"], f"self link is {hrefs}, expected [{d.url + '/v3/'!r}]")
    check(any(m.get("base") == "application/json" for m in v.get("media-types", [])), f"media-types lack application/json: {v}")
    # GET / without any microversion header still says which version answered (the minimum).
    check(headers.get("OpenStack-API-Version") == "volume 3.0",
          f"GET / without a version header answered OpenStack-API-Version {headers.get('OpenStack-API-Version')!r}, expected 'volume 3.0'")
    # Only GET on /.
    status, headers, raw = http("POST", d.url + "/", data=b"{}")
    check(status == 405, f"POST / answered {status}, expected 405")
    check(headers.get("Allow") == "GET", f"POST / Allow header is {headers.get('Allow')!r}, expected 'GET'")

    # /v3 itself: the one version, 200.
    status, headers, raw = http("GET", d.url + "/v3", {"Accept": "application/json"})
    check(status == 200, f"GET /v3 answered {status}")
    check(json.loads(raw)["version"]["version"] == "3.70", f"GET /v3 body: {raw[:300]!r}")

    # Microversions echoed, on a real resource.
    cases = [
        ("volume 3.27", 200, "volume 3.27"),
        ("volume latest", 200, "volume 3.70"),
        ("volume 3.70", 200, "volume 3.70"),
        ("volume 3.0", 200, "volume 3.0"),
        (None, 200, "volume 3.0"),
    ]
    for asked, want_status, want_header in cases:
        hdrs = {"Accept": "application/json"}
        if asked:
            hdrs["OpenStack-API-Version"] = asked
        status, headers, raw = http("GET", d.url + "/v3/volumes", hdrs)
        check(status == want_status, f"GET /v3/volumes with OpenStack-API-Version {asked!r} answered {status}, expected {want_status}: {raw[:300]!r}")
        got = headers.get("OpenStack-API-Version")
        check(got == want_header, f"asked {asked!r}: OpenStack-API-Version header is {got!r}, expected {want_header!r}")
        check("OpenStack-API-Version" in (headers.get("Vary") or ""), f"asked {asked!r}: Vary header is {headers.get('Vary')!r}")
        check(json.loads(raw) == {"volumes": []}, f"asked {asked!r}: body {raw[:300]!r}")

    # Too new: 406 in Cinder's error shape, naming the supported range.
    status, headers, raw = http("GET", d.url + "/v3/volumes", {"OpenStack-API-Version": "volume 3.99"})
    check(status == 406, f"OpenStack-API-Version volume 3.99 answered {status}, expected 406: {raw[:300]!r}")
    body = json.loads(raw)
    check(list(body) == ["notAcceptable"], f"406 body is not Cinder's error shape {{'notAcceptable': ...}}: {body}")
    check(body["notAcceptable"].get("code") == 406, f"406 body code: {body}")
    msg = body["notAcceptable"].get("message", "")
    check("3.99" in msg and "3.70" in msg, f"406 message does not name the asked and maximum versions: {msg!r}")
    # Another major version is not supported either.
    status, _, raw = http("GET", d.url + "/v3/volumes", {"OpenStack-API-Version": "volume 4.0"})
    check(status == 406, f"OpenStack-API-Version volume 4.0 answered {status}, expected 406: {raw[:300]!r}")

    # Malformed: 400 naming the header.
    status, _, raw = http("GET", d.url + "/v3/volumes", {"OpenStack-API-Version": "volume three"})
    check(status == 400, f"OpenStack-API-Version 'volume three' answered {status}, expected 400: {raw[:300]!r}")
    body = json.loads(raw)
    check("OpenStack-API-Version" in body.get("badRequest", {}).get("message", ""), f"400 message does not name the header: {body}")

    # The daemon logged the refusals with their status codes.
    log = open(d.log_path).read()
    check(" GET /v3/volumes 406 " in log, "the daemon's log has no 'GET /v3/volumes 406' line")
    check(" GET /v3/volumes 400 " in log, "the daemon's log has no 'GET /v3/volumes 400' line")

    # Last, because it is known to fail: a version number too long for an int is a client error
    # (406: not a version we support), never a 500 from an escaped std::stoi exception.
    for asked in ("volume 3.99999999999", "volume 99999999999.0"):
        status, _, raw = http("GET", d.url + "/v3/volumes", {"OpenStack-API-Version": asked})
        check(status in (400, 406), f"OpenStack-API-Version {asked!r} answered {status}, expected 406 (or 400): {raw[:300]!r}")


if __name__ == "__main__":
    run_scenario(main)
