"""The benchmark's images, generated deterministically from a fixed seed and cached in the
work directory while the stamp file next to each matches the generator parameters."""

import json
import mmap
import os
import random
import shutil
import stat
import struct
import subprocess
import tempfile
import time

from .common import KiB, MiB, RES

GEN_VERSION = 2          # bump when the image layout or content generator changes
SEED = 20261122          # fixed: the images are identical on every machine and run
ALIGN = 4 * KiB
EXT_MIN = 64 * KiB
EXT_MAX = 4 * MiB
POOL_SIZE = 64 * MiB     # seeded random pool the image content is cut from
DATA_FRACTION = 0.10     # thin image: random data
ZERO_FRACTION = 0.05     # thin image: written (allocated) zeros


# --------------------------------------------------------------------------------------------
# Image generation

def make_pool(rng):
    return rng.randbytes(POOL_SIZE)


def content(pool, rng, length, tag):
    """`length` bytes of incompressible, non-zero content: a slice of the seeded pool at a
    random offset, with every 4 KiB block stamped with a unique (tag, block) pair so that no two
    blocks of an image are alike and none is all zeros."""
    off = rng.randrange(0, (POOL_SIZE - length) // ALIGN + 1) * ALIGN
    buf = bytearray(pool[off:off + length])
    for i, pos in enumerate(range(0, length, ALIGN)):
        struct.pack_into("<QQ", buf, pos, tag | 0x8000000000000000, i + 1)
    return buf


def thin_layout(size, seed):
    """Deterministic list of (offset, length, kind) with kind 'data' or 'zero'."""
    rng = random.Random("thin-layout-%d-%d" % (seed, size))

    def draw():
        # 64 KiB..4 MiB, log-scale with a bias to small extents: a few thousand extents at 4 GiB
        n = int(EXT_MIN * (EXT_MAX / EXT_MIN) ** (rng.random() ** 6))
        return max(EXT_MIN, min(EXT_MAX, n // ALIGN * ALIGN))

    exts = []
    for kind, fraction in (("data", DATA_FRACTION), ("zero", ZERO_FRACTION)):
        target = int(size * fraction)
        total = 0
        while total < target:
            n = min(draw(), max(ALIGN, (target - total + ALIGN - 1) // ALIGN * ALIGN))
            exts.append([n, kind])
            total += n
    rng.shuffle(exts)
    used = sum(n for n, _ in exts)
    gaps_n = len(exts) + 1
    free = size - used - gaps_n * EXT_MIN  # every gap at least 64 KiB so extents stay apart
    if free < 0:
        raise RuntimeError("image too small for its extents")
    weights = [rng.expovariate(1.0) for _ in range(gaps_n)]
    wsum = sum(weights)
    layout = []
    off = 0
    for (n, kind), w in zip(exts, weights):
        off += EXT_MIN + int(free * w / wsum) // ALIGN * ALIGN
        layout.append((off, n, kind))
        off += n
    if off > size:
        raise RuntimeError("layout overflow")
    return layout


def image_params(kind, size):
    return {"generator": GEN_VERSION, "seed": SEED, "kind": kind, "size": size,
            "data_fraction": DATA_FRACTION, "zero_fraction": ZERO_FRACTION,
            "extent_min": EXT_MIN, "extent_max": EXT_MAX, "align": ALIGN}


def ensure_image(workdir, kind, size, keep):
    path = os.path.join(workdir, "%s-%dM.img" % (kind, size // MiB))
    stamp_path = path + ".stamp"
    params = image_params(kind, size)
    try:
        with open(stamp_path) as f:
            stamp = json.load(f)
        st = os.stat(path)
        if (stamp.get("params") == params and stamp.get("st_size") == st.st_size
                and stamp.get("mtime_ns") == st.st_mtime_ns):
            return path, stamp["info"], True
    except (OSError, ValueError, KeyError):
        pass

    t0 = time.monotonic()
    for p in (stamp_path, path):
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass
    RES.add_path(path)   # a half-written image must not survive an interruption
    RES.add_path(stamp_path)
    rng = random.Random("%s-content-%d-%d" % (kind, SEED, size))
    pool = make_pool(rng)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    info = {"size": size}
    try:
        os.ftruncate(fd, size)
        if kind == "thin":
            layout = thin_layout(size, SEED)
            zeros = bytes(EXT_MAX)
            data_bytes = zero_bytes = data_n = zero_n = 0
            for idx, (off, n, ek) in enumerate(layout):
                if ek == "data":
                    os.pwrite(fd, content(pool, rng, n, idx << 32), off)
                    data_bytes += n
                    data_n += 1
                else:
                    # really written zeros (allocated), not fallocate
                    os.pwrite(fd, zeros[:n], off)
                    zero_bytes += n
                    zero_n += 1
            info.update(data_bytes=data_bytes, zero_bytes=zero_bytes, data_extents=data_n,
                        zero_extents=zero_n)
        else:
            step = 4 * MiB
            for i, off in enumerate(range(0, size, step)):
                os.pwrite(fd, content(pool, rng, min(step, size - off), i << 32), off)
            info.update(data_bytes=size, zero_bytes=0, data_extents=1, zero_extents=0)
        os.fsync(fd)
    finally:
        os.close(fd)
    st = os.stat(path)
    info["allocated"] = st.st_blocks * 512
    info["generate_seconds"] = round(time.monotonic() - t0, 2)
    with open(stamp_path + ".tmp", "w") as f:
        json.dump({"params": params, "st_size": st.st_size, "mtime_ns": st.st_mtime_ns,
                   "info": info}, f, indent=1)
    os.rename(stamp_path + ".tmp", stamp_path)
    if keep:
        RES.paths.remove(path)
        RES.paths.remove(stamp_path)
    return path, info, False


def fill_pattern(path, size, byte=0xAB):
    """A fully allocated file of `size` bytes of `byte` (O_DIRECT where possible)."""
    step = 16 * MiB
    buf = mmap.mmap(-1, step)
    buf.write(bytes([byte]) * step)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_DIRECT, 0o600)
        direct = True
    except OSError:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        direct = False
    try:
        off = 0
        while off < size:
            n = min(step, size - off)
            if direct and n % 4096:
                os.close(fd)
                fd = os.open(path, os.O_WRONLY)
                direct = False
            written = os.pwrite(fd, memoryview(buf)[:n], off)
            off += written
        os.fsync(fd)
    finally:
        os.close(fd)
        buf.close()


# The compressible image: an ext4 filesystem holding text, logs and binaries, as a volume of a
# real host holds. Built from this machine's files in a fixed order up to fixed budgets (so the
# same Debian release gives about the same image) and from generated log lines (seeded).
TEXT_GEN_VERSION = 1
TEXT_SOURCES = (("/usr/share/doc", 0.25), ("/usr/lib/python3", 0.35), ("/usr/bin", 0.15))
TEXT_LOG_FRACTION = 0.25     # of the content budget: generated log lines
TEXT_FILL = 0.22             # content budget / filesystem size


def text_params(size):
    return {"generator": TEXT_GEN_VERSION, "seed": SEED, "kind": "text", "size": size,
            "sources": [list(s) for s in TEXT_SOURCES], "log_fraction": TEXT_LOG_FRACTION,
            "fill": TEXT_FILL}


def copy_tree_budget(src, dst, budget):
    """Copies regular files of `src` in sorted order into `dst` until `budget` bytes; returns the
    bytes copied."""
    done = 0
    for root, dirs, files in os.walk(src):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode) or done + st.st_size > budget:
                continue
            target = os.path.join(dst, os.path.relpath(path, src))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            try:
                shutil.copyfile(path, target)
            except OSError:
                continue
            done += st.st_size
            if done >= budget * 0.98:
                return done
    return done


def write_logs(dst, budget, rng):
    """Syslog-like lines from a few templates with seeded fields, in 8 MiB files."""
    hosts = ["web-%02d" % i for i in range(12)]
    units = ["nginx", "sshd", "cron", "kernel", "volmigd", "postgres", "systemd"]
    words = ("request completed accepted connection from closing session for user GET POST "
             "/api/v3/volumes status 200 202 404 latency ms bytes upstream timeout retry").split()
    os.makedirs(dst, exist_ok=True)
    done, n, t = 0, 0, 1767225600
    while done < budget:
        lines = []
        for _ in range(60000):
            t += rng.randrange(0, 3)
            lines.append("%s %s %s[%d]: %s\n" % (
                time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)), rng.choice(hosts),
                rng.choice(units), rng.randrange(100, 65000),
                " ".join(rng.choice(words) for _ in range(rng.randrange(4, 14)))))
        blob = "".join(lines).encode()[:max(0, budget - done)]
        with open(os.path.join(dst, "app-%04d.log" % n), "wb") as f:
            f.write(blob)
        done += len(blob)
        n += 1
    return done


def ensure_text_image(workdir, size, keep):
    """(path, info, reused) of the compressible ext4 image of `size` bytes (needs root: the
    filesystem is loop-mounted to be filled)."""
    path = os.path.join(workdir, "text-%dM.img" % (size // MiB))
    stamp_path = path + ".stamp"
    params = text_params(size)
    try:
        with open(stamp_path) as f:
            stamp = json.load(f)
        st = os.stat(path)
        if stamp.get("params") == params and stamp.get("mtime_ns") == st.st_mtime_ns:
            return path, stamp["info"], True
    except (OSError, ValueError, KeyError):
        pass
    t0 = time.monotonic()
    for p in (stamp_path, path):
        if os.path.exists(p):
            os.unlink(p)
    RES.add_path(path)
    RES.add_path(stamp_path)
    with open(path, "wb") as f:
        f.truncate(size)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-U", "5eed0000-0000-4000-8000-%012d" % SEED,
                    "-E", "hash_seed=5eed0000-0000-4000-8000-000000000001,lazy_itable_init=0",
                    path], check=True, stdout=subprocess.DEVNULL)
    mnt = RES.add_path(tempfile.mkdtemp(prefix="text-mnt-", dir=workdir))
    subprocess.run(["mount", "-o", "loop", path, mnt], check=True)
    budget = int(size * TEXT_FILL)
    copied = {}
    try:
        for src, share in TEXT_SOURCES:
            copied[src] = copy_tree_budget(src, os.path.join(mnt, src.strip("/").replace("/", "-")),
                                           int(budget * share))
        copied["logs"] = write_logs(os.path.join(mnt, "var-log"), int(budget * TEXT_LOG_FRACTION),
                                    random.Random("text-logs-%d" % SEED))
    finally:
        subprocess.run(["umount", mnt], check=True)
        RES.remove_path(mnt)
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    st = os.stat(path)
    info = {"size": size, "files_bytes": copied, "allocated": st.st_blocks * 512,
            "generate_seconds": round(time.monotonic() - t0, 2)}
    with open(stamp_path + ".tmp", "w") as f:
        json.dump({"params": params, "mtime_ns": st.st_mtime_ns, "info": info}, f, indent=1)
    os.rename(stamp_path + ".tmp", stamp_path)
    if keep:
        RES.paths.remove(path)
        RES.paths.remove(stamp_path)
    return path, info, False
