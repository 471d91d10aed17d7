"""Certificates for the TLS scenarios, made at test time with the openssl CLI (Debian 12's
OpenSSL 3.0): a private CA, certificates it signs (good for 127.0.0.1 and localhost, expired,
for a wrong host name) and a second, unrelated CA. Keys are P-256 (fast to make), mode 0600.

`openssl ca` is used for every certificate because it takes -startdate/-enddate: OpenSSL 3.0's
`openssl x509 -req` has no way to give a validity in the past (-not_before came in 3.4).

    pki = Pki(workdir)
    good = pki.issue("host-a", sans=["IP:127.0.0.1", "DNS:localhost"])
    expired = pki.issue("old", sans=["IP:127.0.0.1"], start="20200101000000Z", end="20200201000000Z")
    other = Pki(workdir, name="other-ca")          # a CA nobody trusts
    TlsFiles(good.cert, good.key, pki.ca)          # for volmig_lab.Daemon(tls=...)
"""
import os
import subprocess


def run(argv, cwd):
    r = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(argv), r.returncode, r.stderr.strip()))
    return r.stdout


class Issued:
    def __init__(self, cert, key):
        self.cert, self.key = cert, key


class Pki:
    def __init__(self, base, name="volmig-test-ca"):
        self.dir = os.path.join(base, name)
        os.makedirs(os.path.join(self.dir, "issued"), exist_ok=True)
        self.ca = os.path.join(self.dir, "ca.pem")
        self.ca_key = os.path.join(self.dir, "ca.key")
        with open(os.path.join(self.dir, "index.txt"), "w"):
            pass
        with open(os.path.join(self.dir, "serial"), "w") as f:
            f.write("1000\n")
        self.config = os.path.join(self.dir, "ca.cnf")
        with open(self.config, "w") as f:
            f.write("[ca]\ndefault_ca = local\n[local]\n"
                    f"dir = {self.dir}\ndatabase = $dir/index.txt\nnew_certs_dir = $dir/issued\n"
                    "serial = $dir/serial\ndefault_md = sha256\npolicy = any\nunique_subject = no\n"
                    "copy_extensions = none\ndefault_days = 30\n[any]\ncommonName = supplied\n")
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", self.ca_key, "-out", self.ca, "-days", "30", "-subj", "/CN=" + name,
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"], self.dir)
        os.chmod(self.ca_key, 0o600)

    def issue(self, name, sans, start=None, end=None):
        """A server certificate for `sans` ("IP:127.0.0.1", "DNS:localhost"), valid from now
        for 30 days unless start/end (YYYYMMDDHHMMSSZ) say otherwise."""
        key = os.path.join(self.dir, name + ".key")
        csr = os.path.join(self.dir, name + ".csr")
        cert = os.path.join(self.dir, name + ".pem")
        ext = os.path.join(self.dir, name + ".ext")
        with open(ext, "w") as f:
            f.write("basicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature\n"
                    "extendedKeyUsage = serverAuth\nsubjectAltName = " + ",".join(sans) + "\n")
        run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-out", csr, "-subj", "/CN=" + name], self.dir)
        os.chmod(key, 0o600)
        argv = ["openssl", "ca", "-batch", "-notext", "-config", self.config, "-cert", self.ca, "-keyfile", self.ca_key,
                "-in", csr, "-out", cert, "-extfile", ext]
        if start:
            argv += ["-startdate", start]
        if end:
            argv += ["-enddate", end]
        run(argv, self.dir)
        return Issued(cert, key)
