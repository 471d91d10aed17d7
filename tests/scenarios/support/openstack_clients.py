"""Debian's real, unmodified OpenStack clients against a lab daemon: the `cinder` and
`openstack` commands and scripts on the SDK, all run by /usr/bin/python3 with a clean
environment (no OS_* variables, no PYTHONPATH of ours), and readers of their tables.

    cinder = cinder_cli(daemon)           # admin_token with the daemon's token, or noauth
    out = cinder.ok("show", vid)          # stdout; fails the scenario on a non-zero exit
    r = cinder.run("delete", vid)         # the CompletedProcess, whatever the exit code
"""
import json
import os
import shutil
import subprocess
import sys
import time

from scenario_support import check

DEBIAN_PYTHON = "/usr/bin/python3"
PROJECT = "p"


def client_env():
    """The environment a client runs in: ours without OS_* variables and PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["PYTHONPATH"] = ""
    return env


class Cli:
    """One command-line client with its authentication and endpoint arguments."""

    def __init__(self, name, argv):
        self.name = name
        self.argv = argv

    def run(self, *args, timeout=60):
        t0 = time.time()
        r = subprocess.run(self.argv + list(args), capture_output=True, text=True, env=client_env(), timeout=timeout)
        print(f"{self.name} {' '.join(args)}: exit {r.returncode} in {time.time() - t0:.1f} s", file=sys.stderr)
        return r

    def ok(self, *args):
        r = self.run(*args)
        check(r.returncode == 0, f"{self.name} {' '.join(args)} exited {r.returncode}\nstdout: {r.stdout[-2000:]}\nstderr: {r.stderr[-2000:]}")
        return r.stdout

    def fails(self, *args):
        """Runs a command that must fail; returns its stdout + stderr."""
        r = self.run(*args)
        check(r.returncode != 0, f"{self.name} {' '.join(args)} exited 0, expected a failure\nstdout: {r.stdout[-2000:]}")
        return r.stdout + r.stderr


def _command(name, package):
    path = shutil.which(name, path="/usr/bin")
    check(path is not None, f"the `{name}` command is missing: apt-get install -y {package}")
    return path


def cinder_cli(daemon, project=PROJECT):
    """`cinder` against daemon's /v3/{project}: admin_token with its token, or noauth."""
    cinder = _command("cinder", "python3-cinderclient")
    endpoint = ["--os-endpoint", f"{daemon.url}/v3/{project}", "--os-project-id", project]
    if daemon.auth_token:
        return Cli("cinder", [cinder, "--os-auth-type", "admin_token", "--os-token", daemon.auth_token] + endpoint)
    return Cli("cinder", [cinder, "--os-auth-type", "noauth", "--os-user-id", "u"] + endpoint)


def openstack_cli(daemon, project=PROJECT):
    """`openstack` with --os-auth-type admin_token against daemon's /v3/{project}."""
    check(daemon.auth_token, "openstackclient's admin_token needs a daemon with auth_token")
    osc = _command("openstack", "python3-openstackclient")
    return Cli("openstack", [osc, "--os-auth-type", "admin_token", "--os-token", daemon.auth_token,
                             "--os-endpoint", f"{daemon.url}/v3/{project}"])


def run_sdk_script(script, *args, timeout=120):
    """Runs `script` (a file on openstacksdk) under Debian's Python; it prints one JSON document
    last on stdout, which is returned."""
    t0 = time.time()
    r = subprocess.run([DEBIAN_PYTHON, script] + [str(a) for a in args], capture_output=True, text=True, env=client_env(), timeout=timeout)
    print(f"sdk {os.path.basename(script)} {' '.join(str(a) for a in args)}: exit {r.returncode} in {time.time() - t0:.1f} s", file=sys.stderr)
    check(r.returncode == 0, f"the SDK script {script} {args} exited {r.returncode}\nstdout: {r.stdout[-2000:]}\nstderr: {r.stderr[-3000:]}")
    lines = [line for line in r.stdout.splitlines() if line.strip()]
    check(lines, f"the SDK script {script} printed nothing")
    return json.loads(lines[-1])


def table(text):
    """Rows of a prettytable output (cinderclient, openstackclient), as lists of stripped cells."""
    rows = []
    for line in text.splitlines():
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def props(text):
    """A 'Property | Value' table as a dict (continuation rows are appended)."""
    out, last = {}, None
    for row in table(text):
        if len(row) != 2 or row[0] in ("Property", "Field", "Volume stats", "Backend properties"):
            continue
        if row[0]:
            last = row[0]
            out[last] = row[1]
        elif last:
            out[last] += "\n" + row[1]
    return out
