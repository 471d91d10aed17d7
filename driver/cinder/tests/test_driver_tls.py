"""VolmigDriver against a volmigd serving HTTPS with a certificate of a private CA made at test
time: with volmig_ca_file the driver sets up, publishes its stats and creates and deletes a
volume over TLS; without it (the system's CAs do not know the private CA) do_setup fails with a
VolumeBackendAPIException that says the certificate was not accepted and names volmig_ca_file."""
import eventlet

# As cinder-volume does first thing (cinder/cmd/volume.py): eventlet patches ssl before anything
# imports it, or urllib3's HTTPS contexts recurse forever in eventlet's SSLContext.
eventlet.monkey_patch()

import os  # noqa: E402
import sys  # noqa: E402
import unittest  # noqa: E402

import cinder_support as cs  # noqa: E402
from cinder import exception

sys.path.insert(0, os.path.join(cs.ROOT, "tests", "scenarios", "support"))
from tls_certs import Pki  # noqa: E402
from volmig_lab import TlsFiles  # noqa: E402


class OverTls(cs.LabCase):
    @classmethod
    def start(cls, lab):
        cls.pki = Pki(os.path.join(lab.dir, "pki"))
        cert = cls.pki.issue("host-t", ["IP:127.0.0.1", "DNS:localhost"])
        cls.d = lab.daemon("host-t", backends={"thin": {"volume_driver": "thin_file"}},
                           tls=TlsFiles(cert.cert, cert.key, cls.pki.ca))
        cs.load_cinder_conf(lab, {
            "verified": {"volmig_url": cls.d.url, "volmig_backend": "thin", "volmig_ca_file": cls.pki.ca},
            "no-ca": {"volmig_url": cls.d.url, "volmig_backend": "thin"},
        })

    def test_with_volmig_ca_file_the_driver_works_over_https(self):
        drv = cs.make_driver("verified", "cv-t@verified")
        self.assertTrue(self.d.url.startswith("https://"))
        self.assertEqual(drv.get_volume_stats(refresh=True)["volmig_url"], self.d.url)
        vol = cs.created(drv)
        self.assertEqual(self.d.show(vol.provider_id)["status"], "available")
        drv.delete_volume(vol)
        self.assertNotIn(vol.provider_id, [v["id"] for v in self.d.volumes()])

    def test_without_the_ca_the_certificate_is_refused(self):
        with self.assertRaises(exception.VolumeBackendAPIException) as refused:
            cs.make_driver("no-ca", "cv-t@no-ca")
        message = str(refused.exception)
        self.assertIn("certificate was not accepted", message)
        self.assertIn("volmig_ca_file", message)


if __name__ == "__main__":
    unittest.main()
