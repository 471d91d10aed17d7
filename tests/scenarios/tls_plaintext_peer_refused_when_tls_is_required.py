#!/usr/bin/env python3
"""Tokens never travel in clear: a daemon that serves HTTPS refuses to start with an http://
peer, saying peer_require_tls = false would allow it; with peer_require_tls = true a plaintext
peer is refused even by a daemon that does not serve TLS; each error names the peer and its URL,
and the daemon exits 2 (configuration). With peer_require_tls = false set explicitly the TLS
daemon starts and still migrates to its plaintext peer."""
import os
import subprocess
import sys

from volmig_lab import GiB, TlsFiles, sha256_of

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import THIN, check, new_source, run_scenario, settle  # noqa: E402
from tls_certs import Pki  # noqa: E402
from tls_lab import LOCAL  # noqa: E402


def refused_start(daemon):
    """Starts `daemon` expecting it to refuse its configuration: returns its log."""
    with open(daemon.config_path, "w") as f:
        f.write(daemon.config_text())
    r = subprocess.run([daemon.lab.volmigd, "--config", daemon.config_path], capture_output=True, text=True, timeout=30)
    check(r.returncode == 2, f"{daemon.host} exited {r.returncode}, expected 2 (configuration):\n{r.stderr}")
    return r.stderr


def scenario(lab):
    pki = Pki(os.path.join(lab.dir, "pki"))
    plain = lab.daemon("host-plain", backends=dict(THIN))
    cert = pki.issue("host-a", LOCAL)

    tls = lab.daemon("host-a", backends=dict(THIN), start=False, tls=TlsFiles(cert.cert, cert.key, pki.ca))
    tls.add_peer(plain)
    log = refused_start(tls)
    check(f"[peers] host-plain = {plain.url}" in log, f"the refusal does not name the peer and its URL:\n{log}")
    check("serves TLS" in log and "peer_require_tls = false explicitly" in log, f"the refusal does not say why and how:\n{log}")

    strict = lab.daemon("host-strict", backends=dict(THIN), start=False, extra_defaults={"peer_require_tls": "true"})
    strict.add_peer(plain)
    log = refused_start(strict)
    check(f"[peers] host-plain = {plain.url}" in log and "peer_require_tls = true" in log, f"the strict refusal:\n{log}")

    # Explicitly allowed: starts, and migrates to the plaintext peer.
    tls.extra_defaults["peer_require_tls"] = "false"
    tls.start()
    v, _, src_sha = new_source(tls, "web")
    tls.migrate(v["id"], "host-plain@thin")
    m = settle(tls, v["id"], timeout=60)["volmig:migration"]
    check(m["state"] == "success", f"the allowed plaintext migration ended {m['state']}: {m.get('error')}")
    check(sha256_of(plain.volume_path(plain.show(v["id"])), GiB) == src_sha, "content differs on the plaintext peer")


if __name__ == "__main__":
    run_scenario(scenario)
