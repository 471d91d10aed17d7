"""The copy cases (thin-file, thin-loop, full-file, safety): the rows of tools compared, the
destinations prepared for each run, interleaved runs and their summary."""

import json
import os
import re
import statistics
import sys

from .common import MiB, RES, installed, tail
from .images import ALIGN, fill_pattern
from .measure import (allocated, diff_chunks, run_timed, settle, warm_cache)

# --------------------------------------------------------------------------------------------
# Tool rows

class Row:
    def __init__(self, key, label, group, tool, argv, precreate=False, note=""):
        self.key = key            # stable id for JSON
        self.label = label        # printed
        self.group = group        # volmig | cinder-dd | peer
        self.tool = tool          # executable that must be installed
        self.argv = argv          # with SRC / DST / SIZE placeholders
        self.precreate = precreate  # file destination created (sparse, zeroed) before the run
        self.note = note


# The disk-write reference row: writes `bytes` of random data into a new file, sequentially in
# 1 MiB O_DIRECT requests from 8 threads (8 in flight), then fsyncs: what the disk and the
# filesystem take to store that much data with no copying, reading or zero detection at all.
DISK_WRITER = """
import mmap, os, sys, threading
path, total = sys.argv[1], int(sys.argv[2])
step = 1 << 20
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_DIRECT, 0o600)
lock = threading.Lock()
next_offset = [0]
def writer():
    buf = mmap.mmap(-1, step)
    buf.write(os.urandom(step))
    view = memoryview(buf)
    while True:
        with lock:
            off = next_offset[0]
            next_offset[0] += step
        if off >= total:
            return
        n = min(step, total - off)
        if os.pwrite(fd, view[:n], off) != n:
            raise SystemExit("short write at %d" % off)
threads = [threading.Thread(target=writer) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
os.fsync(fd)
"""


def disk_row(data_bytes):
    n = (data_bytes + ALIGN - 1) // ALIGN * ALIGN
    return Row("disk", "disk: O_DIRECT write of %d MiB" % (n // MiB), "floor", sys.executable,
               [sys.executable, "-S", "-c", DISK_WRITER, "@DST@", str(n)],
               note="reference, not a copy: the source's non-zero data written sequentially")


def dd_line(env, extra=()):
    iflag = "iflag=count_bytes,direct" if env["src_direct"] else "iflag=count_bytes"
    return (["dd", "if=@SRC@", "of=@DST@", "count=@SIZE@", "bs=1M", iflag, "oflag=direct"]
            + list(extra))


def rows_for(case, env, image_info):
    vm = env["volmig"]
    dest_zeroed = ["--dest-zeroed"] if case == "thin-loop" else []
    rows = [
        Row("volmig", "volmig copy", "volmig", vm,
            [vm, "copy", "@SRC@", "@DST@", "--quiet", "--json"] + dest_zeroed),
        Row("volmig-dd", "volmig copy --engine dd", "volmig", vm,
            [vm, "copy", "@SRC@", "@DST@", "--quiet", "--json", "--engine", "dd"] + dest_zeroed),
        Row("dd", "dd (Cinder)", "cinder-dd", "dd", dd_line(env)),
        Row("dd-sparse", "dd conv=sparse (Cinder)", "peer", "dd", dd_line(env, ["conv=sparse"])),
    ]
    if case in ("thin-file", "full-file"):
        rows += [
            Row("cp", "cp --sparse=always", "peer", "cp",
                ["cp", "--sparse=always", "@SRC@", "@DST@"]),
            Row("qemu-img", "qemu-img convert", "peer", "qemu-img",
                ["qemu-img", "convert", "-f", "raw", "-O", "raw", "@SRC@", "@DST@"]),
            Row("qemu-img-tiz", "qemu-img -n --target-is-zero", "peer", "qemu-img",
                ["qemu-img", "convert", "-f", "raw", "-O", "raw", "-n", "--target-is-zero",
                 "@SRC@", "@DST@"], precreate=True, note="dst pre-created sparse"),
            Row("nbdcopy", "nbdcopy", "peer", "nbdcopy", ["nbdcopy", "@SRC@", "@DST@"]),
            Row("nbdcopy-diz", "nbdcopy --destination-is-zero", "peer", "nbdcopy",
                ["nbdcopy", "--destination-is-zero", "@SRC@", "@DST@"], precreate=True,
                note="dst pre-created sparse"),
            disk_row(image_info["data_bytes"]),
        ]
    else:
        rows += [
            Row("qemu-img", "qemu-img convert -n", "peer", "qemu-img",
                ["qemu-img", "convert", "-f", "raw", "-O", "raw", "-n", "@SRC@", "@DST@"]),
            Row("qemu-img-none", "qemu-img -n -t none", "peer", "qemu-img",
                ["qemu-img", "convert", "-f", "raw", "-O", "raw", "-n", "-t", "none",
                 "@SRC@", "@DST@"]),
            Row("qemu-img-none-tiz", "qemu-img -n -t none --target-is-zero", "peer", "qemu-img",
                ["qemu-img", "convert", "-f", "raw", "-O", "raw", "-n", "-t", "none",
                 "--target-is-zero", "@SRC@", "@DST@"]),
            Row("nbdcopy", "nbdcopy", "peer", "nbdcopy", ["nbdcopy", "@SRC@", "@DST@"]),
            Row("nbdcopy-diz", "nbdcopy --destination-is-zero", "peer", "nbdcopy",
                ["nbdcopy", "--destination-is-zero", "@SRC@", "@DST@"]),
        ]
    return rows


def safety_rows(env):
    vm = env["volmig"]
    return [
        Row("dd-sparse", "dd conv=sparse,notrunc (Cinder)", "peer", "dd",
            dd_line(env, ["conv=sparse,notrunc"])),
        Row("qemu-img-tiz", "qemu-img -n --target-is-zero", "peer", "qemu-img",
            ["qemu-img", "convert", "-f", "raw", "-O", "raw", "-n", "--target-is-zero",
             "@SRC@", "@DST@"]),
        Row("nbdcopy-diz", "nbdcopy --destination-is-zero", "peer", "nbdcopy",
            ["nbdcopy", "--destination-is-zero", "@SRC@", "@DST@"]),
        Row("volmig", "volmig copy (auto)", "volmig", vm,
            [vm, "copy", "@SRC@", "@DST@", "--quiet", "--json"]),
        Row("volmig-dd", "volmig copy --engine dd (auto)", "volmig", vm,
            [vm, "copy", "@SRC@", "@DST@", "--quiet", "--json", "--engine", "dd"]),
    ]


def substitute(argv, src, dst, size):
    values = {"@SRC@": src, "@DST@": dst, "@SIZE@": str(size)}
    return [re.sub(r"@(SRC|DST|SIZE)@", lambda m: values[m.group(0)], a) for a in argv]



def volmig_report(stdout):
    try:
        rep = json.loads(stdout)
    except ValueError:
        return None
    if not isinstance(rep, dict):
        return None
    return {k: rep.get(k) for k in ("strategy", "reason", "bytes", "seconds", "engine",
                                    "direct_io", "warnings")}



# --------------------------------------------------------------------------------------------
# Cases

class Dest:
    """A destination prepared for one run: a path to hand to the tool, the path to fsync, the
    file whose allocation/content is checked."""

    def __init__(self, tool_path, check_path, loop=None, backing=None):
        self.tool_path = tool_path
        self.check_path = check_path
        self.loop = loop
        self.backing = backing


def prepare_dest(case, rundir, size, row, dirty=False):
    if case in ("thin-file", "full-file"):
        path = RES.add_path(os.path.join(rundir, "dst.img"))
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        if row.precreate:
            with open(path, "wb") as f:
                f.truncate(size)
        return Dest(path, path)
    backing = RES.add_path(os.path.join(rundir, "loop-backing.img"))
    try:
        os.unlink(backing)
    except FileNotFoundError:
        pass
    if dirty:
        fill_pattern(backing, size)
    else:
        with open(backing, "wb") as f:
            f.truncate(size)
    dev = RES.attach_loop(backing)
    settle()
    return Dest(dev, backing, loop=dev, backing=backing)



def release_dest(dest):
    if dest.loop:
        RES.detach_loop(dest.loop)
    RES.remove_path(dest.check_path)


def run_rows(case, rows, src, size, rundir, runs):
    """Time every row `runs` times, interleaved (run 1 of every tool, then run 2, ...), so that
    drift in the disk's speed during the case reaches every tool alike."""
    results = []
    for row in rows:
        res = {"key": row.key, "label": row.label, "group": row.group, "note": row.note,
               "runs": [], "installed": installed(row.tool)}
        if not res["installed"]:
            res["error"] = "not installed"
        else:
            res["command"] = " ".join(substitute(row.argv, src, "DST", size))
        results.append(res)
    for _ in range(runs):
        for row, res in zip(rows, results):
            if "error" not in res:
                run_once(case, row, res, src, size, rundir)
    for res in results:
        summarize(res)
    return results


def run_once(case, row, res, src, size, rundir):
    dest = prepare_dest(case, rundir, size, row)
    try:
        argv = substitute(row.argv, src, dest.tool_path, size)
        os.sync()
        warm_cache(src, size)
        r = run_timed(argv, dest.tool_path, rundir)
        run = {"rc": r["rc"], "wall": round(r["wall"], 4), "user": round(r["user"], 3),
               "sys": round(r["sys"], 3), "rss_kib": r["rss_kib"],
               "rss_source": r["rss_source"]}
        if row.group == "volmig":
            run["volmig"] = volmig_report(r["stdout"])
        res["runs"].append(run)
        if r["rc"] != 0:
            run["error"] = tail(r["stderr"]) or ("exit %d" % r["rc"])
            res["error"] = "exit %d: %s" % (r["rc"], run["error"])
            return
        run["dst_allocated"] = allocated(dest.check_path)
        run["dst_size"] = os.stat(dest.check_path).st_size
        if row.group == "floor":   # writes a pattern, not a copy: nothing to compare
            run["diff_mib"], run["identical"] = 0, None
            return
        run["diff_mib"] = diff_chunks(src, dest.check_path, size)
        run["identical"] = run["diff_mib"] == 0 and (bool(dest.loop) or run["dst_size"] == size)
    finally:
        release_dest(dest)


def summarize(res):
    ok = [r for r in res["runs"] if r["rc"] == 0]
    if not ok or "error" in res:
        return
    walls = [r["wall"] for r in ok]
    res["wall_median"] = statistics.median(walls)
    res["wall_min"] = min(walls)
    res["wall_max"] = max(walls)
    res["cpu_median"] = statistics.median([r["user"] + r["sys"] for r in ok])
    rss = [r["rss_kib"] for r in ok if r["rss_kib"] is not None]
    res["rss_max_kib"] = max(rss) if rss else None
    res["dst_allocated"] = ok[-1]["dst_allocated"]
    res["diff_mib_max"] = max(r["diff_mib"] for r in ok)
    res["identical"] = None if res["group"] == "floor" else all(r["identical"] for r in ok)
    vm = ok[-1].get("volmig")
    if vm:
        res["strategy"] = vm.get("strategy")


def run_safety(src, size, rundir, env):
    results = []
    for row in safety_rows(env):
        res = {"key": row.key, "label": row.label, "group": row.group,
               "installed": installed(row.tool)}
        results.append(res)
        if not res["installed"]:
            res["error"] = "not installed"
            continue
        res["command"] = " ".join(substitute(row.argv, src, "DST", size))
        dest = prepare_dest("safety", rundir, size, row, dirty=True)
        try:
            argv = substitute(row.argv, src, dest.tool_path, size)
            os.sync()
            warm_cache(src, size)
            r = run_timed(argv, dest.tool_path, rundir)
            res.update(rc=r["rc"], wall=round(r["wall"], 4), rss_kib=r["rss_kib"])
            if row.group == "volmig":
                rep = volmig_report(r["stdout"])
                res["volmig"] = rep
                if rep:
                    res["strategy"] = rep.get("strategy")
            if r["rc"] != 0:
                res["error"] = "exit %d: %s" % (r["rc"], tail(r["stderr"]))
            res["dst_allocated"] = allocated(dest.check_path)
            res["diff_mib"] = diff_chunks(src, dest.check_path, size)
            res["verdict"] = "OK" if res["diff_mib"] == 0 else "CORRUPT"
        finally:
            release_dest(dest)
    return results

