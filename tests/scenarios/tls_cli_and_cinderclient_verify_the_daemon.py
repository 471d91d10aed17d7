#!/usr/bin/env python3
"""Clients verify an HTTPS daemon against the private CA: `volmig volumes --url https://...
--ca-file CA` (and with $OS_CACERT) lists the daemon's volumes; without the CA it is refused
with a message that names the cause and --ca-file, exit 1. Debian's `cinder` (python3-cinderclient)
lists the volumes with --os-cacert, and fails without it."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from openstack_clients import cinder_cli  # noqa: E402
from scenario_support import THIN, check, run_scenario  # noqa: E402
from tls_certs import Pki  # noqa: E402
from tls_lab import LOCAL  # noqa: E402
from volmig_lab import TlsFiles  # noqa: E402

TOKEN = "tls-cli-token"


def volmig(*args, env=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith(("VOLMIG_", "OS_"))}
    e.update(env or {})
    return subprocess.run([os.environ["VOLMIG"], *args], capture_output=True, text=True, env=e, timeout=60)


def scenario(lab):
    pki = Pki(os.path.join(lab.dir, "pki"))
    cert = pki.issue("host-tls", LOCAL)
    d = lab.daemon("host-tls", backends=dict(THIN), auth_token=TOKEN, tls=TlsFiles(cert.cert, cert.key, pki.ca))
    vid = d.create(1, name="over-tls")["id"]
    conn = ["--url", d.url, "--token", TOKEN]

    r = volmig("volumes", *conn, "--ca-file", pki.ca)
    check(r.returncode == 0 and vid in r.stdout, f"volmig volumes --ca-file exited {r.returncode}:\n{r.stdout}{r.stderr}")
    r = volmig("volumes", *conn, env={"OS_CACERT": pki.ca})
    check(r.returncode == 0 and vid in r.stdout, f"volmig volumes with OS_CACERT exited {r.returncode}:\n{r.stdout}{r.stderr}")
    r = volmig("volumes", *conn)
    check(r.returncode == 1, f"volmig volumes without the CA exited {r.returncode}, expected 1:\n{r.stdout}{r.stderr}")
    for words in ("certificate verification failed", "unable to get local issuer certificate", "--ca-file"):
        check(words in r.stderr, f"volmig without the CA does not say {words!r}:\n{r.stderr}")
    r = volmig("volumes", "--url", d.url.replace("https://", "http://"), "--token", TOKEN)
    check(r.returncode == 3 and "https://" in r.stderr, f"volmig over plain HTTP to the TLS port: {r.returncode}\n{r.stderr}")

    cinder = cinder_cli(d)
    cinder.ok("--os-cacert", pki.ca, "create", "--name", "cc-over-tls", "1")
    out = cinder.ok("--os-cacert", pki.ca, "list")
    check("cc-over-tls" in out and "available" in out, f"cinder --os-cacert list does not show its volume:\n{out}")
    out = cinder.fails("list")
    check("SSL" in out or "certificate" in out, f"cinder without --os-cacert failed, but not for the certificate:\n{out[-1500:]}")


if __name__ == "__main__":
    run_scenario(scenario)
