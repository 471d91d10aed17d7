"""The peers of the WAN cases, each run once through a fresh volmig-wanproxy: nbdcopy into an
nbdkit file export, `qemu-img convert` from an nbdkit export of the source, and the operators'
`dd | gzip | (link) | gzip -d | dd conv=sparse` pipeline (socat carries the pipe over TCP).

A run returns {"wall", "cpu", "wire", "connections"} or raises PeerFailed; the destination is a
new sparse file `dst` of the source's size, fsynced before the clock stops."""

import os
import shlex
import signal
import socket
import subprocess
import time

from .common import RES, tail
from .measure import fsync_path


class PeerFailed(Exception):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    """True once something listens on 127.0.0.1:port (read from /proc/net/tcp, so that no probe
    connection is spent: socat accepts exactly one)."""
    want = ":%04X" % port
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            if parts[1].endswith(want) and parts[3] == "0A":
                return True
    return False


def wait_listening(port, proc, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if listening(port):
            return
        if proc.poll() is not None:
            raise PeerFailed("%s exited with %s before listening" % (what, proc.returncode))
        time.sleep(0.01)
    raise PeerFailed("%s did not listen on 127.0.0.1:%d within %.0f s" % (what, port, timeout))


class Spawned:
    """A child process whose CPU (user+sys of it and its children) is read from wait4 when it
    ends; killed on close if still running."""

    def __init__(self, argv, logdir, name):
        self.name = name
        self.err_path = os.path.join(logdir, name + ".stderr")
        with open(self.err_path, "wb") as err:
            # its own process group: a pipeline's members go with it
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                         start_new_session=True)
        self.rc = self.cpu = None

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            pid, status, ru = os.wait4(self.proc.pid, os.WNOHANG if deadline else 0)
            if pid:
                break
            if time.monotonic() > deadline:
                raise PeerFailed("%s did not finish within %.0f s" % (self.name, timeout))
            time.sleep(0.01)
        self.proc.returncode = self.rc = os.waitstatus_to_exitcode(status)
        self.cpu = ru.ru_utime + ru.ru_stime
        return self.rc

    def stop(self):
        if self.rc is None:
            self.signal(signal.SIGTERM)
            self.wait(timeout=10)
        return self.cpu or 0.0

    def signal(self, sig):
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def error(self):
        with open(self.err_path, errors="replace") as f:
            return "%s exit %s: %s" % (self.name, self.rc, tail(f.read()) or "no message")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.rc is None:
            self.signal(signal.SIGKILL)
            self.proc.wait()


def nbdkit_argv(port, path, readonly):
    return (["nbdkit", "--foreground", "--exit-with-parent", "--ipaddr", "127.0.0.1", "--port", str(port)]
            + (["--readonly"] if readonly else []) + ["file", "file=" + path])


def timed_client(argv, dst, logdir, name, timeout):
    """Runs a client to its end: (wall with the fsync of dst, cpu); raises PeerFailed on failure."""
    t0 = time.perf_counter()
    with Spawned(argv, logdir, name) as client:
        RES.child = client.proc.pid
        try:
            rc = client.wait(timeout)
        finally:
            RES.child = None
        if rc != 0:
            raise PeerFailed(client.error())
    fsync_path(dst)
    return time.perf_counter() - t0, client.cpu


def run_nbd(kind, src, dst, size, link, logdir, wanproxy, connections=1, timeout=900):
    """kind 'nbdcopy': nbdcopy SRC -> nbdkit(dst) through the link; 'qemu-img': qemu-img
    convert from nbdkit(src, read-only) through the link -> dst."""
    with open(dst, "wb") as f:
        f.truncate(size)
    port = free_port()
    served = dst if kind == "nbdcopy" else src
    with Spawned(nbdkit_argv(port, served, readonly=kind != "nbdcopy"), logdir, "nbdkit") as server:
        wait_listening(port, server.proc, "nbdkit")
        with wanproxy(port, mbit=link["mbit"], delay_ms=link["rtt_ms"] // 2) as proxy:
            uri = "nbd://127.0.0.1:%d" % proxy.port
            if kind == "nbdcopy":
                # nbdcopy opens at most --threads connections (default: the number of CPUs)
                argv = ["nbdcopy", "--connections=%d" % connections, "--threads=%d" % max(connections, 1), "--flush", src, uri]
            else:
                argv = ["qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", uri, dst]
            wall, cpu = timed_client(argv, dst, logdir, kind, timeout)
            st = proxy.stats()
        cpu += server.stop()
    return {"wall": wall, "cpu": cpu, "wire": st["up_bytes"] + st["down_bytes"], "connections": st["connections"]}


def run_gzip_pipe(src, dst, size, link, logdir, wanproxy, timeout=900):
    """dd if=SRC bs=1M | gzip | socat -> (link) -> socat | gzip -d | dd of=DST conv=sparse,notrunc"""
    with open(dst, "wb") as f:
        f.truncate(size)
    port = free_port()
    receiver_sh = ("socat -u TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr STDOUT | gzip -d | "
                   "dd of=%s bs=1M iflag=fullblock conv=sparse,notrunc status=none" % (port, shlex.quote(dst)))
    with Spawned(["bash", "-o", "pipefail", "-c", receiver_sh], logdir, "receiver") as receiver:
        wait_listening(port, receiver.proc, "socat receiver")
        with wanproxy(port, mbit=link["mbit"], delay_ms=link["rtt_ms"] // 2) as proxy:
            sender_sh = ("dd if=%s bs=1M status=none | gzip | socat -u STDIN TCP:127.0.0.1:%d"
                         % (shlex.quote(src), proxy.port))
            t0 = time.perf_counter()
            with Spawned(["bash", "-o", "pipefail", "-c", sender_sh], logdir, "sender") as sender:
                if sender.wait(timeout) != 0:
                    raise PeerFailed(sender.error())
            if receiver.wait(timeout) != 0:
                raise PeerFailed(receiver.error())
            fsync_path(dst)
            wall = time.perf_counter() - t0
            st = proxy.stats()
    return {"wall": wall, "cpu": sender.cpu + receiver.cpu, "wire": st["up_bytes"] + st["down_bytes"],
            "connections": st["connections"]}
