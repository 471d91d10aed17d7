#!/usr/bin/env python3
"""While a migration between daemons runs, the volume's migration_status goes
starting -> migrating -> completing -> success, in that order and nothing else; the volume
stays available (lock_volume false); and the progress (bytes done, rate, ETA, percent) moves
while it copies. The copy is slowed with volume_copy_bps_limit on the source daemon, and the
peer calls that start and end the job (volmig-prepare_receive, volmig-adopt) pass through a
proxy that holds them back for a moment, so that the short starting and completing phases are
observable too."""
import os
import socket
import sys
import threading
import time

from volmig_lab import GiB, MiB, sha256_of

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import LoopbackListener, check, daemon_pair, new_source, run_scenario

LIMIT = 16 * MiB
EXTENTS = ((1, 16), (300, 24), (700, 8))  # 48 MiB of data: about 3 s at the limit
DATA = sum(n for _, n in EXTENTS) * MiB


class DelayingProxy(LoopbackListener):
    """A TCP proxy to 127.0.0.1:target that forwards everything, but holds back for `delay`
    seconds any chunk sent to the target that contains one of `markers`."""

    def __init__(self, target_port, markers, delay):
        self.target_port, self.markers, self.delay = target_port, markers, delay
        self.delayed = []
        super().__init__()

    def handle(self, client):
        upstream = socket.create_connection(("127.0.0.1", self.target_port))
        threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
        threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src, dst, inspect):
        try:
            while True:
                data = src.recv(1 << 16)
                if not data:
                    break
                if inspect:
                    for marker in self.markers:
                        if marker in data:
                            self.delayed.append(marker.decode())
                            time.sleep(self.delay)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass


def collapse(seq):
    out = []
    for x in seq:
        if not out or out[-1] != x:
            out.append(x)
    return out


def scenario(lab):
    a, b = daemon_pair(lab, a_defaults={"volume_copy_bps_limit": str(LIMIT)}, start=False)
    proxy = DelayingProxy(b.port, [b"volmig-prepare_receive", b"volmig-adopt"], delay=1.0)
    a.peers["host-b"] = proxy.url  # host-a reaches host-b through the proxy
    a.start()
    b.start()

    v, src_path, src_sha = new_source(a, "app", seed=5, extents=EXTENTS, zeros=())
    vid = v["id"]
    check(a.show(vid)["migration_status"] is None, "a new volume already has a migration_status")

    a.migrate(vid, "host-b@thin")
    t0 = time.time()
    samples = []  # (t, migration_status, state, status, progress)
    while True:
        view = a.show(vid)
        m = view.get("volmig:migration") or {}
        samples.append((time.time() - t0, view["migration_status"], m.get("state"), view["status"], m.get("progress") or {}))
        if m.get("state") in ("success", "error"):
            break
        check(time.time() - t0 < 60, f"the migration did not end within 60 s (last: {samples[-1][1:4]})")
        time.sleep(0.03)
    m = view["volmig:migration"]
    check(m["state"] == "success", f"migration ended in {m['state']}: {m.get('error')}")

    statuses = collapse(s[1] for s in samples)
    check(statuses == ["starting", "migrating", "completing", "success"],
          f"migration_status went {' -> '.join(map(str, statuses))}, expected starting -> migrating -> completing -> success")
    states = collapse(s[2] for s in samples)
    order = ["starting", "migrating", "completing", "releasing", "success"]
    check(all(s in order for s in states) and [order.index(s) for s in states] == sorted(order.index(s) for s in states),
          f"the migration's state went {' -> '.join(map(str, states))}: not in the order {', '.join(order)}")
    not_available = sorted({s[3] for s in samples if s[3] != "available"})
    check(not not_available, f"the volume's status left available during the migration: {not_available}")
    check(set(proxy.delayed) == {"volmig-prepare_receive", "volmig-adopt"}, f"the proxy held back only {proxy.delayed}")

    # Progress while copying: bytes move forward, with a rate and an ETA.
    copying = [s[4] for s in samples if s[1] == "migrating" and 0 < s[4].get("bytes_done", 0) < s[4].get("bytes_total", 0)]
    done = collapse(p["bytes_done"] for p in copying)
    check(len(done) >= 3, f"saw only {len(done)} distinct intermediate bytes_done values while migrating: {done}")
    check(done == sorted(done), f"bytes_done went backwards: {done}")
    check(all(p["bytes_total"] == DATA for p in copying), f"bytes_total is {sorted({p['bytes_total'] for p in copying})}, expected {DATA}")
    check(all(p["rate_bytes_per_second"] > 0 for p in copying), "a progress sample while copying has no rate")
    check(all(p["eta_seconds"] is not None and p["eta_seconds"] > 0 for p in copying), f"ETA missing while copying: {[p['eta_seconds'] for p in copying]}")
    percents = [p["percent"] for p in copying]
    check(all(0 < x < 100 for x in percents) and percents == sorted(percents), f"percent while copying: {percents}")
    rates = [p["rate_bytes_per_second"] for p in copying]
    check(max(rates) < 2 * LIMIT, f"the copy ran at {max(rates) / MiB:.1f} MiB/s despite volume_copy_bps_limit {LIMIT // MiB} MiB/s")
    migrating_time = [s[0] for s in samples if s[1] == "migrating"]
    check(migrating_time[-1] - migrating_time[0] >= 0.6 * DATA / LIMIT,
          f"migrating lasted {migrating_time[-1] - migrating_time[0]:.1f} s for {DATA // MiB} MiB at {LIMIT // MiB} MiB/s")
    final = m["progress"]
    check(final["bytes_done"] == final["bytes_total"] == DATA and final["percent"] == 100.0, f"final progress {final}")

    bv = b.show(vid)
    check(sha256_of(b.volume_path(bv), GiB) == src_sha, "the destination's content differs from the source's")
    print(f"migration_status: {' -> '.join(statuses)}; {len(done)} progress steps; "
          f"rate {min(rates) / MiB:.1f}..{max(rates) / MiB:.1f} MiB/s; ETA {copying[0]['eta_seconds']:.1f} s at first")
    proxy.close()


if __name__ == "__main__":
    run_scenario(scenario)
