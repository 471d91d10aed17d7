#!/usr/bin/env python3
"""A volume holding compressible text and incompressible random data migrates host-a -> host-b
with migration_streams = 4 and migration_compression = zstd: the report says 4 streams, zstd,
some records compressed and no resume; fewer bytes cross the wire than the volume's data; the
destination holds the same bytes (sha256) and stays sparse. The same with compression = none
sends about the data, raw."""
import os
import sys

from volmig_lab import GiB, MiB, sha256_of

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import check, daemon_pair, new_source, run_scenario, settle

RANDOM = ((1, 8), (300, 20), (700, 3))  # 31 MiB of random data (write_pattern_volume)
TEXT_AT, TEXT = 400 * MiB, 24 * MiB       # and 24 MiB of log-like text


def write_text(path):
    line = b"2026-12-02T05:05:33Z volmigd[4242]: migration 7f3a: slice 3/4 streaming to host-b, 812 MiB done\n"
    with open(path, "r+b") as f:
        f.seek(TEXT_AT)
        f.write((line * (TEXT // len(line) + 1))[:TEXT])
        f.flush()
        os.fsync(f.fileno())


def migrate(a, b, compression):
    if a.running():
        a.stop()
    a.extra_defaults.update({"migration_streams": "4", "migration_compression": compression})
    a.start()
    v, src, _ = new_source(a, f"mixed-{compression}", extents=RANDOM, zeros=())
    write_text(src)
    sha = sha256_of(src, GiB)
    a.migrate(v["id"], "host-b@thin")
    m = settle(a, v["id"])["volmig:migration"]
    check(m["state"] == "success", f"compression {compression}: the migration ended in {m['state']}: {m.get('error')}")
    dst = b.volume_path(b.show(v["id"]))
    check(sha256_of(dst, GiB) == sha, f"compression {compression}: the destination differs from the source")
    allocated = os.stat(dst).st_blocks * 512
    check(allocated <= (31 + 24 + 8) * MiB, f"compression {compression}: the destination allocates {allocated // MiB} MiB")
    r = m["report"]
    print(f"compression {compression}: streams {r['streams']}, {r['compressed_records']} records compressed, "
          f"{r['bytes']['sent'] / MiB:.1f} MiB on the wire for {(31 + 24)} MiB of data, resumes {r['resumes']}")
    check(r["streams"] == 4, f"compression {compression}: the report says {r['streams']} streams, expected 4")
    check(r["resumes"] == 0, f"compression {compression}: {r['resumes']} resumes without a cut")
    return r


def scenario(lab):
    a, b = daemon_pair(lab)
    z = migrate(a, b, "zstd")
    check(z["compression"] == "zstd" and z["compressed_records"] > 0, f"zstd: compression {z['compression']}, {z['compressed_records']} records")
    check(z["bytes"]["sent"] < (31 + 6) * MiB, f"zstd: {z['bytes']['sent']} bytes on the wire: the text did not shrink")
    n = migrate(a, b, "none")
    check(n["compression"] == "none" and n["compressed_records"] == 0, f"none: compression {n['compression']}, {n['compressed_records']} records")
    check((31 + 24) * MiB <= n["bytes"]["sent"] <= (31 + 24) * MiB * 105 // 100, f"none: {n['bytes']['sent']} bytes on the wire")


if __name__ == "__main__":
    run_scenario(scenario)
