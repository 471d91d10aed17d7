#!/usr/bin/env python3
"""Debian's python3-cinderclient and python3-openstackclient, unmodified, drive the operator's
calls against a noauth volmigd with a thin_file pool, a fresh thick_file pool and a thick_file
pool the operator supplied full of stale bytes: `get-pools --detail` (sparse_copy_volume per
pool from the live facts: true on thin and on the fresh thick pool, false on the stale one;
thin_provisioning_support true only on thin), `service-list`, `service-disable --reason` (a
create onto the disabled backend is refused with the reason, and so is a migration onto it),
`service-enable` (the same create is then accepted), `availability-zone-list`,
`absolute-limits`, `quota-show` / `quota-usage` and `openstack volume service list`. Outcomes
are checked on the daemon, not on exit codes alone."""
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import check, fill_file, run_scenario
from openstack_clients import table

PROJECT = "p"
REASON = "disk swap on rack 4"


def dicts(text):
    """Every 'Property | Value' table of the output, as one dict each."""
    out, current = [], None
    for line in text.splitlines():
        if line.startswith("+"):
            continue
        if not line.startswith("|"):
            continue
        row = [c.strip() for c in line.strip().strip("|").split("|")]
        if row[0] == "Property":
            current = {}
            out.append(current)
        elif current is not None and len(row) == 2:
            current[row[0]] = row[1]
    return out


def main(lab):
    cinder = shutil.which("cinder")
    openstack = shutil.which("openstack")
    check(cinder and openstack, "cinder or openstack is missing: apt-get install -y python3-cinderclient python3-openstackclient")
    d = lab.daemon("host-op", backends={
        "thin": {"volume_driver": "thin_file"},
        "thick": {"volume_driver": "thick_file", "pool_size": "3G"},
        "stale": {"volume_driver": "thick_file"},
    }, start=False)
    fill_file(d.backends["stale"]["pool_file"], b"\xa5" * 4096)  # an operator's pool file, not zeroed
    d.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["PYTHONPATH"] = ""
    base = [cinder, "--os-auth-type", "noauth", "--os-user-id", "u", "--os-project-id", PROJECT,
            "--os-endpoint", f"{d.url}/v3/{PROJECT}"]

    def run(argv, ok=True):
        t0 = time.time()
        r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
        print(f"{' '.join(argv[:1] + argv[-4:])}: {time.time() - t0:.1f} s", file=sys.stderr)
        if ok:
            check(r.returncode == 0, f"{argv} exited {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr[-2000:]}")
        return r

    def cinder_ok(*args):
        return run(base + list(args)).stdout

    # get-pools: the names, exactly as the volumes' hosts.
    names = [p.get("name") for p in dicts(cinder_ok("get-pools"))]
    check(names == ["host-op@thin#thin", "host-op@thick#thick", "host-op@stale#stale"], f"cinder get-pools names: {names}")
    pools = {p["name"]: p for p in dicts(cinder_ok("get-pools", "--detail"))}
    check(set(pools) == set(names), f"cinder get-pools --detail pools: {sorted(pools)}")
    thin, thick, stale = pools["host-op@thin#thin"], pools["host-op@thick#thick"], pools["host-op@stale#stale"]
    for p in (thin, thick, stale):
        for key in ("total_capacity_gb", "free_capacity_gb", "allocated_capacity_gb", "provisioned_capacity_gb", "thin_provisioning_support",
                    "thick_provisioning_support", "max_over_subscription_ratio", "reserved_percentage", "volume_backend_name",
                    "vendor_name", "driver_version", "storage_protocol", "multiattach", "timestamp", "pool_name", "sparse_copy_volume",
                    "volmig:discard", "volmig:discard_zeroes"):
            check(key in p, f"cinder get-pools --detail: {p['name']} has no {key}: {p}")
        check(p["vendor_name"] == "volmig" and p["multiattach"] == "False", f"pool {p['name']}: {p}")
    check(thin["sparse_copy_volume"] == "True" and thin["thin_provisioning_support"] == "True", f"thin pool: {thin}")
    check(thick["sparse_copy_volume"] == "True" and thick["thin_provisioning_support"] == "False"
          and thick["thick_provisioning_support"] == "True", f"fresh thick pool: {thick}")
    check(stale["sparse_copy_volume"] == "False", f"a thick pool of stale bytes says sparse_copy_volume {stale['sparse_copy_volume']}")
    check(thick["total_capacity_gb"] == "3.0" and stale["total_capacity_gb"] == "1.0", f"capacities: {thick['total_capacity_gb']}, {stale['total_capacity_gb']}")
    # The same facts as the capability documents.
    for backend, p in (("thin", thin), ("thick", thick), ("stale", stale)):
        caps = d.capabilities(backend)
        check(p["sparse_copy_volume"] == str(caps["sparse_copy_volume"]), f"{backend}: pools say {p['sparse_copy_volume']}, capabilities {caps['sparse_copy_volume']}")

    # service-list: one cinder-volume per backend, enabled and up, in zone nova.
    rows = table(cinder_ok("service-list"))
    header, services = rows[0], {r[1]: dict(zip(rows[0], r)) for r in rows[1:]}
    check(header[:6] == ["Binary", "Host", "Zone", "Status", "State", "Updated_at"], f"service-list header: {header}")
    check(set(services) == {"host-op@thin", "host-op@thick", "host-op@stale"}, f"service-list hosts: {sorted(services)}")
    for s in services.values():
        check(s["Binary"] == "cinder-volume" and s["Zone"] == "nova" and s["Status"] == "enabled" and s["State"] == "up", f"service row: {s}")

    # service-disable --reason: the answer, the listing, then a create onto it is refused.
    out = table(cinder_ok("service-disable", "--reason", REASON, "host-op@thick", "cinder-volume"))
    check(out[0] == ["Host", "Binary", "Status", "Disabled Reason"] and out[1] == ["host-op@thick", "cinder-volume", "disabled", REASON],
          f"cinder service-disable printed {out}")
    rows = table(cinder_ok("service-list", "--host", "host-op@thick"))
    listed = dict(zip(rows[0], rows[1]))
    check(len(rows) == 2 and listed["Status"] == "disabled" and listed["Disabled Reason"] == REASON, f"service-list after disable: {rows}")
    r = run(base + ["create", "--volume-type", "thick", "--name", "refused", "1"], ok=False)
    check(r.returncode != 0 and REASON in r.stderr and "host-op@thick" in r.stderr, f"create onto the disabled backend: {r.returncode}\n{r.stdout}\n{r.stderr}")
    check(not any(v["name"] == "refused" for v in d.volumes()), "the refused create left a volume record")
    check(d.request("GET", "/v3/scheduler-stats/get_pools?detail=true")["pools"][1]["capabilities"]["allocated_capacity_gb"] == 0,
          "the refused create allocated space on the thick pool")
    # ... and so is a migration onto it, at once (os-migrate_volume answers 400 with the reason).
    vid = d.request("POST", f"/v3/{PROJECT}/volumes", {"volume": {"size": 1, "name": "mover", "volume_type": "thin"}})["volume"]["id"]
    # (cinder migrate prints the refusal and exits 0.)
    r = run(base + ["migrate", vid, "host-op@thick#thick"], ok=False)
    said = r.stdout + r.stderr
    check(REASON in said and "HTTP 400" in said, f"cinder migrate onto the disabled backend: {r.returncode}\n{r.stdout}\n{r.stderr}")
    v = d.show(vid)
    check(v["migration_status"] is None and v["os-vol-host-attr:host"] == "host-op@thin#thin", f"the refused migration touched the volume: {v}")

    # service-enable: the create is accepted now.
    out = table(cinder_ok("service-enable", "host-op@thick", "cinder-volume"))
    check(out[1] == ["host-op@thick", "cinder-volume", "enabled"], f"cinder service-enable printed {out}")
    created = dicts(cinder_ok("create", "--volume-type", "thick", "--name", "accepted", "1"))[0]
    check(created.get("status") == "available", f"create after enable: {created}")
    check(d.show(created["id"])["os-vol-host-attr:host"] == "host-op@thick#thick", "the accepted create is not on host-op@thick")

    # openstack volume service list: the same services.
    r = run([openstack, "--os-auth-type", "admin_token", "--os-token", "t", "--os-endpoint", f"{d.url}/v3/{PROJECT}",
             "--os-volume-api-version", "3", "volume", "service", "list", "-f", "value", "-c", "Binary", "-c", "Host", "-c", "Status"])
    lines = sorted(r.stdout.split("\n")[:-1])
    check(lines == ["cinder-volume host-op@stale enabled", "cinder-volume host-op@thick enabled", "cinder-volume host-op@thin enabled"],
          f"openstack volume service list: {lines}")

    # availability-zone-list.
    rows = table(cinder_ok("availability-zone-list"))
    check(rows == [["Name", "Status"], ["nova", "available"]], f"cinder availability-zone-list: {rows}")

    # absolute-limits: the used figures from the records, the capacity from the pools.
    limits = {r[0]: r[1] for r in table(cinder_ok("absolute-limits"))[1:]}
    check(limits.get("totalVolumesUsed") == "2" and limits.get("totalGigabytesUsed") == "2", f"absolute-limits used: {limits}")
    # What the pools can provision: capacity x max_over_subscription_ratio each (whole GiB, each rounded down).
    provisionable = sum(p["capabilities"]["total_capacity_gb"] * p["capabilities"]["max_over_subscription_ratio"]
                        for p in d.request("GET", "/v3/scheduler-stats/get_pools?detail=true")["pools"])
    check(abs(int(limits.get("maxTotalVolumeGigabytes", "0")) - provisionable) <= 3,
          f"maxTotalVolumeGigabytes {limits.get('maxTotalVolumeGigabytes')}, the pools provision {provisionable:.2f} GiB")
    check(limits.get("maxTotalVolumes") == "-1" and limits.get("maxTotalSnapshots") == "-1", f"unenforced limits: {limits}")

    # quota-show and quota-usage: -1 everywhere, the real usage.
    quotas = {r[0]: r[1] for r in table(cinder_ok("quota-show", PROJECT))[1:]}
    check(quotas.get("volumes") == "-1" and quotas.get("gigabytes") == "-1", f"cinder quota-show: {quotas}")
    usage = {r[0]: dict(zip(table(cinder_ok("quota-usage", PROJECT))[0], r)) for r in table(cinder_ok("quota-usage", PROJECT))[1:]}
    check(usage["volumes"]["In_use"] == "2" and usage["gigabytes"]["In_use"] == "2" and usage["volumes"]["Limit"] == "-1",
          f"cinder quota-usage: {usage}")
    r = run(base + ["quota-update", "--volumes", "5", PROJECT], ok=False)
    check(r.returncode != 0 and "volmig enforces no quotas" in r.stderr, f"cinder quota-update: {r.returncode}\n{r.stderr}")


if __name__ == "__main__":
    run_scenario(main)
