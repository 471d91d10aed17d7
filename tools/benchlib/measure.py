"""Measuring one tool: timing with a final fsync, CPU and peak RSS (GNU time), allocated blocks,
exact comparison of a destination with its source, waiting for a quiet disk, the machine's load."""

import concurrent.futures
import errno
import hashlib
import mmap
import os
import shutil
import struct
import subprocess
import threading
import time

from .common import MiB, RES


def allocated(path):
    return os.stat(path).st_blocks * 512


def fsync_path(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def warm_cache(path, size):
    """Read the whole source once so that every run starts with it in the page cache."""
    buf = bytearray(16 * MiB)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        left = size
        while left > 0:
            n = f.readinto(view[:min(len(buf), left)])
            if not n:
                break
            left -= n


def data_ranges(path):
    """[(start, end)] of the data of a file by SEEK_DATA/SEEK_HOLE (whole file if unsupported).
    Everything outside is a hole and reads as zeros."""
    size = os.stat(path).st_size
    fd = os.open(path, os.O_RDONLY)
    ranges = []
    try:
        off = 0
        while off < size:
            try:
                start = os.lseek(fd, off, os.SEEK_DATA)
            except OSError as e:
                if e.errno == errno.ENXIO:
                    break
                return [(0, size)]
            end = os.lseek(fd, start, os.SEEK_HOLE)
            ranges.append((start, end))
            off = end
    finally:
        os.close(fd)
    return ranges


def diff_chunks(src, dst, size, chunk=MiB):
    """Number of `chunk`-sized pieces of [0, size) where the content of dst differs from src.
    Exact: every chunk touched by data in either file is read and compared; chunks that are
    holes in both read as zeros in both. A dst shorter than size differs in the missing part.
    The destination is read with O_DIRECT where possible (coherent with any cached pages, and
    much faster than buffered reads of what was just written around the page cache), by a few
    threads at once."""
    nchunks = (size + chunk - 1) // chunk
    dst_size = os.stat(dst).st_size
    spans = []
    for path in (src, dst):
        for a, b in data_ranges(path):
            a, b = min(a, size), min(b, size)
            if a < b:
                spans.append((a // chunk, (b + chunk - 1) // chunk))
    if dst_size < size:
        spans.append((dst_size // chunk, nchunks))
    spans.sort()
    merged = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    step = 16  # chunks per read
    blocks = []
    for a, b in merged:
        for c in range(a, b, step):
            off = c * chunk
            blocks.append((off, min(min(step, b - c) * chunk, size - off)))

    fs = os.open(src, os.O_RDONLY)
    fb = os.open(dst, os.O_RDONLY)
    try:
        fdd = os.open(dst, os.O_RDONLY | os.O_DIRECT)
    except OSError:
        fdd = None
    local = threading.local()

    def read_dst(off, length):
        if fdd is not None and off % 4096 == 0 and length % 4096 == 0:
            buf = getattr(local, "buf", None)
            if buf is None:
                buf = local.buf = mmap.mmap(-1, step * chunk)
            try:
                n = os.preadv(fdd, [memoryview(buf)[:length]], off)
                return buf[:n]
            except OSError as e:
                if e.errno != errno.EINVAL:
                    raise
        return os.pread(fb, length, off)

    def compare(block):
        off, length = block
        x = os.pread(fs, length, off)
        if len(x) < length:
            raise RuntimeError("short read of %s at %d" % (src, off))
        y = read_dst(off, length)
        if x == y:
            return 0
        bad = 0
        for lo in range(0, length, chunk):
            if x[lo:lo + chunk] != y[lo:lo + chunk]:
                bad += 1
        return bad

    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            return sum(pool.map(compare, blocks))
    finally:
        os.close(fs)
        os.close(fb)
        if fdd is not None:
            os.close(fdd)



TIME_BIN = "/usr/bin/time"


def run_timed(argv, sync_path, logdir):
    """Run argv; return dict(rc, wall, user, sys, rss_kib, stdout, stderr). Wall time includes a
    final fsync of sync_path.

    CPU and peak RSS come from GNU time (-f '%U %S %M'), which forks the tool from its own tiny
    process: the rusage of a child spawned directly from this script would start from a copy of
    (or, with vfork, the exec of) this Python process and report its RSS instead of the tool's."""
    out_path = os.path.join(logdir, "stdout")
    err_path = os.path.join(logdir, "stderr")
    time_path = os.path.join(logdir, "rusage")
    use_time = os.access(TIME_BIN, os.X_OK)
    if use_time:
        try:
            os.unlink(time_path)
        except FileNotFoundError:
            pass
        full = [TIME_BIN, "-f", "%U %S %M", "-o", time_path] + argv
    else:
        full = argv
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    actions = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
               (os.POSIX_SPAWN_OPEN, 1, out_path, flags, 0o600),
               (os.POSIX_SPAWN_OPEN, 2, err_path, flags, 0o600)]
    t0 = time.perf_counter()
    pid = os.posix_spawnp(full[0], full, os.environ, file_actions=actions)
    RES.child = pid
    _, status, ru = os.wait4(pid, 0)
    RES.child = None
    rc = os.waitstatus_to_exitcode(status)
    if rc == 0 and sync_path and os.path.exists(sync_path):
        fsync_path(sync_path)
    wall = time.perf_counter() - t0
    # Without GNU time, CPU comes from wait4; its ru_maxrss would be this script's (see above),
    # so RSS is reported as not measured.
    user, system, rss = ru.ru_utime, ru.ru_stime, None
    rss_source = "not measured (%s not installed)" % TIME_BIN
    if use_time:
        try:
            with open(time_path) as f:
                fields = f.read().strip().splitlines()[-1].split()
            user, system, rss = float(fields[0]), float(fields[1]), int(fields[2])
            rss_source = "GNU time %M"
        except (OSError, IndexError, ValueError):
            pass
    with open(out_path, errors="replace") as f:
        stdout = f.read()
    with open(err_path, errors="replace") as f:
        stderr = f.read()
    return {"rc": rc, "wall": wall, "user": user, "sys": system, "rss_kib": rss,
            "rss_source": rss_source, "stdout": stdout, "stderr": stderr}


# --------------------------------------------------------------------------------------------


def io_stall_total():
    """Microseconds some task has waited for I/O since boot (PSI), or None without PSI."""
    try:
        with open("/proc/pressure/io") as f:
            return int(f.readline().split()[4].split("=")[1])
    except (OSError, IndexError, ValueError):
        return None


def io_pressure(window=0.5):
    """Percent of the next `window` seconds in which some task waited for I/O, or None."""
    a = io_stall_total()
    if a is None:
        return None
    time.sleep(window)
    b = io_stall_total()
    return 100.0 * (b - a) / (window * 1e6)


def settle(limit=5.0, timeout=60):
    """Let udev finish probing a new loop device, and let the disk go quiet: deleting the previous
    run's multi-GiB destination makes a filesystem mounted with `discard` (and the storage below a
    VM) busy for many seconds, and a run timed meanwhile measures that, not the tool."""
    if shutil.which("udevadm"):
        subprocess.run(["udevadm", "settle", "--timeout=5"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    subprocess.run(["sync"])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        p = io_pressure()
        if p is None or p < limit:
            return


def cpu_busy(seconds=1.0):
    """Fraction of all CPUs busy over `seconds` (from /proc/stat), or None."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return sum(v), idle
    try:
        t0, i0 = sample()
        time.sleep(seconds)
        t1, i1 = sample()
    except (OSError, ValueError):
        return None
    return 1.0 - (i1 - i0) / max(1, t1 - t0)


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def tool_version(argv):
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=10)
        return r.stdout.strip().splitlines()[0] if r.stdout.strip() else ""
    except (OSError, subprocess.SubprocessError):
        return "not installed"


def git_rev(root):
    try:
        rev = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
        return rev.strip() + ("+dirty" if dirty.strip() else "")
    except OSError:
        return ""


def source_direct_ok(path):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    except OSError:
        return False
    try:
        buf = mmap.mmap(-1, 4096)
        try:
            os.preadv(fd, [buf], 0)
        finally:
            buf.close()
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


ZERO_MIB = bytes(MiB)
ZERO_4K = bytes(4096)


def content_digest(path, count_data=False):
    """(sha256 hex, non-zero bytes or None) of the logical content of a file or device: SHA-256
    over (u64 index, bytes) of every 1 MiB chunk that is not all zeros, the last one padded with
    zeros. Holes and zero chunks add nothing, so two files with the same bytes digest alike
    whatever their allocation, and a volume rounded up to whole GiB digests like its image.
    `count_data` also counts the bytes in non-zero 4 KiB blocks (the data a copy must move)."""
    h = hashlib.sha256()
    data = 0 if count_data else None
    size = os.stat(path).st_size or device_size(path)
    chunks = sorted({c for a, b in data_ranges(path) for c in range(a // MiB, (min(b, size) + MiB - 1) // MiB)})
    with open(path, "rb", buffering=0) as f:
        for c in chunks:
            buf = os.pread(f.fileno(), MiB, c * MiB)
            if len(buf) < MiB:
                buf += bytes(MiB - len(buf))
            if buf == ZERO_MIB:
                continue
            h.update(struct.pack("<Q", c))
            h.update(buf)
            if count_data:
                data += sum(4096 for i in range(0, MiB, 4096) if buf[i:i + 4096] != ZERO_4K)
    return h.hexdigest(), data


def device_size(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.lseek(fd, 0, os.SEEK_END)
    finally:
        os.close(fd)


def cpu_seconds(pid):
    """user+sys seconds a live process (all its threads) has used, from /proc/PID/stat, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None
