#!/usr/bin/env python3
"""GET /metrics answers Prometheus text: request counters by method and status code that count
exactly the requests made, an error counter for 4xx/5xx, volmig_volumes per backend, and pool
bytes (capacity, provisioned, allocated) that match the storage on disk."""
import json
import os
import re
import sys

from volmig_lab import GiB, MiB

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import check, http, pool_listing, run_scenario


LINE = re.compile(r'^([a-z_]+)(\{[^}]*\})? (\d+(?:\.\d+)?)$')


def scrape(d):
    status, headers, raw = http("GET", d.url + "/metrics")
    check(status == 200, f"GET /metrics answered {status}")
    check(headers.get("Content-Type", "").startswith("text/plain"), f"/metrics Content-Type is {headers.get('Content-Type')!r}")
    samples, types = {}, {}
    for line in raw.decode().splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            types[name] = kind
            continue
        if not line or line.startswith("#"):
            continue
        m = LINE.match(line)
        check(m is not None, f"/metrics line is not a Prometheus sample: {line!r}")
        key = m.group(1) + (m.group(2) or "")
        check(key not in samples, f"/metrics repeats {key}")
        samples[key] = float(m.group(3))
    return samples, types


def req_key(method, code):
    return f'volmig_http_requests_total{{method="{method}",code="{code}"}}'


def main(lab):
    d = lab.daemon("host-m", backends={
        "thin": {"volume_driver": "thin_file", "pool_size": "20G"},
        "thick": {"volume_driver": "thick_file", "pool_size": "3G"},
    })
    thin_pool = d.backends["thin"]["pool_path"]
    s0, types = scrape(d)
    for name, kind in (("volmig_http_requests_total", "counter"), ("volmig_http_errors_total", "counter"), ("volmig_volumes", "gauge"),
                       ("volmig_pool_capacity_bytes", "gauge"), ("volmig_pool_allocated_bytes", "gauge"),
                       ("volmig_pool_provisioned_bytes", "gauge")):
        check(types.get(name) == kind, f"/metrics declares {name} as {types.get(name)!r}, expected {kind}")
    check(s0['volmig_volumes{backend="thin"}'] == 0 and s0['volmig_volumes{backend="thick"}'] == 0, f"volumes at start: {s0}")
    check(s0['volmig_pool_capacity_bytes{backend="thick"}'] == 3 * GiB, "thick capacity is not its pool_size")
    check(s0['volmig_pool_capacity_bytes{backend="thin"}'] == 20 * GiB, "thin capacity is not its pool_size")

    # A known set of requests.
    made = {}
    def count(method, code):
        made[(method, code)] = made.get((method, code), 0) + 1

    ids = []
    for size, backend in ((1, None), (2, None), (1, "thick")):
        body = {"volume": {"size": size}}
        if backend:
            body["volume"]["volume_type"] = backend
        status, _, raw = http("POST", d.url + "/v3/volumes", body)
        check(status == 202, f"create answered {status}: {raw[:200]!r}")
        ids.append(json.loads(raw)["volume"]["id"])
        count("POST", 202)
    for path, code in (("/v3/volumes", 200), ("/v3/volumes/detail", 200), (f"/v3/volumes/{ids[0]}", 200),
                       ("/v3/volumes/nope", 404), ("/v3/volumes/nope", 404), ("/", 300), ("/v3/capabilities/host-m@thin", 200)):
        status, _, _ = http("GET", d.url + path)
        check(status == code, f"GET {path} answered {status}, expected {code}")
        count("GET", code)
    status, _, _ = http("POST", d.url + "/v3/volumes", {"volume": {"size": 0}})
    check(status == 400, f"size 0 answered {status}")
    count("POST", 400)
    status, _, _ = http("DELETE", d.url + "/v3/volumes/nope")
    check(status == 404, f"DELETE of an unknown id answered {status}")
    count("DELETE", 404)
    status, _, _ = http("PUT", d.url + "/v3/volumes", {})
    check(status == 405, f"PUT /v3/volumes answered {status}")
    count("PUT", 405)
    status, _, _ = http("DELETE", d.url + f"/v3/volumes/{ids[1]}")
    check(status == 202, f"DELETE answered {status}")
    count("DELETE", 202)
    count("GET", 200)  # the first scrape is counted once it has been answered
    # Data in the first thin volume: 8 MiB allocated.
    with open(os.path.join(thin_pool, f"volume-{ids[0]}"), "r+b") as f:
        f.seek(100 * MiB)
        f.write(b"\x01" * (8 * MiB))
        f.flush()
        os.fsync(f.fileno())

    s1, _ = scrape(d)
    for (method, code), n in sorted(made.items()):
        k = req_key(method, code)
        got = s1.get(k, 0) - s0.get(k, 0)
        check(got == n, f"{k} grew by {got}, expected {n}")
    unexpected = [k for k in s1 if k.startswith("volmig_http_requests_total") and
                  not any(k == req_key(m, c) for (m, c) in made) and s1[k] != s0.get(k, 0)]
    check(not unexpected, f"counters that should not have moved did: {unexpected}")
    errors = sum(n for (m, c), n in made.items() if c >= 400)
    got = s1["volmig_http_errors_total"] - s0["volmig_http_errors_total"]
    check(got == errors, f"volmig_http_errors_total grew by {got}, expected {errors}")

    g = lambda name, b: s1[f'{name}{{backend="{b}"}}']
    check(g("volmig_volumes", "thin") == 1, f"volmig_volumes thin = {g('volmig_volumes', 'thin')}, expected 1")
    check(g("volmig_volumes", "thick") == 1, f"volmig_volumes thick = {g('volmig_volumes', 'thick')}, expected 1")
    check(g("volmig_pool_provisioned_bytes", "thin") == 1 * GiB, f"thin provisioned {g('volmig_pool_provisioned_bytes', 'thin')}, expected 1 GiB")
    on_disk = sum(os.stat(os.path.join(thin_pool, n)).st_blocks * 512 for n in pool_listing(thin_pool))
    check(on_disk >= 8 * MiB, f"the thin pool's files hold {on_disk} bytes (test premise)")
    check(g("volmig_pool_allocated_bytes", "thin") == on_disk,
          f"thin allocated {g('volmig_pool_allocated_bytes', 'thin')} bytes, the pool's files hold {on_disk}")
    check(g("volmig_pool_allocated_bytes", "thick") == 1 * GiB, f"thick allocated {g('volmig_pool_allocated_bytes', 'thick')}, expected 1 GiB")
    check(g("volmig_pool_provisioned_bytes", "thick") == 1 * GiB, f"thick provisioned {g('volmig_pool_provisioned_bytes', 'thick')}, expected 1 GiB")
    check(s1["volmig_copies_running"] == 0, "copies running without a migration")

    # Delete the rest: the gauges go back to zero.
    for i in (ids[0], ids[2]):
        d.delete(i)
    s2, _ = scrape(d)
    for b in ("thin", "thick"):
        for name in ("volmig_volumes", "volmig_pool_allocated_bytes", "volmig_pool_provisioned_bytes"):
            v = s2[f'{name}{{backend="{b}"}}']
            check(v == 0, f"{name} of {b} is {v} after deleting everything, expected 0")
    check(s2[req_key("DELETE", 202)] - s1[req_key("DELETE", 202)] == 2, "the two later deletes were not counted")


if __name__ == "__main__":
    run_scenario(main)
