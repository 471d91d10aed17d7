#!/usr/bin/env python3
"""volmigd refuses a bad configuration at start-up: it exits 2 with a message naming the section
and key (an unknown key in a backend section or in [DEFAULT], a missing enabled_backends, an unknown
volume_driver, a bad port, auth_strategy = token without auth_token), and exits 1 or 2 with a clear
message when its port is already in use. In no case does it serve or leave a pool behind."""
import os
import socket
import subprocess
import sys

from volmig_lab import free_port

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import expect, run_scenario


def base_config(lab, name, port=None):
    d = os.path.join(lab.dir, name)
    os.makedirs(d)
    return d, {
        "DEFAULT": {"host": "host-c", "listen": "127.0.0.1", "port": str(port or free_port()), "state_path": os.path.join(d, "state"),
                    "enabled_backends": "thin", "auth_strategy": "noauth"},
        "thin": {"volume_driver": "thin_file", "pool_path": os.path.join(d, "thin-pool")},
    }


def write(path, sections):
    with open(path, "w") as f:
        for name, opts in sections.items():
            f.write(f"[{name}]\n")
            for k, v in opts.items():
                if v is not None:
                    f.write(f"{k} = {v}\n")


def run(lab, case, sections, codes, words, pool_dir=None):
    d = os.path.join(lab.dir, case)
    path = os.path.join(d, "volmig.conf")
    write(path, sections)
    try:
        r = subprocess.run([lab.volmigd, "--config", path], capture_output=True, text=True, timeout=8)
    except subprocess.TimeoutExpired:
        expect(False, f"{case}: volmigd did not exit within 8 s: it started with this configuration")
        return
    out = r.stderr + r.stdout
    expect(r.returncode in codes, f"{case}: volmigd exited {r.returncode}, expected {' or '.join(map(str, codes))}; it said:\n{out}")
    expect("cannot start" in out, f"{case}: no 'cannot start' message:\n{out}")
    for w in words:
        expect(w in out, f"{case}: the message does not name {w!r}:\n{out}")
    expect("serving host" not in out, f"{case}: volmigd said it was serving:\n{out}")
    if pool_dir:
        expect(not os.path.exists(pool_dir), f"{case}: volmigd created the pool {pool_dir} although it refused to start")


def main(lab):
    # An unknown key in a backend section: section, key and line.
    d, c = base_config(lab, "unknown-backend-key")
    c["thin"]["pool_sise"] = "10G"
    run(lab, "unknown-backend-key", c, [2], ["[thin] pool_sise", "line 11", "not a known option"], c["thin"]["pool_path"])

    # An unknown key in [DEFAULT].
    d, c = base_config(lab, "unknown-default-key")
    c["DEFAULT"]["listen_port"] = "8776"
    run(lab, "unknown-default-key", c, [2], ["[DEFAULT] listen_port"], c["thin"]["pool_path"])

    # enabled_backends missing, or empty.
    d, c = base_config(lab, "no-enabled-backends")
    c["DEFAULT"]["enabled_backends"] = None
    run(lab, "no-enabled-backends", c, [2], ["[DEFAULT] enabled_backends", "required"], c["thin"]["pool_path"])
    d, c = base_config(lab, "empty-enabled-backends")
    c["DEFAULT"]["enabled_backends"] = ""
    run(lab, "empty-enabled-backends", c, [2], ["[DEFAULT] enabled_backends"], c["thin"]["pool_path"])

    # enabled_backends naming a section that is not there.
    d, c = base_config(lab, "missing-backend-section")
    c["DEFAULT"]["enabled_backends"] = "thin, fast"
    run(lab, "missing-backend-section", c, [2], ["enabled_backends", "[fast]"], c["thin"]["pool_path"])

    # An unknown volume_driver.
    d, c = base_config(lab, "unknown-driver")
    c["thin"]["volume_driver"] = "ceph_rbd"
    run(lab, "unknown-driver", c, [2], ["[thin] volume_driver", "ceph_rbd", "thin_file"], c["thin"]["pool_path"])

    # A backend section without volume_driver.
    d, c = base_config(lab, "no-driver")
    c["thin"]["volume_driver"] = None
    run(lab, "no-driver", c, [2], ["[thin] volume_driver", "required"], c["thin"]["pool_path"])

    # Bad ports.
    for bad in ("70000", "0", "http", "-1"):
        d, c = base_config(lab, f"bad-port-{bad}")
        c["DEFAULT"]["port"] = bad
        run(lab, f"bad-port-{bad}", c, [2], ["[DEFAULT] port", f"'{bad}'", "65535"], c["thin"]["pool_path"])

    # auth_strategy = token without auth_token (and an unknown auth_strategy).
    d, c = base_config(lab, "token-without-token")
    c["DEFAULT"]["auth_strategy"] = "token"
    run(lab, "token-without-token", c, [2], ["[DEFAULT] auth_token", "auth_strategy"], c["thin"]["pool_path"])
    d, c = base_config(lab, "bad-auth-strategy")
    c["DEFAULT"]["auth_strategy"] = "keystone"
    run(lab, "bad-auth-strategy", c, [2], ["[DEFAULT] auth_strategy", "keystone", "noauth"], c["thin"]["pool_path"])

    # A bad value in a backend section.
    d, c = base_config(lab, "bad-ratio")
    c["thin"]["max_over_subscription_ratio"] = "lots"
    run(lab, "bad-ratio", c, [2], ["[thin] max_over_subscription_ratio", "lots"], c["thin"]["pool_path"])

    # A configuration file that does not exist.
    r = subprocess.run([lab.volmigd, "--config", os.path.join(lab.dir, "nowhere.conf")], capture_output=True, text=True, timeout=20)
    expect(r.returncode == 2 and "nowhere.conf" in r.stderr, f"missing config file: exit {r.returncode}, said {r.stderr!r}")
    # Bad arguments.
    r = subprocess.run([lab.volmigd, "--bogus"], capture_output=True, text=True, timeout=20)
    expect(r.returncode == 2 and "--bogus" in r.stderr, f"unknown argument: exit {r.returncode}, said {r.stderr!r}")
    r = subprocess.run([lab.volmigd], capture_output=True, text=True, timeout=20)
    expect(r.returncode == 2 and "--config" in r.stderr, f"no --config: exit {r.returncode}, said {r.stderr!r}")

    # The port is in use: by a plain listening socket, then by another volmigd.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        d, c = base_config(lab, "port-in-use", port=port)
        run(lab, "port-in-use", c, [1, 2], ["cannot listen on 127.0.0.1:" + str(port), "in use"])
    # A second volmigd on a running daemon's port must not start: if it did, the kernel would
    # share the port between them and hand it part of the first daemon's requests.
    first = lab.daemon("host-first", backends={"thin": {"volume_driver": "thin_file"}})
    d, c = base_config(lab, "port-of-a-daemon", port=first.port)
    path = os.path.join(d, "volmig.conf")
    write(path, c)
    second = subprocess.Popen([lab.volmigd, "--config", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        code = second.wait(8)
    except subprocess.TimeoutExpired:
        code = None
    if code is None:
        answered_by_second = 0
        for _ in range(40):
            try:
                first.request("GET", "/v3/capabilities/host-first@thin")
            except Exception:
                answered_by_second += 1
        second.terminate()
        out = "\n".join(second.communicate(timeout=15)[0].splitlines()[:4])
        expect(False, "port-of-a-daemon: a second volmigd started on the port of a running one (both listen on "
                     f"127.0.0.1:{first.port}; {answered_by_second} of 40 requests meant for host-first were answered by it); it said:\n{out}")
    else:
        out = second.communicate()[0]
        expect(code in (1, 2), f"port-of-a-daemon: the second volmigd exited {code}, expected 1 or 2:\n{out}")
        expect(f"cannot listen on 127.0.0.1:{first.port}" in out, f"port-of-a-daemon: the message does not name the address:\n{out}")
    expect(first.running(), "the first daemon stopped when a second one tried its port")
    expect(first.request("GET", "/v3/volumes") == {"volumes": []}, "the first daemon does not answer after the second one's attempt")

if __name__ == "__main__":
    run_scenario(main)
