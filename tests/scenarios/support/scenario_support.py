"""Setup shared by the scenario scripts (tests/scenarios/*.py): running a scenario in a lab,
check/expect, one HTTP request with urllib, two peered daemons, a source volume holding a known pattern,
waiting on a migration, pool helpers and a loopback listener for fake peers. The checks that
make a scenario stay in its own script.

Kept outside tests/scenarios/ itself, whose every *.py is a ctest test; a script imports it with

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
"""
import copy
import json
import os
import socket
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


def http(method, url, body=None, raw=None, headers=None, token=None, content_type="application/json"):
    """One request as an API client sends it (Accept: application/json; `body` as JSON or `raw`
    bytes with `content_type`, none if None; X-Auth-Token if `token` is not None; then `headers`).
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
        with urllib.request.urlopen(req, timeout=30) as r:
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


def new_source(daemon, name, seed=1, backend=None, **pattern):
    """A new 1 GiB volume written by write_pattern_volume(seed, **pattern); returns
    (the created volume's view, its path, its sha256)."""
    v = daemon.create(1, name=name, backend=backend)
    path = daemon.volume_path(v)
    write_pattern_volume(path, seed=seed, **pattern)
    return v, path, sha256_of(path, GiB)


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


def pool_files(path):
    """The volume files in a thin pool directory, sorted."""
    return sorted(f for f in os.listdir(path) if f.startswith("volume-"))


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
        self.listener.close()
