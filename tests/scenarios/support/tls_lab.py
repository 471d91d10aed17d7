"""What the TLS scenarios share: a private CA made at test time (tls_certs.Pki), and two peered
daemons host-a and host-b serving HTTPS with certificates of their own."""
import os

from volmig_lab import TlsFiles
from scenario_support import THIN
from tls_certs import Pki

LOCAL = ["IP:127.0.0.1", "DNS:localhost"]


def tls_pair(lab, b_cert=None, a_defaults=None, b_defaults=None, start=True):
    """(pki, a, b): host-a and host-b on https:// with good certificates of one private CA, each
    the other's peer and trusting that CA; `b_cert` (an Issued) replaces host-b's certificate."""
    pki = Pki(os.path.join(lab.dir, "pki"))
    a_cert = pki.issue("host-a", LOCAL)
    b_cert = b_cert(pki) if callable(b_cert) else (b_cert or pki.issue("host-b", LOCAL))
    a = lab.daemon("host-a", backends=dict(THIN), start=False, extra_defaults=a_defaults, tls=TlsFiles(a_cert.cert, a_cert.key, pki.ca))
    b = lab.daemon("host-b", backends=dict(THIN), start=False, extra_defaults=b_defaults, tls=TlsFiles(b_cert.cert, b_cert.key, pki.ca))
    a.add_peer(b)
    b.add_peer(a)
    if start:
        a.start()
        b.start()
    return pki, a, b
