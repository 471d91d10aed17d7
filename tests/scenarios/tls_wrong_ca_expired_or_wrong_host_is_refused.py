#!/usr/bin/env python3
"""host-a (HTTPS, trusting its private CA) migrates a volume to three peers whose certificates it
must refuse: one signed by another CA, one expired, one for another host name. Each migration
ends in error with a message that names the peer, its URL and the cause in words (and what to
check); the source stays available on host-a with the same bytes, and no destination volume is
left in the refused peer's pool."""
import os
import sys

from volmig_lab import GiB, TlsFiles, sha256_of

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import THIN, check, new_source, pool_files, run_scenario, settle  # noqa: E402
from tls_certs import Pki  # noqa: E402
from tls_lab import LOCAL  # noqa: E402

CASES = [
    # (peer, how its certificate is made, what host-a's error must say)
    ("host-other-ca", "other CA", ["certificate verification failed: unable to get local issuer certificate", "check ssl_ca_file"]),
    ("host-expired", "expired", ["certificate verification failed: certificate has expired", "renew"]),
    ("host-wrong-name", "wrong host", ["certificate verification failed: the certificate does not name the URL's host",
                                       "127.0.0.1", "subjectAltName"]),
]


def scenario(lab):
    pki = Pki(os.path.join(lab.dir, "pki"))
    other = Pki(os.path.join(lab.dir, "pki"), name="other-ca")
    certs = {
        "other CA": other.issue("other", LOCAL),
        "expired": pki.issue("expired", LOCAL, start="20200101000000Z", end="20200201000000Z"),
        "wrong host": pki.issue("wrong-name", ["DNS:elsewhere.example"]),
    }
    a_cert = pki.issue("host-a", LOCAL)
    a = lab.daemon("host-a", backends=dict(THIN), start=False, tls=TlsFiles(a_cert.cert, a_cert.key, pki.ca))
    peers = {}
    for host, kind, _ in CASES:
        c = certs[kind]
        peers[host] = lab.daemon(host, backends=dict(THIN), tls=TlsFiles(c.cert, c.key, pki.ca))
        a.add_peer(peers[host])
    a.start()

    v, src_path, src_sha = new_source(a, "web")
    for host, kind, words in CASES:
        a.migrate(v["id"], f"{host}@thin")
        view = settle(a, v["id"], timeout=60)
        m = view["volmig:migration"]
        error = m.get("error") or ""
        print(f"{kind}: {error}")
        check(m["state"] == "error", f"the migration to the {kind} peer ended {m['state']}, not error")
        check(f"peer {host} ({peers[host].url})" in error, f"the {kind} error does not name the peer and its URL: {error}")
        for w in words:
            check(w in error, f"the {kind} error does not say {w!r}: {error}")
        check(view["status"] == "available", f"after the refused {kind} peer the source is {view['status']}")
        check(sha256_of(src_path, GiB) == src_sha, f"the source's bytes changed after the refused {kind} peer")
        check(pool_files(peers[host].backends["thin"]["pool_path"]) == [],
              f"the {kind} peer's pool holds {pool_files(peers[host].backends['thin']['pool_path'])}")


if __name__ == "__main__":
    run_scenario(scenario)
