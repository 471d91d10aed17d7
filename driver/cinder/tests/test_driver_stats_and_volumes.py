"""VolmigDriver against a real volmigd (thin_file; a thick_file pool volmig made, volume_clear =
none; a thick_file pool the operator supplied full of stale bytes), constructed from a real
cinder.conf as cinder-volume constructs it: the stats and driver.capabilities (sparse_copy_volume
true on thin, false on the stale pool, and following the pool on each refresh), create / extend
/ delete as volmigd records them, delete of a missing volume, initialize_connection's device
path carrying the bytes into the volume, retype's rule."""
import os
import unittest

import cinder_support as cs
from cinder import exception


class StatsAndVolumes(cs.LabCase):
    @classmethod
    def start(cls, lab):
        supplied = os.path.join(lab.dir, "stale.pool")
        cs.fill_file(supplied, cs.STALE, 1024 * cs.MiB)
        cls.d = lab.daemon("host-s", backends={
            "thin": {"volume_driver": "thin_file"},
            "unwiped": {"volume_driver": "thick_file", "pool_size": "2G", "volume_clear": "none"},
            "stale": {"volume_driver": "thick_file", "pool_file": supplied},
        })
        cs.load_cinder_conf(lab, cls.sections())
        cls.thin = cs.make_driver("thin", "cv-s@thin")
        cls.unwiped = cs.make_driver("unwiped", "cv-s@unwiped")
        cls.stale = cs.make_driver("stale", "cv-s@stale")

    @classmethod
    def sections(cls):
        """cinder.conf's backend sections: one per volmigd backend, named as it."""
        return {section: {"volmig_url": cls.d.url, "volmig_backend": section, "volume_backend_name": "vm-" + section}
                for section in ("thin", "unwiped", "stale")}

    def test_stats_publish_the_volmig_pool_and_sparse_copy_volume(self):
        for drv, pool, sparse in ((self.thin, "host-s@thin#thin", True), (self.stale, "host-s@stale#stale", False)):
            stats = drv.get_volume_stats(refresh=True)
            self.assertIs(stats["sparse_copy_volume"], sparse, pool)
            self.assertIs(drv.capabilities["sparse_copy_volume"], sparse, pool)
            self.assertEqual(stats["volmig_pool"], pool)
            self.assertEqual(stats["volmig_url"], self.d.url)
            self.assertEqual(stats["vendor_name"], "volmig")
            self.assertEqual(stats["volume_backend_name"], "vm-" + pool.split("@")[1].split("#")[0])
            self.assertEqual(len(stats["pools"]), 1)
            p = stats["pools"][0]
            self.assertEqual((p["volmig_pool"], p["volmig_url"], p["sparse_copy_volume"]), (pool, self.d.url, sparse))
            self.assertGreater(p["total_capacity_gb"], 0)
            self.assertIs(p["thin_provisioning_support"], drv is self.thin)
            self.assertIn("volmig:discard", drv.capabilities["properties"])
            self.assertEqual(drv.capabilities["vendor_prefix"], "volmig")

    def test_sparse_copy_volume_follows_the_pool_on_each_refresh(self):
        drv = self.unwiped
        self.assertIs(drv.get_volume_stats(refresh=True)["sparse_copy_volume"], True)
        self.assertIs(drv.capabilities["sparse_copy_volume"], True)
        vol = cs.created(drv)
        cs.write_through(drv, vol, 0, b"\x5a" * cs.MiB)
        drv.delete_volume(vol)  # volume_clear = none: the freed region keeps its bytes
        self.assertIs(drv.get_volume_stats(refresh=False)["sparse_copy_volume"], True, "a poll without refresh re-read the pool")
        self.assertIs(drv.get_volume_stats(refresh=True)["sparse_copy_volume"], False)
        self.assertIs(drv.capabilities["sparse_copy_volume"], False, "driver.capabilities kept the stale sparse_copy_volume")

    def test_create_extend_delete_are_volmigd_changes(self):
        vol = cs.created(self.thin)
        self.assertTrue(vol.provider_id)
        self.assertEqual(vol.provider_location, "%s/v3/volumes/%s" % (self.d.url, vol.provider_id))
        view = self.d.show(vol.provider_id)
        self.assertEqual((view["status"], view["size"], view["os-vol-host-attr:host"]), ("available", 1, "host-s@thin#thin"))
        self.assertEqual(view["name"], vol.name)
        self.thin.extend_volume(vol, 2)
        view = self.d.show(vol.provider_id)
        self.assertEqual((view["size"], view["volmig:size_bytes"]), (2, 2 << 30))
        self.thin.delete_volume(vol)
        self.assertNotIn(vol.provider_id, [v["id"] for v in self.d.volumes()])
        self.thin.delete_volume(vol)  # already gone (404): success
        self.thin.delete_volume(cs.cinder_volume(self.thin, provider_id="0b6e6e49-0000-4000-8000-000000000000"))

    def test_extend_refused_by_volmigd_raises_with_its_message(self):
        vol = cs.created(self.thin)
        try:
            with self.assertRaises(exception.VolumeBackendAPIException) as raised:
                self.thin.extend_volume(vol, 1)
            self.assertIn("HTTP 400", str(raised.exception))
            self.assertEqual(self.d.show(vol.provider_id)["size"], 1)
        finally:
            self.thin.delete_volume(vol)

    def test_initialize_connection_device_path_carries_bytes_into_the_volume(self):
        for drv in (self.thin, self.stale):
            vol = cs.created(drv)
            data = os.urandom(cs.MiB)
            info = cs.write_through(drv, vol, 3 * cs.MiB, data)
            self.assertEqual(info["driver_volume_type"], "local")
            self.assertEqual(set(info["data"]), {"device_path"})
            view = self.d.show(vol.provider_id)
            self.assertEqual(view["status"], "available", "terminate_connection left the volume reserved")
            if drv is self.thin:
                storage, base = view["volmig:location"], 0
                self.assertEqual(info["data"]["device_path"], storage)
            else:
                storage, base = self.d.backends["stale"]["pool_file"], int(view["volmig:location"])
                self.assertTrue(info["data"]["device_path"].startswith("/dev/loop"), info)
            with open(storage, "rb") as f:
                f.seek(base + 3 * cs.MiB)
                self.assertEqual(f.read(cs.MiB), data, "the bytes written through the device are not in the volume")
            self.assertEqual(cs.read_through(drv, vol, 3 * cs.MiB, cs.MiB), data)
            drv.delete_volume(vol)

    def test_retype_in_place_only_when_cinder_would_allow_driver_migration(self):
        vol = cs.cinder_volume(self.thin)
        here = {"host": self.thin.host + "#thin"}
        same = {"extra_specs": {"volume_backend_name": ("a", "b"), "thin": ("yes", "yes")}, "qos_specs": {}, "encryption": {}}
        self.assertEqual(self.thin.retype(None, vol, None, same, here), (True, None))
        spec_changes = {"extra_specs": {"volmig:x": ("1", "2")}, "qos_specs": {}, "encryption": {}}
        self.assertEqual(self.thin.retype(None, vol, None, spec_changes, here), (False, None))
        qos = {"extra_specs": {}, "qos_specs": {"consumer": ("front-end", "back-end")}, "encryption": {}}
        self.assertEqual(self.thin.retype(None, vol, None, qos, here), (False, None))
        self.assertEqual(self.thin.retype(None, vol, None, same, {"host": "cv-other@x#y"}), (False, None))

    def test_setup_names_a_missing_backend(self):
        cs.load_cinder_conf(self.lab, {"nosuch": {"volmig_url": self.d.url, "volmig_backend": "nosuch"}})
        try:
            with self.assertRaises(exception.VolumeBackendAPIException) as raised:
                cs.make_driver("nosuch", "cv-s@nosuch")
            self.assertIn("no backend nosuch", str(raised.exception))
            self.assertIn("host-s@thin#thin", str(raised.exception))
        finally:
            cs.load_cinder_conf(self.lab, self.sections())


if __name__ == "__main__":
    unittest.main()
