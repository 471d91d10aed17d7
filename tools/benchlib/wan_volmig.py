"""volmig in the WAN cases: pairs of volmigd on 127.0.0.1 whose [peers] URLs point at a
volmig-wanproxy in front of the other daemon, so that every call between them (the stream, and
the calls back) crosses the link. One pair per configuration (connections x compression), all
started at once per link so that the runs of every row can be interleaved.

A configuration the daemon refuses (an option it does not know yet) is reported as n/a."""

import os
import subprocess
import time

from .common import GiB
from .measure import cpu_seconds, warm_cache


class Unsupported(Exception):
    pass


PLAIN = {"migration_streams": "1", "migration_compression": "none"}


def variant_options(streams, compression):
    return {"migration_streams": str(streams), "migration_compression": compression}


class VolmigPair:
    """host-a (the source) and host-b, each behind its own proxy with the link's settings."""

    def __init__(self, lab, name, link, options, wanproxy, backend="thin"):
        self.name = name
        self.backend = backend
        self.note = ""
        backends = {backend: {"volume_driver": "thin_file"}}
        self.a = lab.daemon(name + "-a", backends, start=False)
        self.b = lab.daemon(name + "-b", backends, start=False)
        delay = link["rtt_ms"] // 2
        self.proxies = [wanproxy(d.port, mbit=link["mbit"], delay_ms=delay) for d in (self.a, self.b)]
        self.a.peers[self.b.host] = "http://127.0.0.1:%d" % self.proxies[1].port
        self.b.peers[self.a.host] = "http://127.0.0.1:%d" % self.proxies[0].port
        options, dropped = dict(options), []
        while True:
            for d in (self.a, self.b):
                d.extra_defaults = dict(options)
            try:
                self.b.start()
                self.a.start()
                return
            except RuntimeError as e:
                self.stop_daemons()
                refused = [k for k in options if k in str(e)]
                if not refused:
                    self.close()
                    raise
            # An option the daemon does not know yet: asking for its plain value (one
            # connection, no compression) is what the daemon does anyway, so run without it;
            # asking for more is not measurable here.
            wanted = [k for k in refused if options[k] != PLAIN[k]]
            if wanted:
                self.close()
                raise Unsupported("volmigd refused %s" % ", ".join("%s = %s" % (k, options[k]) for k in wanted))
            for k in refused:
                del options[k]
            dropped += refused
            self.note = "without %s (volmigd does not know it)" % ", ".join(sorted(dropped))

    def stop_daemons(self):
        for d in (self.a, self.b):
            d.stop()

    def wire(self):
        total = 0
        for p in self.proxies:
            st = p.stats()
            total += st["up_bytes"] + st["down_bytes"]
        return total

    def cpu(self):
        return sum(cpu_seconds(d.proc.pid) or 0.0 for d in (self.a, self.b))

    def migrate(self, src, size, volmig, digest, run_tag, timeout=1800):
        """One migration of a volume holding `src`: {"wall", "cpu", "wire", "identical"}.
        Untimed: creating and filling the source volume, then warming the cache."""
        a, b = self.a, self.b
        v = a.create(max(1, (size + GiB - 1) // GiB), name="wan-%s" % run_tag, backend=self.backend)
        filled = subprocess.run([volmig, "copy", src, v["volmig:location"], "--dest-zeroed", "--no-create", "--quiet"],
                                capture_output=True, text=True)
        if filled.returncode != 0:
            raise RuntimeError("filling the source volume failed: " + filled.stderr.strip())
        warm_cache(v["volmig:location"], size)
        os.sync()   # as before every peer's run (the link, not the disk, is what is measured)
        wire0, cpu0 = self.wire(), self.cpu()
        t0 = time.monotonic()
        a.migrate(v["id"], "%s@%s" % (b.host, self.backend))
        deadline = t0 + timeout
        while True:
            view = a.show(v["id"])
            m = view.get("volmig:migration") or {}
            if m.get("state") in ("success", "error"):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("migration did not end within %d s" % timeout)
            time.sleep(0.02)
        wall = time.monotonic() - t0
        cpu, wire = self.cpu() - cpu0, self.wire() - wire0
        if m.get("state") != "success":
            # the volume stays on host-a; the lab's directory goes at the end of the case
            raise RuntimeError("migration failed: %s" % m.get("error"))
        final = b.show(v["id"])
        same = digest(final["volmig:location"])
        b.delete(v["id"])
        return {"wall": wall, "cpu": cpu, "wire": wire, "identical": same}

    def close(self):
        self.stop_daemons()
        for p in self.proxies:
            p.close()
