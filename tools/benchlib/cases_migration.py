"""The migration case: the thin image migrated between two volmigd on 127.0.0.1 (extent stream
over HTTP) and, for comparison, between two backends of one daemon (copied locally)."""

import os
import statistics
import subprocess
import sys
import time

from .common import GiB, fmt_mib, fmt_size, repo_root
from .measure import allocated, diff_chunks, settle, warm_cache


MIGRATION_WIRE_LIMIT = 1.05    # bytes on the wire / the source's non-zero data
MIGRATION_REMOTE_MIN = 0.9     # remote throughput / local throughput


def run_migration(src, size, info, runs, volmigd, workdir, volmig):
    """Migrates a volume holding the thin image host-a -> host-b (extent stream over HTTP) and,
    for comparison, host-a thin -> host-a thin2 (the same job, copied locally). Wall time is from
    the os-migrate_volume request to the success seen by polling."""
    sys.path.insert(0, os.path.join(repo_root(), "tools", "pylib"))
    import volmig_lab
    results = {"local": [], "remote": []}
    with volmig_lab.Lab(base=workdir, volmigd=volmigd) as lab:
        b = lab.daemon("host-b", {"thin": {"volume_driver": "thin_file"}}, start=False)
        a = lab.daemon("host-a", {"thin": {"volume_driver": "thin_file"}, "thin2": {"volume_driver": "thin_file"}}, start=False)
        a.add_peer(b)
        b.add_peer(a)
        b.start()
        a.start()
        for run in range(runs):
            for mode, dest, owner in (("local", "host-a@thin2", a), ("remote", "host-b@thin", b)):
                v = a.create(max(1, (size + GiB - 1) // GiB), name="bench-%s-%d" % (mode, run), backend="thin")
                filled = subprocess.run([volmig, "copy", src, v["volmig:location"], "--dest-zeroed", "--no-create", "--quiet"],
                                        capture_output=True, text=True)
                if filled.returncode != 0:
                    raise RuntimeError("filling the source volume failed: " + filled.stderr)
                warm_cache(v["volmig:location"], size)
                subprocess.run(["sync"])
                settle()
                t0 = time.monotonic()
                a.migrate(v["id"], dest)
                while True:
                    view = a.show(v["id"])
                    state = (view.get("volmig:migration") or {}).get("state")
                    if state in ("success", "error"):
                        break
                    time.sleep(0.01)
                wall = time.monotonic() - t0
                m = view["volmig:migration"]
                if state != "success":
                    raise RuntimeError("migration failed: %s" % m.get("error"))
                final = owner.show(v["id"])
                path = final["volmig:location"]
                same = not diff_chunks(src, path, size)
                report = m["report"]
                results[mode].append({"wall": wall, "job_seconds": report.get("seconds"), "wire": report["bytes"].get("sent", 0),
                                      "read": report["bytes"].get("read", 0), "written": report["bytes"].get("written", 0),
                                      "identical": same, "strategy": m["plan"]["strategy"],
                                      "dest_allocated": allocated(path)})
                owner.delete(v["id"])
    return results


def print_migration(res, info, size):
    data = info["data_bytes"]
    out = {}
    print("%-8s %9s %9s %10s %10s %9s %10s %9s" % ("mode", "wall s", "job s", "read MiB", "wire MiB", "wire/data", "dst MiB", "identical"))
    for mode in ("local", "remote"):
        rows = res[mode]
        wall = statistics.median(r["wall"] for r in rows)
        job = statistics.median(r["job_seconds"] or 0 for r in rows)
        wire = max(r["wire"] for r in rows)
        out[mode] = {"wall": wall, "job": job, "wire": wire, "identical": all(r["identical"] for r in rows)}
        print("%-8s %9.3f %9.3f %10s %10s %9s %10s %9s" % (
            mode, wall, job, fmt_mib(rows[0]["read"]), fmt_mib(wire) if mode == "remote" else "-",
            "%.3f" % (wire / data) if mode == "remote" else "-", fmt_mib(rows[0]["dest_allocated"]),
            "yes" if out[mode]["identical"] else "NO"))
    ratio = out["local"]["wall"] / out["remote"]["wall"] if out["remote"]["wall"] else 0
    checks = [
        {"name": "bytes on the wire <= %.2f x the source's non-zero data" % MIGRATION_WIRE_LIMIT,
         "pass": out["remote"]["wire"] <= MIGRATION_WIRE_LIMIT * data,
         "detail": "%s MiB for %s MiB of data: %.3fx" % (fmt_mib(out["remote"]["wire"]), fmt_mib(data), out["remote"]["wire"] / data)},
        {"name": "remote throughput >= %.1f x local" % MIGRATION_REMOTE_MIN, "pass": ratio >= MIGRATION_REMOTE_MIN,
         "detail": "%.3f s remote vs %.3f s local: %.2fx of local throughput (%s/s of volume)" % (
             out["remote"]["wall"], out["local"]["wall"], ratio, fmt_size(int(size / out["remote"]["wall"])))},
        {"name": "migrated volume identical", "pass": out["remote"]["identical"] and out["local"]["identical"],
         "detail": "identical" if out["remote"]["identical"] and out["local"]["identical"] else "DIFFERS"},
    ]
    for c in checks:
        print("  [%s] %s: %s" % ("PASS" if c["pass"] else "FAIL", c["name"], c["detail"]))
    return out, checks
