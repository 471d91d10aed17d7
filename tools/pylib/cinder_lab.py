"""cinder_lab: a real OpenStack Cinder (Debian 12's packages) in front of volmig daemons, as plain
processes on 127.0.0.1 in a lab's directory: RabbitMQ (its own node name, mnesia and log dirs,
epmd on 127.0.0.1 at its own port), cinder-manage db sync on SQLite, cinder-api (noauth),
cinder-scheduler and cinder-volume services whose backends are volmig_cinder.driver.VolmigDriver
sections. Each service runs in its own process group, which close() ends (SIGTERM, then SIGKILL),
even after a failure; nothing is started system-wide.

    with Lab(volmigd=...) as lab:
        cl = CinderLab(lab)
        try:
            cl.start_rabbit(); cl.configure(); cl.start_api(); cl.start_scheduler()
            cl.start_volume("cv-a", {"a-thin": {"volmig_url": a.url, "volmig_backend": "thin"}})
            cl.wait_services()
            cl.cli("get-pools", "--detail")
        finally:
            cl.close()

Needs /usr/bin/python3 (cinderclient, keystoneauth1 from Debian) for client().
"""
import os
import signal
import socket
import subprocess
import time

from volmig_lab import free_port

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DRIVER_PATH = os.path.join(ROOT, "driver", "cinder")
CINDER_CLI = "/usr/bin/cinder"
PYTHON = "/usr/bin/python3"


class Service:
    """One process (group) the lab started: its argv, log file and Popen."""

    def __init__(self, name, argv, log_path, env, cwd):
        self.name = name
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                     start_new_session=True)

    def running(self):
        return self.proc.poll() is None

    def stop(self, timeout=15):
        """SIGTERM to the service's process group (the pid it was started with), SIGKILL after
        `timeout` s; then SIGKILL to what is left of the group."""
        pgid = self.proc.pid
        if self.running():
            try:
                os.killpg(pgid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self.log.close()

    def log_tail(self, lines=30):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""


def wait_port(port, timeout, service=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if service is not None and not service.running():
            raise RuntimeError(f"{service.name} exited with {service.proc.returncode}:\n{service.log_tail()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s" + (f":\n{service.log_tail()}" if service else ""))


class CinderLab:
    def __init__(self, lab, debug=True):
        self.lab = lab
        self.dir = os.path.join(lab.dir, "cinder")
        os.makedirs(os.path.join(self.dir, "state"), exist_ok=True)
        os.makedirs(os.path.join(self.dir, "locks"), exist_ok=True)
        self.debug = debug
        self.services = []
        self.rabbit_port = None
        self.api_port = None
        self.conf = os.path.join(self.dir, "cinder.conf")
        self.timings = {}

    # -- processes
    def _env(self, **extra):
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": os.path.join(self.dir, "home"), "LANG": "C.UTF-8",
               "PYTHONPATH": DRIVER_PATH, "PYTHONDONTWRITEBYTECODE": "1"}
        os.makedirs(env["HOME"], exist_ok=True)
        env.update(extra)
        return env

    def _spawn(self, name, argv, **env):
        s = Service(name, argv, os.path.join(self.dir, f"{name}.log"), self._env(**env), self.dir)
        self.services.append(s)
        return s

    def service(self, name):
        return next(s for s in self.services if s.name == name)

    def close(self):
        for s in reversed(self.services):
            s.stop()
        self.services = []

    def rss_mib(self):
        """Resident memory of every process in the lab's process groups, in MiB."""
        groups = {s.proc.pid for s in self.services}
        total = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[2]) in groups:  # pgrp
                    total += int(fields[21]) * os.sysconf("SC_PAGE_SIZE")  # rss pages
            except (OSError, IndexError, ValueError):
                continue
        return total / (1 << 20)

    def log_tails(self, lines=30):
        return "\n".join(f"--- {s.name} log (tail) ---\n{s.log_tail(lines)}" for s in self.services)

    # -- RabbitMQ
    def start_rabbit(self, timeout=60):
        """epmd on 127.0.0.1 at a free port, then a RabbitMQ node of its own (name, mnesia, logs,
        config) on another free port; returns once it accepts AMQP connections."""
        t0 = time.time()
        rdir = os.path.join(self.dir, "rabbit")
        os.makedirs(rdir, exist_ok=True)
        epmd_port, self.rabbit_port, dist_port = free_port(), free_port(), free_port()
        for name, text in (("rabbitmq.conf", "loopback_users.guest = true\n"), ("enabled_plugins", "[].\n"),
                           ("rabbitmq-env.conf", "")):
            with open(os.path.join(rdir, name), "w") as f:
                f.write(text)
        erl = {"ERL_EPMD_ADDRESS": "127.0.0.1", "ERL_EPMD_PORT": str(epmd_port)}
        self._spawn("epmd", ["/usr/bin/epmd", "-address", "127.0.0.1", "-port", str(epmd_port)], **erl)
        wait_port(epmd_port, 10, self.service("epmd"))
        node = f"volmig{os.getpid()}@localhost"
        rabbit = self._spawn("rabbitmq", ["/usr/lib/rabbitmq/bin/rabbitmq-server"], **erl,
                             RABBITMQ_NODENAME=node, RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
                             RABBITMQ_NODE_PORT=str(self.rabbit_port), RABBITMQ_DIST_PORT=str(dist_port),
                             RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
                             RABBITMQ_MNESIA_BASE=os.path.join(rdir, "mnesia"), RABBITMQ_LOG_BASE=os.path.join(rdir, "log"),
                             RABBITMQ_CONFIG_FILE=os.path.join(rdir, "rabbitmq"),
                             RABBITMQ_ADVANCED_CONFIG_FILE=os.path.join(rdir, "advanced.config"),
                             RABBITMQ_CONF_ENV_FILE=os.path.join(rdir, "rabbitmq-env.conf"),
                             RABBITMQ_ENABLED_PLUGINS_FILE=os.path.join(rdir, "enabled_plugins"),
                             RABBITMQ_PID_FILE=os.path.join(rdir, "rabbit.pid"))
        wait_port(self.rabbit_port, timeout, rabbit)
        self.timings["rabbitmq"] = time.time() - t0

    # -- Cinder
    def configure(self, extra_defaults=None):
        """cinder.conf (shared by every service) and cinder-manage db sync."""
        self.api_port = free_port()
        state = os.path.join(self.dir, "state")
        lines = ["[DEFAULT]",
                 f"transport_url = rabbit://guest:guest@127.0.0.1:{self.rabbit_port}/",
                 "auth_strategy = noauth", f"state_path = {state}", "my_ip = 127.0.0.1",
                 "osapi_volume_listen = 127.0.0.1", f"osapi_volume_listen_port = {self.api_port}",
                 "osapi_volume_workers = 1", "api_paste_config = /etc/cinder/api-paste.ini",
                 "rootwrap_config = /etc/cinder/rootwrap.conf", f"debug = {self.debug}", "use_stderr = true",
                 "report_interval = 5", "periodic_interval = 5", "backend_stats_polling_interval = 5",
                 "service_down_time = 60", "enable_v3_api = true", "glance_api_servers = http://127.0.0.1:9",
                 "volume_clear = none", "rpc_response_timeout = 30", "enabled_backends = "]
        lines += [f"{k} = {v}" for k, v in (extra_defaults or {}).items()]
        lines += ["[database]", f"connection = sqlite:///{os.path.join(state, 'cinder.sqlite')}",
                  "[oslo_concurrency]", f"lock_path = {os.path.join(self.dir, 'locks')}",
                  "[coordination]", f"backend_url = file://{os.path.join(self.dir, 'locks')}",
                  "[oslo_messaging_rabbit]", "heartbeat_timeout_threshold = 0"]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        t0 = time.time()
        r = subprocess.run(["/usr/bin/cinder-manage", "--config-file", self.conf, "db", "sync"], env=self._env(),
                           cwd=self.dir, capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise RuntimeError(f"cinder-manage db sync failed ({r.returncode}):\n{r.stdout[-3000:]}{r.stderr[-3000:]}")
        # Five processes write this one file (service reports, volume updates): with WAL readers
        # never block the writer and the writers queue on SQLite's busy timeout instead of
        # failing a request with "database is locked" (the mode is stored in the file).
        self.sql("PRAGMA journal_mode=WAL")
        self.timings["db sync"] = time.time() - t0

    def sql(self, query, args=()):
        """Rows of one query on Cinder's SQLite database (the connection is closed after)."""
        import sqlite3
        db = sqlite3.connect(os.path.join(self.dir, "state", "cinder.sqlite"), timeout=30)
        try:
            with db:
                return db.execute(query, args).fetchall()
        finally:
            db.close()

    def _service_conf(self, name, text):
        path = os.path.join(self.dir, f"{name}.conf")
        with open(path, "w") as f:
            f.write(text)
        return ["--config-file", self.conf, "--config-file", path]

    def start_api(self, timeout=60):
        s = self._spawn("cinder-api", ["/usr/bin/cinder-api", "--config-file", self.conf])
        wait_port(self.api_port, timeout, s)
        return s

    def start_scheduler(self):
        return self._spawn("cinder-scheduler", ["/usr/bin/cinder-scheduler", "--config-file", self.conf])

    def start_volume(self, host, backends):
        """A cinder-volume service with `host = host` and one VolmigDriver section per backend
        {section: {option: value}} (volume_backend_name defaults to the section's name)."""
        lines = ["[DEFAULT]", f"host = {host}", f"enabled_backends = {', '.join(backends)}"]
        for section, opts in backends.items():
            lines += [f"[{section}]", "volume_driver = volmig_cinder.driver.VolmigDriver",
                      f"volume_backend_name = {opts.get('volume_backend_name', section)}"]
            lines += [f"{k} = {v}" for k, v in opts.items() if k != "volume_backend_name"]
        argv = ["/usr/bin/cinder-volume"] + self._service_conf(f"cinder-volume-{host}", "\n".join(lines) + "\n")
        return self._spawn(f"cinder-volume-{host}", argv)

    # -- clients
    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.api_port}/v3"

    def cli_argv(self, *args):
        return [CINDER_CLI, "--os-auth-type", "noauth", "--os-user-id", "admin", "--os-project-id", "admin",
                "--os-endpoint", self.endpoint, "--os-volume-api-version", "3.64"] + list(args)

    def cli(self, *args, check=True, timeout=120):
        """Runs the real cinder CLI; returns (returncode, stdout, stderr), raising if check and it failed."""
        r = subprocess.run(self.cli_argv(*args), capture_output=True, text=True, timeout=timeout,
                           env={"PATH": "/usr/bin:/bin", "HOME": os.path.join(self.dir, "home"), "LANG": "C.UTF-8"})
        if check and r.returncode != 0:
            raise RuntimeError(f"cinder {' '.join(args)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
        return r.returncode, r.stdout, r.stderr

    def client(self, version="3.64"):
        """cinderclient's Python API over keystoneauth with cinderclient's own noauth plugin, as
        the CLI builds it: noauth Cinder's URLs carry no project (/v3/volumes), so the endpoint
        is an override (the plugin's own endpoint would add the project)."""
        from cinderclient import client as cclient
        from cinderclient.contrib import noauth
        from keystoneauth1 import session
        auth = noauth.CinderNoAuthPlugin("admin", "admin", endpoint=self.endpoint)
        return cclient.Client(version, session=session.Session(auth=auth), os_endpoint=self.endpoint)

    def _reported(self):
        import sqlite3
        try:
            return set(self.sql("SELECT binary, host FROM services WHERE deleted = 0 AND report_count > 0"))
        except sqlite3.Error:
            return set()

    def wait_services(self, expected, timeout=90):
        """Until `cinder service-list` shows every (binary, host) in `expected` enabled and up;
        returns the services."""
        t0 = time.time()
        c = self.client()
        deadline = t0 + timeout
        last = []
        # os-services asks the scheduler (an RPC call that waits rpc_response_timeout for a
        # scheduler not consuming yet): first wait until every service has reported to the
        # database, as each does once its RPC server runs.
        while not set(expected) <= self._reported():
            for s in self.services:
                if not s.running():
                    raise RuntimeError(f"{s.name} exited with {s.proc.returncode}:\n{s.log_tail()}")
            if time.time() > deadline:
                raise RuntimeError(f"services not all reported after {timeout} s: want {sorted(expected)}, "
                                   f"have {sorted(self._reported())}\n{self.log_tails()}")
            time.sleep(0.3)
        while time.time() < deadline:
            for s in self.services:
                if not s.running():
                    raise RuntimeError(f"{s.name} exited with {s.proc.returncode}:\n{s.log_tail()}")
            try:
                last = c.services.list()
            except Exception as e:  # noqa: BLE001  the API may still be starting
                last = [repr(e)]
            up = {(s.binary, s.host) for s in last if not isinstance(s, str) and s.state == "up" and s.status == "enabled"}
            if set(expected) <= up:
                self.timings["services up"] = time.time() - t0
                return last
            time.sleep(0.5)
        raise RuntimeError(f"services not all up after {timeout} s: want {sorted(expected)}, have "
                           f"{[(s.binary, s.host, s.state) if not isinstance(s, str) else s for s in last]}\n{self.log_tails()}")
