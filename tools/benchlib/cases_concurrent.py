"""The concurrent case: 16 migrations at once between two volmigd on 127.0.0.1 (as an evacuation
starts them), equal volumes of distinct random data, against one migration of the same size
alone: all must succeed with identical destinations, the aggregate throughput must stay near one
migration's and no job may starve."""

import os
import random
import sys
import time

from .common import GiB, MiB, fmt_mib, repo_root
from .measure import content_digest, loadavg, settle

CONCURRENT_JOBS = 16
CONCURRENT_AGGREGATE_MIN = 0.9     # aggregate throughput / one migration's alone
CONCURRENT_SPREAD_MAX = 1.5        # slowest job / fastest job


def fill_volume(path, nbytes, seed):
    """`nbytes` of seeded random data at the start of the volume, in 4 MiB writes, fsynced."""
    rng = random.Random("concurrent-%d" % seed)
    with open(path, "r+b") as f:
        for off in range(0, nbytes, 4 * MiB):
            f.write(rng.randbytes(min(4 * MiB, nbytes - off)))
        f.flush()
        os.fsync(f.fileno())


def run_concurrent(env, data_bytes, jobs=CONCURRENT_JOBS):
    """Returns (result, checks)."""
    sys.path.insert(0, os.path.join(repo_root(), "tools", "pylib"))
    import volmig_lab
    backends = {"thin": {"volume_driver": "thin_file"}}
    options = {"max_concurrent_migrations": str(jobs)}
    note = ""
    with volmig_lab.Lab(base=env["workdir"], volmigd=env["volmigd"]) as lab:
        a = lab.daemon("host-a", backends, start=False, extra_defaults=options)
        b = lab.daemon("host-b", backends, start=False, extra_defaults=options)
        a.add_peer(b)
        b.add_peer(a)
        try:
            b.start()
            a.start()
        except RuntimeError as e:
            if "max_concurrent_migrations" not in str(e):
                raise
            note = "volmigd refused max_concurrent_migrations: run with its defaults"
            for d in (a, b):
                d.stop()
                d.extra_defaults = {}
            b.start()
            a.start()
        size_gib = max(1, (data_bytes + GiB - 1) // GiB)
        vols = []
        for i in range(jobs + 1):
            v = a.create(size_gib, name="concurrent-%d" % i, backend="thin")
            fill_volume(v["volmig:location"], data_bytes, i)
            vols.append((v["id"], content_digest(v["volmig:location"])[0]))
        settle()

        def migrate(batch):
            started = {}
            for vid, _ in batch:
                started[vid] = time.monotonic()
                a.migrate(vid, "host-b@thin")
            ended, states = {}, {}
            while len(ended) < len(batch):
                for vid, _ in batch:
                    if vid in ended:
                        continue
                    m = a.show(vid).get("volmig:migration") or {}
                    if m.get("state") in ("success", "error"):
                        ended[vid], states[vid] = time.monotonic(), m
                time.sleep(0.05)
            t0 = min(started.values())
            return max(ended.values()) - t0, {vid: ended[vid] - started[vid] for vid in ended}, states

        solo_wall, _, solo_state = migrate(vols[:1])
        batch = vols[1:]
        total, walls, states = migrate(batch)
        ok = [vid for vid, _ in batch if states[vid].get("state") == "success"]
        same = [vid for vid, digest in batch if vid in ok and content_digest(b.show(vid)["volmig:location"])[0] == digest]
        errors = sorted({str(states[vid].get("error")) for vid, _ in batch if vid not in ok})
    solo_ok = solo_state[vols[0][0]].get("state") == "success"
    agg = jobs * data_bytes / total
    single = data_bytes / solo_wall
    fastest, slowest = min(walls.values()), max(walls.values())
    result = {"jobs": jobs, "data_bytes": data_bytes, "solo_wall": solo_wall, "total_wall": total,
              "job_walls": sorted(walls.values()), "succeeded": len(ok), "identical": len(same),
              "aggregate_bps": agg, "single_bps": single, "note": note, "errors": errors}
    print("one migration alone: %.2f s for %s MiB (%.0f MiB/s)%s" % (solo_wall, fmt_mib(data_bytes), single / MiB,
                                                                   "" if solo_ok else "  FAILED"))
    print("%d at once: %.2f s in all (%.0f MiB/s aggregate); jobs %.2f .. %.2f s (median %.2f s); "
          "%d succeeded, %d identical" % (jobs, total, agg / MiB, fastest, slowest, sorted(walls.values())[jobs // 2],
                                          len(ok), len(same)))
    if note:
        print("note: " + note)
    for e in errors:
        print("  error: " + e)
    checks = [
        {"name": "all %d migrations succeed and are identical" % jobs, "pass": len(same) == jobs and solo_ok,
         "detail": "%d succeeded, %d identical" % (len(ok), len(same))},
        {"name": "aggregate throughput >= %.1f x one migration's" % CONCURRENT_AGGREGATE_MIN,
         "pass": agg >= CONCURRENT_AGGREGATE_MIN * single,
         "detail": "%.0f MiB/s vs %.0f MiB/s alone: %.2fx" % (agg / MiB, single / MiB, agg / single)},
        {"name": "slowest job <= %.1f x the fastest" % CONCURRENT_SPREAD_MAX, "pass": slowest <= CONCURRENT_SPREAD_MAX * fastest,
         "detail": "%.2f s vs %.2f s: %.2fx" % (slowest, fastest, slowest / fastest)},
    ]
    for c in checks:
        print("  [%s] %s: %s" % ("PASS" if c["pass"] else "FAIL", c["name"], c["detail"]))
    print("(load average %s)" % loadavg())
    return result, checks
