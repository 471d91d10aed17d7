"""Real OpenStack Cinder drives volmig: RabbitMQ, cinder-api (noauth), cinder-scheduler and two
cinder-volume services (cv-a, cv-b) from Debian's packages, whose backends are VolmigDriver
sections over two volmigd (host-a: thin_file; host-b: thin_file and a thick_file pool of stale
bytes), driven with the real cinderclient (CLI and Python API) against real cinder-api:

1. create lands on volmig; get-pools --detail shows each pool's sparse_copy_volume; data is
   written through initialize_connection's device path (Cinder -> cinder-volume -> driver).
2. cinder migrate onto cv-b@b-thick: driver-assisted, volmig plans full, identical bytes, no
   stale block, Cinder shows the new host and migration_status success.
3. cinder retype --migration-policy on-demand to a type on b-thin: volmig plans sparse, the
   destination is thin again (allocation).
4. cinder migrate --force-host-copy True: Cinder's generic dd copy, conv=sparse onto thin and
   not onto thick (cinder-volume's logged dd command line, allocation).
5. the destination's volmigd (host-a) killed mid-copy and not back within stream_resume_grace
   (3 s here): migration_status error, the source
   intact and usable, nothing left on host-a once both daemons are back; a retry succeeds.
6. delete: nothing left on either volmigd.

Runs under /usr/bin/python3 (Debian's cinderclient); prints each step's time."""
import hashlib
import os
import random
import re
import signal
import stat
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools", "pylib"))

from cinder_lab import CinderLab  # noqa: E402
from volmig_lab import GiB, MiB, Lab  # noqa: E402

STALE = b"\xa5" * 4096
CONNECTOR = {"host": "compute-1", "initiator": "iqn.1993-08.org.debian:01:c1", "ip": "127.0.0.1",
             "platform": "x86_64", "os_type": "linux", "multipath": False}
EXTENTS = ((1, 4), (300, 4), (700, 4))  # MiB offset, MiB length of the data written
TIMES = []


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def step(name):
    class Timer:
        def __enter__(self):
            self.t0 = time.time()
            print(f"== {name}", flush=True)

        def __exit__(self, *exc):
            TIMES.append((name, time.time() - self.t0))
            print(f"   {name}: {time.time() - self.t0:.1f} s", flush=True)
    return Timer()


def fill_file(path, pattern, length):
    chunk = pattern * (MiB // len(pattern))
    with open(path, "wb") as f:
        for _ in range(length // MiB):
            f.write(chunk)
        os.fsync(f.fileno())


class World:
    def __init__(self, lab, cl, a, b):
        self.lab, self.cl, self.a, self.b = lab, cl, a, b
        self.c = cl.client()

    def show(self, vid):
        return self.c.volumes.get(vid)

    def wait(self, vid, done, what, timeout=120):
        deadline = time.time() + timeout
        while True:
            v = self.show(vid)
            if done(v):
                return v
            check(time.time() < deadline, f"{what}: volume {vid} still {v.status}, migration {getattr(v, 'migration_status', None)}")
            time.sleep(0.3)

    def host(self, v):
        return getattr(v, "os-vol-host-attr:host")

    def migstat(self, v):
        return getattr(v, "os-vol-mig-status-attr:migstat", None)

    def wait_migration(self, vid, timeout=120):
        return self.wait(vid, lambda v: self.migstat(v) in ("success", "error") and v.status in ("available", "error"),
                         "migration", timeout)

    def connect(self, vid):
        info = self.c.volumes.initialize_connection(vid, CONNECTOR)
        check(info["driver_volume_type"] == "local", f"initialize_connection gave {info}")
        return info["data"]["device_path"]

    def disconnect(self, vid):
        self.c.volumes.terminate_connection(vid, CONNECTOR)

    def write(self, vid, seed):
        path = self.connect(vid)
        rng = random.Random(seed)
        try:
            fd = os.open(path, os.O_WRONLY)
            try:
                for off, n in EXTENTS:
                    os.pwrite(fd, rng.randbytes(n * MiB), off * MiB)
                os.fsync(fd)
            finally:
                os.close(fd)
        finally:
            self.disconnect(vid)
        return path

    def digest(self, vid, length=GiB):
        """(sha256, stale 4 KiB blocks, device path) of the volume read through Cinder's connection."""
        path = self.connect(vid)
        try:
            sha, stale = content_digest(path, length)
        finally:
            self.disconnect(vid)
        return sha, stale, path

    def provider_id(self, vid):
        # provider_id and provider_location are not in Cinder's API view: read from its database
        return self.cinder_db("provider_id", vid)

    def cinder_db(self, column, vid):
        return self.cl.sql(f"SELECT {column} FROM volumes WHERE id = ?", (vid,))[0][0]


def content_digest(path, length):
    """sha256 of [0, length) and the count of aligned 4 KiB blocks of stale bytes. The holes of
    a regular (thin) file are hashed as zeros without being read (SEEK_DATA/SEEK_HOLE): reading
    1 GiB of fresh holes costs seconds."""
    h, stale, zeros = hashlib.sha256(), 0, bytes(MiB)
    fd = os.open(path, os.O_RDONLY)
    try:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
        off = 0
        while off < length:
            end = length
            if regular:
                try:
                    data = os.lseek(fd, off, os.SEEK_DATA)
                except OSError:  # ENXIO: only a hole is left
                    data = length
                if data > off:  # a hole up to data
                    n = min(data, length) - off
                    for _ in range(n // MiB):
                        h.update(zeros)
                    h.update(bytes(n % MiB))
                    off += n
                    continue
                end = min(os.lseek(fd, off, os.SEEK_HOLE), length)
            while off < end:
                chunk = os.pread(fd, min(MiB, end - off), off)
                if not chunk:
                    raise IOError(f"{path} ended at {off}")
                h.update(chunk)
                stale += sum(1 for i, first in enumerate(chunk[::4096])
                             if first == 0xA5 and chunk[i * 4096:(i + 1) * 4096] == STALE)
                off += len(chunk)
    finally:
        os.close(fd)
    return h.hexdigest(), stale


def allocated(path):
    return os.stat(path).st_blocks * 512


def start(lab):
    volmigd = os.environ.get("VOLMIGD", os.path.join(ROOT, "build", "bin", "volmigd"))
    lab.volmigd = os.path.abspath(volmigd)
    b = lab.daemon("host-b", backends={"thin": {"volume_driver": "thin_file"}, "thick": {"volume_driver": "thick_file"}}, start=False)
    a = lab.daemon("host-a", backends={"thin": {"volume_driver": "thin_file"}}, start=False)
    a.add_peer(b)
    b.add_peer(a)
    fill_file(b.backends["thick"]["pool_file"], STALE, GiB + 64 * MiB)
    a.start()
    b.start()
    return a, b


def scenario(lab, cl):
    with step("start volmigd x2, RabbitMQ, db sync, cinder-api, scheduler, cinder-volume x2"):
        a, b = start(lab)
        cl.start_rabbit()
        cl.configure()
        cl.start_api()
        cl.start_scheduler()
        cl.start_volume("cv-a", {"a-thin": {"volmig_url": a.url, "volmig_backend": "thin", "volmig_migration_timeout": 120}})
        cl.start_volume("cv-b", {"b-thin": {"volmig_url": b.url, "volmig_backend": "thin"},
                                 "b-thick": {"volmig_url": b.url, "volmig_backend": "thick"}})
        services = wait_up(cl)
        print("   services:", sorted((s.binary, s.host, s.state) for s in services), "timings:",
              {k: round(v, 1) for k, v in cl.timings.items()}, f"RSS {cl.rss_mib():.0f} MiB")
    w = World(lab, cl, a, b)
    vol1, vol2 = step1(w)
    step2(w, vol1)
    step3(w, vol1)
    step4(w, vol2)
    step5(w, vol2)
    step6(w, (vol1, vol2))


def wait_up(cl):
    import socket
    return cl.wait_services({("cinder-scheduler", socket.gethostname()), ("cinder-volume", "cv-a@a-thin"),
                             ("cinder-volume", "cv-b@b-thin"), ("cinder-volume", "cv-b@b-thick")})


def create(w, name):
    rc, out, err = w.cl.cli("create", "--name", name, "1")
    vid = re.search(r"\|\s+id\s+\|\s+([0-9a-f-]{36})", out).group(1)
    v = w.wait(vid, lambda v: v.status in ("available", "error"), "create")
    check(v.status == "available", f"cinder create ended {v.status}")
    check(w.host(v) == "cv-a@a-thin#thin", f"created on {w.host(v)}, not on cv-a@a-thin#thin")
    loc = w.cinder_db("provider_location", vid)
    check(loc.startswith(w.a.url + "/v3/volumes/"), f"provider_location {loc}")
    pid = w.provider_id(vid)
    check(w.a.show(pid)["os-vol-host-attr:host"] == "host-a@thin#thin", "the volmig volume is not on host-a@thin")
    return vid


def step1(w):
    with step("1. create on volmig, get-pools --detail, write through initialize_connection"):
        rc, out, err = w.cl.cli("get-pools", "--detail")
        want = {"cv-a@a-thin#thin": "True", "cv-b@b-thin#thin": "True", "cv-b@b-thick#thick": "False"}
        seen = {}
        for table in out.split("| Property")[1:]:
            name = re.search(r"\|\s+name\s+\|\s+(\S+)", table)
            sparse = re.search(r"\|\s+sparse_copy_volume\s+\|\s+(\S+)", table)
            check(name is not None, f"a get-pools --detail table without a name:\n{table}")
            seen[name.group(1)] = sparse.group(1) if sparse else None
        check(seen == want, f"get-pools --detail: sparse_copy_volume by pool {seen}, want {want}\n{out}")
        print(f"   get-pools --detail: sparse_copy_volume {seen}")
        # both new volumes on cv-a: the other pools are disabled while they are created
        for svc in ("cv-b@b-thin", "cv-b@b-thick"):
            w.cl.cli("service-disable", svc, "cinder-volume")
        try:
            vol1, vol2 = create(w, "web"), create(w, "db")
        finally:
            for svc in ("cv-b@b-thin", "cv-b@b-thick"):
                w.cl.cli("service-enable", svc, "cinder-volume")
        path = w.write(vol1, 1)
        w.write(vol2, 2)
        w.want = {vol1: w.digest(vol1)[0], vol2: w.digest(vol2)[0]}
        check(w.want[vol1] != w.want[vol2], "the two volumes hold the same bytes")
        print(f"   {vol1} and {vol2} on cv-a@a-thin#thin; written through {path}")
        return vol1, vol2


def volmig_migration(w, daemon, vid):
    return daemon.show(w.provider_id(vid))["volmig:migration"]


def step2(w, vid):
    with step("2. cinder migrate onto cv-b@b-thick#thick: driver-assisted, volmig plans full"):
        w.cl.cli("migrate", vid, "cv-b@b-thick#thick")
        v = w.wait_migration(vid)
        check(w.migstat(v) == "success", f"migration_status {w.migstat(v)}")
        check(w.host(v) == "cv-b@b-thick#thick", f"Cinder shows host {w.host(v)}")
        m = volmig_migration(w, w.a, vid)
        check(m["state"] == "success" and m["plan"]["strategy"] == "full", f"volmig's migration: {m['state']} {m['plan']}")
        loc = w.cinder_db("provider_location", vid)
        check(loc == f"{w.b.url}/v3/volumes/{w.provider_id(vid)}", f"provider_location {loc}")
        sha, stale, path = w.digest(vid)
        check(sha == w.want[vid], "the migrated bytes differ")
        check(stale == 0, f"{stale} stale 4 KiB blocks left on the thick destination")
        print(f"   host {w.host(v)}, migration_status {w.migstat(v)}, volmig strategy {m['plan']['strategy']}, "
              f"verified {m['report'].get('verified')}, identical, 0 stale blocks (read through {path})")


def step3(w, vid):
    with step("3. cinder retype --migration-policy on-demand to a b-thin type: volmig plans sparse"):
        w.cl.cli("type-create", "on-b-thin")
        w.cl.cli("type-key", "on-b-thin", "set", "volume_backend_name=b-thin")
        w.cl.cli("retype", "--migration-policy", "on-demand", vid, "on-b-thin")
        v = w.wait(vid, lambda v: v.volume_type == "on-b-thin" and v.status == "available" or w.migstat(v) == "error", "retype")
        check(w.migstat(v) == "success" and w.host(v) == "cv-b@b-thin#thin", f"retype: {w.migstat(v)} on {w.host(v)}")
        view = w.b.show(w.provider_id(vid))
        check(view["os-vol-host-attr:host"] == "host-b@thin#thin", f"volmig shows {view['os-vol-host-attr:host']}")
        mig = view.get("volmig:migration") or {}
        check(mig.get("plan", {}).get("strategy") == "sparse", f"volmig's plan: {mig.get('plan')}")
        alloc = allocated(view["volmig:location"])
        check(alloc <= 32 * MiB, f"the thin destination allocates {alloc // MiB} MiB for 12 MiB of data")
        sha, stale, _ = w.digest(vid)
        check(sha == w.want[vid], "the retyped bytes differ")
        print(f"   type {v.volume_type}, host {w.host(v)}, volmig strategy sparse, {alloc // MiB} MiB allocated of 1024")


def dd_lines(w):
    lines = []
    for s in w.cl.services:
        if s.name.startswith("cinder-volume"):
            with open(s.log_path, errors="replace") as f:
                lines += [line.strip() for line in f if "Running cmd" in line and "dd if=" in line and " bs=" in line and "of=/dev/null" not in line]
    return lines


def generic(w, vid, dest):
    before = set(dd_lines(w))
    w.cl.cli("migrate", "--force-host-copy", "True", vid, dest)
    v = w.wait_migration(vid)
    check(w.migstat(v) == "success" and w.host(v) == dest, f"generic migration to {dest}: {w.migstat(v)} on {w.host(v)}")
    new = [line for line in dd_lines(w) if line not in before]
    check(len(new) == 1, f"expected one dd command in cinder-volume's logs, found {new}")
    dd = new[0][new[0].index("dd if="):]
    sha, stale, path = w.digest(vid)
    check(sha == w.want[vid], f"the bytes differ after the generic copy to {dest}")
    check(stale == 0, f"{stale} stale blocks after the generic copy to {dest}")
    return v, dd.split("\"")[0]


def step4(w, vid):
    with step("4. cinder migrate --force-host-copy True: Cinder's dd, conv=sparse onto thin only"):
        v, dd = generic(w, vid, "cv-b@b-thin#thin")
        check("conv=sparse" in dd, f"dd onto thin without conv=sparse: {dd}")
        view = w.b.show(w.provider_id(vid))
        alloc = allocated(view["volmig:location"])
        check(alloc <= 32 * MiB, f"after dd conv=sparse the thin volume allocates {alloc // MiB} MiB")
        print(f"   onto b-thin: {dd}; {alloc // MiB} MiB allocated")
        v, dd = generic(w, vid, "cv-b@b-thick#thick")
        check("conv=sparse" not in dd, f"dd onto thick with conv=sparse: {dd}")
        print(f"   onto b-thick: {dd}; identical, 0 stale blocks")


def step5(w, vid):
    with step("5. host-a's volmigd killed mid-copy: migration_status error, source intact, nothing left on host-a; a retry works"):
        w.b.stop()
        w.b.extra_defaults["volume_copy_bps_limit"] = str(4 * MiB)  # ~3 s for the 12 MiB of data
        # A cut stream resumes while the destination comes back within stream_resume_grace (120 s
        # by default); host-a stays down here, so the migration fails once 3 s have passed.
        w.b.extra_defaults["stream_resume_grace"] = "3"
        w.b.start()
        pid = w.provider_id(vid)
        w.cl.cli("migrate", vid, "cv-a@a-thin#thin")
        deadline = time.time() + 30
        while True:
            m = w.b.show(pid).get("volmig:migration") or {}
            if m.get("state") == "migrating" and m["progress"]["bytes_done"] > 0:
                break
            check(m.get("state") != "error" and time.time() < deadline, f"the copy did not start: {m}")
            time.sleep(0.05)
        done = m["progress"]["bytes_done"]
        w.a.kill()
        v = w.wait_migration(vid)
        check(w.migstat(v) == "error", f"migration_status {w.migstat(v)} after host-a was killed")
        check(v.status == "available" and w.host(v) == "cv-b@b-thick#thick", f"after the failure: {v.status} on {w.host(v)}")
        m = w.b.show(pid)["volmig:migration"]
        check(m["state"] == "error", f"volmig's migration: {m['state']}")
        print(f"   killed host-a at {done // MiB} MiB; Cinder: migration_status error, {v.status} on {w.host(v)}; volmig: {m['error'][:160]}")
        w.a.start()
        w.b.stop()
        del w.b.extra_defaults["volume_copy_bps_limit"]
        del w.b.extra_defaults["stream_resume_grace"]
        # The source retries deleting the destination it created (a pending clean-up) every
        # cleanup_retry_interval (30 s by default): 2 s here, to see it happen.
        w.b.extra_defaults["cleanup_retry_interval"] = "2"
        w.b.start()
        sha, stale, _ = w.digest(vid)
        check(sha == w.want[vid] and stale == 0, "the source changed although the migration failed")
        w.write(vid, 3)  # and usable
        w.want[vid] = w.digest(vid)[0]
        deadline = time.time() + 30
        while w.a.volumes():
            check(time.time() < deadline, f"host-a still lists {[x['id'] for x in w.a.volumes()]} 30 s after both daemons came back; "
                                          f"the error named {m['destination_volume_id']}")
            time.sleep(0.5)
        print("   source intact and writable; the half-written destination on host-a is gone (the source's pending clean-up)")
        # the same migration again through Cinder completes
        w.cl.cli("migrate", vid, "cv-a@a-thin#thin")
        v = w.wait_migration(vid)
        check(w.migstat(v) == "success" and w.host(v) == "cv-a@a-thin#thin", f"the retry: {w.migstat(v)} on {w.host(v)}")
        left = [x["id"] for x in w.a.volumes()]
        check(left == [pid], f"after the retry host-a lists {left}, want only {pid}")
        sha, stale, _ = w.digest(vid)
        check(sha == w.want[vid], "the retried migration changed the bytes")
        print(f"   retry: success on {w.host(v)}; host-a lists only {pid}; bytes identical")


def step6(w, vids):
    with step("6. cinder delete: nothing left on either volmigd"):
        for vid in vids:
            w.cl.cli("delete", vid)
        c = w.c
        deadline = time.time() + 60
        while [x for x in c.volumes.list()]:
            check(time.time() < deadline, f"Cinder still lists {[(x.id, x.status) for x in c.volumes.list()]}")
            time.sleep(0.3)
        for d in (w.a, w.b):
            check(d.volumes() == [], f"{d.host} still lists {[x['id'] for x in d.volumes()]}")
        print("   Cinder, host-a and host-b list no volume")


def main():
    lab = Lab(volmigd=os.environ.get("VOLMIGD", os.path.join(ROOT, "build", "bin", "volmigd")), keep=bool(os.environ.get("KEEP")))
    lab.__enter__()
    cl = CinderLab(lab)
    # ctest's timeout (or an operator) ends the test with SIGTERM: clean up as on a failure
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ok = False
    try:
        scenario(lab, cl)
        ok = True
    except BaseException as e:
        if not isinstance(e, SystemExit) or e.code:
            print(f"FAIL: {type(e).__name__}: {e}", file=sys.stderr)
            print(cl.log_tails(40), file=sys.stderr)
            for d in lab.daemons:
                print(f"--- {d.host} log (tail) ---\n{d.log_tail()}", file=sys.stderr)
        else:
            ok = True
    finally:
        cl.close()
        lab.close()
    print("step times:", ", ".join(f"{n.split(' ')[0]} {t:.1f}s" for n, t in TIMES))
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
