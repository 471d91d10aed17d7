#!/usr/bin/env python3
"""/metrics of a live token daemon, after some traffic (creates, listings, a refused request, a
401, a 403), passes `promtool check metrics` (Debian's prometheus package): every metric has
HELP and TYPE. A Prometheus-style scrape (Authorization: Bearer <reader_token>, Prometheus's
Accept header) gets it; the reader token also reads listings, pools and services, and is
refused with 403 on POST, PUT and DELETE, changing nothing. A reader_token equal to auth_token,
or set but empty, stops volmigd at start-up."""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import check, http, run_scenario

TOKEN = "metrics-admin-token"
READER = "metrics-reader-token"
SCRAPE = {"Authorization": f"Bearer {READER}", "User-Agent": "Prometheus/2.42.0",
          "Accept": "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"}


def main(lab):
    promtool = shutil.which("promtool")
    check(promtool is not None, "promtool is missing: apt-get install -y prometheus")
    d = lab.daemon("host-m", backends={"thin": {"volume_driver": "thin_file"}, "thick": {"volume_driver": "thick_file", "pool_size": "2G"}},
                   auth_token=TOKEN, extra_defaults={"reader_token": READER})
    pool = d.backends["thin"]["pool_path"]

    # Traffic: creates on both backends, listings, a refused create, a 401, a 403.
    vid = d.create(1, name="kept")["id"]
    d.create(1, name="thick", backend="thick")
    d.volumes()
    status, _, _ = http("POST", d.url + "/v3/volumes", body={"volume": {"size": 0}}, token=TOKEN)
    check(status == 400, f"a create of size 0 answered {status}")
    status, _, _ = http("GET", d.url + "/v3/volumes", token="wrong")
    check(status == 401, f"a wrong token answered {status}")

    # The reader token: listings, shows, pools, services, limits; never a change.
    for path in ("/v3/p/volumes/detail", f"/v3/volumes/{vid}", "/v3/p/scheduler-stats/get_pools?detail=true", "/v3/p/os-services",
                 "/v3/p/limits", "/v3/p/os-availability-zone", "/v3/capabilities/host-m@thin"):
        status, _, raw = http("GET", d.url + path, headers={"Authorization": f"Bearer {READER}"})
        check(status == 200, f"GET {path} with the reader token answered {status}: {raw[:300]!r}")
        status, _, _ = http("GET", d.url + path, token=READER)
        check(status == 200, f"GET {path} with the reader token in X-Auth-Token answered {status}")
    for method, path, body in (("POST", "/v3/volumes", {"volume": {"size": 1, "name": "by-reader"}}),
                               ("DELETE", f"/v3/volumes/{vid}", None),
                               ("POST", f"/v3/volumes/{vid}/action", {"os-extend": {"new_size": 2}}),
                               ("PUT", "/v3/p/os-services/disable", {"host": "host-m@thin", "binary": "cinder-volume"})):
        for headers, token in (({"Authorization": f"Bearer {READER}"}, None), ({}, READER)):
            status, _, raw = http(method, d.url + path, body=body, headers=headers, token=token)
            check(status == 403, f"{method} {path} with the reader token answered {status}: {raw[:300]!r}")
            fault = json.loads(raw)
            check(list(fault) == ["forbidden"] and "reader_token" in fault["forbidden"]["message"], f"{method} {path}: 403 body {fault}")
    kept = d.show(vid)
    check(kept["status"] == "available" and kept["size"] == 1, f"the reader's refused requests changed the volume: {kept}")
    check(sorted(v["name"] for v in d.volumes()) == ["kept", "thick"], f"volumes after the reader's refused requests: {d.volumes()}")
    check(os.path.exists(os.path.join(pool, f"volume-{vid}")), "the reader's DELETE removed the volume file")
    services = d.request("GET", "/v3/os-services")["services"]
    check(all(s["status"] == "enabled" for s in services), f"the reader disabled a service: {services}")

    # The scrape, as Prometheus makes it.
    status, headers, raw = http("GET", d.url + "/metrics", headers=SCRAPE)
    check(status == 200, f"the Bearer reader scrape answered {status}: {raw[:300]!r}")
    check(headers.get("Content-Type", "").startswith("text/plain"), f"/metrics Content-Type: {headers.get('Content-Type')}")
    text = raw.decode()
    for name in ("volmig_http_requests_total", "volmig_volumes", "volmig_pool_capacity_bytes", "volmig_http_connections_refused_total"):
        check(f"# HELP {name} " in text and f"# TYPE {name} " in text, f"/metrics has no HELP or TYPE for {name}")
    check('volmig_http_requests_total{method="POST",code="403"}' in text, "the reader's 403s are not counted")
    check('volmig_volumes{backend="thick"} 1' in text, "volmig_volumes of thick is not 1")
    r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, f"promtool check metrics exited {r.returncode}:\n{r.stdout}{r.stderr}\n--- metrics ---\n{text}")
    # Without a token, or with a wrong Bearer token, the scrape is refused.
    status, _, _ = http("GET", d.url + "/metrics")
    check(status == 401, f"/metrics without a token answered {status}")
    status, _, _ = http("GET", d.url + "/metrics", headers={"Authorization": "Bearer wrong"})
    check(status == 401, f"/metrics with a wrong Bearer token answered {status}")

    # A reader_token equal to auth_token, or set but empty, stops the daemon at start-up.
    for host, reader, says in (("host-same", TOKEN, "must differ from auth_token"), ("host-empty", "", "is set but empty")):
        bad = lab.daemon(host, backends={"thin": {"volume_driver": "thin_file"}}, auth_token=TOKEN,
                         extra_defaults={"reader_token": reader}, start=False)
        try:
            bad.start()
            check(False, f"volmigd started with reader_token {reader!r}")
        except RuntimeError as e:
            check(says in str(e) and "reader_token" in str(e), f"volmigd with reader_token {reader!r} said: {e}")


if __name__ == "__main__":
    run_scenario(main)
