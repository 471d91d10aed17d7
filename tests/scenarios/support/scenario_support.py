"""Setup shared by the scenario scripts (tests/scenarios/*.py): running a scenario in a lab,
check/expect, one HTTP request with urllib, two peered daemons, a source volume holding a known pattern,
waiting on a migration, listings, a daemon's health (alive, GET / answering, no crash in its
log), its metrics, loop devices below a directory, content digests that skip holes, pool
helpers and a loopback listener for fake peers. The checks that make a scenario stay in its own
script; extent_streams.py and peer_doubles.py beside this file play one end of a migration.

Kept outside tests/scenarios/ itself, whose every *.py is a ctest test; a script imports it with

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
"""
import copy
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

from volmig_lab import ApiError, GiB, MiB, Lab, sha256_of, write_pattern_volume

THIN = {"thin": {"volume_driver": "thin_file"}}  # one thin_file backend named thin
ENDED = ("success", "error")                      # the states a migration ends in

PROBLEMS = []  # failed expect()s: the scenario went on to show more


def check(cond, what):
    """Fails the scenario with `what` unless `cond` holds."""
    if not cond:
        raise AssertionError(what)


def expect(cond, what):
    """Records `what` as a problem unless `cond` holds, and lets the scenario go on; returns cond."""
    if not cond:
        PROBLEMS.append(what)
        print(f"problem: {what}", file=sys.stderr)
    return cond


def raise_problems():
    """Fails the scenario if expect() recorded any problem."""
    if PROBLEMS:
        raise AssertionError(f"{len(PROBLEMS)} problem(s):\n  " + "\n  ".join(PROBLEMS))


def run_scenario(scenario):
    """Runs scenario(lab) in a new lab of $VOLMIGD daemons; prints PASS, or FAIL (a failed
    check, an API error, or problems expect() recorded) with the daemons' log tails and exits 1."""
    with Lab(volmigd=os.environ["VOLMIGD"]) as lab:
        try:
            scenario(lab)
            raise_problems()
        except Exception as e:  # a failed check or an API error: say what, and show the daemons' logs
            print(f"FAIL: {type(e).__name__}: {e}", file=sys.stderr)
            for d in lab.daemons:
                print(f"--- {d.host} log (tail) ---\n{d.log_tail()}", file=sys.stderr)
            sys.exit(1)
    print("PASS")


def http(method, url, body=None, raw=None, headers=None, token=None, content_type="application/json", context=None):
    """One request as an API client sends it (Accept: application/json; `body` as JSON or `raw`
    bytes with `content_type`, none if None; X-Auth-Token if `token` is not None; then `headers`).
    `context`: the ssl.SSLContext for an https:// URL (a TLS daemon's client_ssl_context).
    Returns (status, response headers, body bytes), error statuses included."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Accept", "application/json")
    if data is not None and content_type is not None:
        req.add_header("Content-Type", content_type)
    if token is not None:
        req.add_header("X-Auth-Token", token)
    for key, value in (headers or {}).items():
        req.add_header(key, value)
    try:
        with urllib.request.urlopen(req, timeout=30, context=context) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def daemon_pair(lab, a_backends=THIN, b_backends=THIN, a_defaults=None, start=True):
    """Daemons host-a and host-b, each configured as the other's peer; returns (a, b), both
    started, or neither if start is False."""
    a = lab.daemon("host-a", backends=copy.deepcopy(a_backends), start=False, extra_defaults=a_defaults)
    b = lab.daemon("host-b", backends=copy.deepcopy(b_backends), start=False)
    a.add_peer(b)
    b.add_peer(a)
    if start:
        a.start()
        b.start()
    return a, b


def new_source(daemon, name, seed=1, backend=None, digest=False, **pattern):
    """A new 1 GiB volume written by write_pattern_volume(seed, **pattern); returns
    (the created volume's view, its path, its sha256), or its content_digest instead of the
    sha256 if `digest` (quick: holes are not read)."""
    v = daemon.create(1, name=name, backend=backend)
    path = daemon.volume_path(v)
    write_pattern_volume(path, seed=seed, **pattern)
    return v, path, content_digest(path, GiB) if digest else sha256_of(path, GiB)


def settle(daemon, vid, timeout=60, states=ENDED, died_ok=False):
    """Waits until the migration of `vid` is in one of `states` and the volume's
    migration_status agrees (migrating for awaiting_completion); returns the volume view, or
    None if died_ok and the daemon died meanwhile."""
    deadline = time.time() + timeout
    while True:
        if died_ok and not daemon.running():
            return None
        try:
            view = daemon.show(vid)
        except OSError:
            if died_ok and not daemon.running():
                return None
            raise
        state = (view.get("volmig:migration") or {}).get("state")
        agrees = view["migration_status"] == ("migrating" if state == "awaiting_completion" else state)
        if state in states and agrees:
            return view
        goal = "settle" if states == ENDED else f"reach {states}"
        check(time.time() < deadline, f"the migration of {vid} did not {goal} within {timeout} s: state {state}, migration_status {view['migration_status']}")
        time.sleep(0.05)


def wait_copying(daemon, vid, before, timeout=30):
    """Waits until the migration of `vid` is migrating with bytes already copied; returns the
    migration. `before` names what was to happen during the copy, for the failure message."""
    deadline = time.time() + timeout
    while True:
        m = daemon.show(vid)["volmig:migration"]
        if m["state"] == "migrating" and m["progress"]["bytes_done"] > 0:
            return m
        check(m["state"] in ("starting", "migrating"), f"the migration ended ({m['state']}: {m.get('error')}) before {before}")
        check(time.time() < deadline, f"the copy did not start within {timeout} s")
        time.sleep(0.05)


def volume_action(daemon, vid, body, expect=None):
    """POSTs a volume action; returns (status, answer), or (status, message) if refused."""
    try:
        return expect or 200, daemon.request("POST", f"/v3/volumes/{vid}/action", body, expect=expect)
    except ApiError as e:
        return e.status, e.message


def listed(daemon):
    """The volumes a daemon lists for every project (GET /v3/volumes/detail?all_tenants=1):
    forwarding records of volumes that moved away are not among them."""
    return daemon.request("GET", "/v3/volumes/detail?all_tenants=1")["volumes"]


def log_size(daemon):
    """Where the daemon's log ends now: pass it to health_problems to look only at what follows."""
    try:
        return os.path.getsize(daemon.log_path)
    except OSError:
        return 0


# What libstdc++ and the sanitizers print into the log when the process dies of a bug; an abort
# or a segfault itself shows in the exit status (signal 6, 11).
CRASH_MARKS = ("terminate called", "AddressSanitizer", "runtime error:")


def health_problems(daemon, log_from=0):
    """What is wrong with a daemon that should be up: its process ended (with what: an abort is
    signal 6), GET / does not answer 300, or its log (from byte `log_from` on) shows a crash
    (terminate called, a sanitizer report). An empty list means healthy."""
    problems = []
    if not daemon.running():
        code = daemon.proc.returncode if daemon.proc else None
        problems.append(f"volmigd {daemon.host} is not running (exit code {code}"
                        + (f", signal {-code}" if code is not None and code < 0 else "") + ")")
    else:
        status, _, _ = http("GET", daemon.url + "/")
        if status != 300:
            problems.append(f"GET / on {daemon.host} answered {status}, not 300")
    try:
        with open(daemon.log_path, errors="replace") as f:
            f.seek(log_from)
            marks = [line.strip() for line in f if any(m in line for m in CRASH_MARKS)]
    except OSError:
        marks = []
    if marks:
        problems.append(f"{daemon.host}'s log shows a crash: {' | '.join(marks[:3])}")
    return problems


def metrics(daemon):
    """GET /metrics as {(name, labels text): value}, e.g. ("volmig_pool_allocated_bytes",
    'backend="thick"')."""
    status, _, raw = http("GET", daemon.url + "/metrics", context=getattr(daemon, "client_ssl_context", None))
    check(status == 200, f"GET /metrics on {daemon.host} answered {status}")
    out = {}
    for line in raw.decode().splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        name, _, labels = key.partition("{")
        out[(name, labels.rstrip("}"))] = float(value)
    return out


def loops_below(directory):
    """Loop devices (name, backing file) whose backing file lies below `directory`."""
    out = subprocess.run(["losetup", "--list", "--noheadings", "--output", "NAME,BACK-FILE"],
                         capture_output=True, text=True).stdout
    rows = [line.split(None, 1) for line in out.splitlines()]
    return [(r[0], r[1].strip()) for r in rows if len(r) == 2 and r[1].strip().startswith(directory.rstrip("/") + "/")]


DIGEST_CHUNK = 64 << 10
_ZERO_CHUNK = bytes(DIGEST_CHUNK)


def content_digest(path, size, offset=0):
    """SHA-256 of the logical content of [offset, offset + size) of a file or device: the
    (offset, bytes) of every 64 KiB chunk that is not all zeros, then the size. Holes of a file
    (SEEK_DATA/SEEK_HOLE) are not read, so a 1 GiB sparse volume costs only its data. Equal
    digests mean equal bytes, whatever each side allocates."""
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        rel = 0  # every chunk before rel is hashed or known to be a hole
        while rel < size:
            try:
                data = os.lseek(fd, offset + rel, os.SEEK_DATA) - offset
            except OSError:  # ENXIO: nothing but a hole after rel
                break
            if data >= size:
                break
            hole = min(size, os.lseek(fd, offset + data, os.SEEK_HOLE) - offset)
            rel, end = data - data % DIGEST_CHUNK, min(size, hole + (-hole % DIGEST_CHUNK))
            while rel < end:
                want = min(4 * MiB, end - rel)
                window = os.pread(fd, want, offset + rel)
                check(len(window) == want, f"{path} ends at {offset + rel + len(window)}, inside the volume")
                for c in range(0, want, DIGEST_CHUNK):
                    chunk = window[c:c + DIGEST_CHUNK]
                    if chunk != _ZERO_CHUNK[:len(chunk)]:
                        h.update((rel + c).to_bytes(8, "little"))
                        h.update(chunk)
                rel += want
    finally:
        os.close(fd)
    h.update(size.to_bytes(8, "little"))
    return h.hexdigest()


def extents_digest(size, extents):
    """content_digest of a volume of `size` bytes that holds `extents` ((offset, bytes), sorted,
    on the 64 KiB grid) and zeros elsewhere, computed without a file."""
    h = hashlib.sha256()
    for offset, blob in extents:
        check(offset % DIGEST_CHUNK == 0, f"extent at {offset} is not on the 64 KiB grid")
        for c in range(0, len(blob), DIGEST_CHUNK):
            chunk = blob[c:c + DIGEST_CHUNK]
            if chunk != _ZERO_CHUNK[:len(chunk)]:
                h.update((offset + c).to_bytes(8, "little"))
                h.update(chunk)
    h.update(size.to_bytes(8, "little"))
    return h.hexdigest()


def volume_digest(daemon, view):
    """content_digest of a volume, read straight from its storage without attaching anything:
    its file (thin_file) or its region of the pool file (thick_file)."""
    backend = view["os-vol-host-attr:host"].split("@", 1)[1].split("#", 1)[0]
    opts = daemon.backends[backend]
    if opts["volume_driver"] == "thin_file":
        return content_digest(view["volmig:location"], view["volmig:size_bytes"])
    return content_digest(opts["pool_file"], view["volmig:size_bytes"], int(view["volmig:location"]))


def pool_files(path):
    """The volume files in a thin pool directory, sorted."""
    return sorted(f for f in os.listdir(path) if f.startswith("volume-"))


DELETING = ".deleting-"  # driver/deferred_unlink.hpp: a removed volume file until its unlink ends


def pool_listing(path, timeout=10):
    """Every name in a thin pool directory, once the files removed volumes left under their
    hidden name are unlinked (waits up to `timeout` s; what is still there is listed)."""
    deadline = time.time() + timeout
    while any(n.startswith(DELETING) for n in os.listdir(path)) and time.time() < deadline:
        time.sleep(0.05)
    return os.listdir(path)


def fill_file(path, pattern, length=GiB):
    """Writes `pattern` (a divisor of 1 MiB long) over and over into `path`, `length` bytes,
    and syncs: a pool that held old data before volmig was pointed at it."""
    chunk = pattern * (MiB // len(pattern))
    with open(path, "wb") as f:
        for _ in range(length // len(chunk)):
            f.write(chunk)
        os.fsync(f.fileno())


def stale_blocks(path, length, stale):
    """How many len(stale)-byte blocks of the first `length` bytes of `path` hold `stale`."""
    n, size = 0, len(stale)
    with open(path, "rb") as f:
        for _ in range(length // MiB):
            chunk = f.read(MiB)
            n += sum(1 for i in range(0, MiB, size) if chunk[i:i + size] == stale)
    return n


class LoopbackListener:
    """Listens on 127.0.0.1:port (0: a free port; url says which) and hands every accepted
    connection to handle(), which a fake peer or proxy defines. Set the subclass's own
    attributes before calling this __init__: connections may arrive at once."""

    def __init__(self, port=0):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(16)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.handle(conn)

    def handle(self, conn):
        raise NotImplementedError

    def close(self):
        # shutdown first: a close alone leaves the port listening while the accept thread is
        # blocked in accept(), and a daemon started on the port next finds it in use.
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()


class SilentPeer(LoopbackListener):
    """Accepts connections on 127.0.0.1:port, reads whatever comes, never answers: a peer that
    hangs."""

    def __init__(self, port=0):
        self.connections = 0
        self.open = []
        super().__init__(port)

    def handle(self, conn):
        self.connections += 1
        self.open.append(conn)
        threading.Thread(target=self._drain, args=(conn,), daemon=True).start()

    @staticmethod
    def _drain(conn):
        try:
            while conn.recv(65536):
                pass
        except OSError:
            pass

    def close(self):
        super().close()
        for c in self.open:
            c.close()
