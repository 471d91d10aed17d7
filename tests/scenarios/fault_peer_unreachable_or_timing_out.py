#!/usr/bin/env python3
"""The destination peer is unreachable or hangs. With host-b down (nothing listens on its
port) the migration fails fast with an error naming host-b and the failed connection; with a
fake host-b that accepts TCP connections but never answers, and peer_timeout = 2 on host-a, it
fails within a few seconds with an error naming the timeout, instead of hanging. Each time
host-a stays up, and the source stays intact and available with migration_status error. With
the real host-b up on that port, the retry succeeds."""
import os
import socket
import sys
import threading
import time

from volmig_lab import GiB, Lab, sha256_of, write_pattern_volume


PROBLEMS = []  # failed checks after which the scenario can still go on and show more


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def expect(cond, what):
    if not cond:
        PROBLEMS.append(what)
        print(f"problem: {what}", file=sys.stderr)


def settle(daemon, vid, timeout=60):
    deadline = time.time() + timeout
    while True:
        view = daemon.show(vid)
        state = (view.get("volmig:migration") or {}).get("state")
        if state in ("success", "error") and view["migration_status"] == state:
            return view
        check(time.time() < deadline, f"the migration of {vid} did not settle within {timeout} s: state {state}, migration_status {view['migration_status']}")
        time.sleep(0.05)


def settle_or_crash(daemon, vid, timeout=60):
    """Like settle, but returns None if the daemon died meanwhile."""
    deadline = time.time() + timeout
    while True:
        if not daemon.running():
            return None
        try:
            view = daemon.show(vid)
        except OSError:
            if not daemon.running():
                return None
            raise
        state = (view.get("volmig:migration") or {}).get("state")
        if state in ("success", "error") and view["migration_status"] == state:
            return view
        check(time.time() < deadline, f"the migration of {vid} did not settle within {timeout} s: state {state}, migration_status {view['migration_status']}")
        time.sleep(0.05)


def crash_lines(daemon):
    lines = daemon.log_tail(10).splitlines()
    return " | ".join(line.strip() for line in lines if "volmigd:" not in line) or "(nothing in the log)"


class SilentPeer:
    """Accepts connections on 127.0.0.1:port, reads whatever comes, never answers."""

    def __init__(self, port):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(16)
        self.connections = 0
        self.open = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
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
        self.listener.close()
        for c in self.open:
            c.close()


def check_failed_cleanly(a, vid, src, sha, started, limit, fragments, what):
    view = settle_or_crash(a, vid, timeout=60)
    if view is None:
        expect(False, f"{what}: host-a's volmigd died (exit code {a.proc.returncode}) during the migration: {crash_lines(a)}")
        a.start()  # the restart rolls the interrupted job back; the source must still be fine
        view = settle(a, vid, timeout=30)
        m = view["volmig:migration"]
        check(m["state"] == "error" and view["status"] == "available", f"{what}: after host-a's restart: state {m['state']}, status {view['status']}")
        check(sha256_of(src, GiB) == sha, f"{what}: the source changed")
        print(f"{what}: host-a crashed; after its restart: {m['error']}")
        return m
    took = time.time() - started
    m = view["volmig:migration"]
    check(m["state"] == "error", f"{what}: the migration ended in {m['state']}")
    check(took < limit, f"{what}: the error came only after {took:.1f} s (limit {limit} s)")
    for fragment in fragments:
        check(fragment.lower() in m["error"].lower(), f"{what}: the error does not say {fragment!r}: {m['error']}")
    check(view["status"] == "available" and view["os-vol-host-attr:host"] == "host-a@thin#thin",
          f"{what}: after the failure: status {view['status']} on {view['os-vol-host-attr:host']}")
    check(view["volmig:error"] and m["error"] in view["volmig:error"], f"{what}: volmig:error is {view['volmig:error']!r}")
    check(sha256_of(src, GiB) == sha, f"{what}: the source changed")
    print(f"{what}: error after {took:.1f} s: {m['error']}")
    return m


def scenario(lab):
    a = lab.daemon("host-a", backends={"thin": {"volume_driver": "thin_file"}}, start=False, extra_defaults={"peer_timeout": 2})
    b = lab.daemon("host-b", backends={"thin": {"volume_driver": "thin_file"}}, start=False)
    a.add_peer(b)
    b.add_peer(a)
    a.start()  # host-b is not running yet: nothing listens on its port

    v = a.create(1, name="stranded")
    vid = v["id"]
    src = a.volume_path(v)
    write_pattern_volume(src, seed=71)
    sha = sha256_of(src, GiB)

    # 1. host-b down: connection refused, fast.
    t = time.time()
    a.migrate(vid, "host-b@thin")
    check_failed_cleanly(a, vid, src, sha, t, 5, ["host-b", "connect"], "host-b down")

    # 2. host-b hangs: accepts TCP, never answers; peer_timeout = 2.
    silent = SilentPeer(b.port)
    try:
        t = time.time()
        a.migrate(vid, "host-b@thin")
        check_failed_cleanly(a, vid, src, sha, t, 10, ["host-b", "timeout"], "host-b silent")
        check(silent.connections >= 1, "host-a never connected to the silent host-b")
    finally:
        silent.close()

    # 3. The real host-b on that port: the retry succeeds.
    b.start()
    a.migrate(vid, "host-b@thin")
    view = settle(a, vid)
    m = view["volmig:migration"]
    check(m["state"] == "success", f"with host-b up the retry ended in {m['state']}: {m.get('error')}")
    check(view["os-vol-host-attr:host"] in ("host-b@thin", "host-b@thin#thin"), f"after the retry host-a points at {view['os-vol-host-attr:host']}")
    check(sha256_of(b.volume_path(b.show(vid)), GiB) == sha, "the retried destination differs from the source")
    check([x["id"] for x in b.volumes()] == [vid], f"host-b lists {[x['id'] for x in b.volumes()]}")
    print("retry with host-b up: success")
    if PROBLEMS:
        raise AssertionError(f"{len(PROBLEMS)} problem(s):\n  " + "\n  ".join(PROBLEMS))


if __name__ == "__main__":
    with Lab(volmigd=os.environ["VOLMIGD"]) as lab:
        try:
            scenario(lab)
        except Exception as e:
            print(f"FAIL: {type(e).__name__}: {e}", file=sys.stderr)
            for d in lab.daemons:
                print(f"--- {d.host} log (tail) ---\n{d.log_tail()}", file=sys.stderr)
            sys.exit(1)
    print("PASS")
