"""volmig_lab: real volmig daemons on 127.0.0.1 for the main job, the conformance suite, the
scenario tests and the bench. Standard library only.

A Lab owns a work directory; each Daemon it starts gets its own state directory, pools and a
free port, and is stopped (SIGTERM, then SIGKILL) when the lab closes, even after a failure.
Loop devices attached through the lab are detached by name on close.

    with Lab("/var/tmp", volmigd="build/bin/volmigd") as lab:
        a = lab.daemon("host-a", backends={"thin": {"volume_driver": "thin_file"}})
        b = lab.daemon("host-b", backends={...}, peers=[a])
        a.add_peer(b)          # peers are written before start; see start=False
        vol = a.create(1, name="web")

TLS: Daemon(..., tls=TlsFiles(cert, key, ca)) serves HTTPS only (ssl_cert_file, ssl_key_file,
ssl_ca_file = ca for its peers); its url is https://127.0.0.1:PORT and the lab's own client
verifies it against `ca` (client_ssl_context, which a test may replace).
"""
import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

MiB = 1 << 20
GiB = 1 << 30


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ApiError(Exception):
    def __init__(self, status, message, body=None):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message
        self.body = body


class TlsFiles:
    """A daemon's certificate and key, and the CA its peers (and the lab's client) trust."""

    def __init__(self, cert, key, ca):
        self.cert, self.key, self.ca = cert, key, ca


class Daemon:
    """One volmigd: its configuration, process and REST API."""

    def __init__(self, lab, host, backends, port=None, extra_defaults=None, auth_token=None, tls=None):
        self.lab = lab
        self.host = host
        self.dir = os.path.join(lab.dir, host)
        os.makedirs(self.dir, exist_ok=True)
        self.port = port or free_port()
        self.tls = tls
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.client_ssl_context = ssl.create_default_context(cafile=tls.ca) if tls else None
        self.auth_token = auth_token
        self.backends = {}
        for name, options in backends.items():
            opts = dict(options)
            driver = opts.get("volume_driver")
            if driver == "thin_file":
                opts.setdefault("pool_path", os.path.join(self.dir, f"{name}-pool"))
            elif driver == "thick_file":
                opts.setdefault("pool_file", os.path.join(self.dir, f"{name}.pool"))
            opts.setdefault("volume_backend_name", name)
            self.backends[name] = opts
        self.extra_defaults = dict(extra_defaults or {})
        self.peers = {}
        self.proc = None
        self.log_path = os.path.join(self.dir, "volmigd.log")

    # -- configuration and process
    def add_peer(self, other):
        self.peers[other.host] = other.url

    def config_text(self):
        lines = ["[DEFAULT]", f"host = {self.host}", "listen = 127.0.0.1", f"port = {self.port}",
                 f"state_path = {os.path.join(self.dir, 'state')}", f"enabled_backends = {', '.join(self.backends)}"]
        if self.auth_token:
            lines += ["auth_strategy = token", f"auth_token = {self.auth_token}"]
        else:
            lines.append("auth_strategy = noauth")
        if self.tls:
            lines += [f"ssl_cert_file = {self.tls.cert}", f"ssl_key_file = {self.tls.key}", f"ssl_ca_file = {self.tls.ca}"]
        lines += [f"{k} = {v}" for k, v in self.extra_defaults.items()]
        for name, opts in self.backends.items():
            lines.append(f"[{name}]")
            lines += [f"{k} = {v}" for k, v in opts.items()]
        if self.peers:
            lines.append("[peers]")
            lines += [f"{h} = {u}" for h, u in self.peers.items()]
        return "\n".join(lines) + "\n"

    @property
    def config_path(self):
        return os.path.join(self.dir, "volmig.conf")

    def start(self, timeout=20, env=None):
        """Writes the configuration and starts volmigd; `env` adds variables to its environment
        for this start only (VOLMIG_FAILPOINTS, say). Returns once GET / answers 300."""
        with open(self.config_path, "w") as f:
            f.write(self.config_text())
        log = open(self.log_path, "a")
        environment = dict(os.environ, **env) if env else None
        self.proc = subprocess.Popen([self.lab.volmigd, "--config", self.config_path], stdout=log, stderr=log, env=environment)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"volmigd {self.host} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/", timeout=1, context=self.client_ssl_context):
                    pass
            except urllib.error.HTTPError as e:
                if e.code == 300:
                    return self
            except urllib.error.URLError as e:
                # A daemon started with a certificate the lab's client refuses (the tests of
                # refused certificates) is up once its handshake refuses us.
                if isinstance(e.reason, ssl.SSLCertVerificationError):
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"volmigd {self.host} did not answer within {timeout} s:\n{self.log_tail()}")

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Stops the daemon; returns its exit code (None if it was not running)."""
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def kill(self):
        return self.stop(signal.SIGKILL)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines=40):
        try:
            with open(self.log_path) as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    # -- the REST API
    def request(self, method, path, body=None, timeout=60, expect=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        req.add_header("X-Auth-Token", self.auth_token or "lab")
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self.client_ssl_context) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        doc = json.loads(raw) if raw else None
        if expect is not None and status != expect or expect is None and status >= 400:
            message = raw.decode(errors="replace")
            if isinstance(doc, dict):
                for v in doc.values():
                    if isinstance(v, dict) and "message" in v:
                        message = v["message"]
            raise ApiError(status, message, doc)
        return doc

    def create(self, size_gib, name=None, backend=None):
        volume = {"size": size_gib}
        if name:
            volume["name"] = name
        if backend:
            volume["volume_type"] = self.backends[backend]["volume_backend_name"]
        return self.request("POST", "/v3/volumes", {"volume": volume})["volume"]

    def show(self, volume_id):
        return self.request("GET", f"/v3/volumes/{volume_id}")["volume"]

    def volumes(self):
        return self.request("GET", "/v3/volumes/detail")["volumes"]

    def delete(self, volume_id):
        return self.request("DELETE", f"/v3/volumes/{volume_id}", expect=202)

    def capabilities(self, backend):
        return self.request("GET", f"/v3/capabilities/{self.host}@{backend}")

    def migrate(self, volume_id, destination, strategy=None, force_full=False, auto_complete=True):
        args = {"host": destination, "force_host_copy": force_full, "lock_volume": False}
        if strategy:
            args["volmig:strategy"] = strategy
        if not auto_complete:
            args["volmig:auto_complete"] = False
        return self.request("POST", f"/v3/volumes/{volume_id}/action", {"os-migrate_volume": args}, expect=202)

    def wait_migration(self, volume_id, timeout=600, states=("success", "error", "awaiting_completion")):
        """Polls until the volume's migration ends; returns the volume view."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            v = self.show(volume_id)
            m = v.get("volmig:migration") or {}
            if m.get("state") in states:
                return v
            time.sleep(0.1)
        raise TimeoutError(f"migration of {volume_id} on {self.host} did not end within {timeout} s")

    # -- storage access, for checks made from outside the daemon
    def volume_path(self, view):
        """A path holding the volume's bytes: its file (thin_file) or a loop device over its
        region (thick_file) or its LV (lvm)."""
        backend = view["os-vol-host-attr:host"].split("@", 1)[1].split("#", 1)[0]
        opts = self.backends[backend]
        driver = opts["volume_driver"]
        if driver == "thin_file":
            return view["volmig:location"]
        if driver == "thick_file":
            return self.lab.attach_loop(opts["pool_file"], offset=int(view["volmig:location"]), size=view["volmig:size_bytes"])
        if driver == "lvm":
            return "/dev/" + view["volmig:location"]
        raise ValueError(driver)


class Lab:
    def __init__(self, base=None, volmigd="build/bin/volmigd", keep=False):
        self.base = base or os.environ.get("VOLMIG_TEST_TMP", "/var/tmp")
        self.volmigd = os.path.abspath(volmigd)
        self.keep = keep
        self.dir = None
        self.daemons = []
        self.loops = []

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="volmig-test.", dir=self.base)
        # tests/cleanup-test-loops.sh leaves the directory of a live owner alone
        with open(os.path.join(self.dir, ".owner"), "w") as f:
            f.write("%d\n" % os.getpid())
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def daemon(self, host, backends, start=True, **kwargs):
        d = Daemon(self, host, backends, **kwargs)
        self.daemons.append(d)
        return d.start() if start else d

    def attach_loop(self, path, offset=0, size=0):
        argv = ["losetup", "--find", "--show"]
        if offset:
            argv += ["--offset", str(offset)]
        if size:
            argv += ["--sizelimit", str(size)]
        dev = subprocess.run(argv + [path], check=True, capture_output=True, text=True).stdout.strip()
        self.loops.append(dev)
        return dev

    def detach_loop(self, dev):
        subprocess.run(["losetup", "-d", dev], capture_output=True)
        if dev in self.loops:
            self.loops.remove(dev)

    def close(self):
        for d in self.daemons:
            d.stop()
        if self.dir:
            # Mounts below the lab (deepest first), then every loop device over a file in it,
            # whoever attached it (a test, or a daemon that died holding one).
            with open("/proc/self/mounts") as f:
                points = [line.split()[1] for line in f]
            for point in sorted((p for p in points if p.startswith(self.dir + "/")), key=len, reverse=True):
                subprocess.run(["umount", point], capture_output=True)
            listing = subprocess.run(["losetup", "--list", "--noheadings", "--output", "NAME,BACK-FILE"],
                                     capture_output=True, text=True).stdout
            for line in listing.splitlines():
                parts = line.split(None, 1)
                if len(parts) == 2 and parts[1].startswith(self.dir + "/") and parts[0] not in self.loops:
                    self.loops.append(parts[0])
        for dev in reversed(self.loops):
            subprocess.run(["losetup", "-d", dev], capture_output=True)
        self.loops = []
        if self.dir and not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)


def sha256_of(path, length, chunk=4 * MiB):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        left = length
        while left:
            b = f.read(min(chunk, left))
            if not b:
                raise IOError(f"{path} ended {left} bytes early")
            h.update(b)
            left -= len(b)
    return h.hexdigest()


def differing_mib(path_a, path_b, length):
    """How many 1 MiB chunks of [0, length) differ between two files or devices."""
    bad = 0
    with open(path_a, "rb") as a, open(path_b, "rb") as b:
        for _ in range((length + MiB - 1) // MiB):
            if a.read(MiB) != b.read(MiB):
                bad += 1
    return bad


def write_pattern_volume(path, seed=1, extents=((1, 8), (300, 20), (700, 3)), zeros=((500, 4),)):
    """Writes deterministic random data at (MiB offset, MiB length) extents and explicit zeros
    into an existing volume file or device."""
    import random
    rng = random.Random(seed)
    with open(path, "r+b") as f:
        for off, n in extents:
            f.seek(off * MiB)
            f.write(rng.randbytes(n * MiB))
        for off, n in zeros:
            f.seek(off * MiB)
            f.write(bytes(n * MiB))
        f.flush()
        os.fsync(f.fileno())
