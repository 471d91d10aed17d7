"""Units, the run's resources (loop devices, paths, the running tool) and their cleanup on
exit and signals, and small formatting helpers shared by every case."""

import os
import shutil
import signal
import subprocess
import sys
import time

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30

# --------------------------------------------------------------------------------------------
# Interruption and cleanup

class Interrupted(BaseException):
    def __init__(self, signum):
        super().__init__("signal %d" % signum)
        self.signum = signum


class Resources:
    """Everything this run created that must not outlive it."""

    def __init__(self):
        self.loops = []       # loop devices we attached, by name
        self.paths = []       # files and directories to remove
        self.child = None     # pid of the tool currently running

    def add_path(self, path):
        self.paths.append(path)
        return path

    def remove_path(self, path):
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)
        except FileNotFoundError:
            pass
        if path in self.paths:
            self.paths.remove(path)

    def attach_loop(self, backing):
        # Signals are held while losetup runs so that an interruption cannot fall between the
        # attach and the bookkeeping (cleanup also looks for loops over our backing files).
        with held_signals():
            out = subprocess.run(["losetup", "--find", "--show", backing],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            dev = out.stdout.strip()
            if out.returncode == 0 and dev.startswith("/dev/loop"):
                self.loops.append(dev)
        if out.returncode != 0 or not dev.startswith("/dev/loop"):
            raise RuntimeError("losetup --find --show %s failed: %s" %
                               (backing, (out.stderr or dev).strip()))
        return dev

    def detach_loop(self, dev):
        with held_signals():
            for attempt in range(20):
                r = subprocess.run(["losetup", "-d", dev], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
                if r.returncode == 0:
                    break
                time.sleep(0.1 * (attempt + 1))
            else:
                sys.stderr.write("bench: warning: losetup -d %s failed: %s\n" %
                                 (dev, r.stderr.strip()))
                return False
            if dev in self.loops:
                self.loops.remove(dev)
        # While something still holds the device open (udev's probe after a write, a tool that
        # is exiting) the kernel only marks it for autoclear; wait until it is really gone.
        sysdir = "/sys/block/%s/loop" % os.path.basename(dev)
        deadline = time.monotonic() + 5.0
        while os.path.exists(sysdir) and time.monotonic() < deadline:
            time.sleep(0.05)
        return True

    def loops_over(self, path):
        """Loop devices whose backing file is `path` (one of the files we created)."""
        r = subprocess.run(["losetup", "-n", "-O", "NAME", "-j", path], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
        return [l.strip() for l in r.stdout.splitlines() if l.strip().startswith("/dev/loop")]

    def kill_child(self):
        pid = self.child
        if pid is None:
            return
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            reaped = False
            while time.monotonic() < deadline:
                try:
                    done, _ = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    reaped = True
                    break
                if done:
                    reaped = True
                    break
                time.sleep(0.05)
            if reaped:
                break
        self.child = None

    def cleanup(self):
        self.kill_child()
        for dev in list(self.loops):
            self.detach_loop(dev)
        for path in list(self.paths):
            if os.path.isfile(path) and shutil.which("losetup"):
                for dev in self.loops_over(path):
                    self.detach_loop(dev)
        for path in reversed(list(self.paths)):
            self.remove_path(path)


RES = Resources()

HELD = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class held_signals:
    """Defer SIGINT/SIGTERM/SIGHUP over a critical section (they are delivered at its end)."""

    def __enter__(self):
        self.old = signal.pthread_sigmask(signal.SIG_BLOCK, HELD)

    def __exit__(self, *exc):
        signal.pthread_sigmask(signal.SIG_SETMASK, self.old)
        return False


def on_signal(signum, frame):
    # Ctrl-C reaches the tool through the terminal's process group; SIGTERM/SIGHUP sent to us
    # alone must be forwarded to the tool we are waiting for.
    if RES.child is not None and signum != signal.SIGINT:
        try:
            os.kill(RES.child, signal.SIGTERM)
        except ProcessLookupError:
            pass
    raise Interrupted(signum)


# --------------------------------------------------------------------------------------------
# Small helpers

def fmt_mib(n):
    return "%.0f" % (n / MiB)


def fmt_size(n):
    if n >= GiB and n % GiB == 0:
        return "%d GiB" % (n // GiB)
    return "%d MiB" % (n // MiB)


def installed(tool):
    if os.sep in tool:
        return os.path.isfile(tool) and os.access(tool, os.X_OK)
    return shutil.which(tool) is not None


def tail(text, n=3):
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return " | ".join(lines[-n:])


def repo_root():
    """The repository: tools/benchlib/ is two levels below it."""
    here = os.path.dirname(os.path.realpath(__file__))
    return os.path.dirname(os.path.dirname(here))
