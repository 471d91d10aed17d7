#!/usr/bin/env python3
"""host-a reaches host-b through a proxy that resets every connection once about half of the
volume's data has passed. The migration resumes instead of starting over: it succeeds, the
destination holds the source's bytes (sha256), the report counts the resumes, and the bytes that
crossed the proxy towards host-b are at most 1.1 x those of the same migration uncut."""
import os
import sys

from volmig_lab import GiB, MiB, sha256_of

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from wanproxy import WanProxy
from scenario_support import check, daemon_pair, new_source, run_scenario, settle

EXTENTS = ((1, 64), (200, 64), (500, 64), (800, 64))  # 256 MiB of random data
DATA = 256 * MiB


def migrate(a, b, proxy, name, seed, cut_after=None):
    v, src, sha = new_source(a, name, seed=seed, extents=EXTENTS, zeros=())
    before = proxy.stats()
    if cut_after is not None:
        proxy.cut_after(cut_after)
    a.migrate(v["id"], "host-b@thin")
    m = settle(a, v["id"], timeout=120)["volmig:migration"]
    after = proxy.stats()
    check(m["state"] == "success", f"{name}: the migration ended in {m['state']}: {m.get('error')}")
    dst = b.volume_path(b.show(v["id"]))
    check(sha256_of(dst, GiB) == sha, f"{name}: the destination differs from the source")
    up = after["up_bytes"] - before["up_bytes"]
    print(f"{name}: {up / MiB:.1f} MiB towards host-b, {after['cuts'] - before['cuts']} cut(s), report: resumes {m['report']['resumes']}, "
          f"{m['report']['bytes']['sent'] / MiB:.1f} MiB sent, {m['report']['streams']} streams, checkpoint {m['report']['checkpoint_bytes'] // MiB} MiB")
    return up, m, after["cuts"] - before["cuts"]


def scenario(lab):
    a, b = daemon_pair(lab, start=False)
    b.start()
    with WanProxy(b.port) as proxy:
        a.peers["host-b"] = f"http://127.0.0.1:{proxy.port}"
        a.start()
        uncut, _, _ = migrate(a, b, proxy, "uncut", seed=61)
        check(uncut >= DATA, f"the uncut migration sent {uncut} bytes for {DATA} bytes of data")
        cut, m, cuts = migrate(a, b, proxy, "cut", seed=62, cut_after=DATA // 2)
        check(cuts == 1, f"the proxy cut {cuts} times, expected once at half of the data")
        check(m["report"]["resumes"] >= 1, f"the cut migration reports {m['report']['resumes']} resumes")
        check(cut <= uncut * 1.1, f"the cut migration sent {cut / MiB:.1f} MiB towards host-b, more than 1.1 x the uncut {uncut / MiB:.1f} MiB")


if __name__ == "__main__":
    run_scenario(scenario)
