#!/usr/bin/env python3
"""Debian's python3-openstacksdk, unmodified, against a token volmigd: `backend_pools()` parses the
pools (one per backend, named host@backend#pool as the volumes' hosts, Cinder's capability keys
with sparse_copy_volume from the live facts), and with a wrong token the first real call fails
with an HTTP 401 that says what is needed, not with a DiscoveryFailure: the version documents
(/, /v3, /v3/) answer without a token, as Cinder's do. `openstack volume service list` with
`--os-auth-type admin_token` lists the backends' services."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import check, http, run_scenario

TOKEN = "sdk-admin-token"
PROJECT = "p"

# Run by Debian's python3 (the SDK is not importable from the test's interpreter): prints one
# JSON document with what the SDK saw.
SDK_SCRIPT = r"""
import json, sys
from keystoneauth1 import session, token_endpoint
import openstack.connection
import openstack.exceptions
url, token = sys.argv[1], sys.argv[2]
endpoint = url + "/v3/p"
conn = openstack.connection.Connection(session=session.Session(auth=token_endpoint.Token(endpoint, token)),
                                       block_storage_endpoint_override=endpoint, block_storage_api_version="3")
out = {}
try:
    out["pools"] = [{"name": p.name, "capabilities": p.capabilities} for p in conn.block_storage.backend_pools()]
    out["volumes"] = [v.id for v in conn.block_storage.volumes()]
except Exception as e:
    out["error"] = {"module": type(e).__module__, "type": type(e).__name__, "status": getattr(e, "status_code", None), "text": str(e)}
print(json.dumps(out))
"""


def sdk(url, token):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["PYTHONPATH"] = ""
    r = subprocess.run(["/usr/bin/python3", "-c", SDK_SCRIPT, url, token], capture_output=True, text=True, env=env, timeout=60)
    check(r.returncode == 0, f"the SDK script exited {r.returncode}: {r.stderr[-2000:]}")
    return json.loads(r.stdout)


def main(lab):
    d = lab.daemon("host-sdk", backends={
        "thin": {"volume_driver": "thin_file"},
        "thick": {"volume_driver": "thick_file", "pool_size": "2G"},
    }, auth_token=TOKEN)

    # The version documents need no token.
    for path, status in (("/", 300), ("/v3", 200), ("/v3/", 200)):
        got, _, raw = http("GET", d.url + path)
        check(got == status, f"GET {path} without a token answered {got}, expected {status}: {raw[:200]!r}")
    got, _, _ = http("GET", f"{d.url}/v3/{PROJECT}/volumes")
    check(got == 401, f"GET /v3/{PROJECT}/volumes without a token answered {got}")

    vid = d.request("POST", f"/v3/{PROJECT}/volumes", {"volume": {"size": 1, "volume_type": "thick"}})["volume"]["id"]
    seen = sdk(d.url, TOKEN)
    check("error" not in seen, f"the SDK failed with the right token: {seen.get('error')}")
    pools = {p["name"]: p["capabilities"] for p in seen["pools"]}
    check(list(pools) == ["host-sdk@thin#thin", "host-sdk@thick#thick"], f"backend_pools() names: {list(pools)}")
    check(d.show(vid)["os-vol-host-attr:host"] in pools, "the volume's host is not one of the pools")
    thin, thick = pools["host-sdk@thin#thin"], pools["host-sdk@thick#thick"]
    check(thin["sparse_copy_volume"] is True and thin["thin_provisioning_support"] is True, f"thin pool: {thin}")
    check(thick["thin_provisioning_support"] is False and thick["thick_provisioning_support"] is True, f"thick pool: {thick}")
    check(thick["sparse_copy_volume"] == d.capabilities("thick")["sparse_copy_volume"], "thick: pools and capabilities disagree")
    check(thick["total_capacity_gb"] == 2.0 and thick["allocated_capacity_gb"] == 1 and thick["free_capacity_gb"] == 1.0,
          f"thick pool figures after a 1 GiB volume: {thick}")
    check(thick["vendor_name"] == "volmig" and thick["volume_backend_name"] == "thick", f"thick pool: {thick}")
    check(seen["volumes"] == [vid], f"the SDK listed {seen['volumes']}")

    # A wrong token: an HTTP 401 from the first real call, not a discovery failure.
    wrong = sdk(d.url, "not-the-token")
    error = wrong.get("error")
    check(error is not None, f"the SDK with a wrong token succeeded: {wrong}")
    check(error["type"] != "DiscoveryFailure" and error["status"] == 401, f"the SDK with a wrong token raised {error}")
    check("auth_token" in error["text"], f"the SDK's 401 does not say what is needed: {error['text']}")
    log = open(d.log_path).read()
    check("authentication failed: wrong X-Auth-Token for GET /v3/p/scheduler-stats/get_pools" in log, "the wrong token is not logged")

    # openstackclient with the admin token: the services of both backends.
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["PYTHONPATH"] = ""
    r = subprocess.run(["openstack", "--os-auth-type", "admin_token", "--os-token", TOKEN, "--os-endpoint", f"{d.url}/v3/{PROJECT}",
                        "--os-volume-api-version", "3", "volume", "service", "list", "-f", "json"],
                       capture_output=True, text=True, env=env, timeout=60)
    check(r.returncode == 0, f"openstack volume service list exited {r.returncode}: {r.stderr[-2000:]}")
    services = json.loads(r.stdout)
    check(sorted((s["Binary"], s["Host"], s["Zone"], s["Status"], s["State"]) for s in services) ==
          [("cinder-volume", "host-sdk@thick", "nova", "enabled", "up"), ("cinder-volume", "host-sdk@thin", "nova", "enabled", "up")],
          f"openstack volume service list: {services}")


if __name__ == "__main__":
    run_scenario(main)
