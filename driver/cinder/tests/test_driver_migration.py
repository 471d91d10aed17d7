"""VolmigDriver.migrate_volume between two real volmigd (host-a: thin_file; host-b: thin_file and
a thick_file pool of stale bytes), with host = what Cinder's scheduler passes (the destination
pool's latest stats as its capabilities): onto a volmig pool it returns (True,
{'provider_location'}) with the bytes identical on the destination, no stale byte left and the
host changed in volmigd; onto a pool that is not volmig's (False, None) with nothing changed; a
failing volmig migration raises and leaves the source usable. update_migrated_volume returns
exactly _name_id and provider_location."""
import hashlib
import random
import unittest

import cinder_support as cs
from cinder import exception

from volmig_lab import GiB


def digest(drv, vol, length=GiB):
    """sha256 and stale-block count of a volume, read through the driver's connection."""
    info = drv.initialize_connection(vol, cs.CONNECTOR)
    h, stale = hashlib.sha256(), 0
    try:
        with open(info["data"]["device_path"], "rb") as f:
            for _ in range(length // cs.MiB):
                chunk = f.read(cs.MiB)
                h.update(chunk)
                stale += sum(1 for i in range(0, len(chunk), 4096) if chunk[i:i + 4096] == cs.STALE)
    finally:
        drv.terminate_connection(vol, cs.CONNECTOR)
    return h.hexdigest(), stale


def scheduler_host(cinder_host, drv):
    """What the scheduler hands migrate_volume: the destination pool's stats as capabilities."""
    pool = dict(drv.get_volume_stats(refresh=True)["pools"][0])
    return {"host": "%s#%s" % (cinder_host, pool["pool_name"]), "cluster_name": None, "capabilities": pool}


class Migration(cs.LabCase):
    @classmethod
    def start(cls, lab):
        cls.b = lab.daemon("host-b", backends={"thin": {"volume_driver": "thin_file"},
                                                  "thick": {"volume_driver": "thick_file"}}, start=False)
        cls.a = lab.daemon("host-a", backends={"thin": {"volume_driver": "thin_file"}}, start=False)
        cls.a.add_peer(cls.b)
        cls.b.add_peer(cls.a)
        cs.fill_file(cls.b.backends["thick"]["pool_file"], cs.STALE, GiB)
        cls.b.start()
        cls.a.start()
        cs.load_cinder_conf(lab, {
            "a-thin": {"volmig_url": cls.a.url, "volmig_backend": "thin", "volmig_migration_timeout": 120},
            "b-thin": {"volmig_url": cls.b.url, "volmig_backend": "thin"},
            "b-thick": {"volmig_url": cls.b.url, "volmig_backend": "thick"},
        })
        cls.a_thin = cs.make_driver("a-thin", "cv-a@a-thin")
        cls.b_thin = cs.make_driver("b-thin", "cv-b@b-thin")
        cls.b_thick = cs.make_driver("b-thick", "cv-b@b-thick")

    def source(self, seed):
        vol = cs.created(self.a_thin)
        rng = random.Random(seed)
        for off in (1, 300, 700):
            cs.write_through(self.a_thin, vol, off * cs.MiB, rng.randbytes(4 * cs.MiB))
        return vol

    def test_onto_a_stale_thick_volmig_pool_moves_the_data_and_the_host(self):
        vol = self.source(7)
        want, _ = digest(self.a_thin, vol)
        self.assertIs(self.b_thick.get_volume_stats(True)["sparse_copy_volume"], False)
        moved, update = self.a_thin.migrate_volume(None, vol, scheduler_host("cv-b@b-thick", self.b_thick))
        self.assertTrue(moved)
        self.assertEqual(update, {"provider_location": "%s/v3/volumes/%s" % (self.b.url, vol.provider_id)})
        view = self.b.show(vol.provider_id)  # volmig kept the id: provider_id stays
        self.assertEqual((view["os-vol-host-attr:host"], view["status"]), ("host-b@thick#thick", "available"))
        m = self.a.show(vol.provider_id)["volmig:migration"]
        self.assertEqual((m["state"], m["plan"]["strategy"]), ("success", "full"))
        self.assertEqual(self.a.show(vol.provider_id)["volmig:moved_to"], "host-b@thick#thick")
        vol.update(update)  # what the manager does, with host = cv-b@b-thick#thick
        vol.host = "cv-b@b-thick#thick"
        got, stale = digest(self.b_thick, vol)
        self.assertEqual(got, want, "the destination's bytes differ from the source's")
        self.assertEqual(stale, 0, "stale blocks of the pool are left in the migrated volume")
        self.b_thick.delete_volume(vol)
        self.assertNotIn(vol.provider_id, [v["id"] for v in self.b.volumes()])

    def test_onto_a_thin_volmig_pool_is_sparse(self):
        vol = self.source(8)
        moved, update = self.a_thin.migrate_volume(None, vol, scheduler_host("cv-b@b-thin", self.b_thin))
        self.assertTrue(moved)
        self.assertEqual(self.a.show(vol.provider_id)["volmig:migration"]["plan"]["strategy"], "sparse")
        view = self.b.show(vol.provider_id)
        self.assertLess(view["volmig:allocated_bytes"], 64 * cs.MiB, "the thin destination is not thin")
        vol.update(update)
        self.b_thin.delete_volume(vol)

    def test_a_retype_that_migrates_an_available_volume_uses_volmig(self):
        # Cinder's retype calls migrate_volume with status retyping, previous_status available
        # (found by the real-Cinder test: the driver used to leave such a retype to dd).
        vol = self.source(10)
        vol.update({"status": "retyping", "previous_status": "available"})
        moved, update = self.a_thin.migrate_volume(None, vol, scheduler_host("cv-b@b-thin", self.b_thin))
        self.assertTrue(moved)
        self.assertEqual(self.a.show(vol.provider_id)["volmig:migration"]["plan"]["strategy"], "sparse")
        vol.update(update)
        self.b_thin.delete_volume(vol)
        # an in-use volume being retyped is Cinder's to copy
        vol = cs.created(self.a_thin)
        vol.update({"status": "retyping", "previous_status": "in-use"})
        self.assertEqual(self.a_thin.migrate_volume(None, vol, scheduler_host("cv-b@b-thin", self.b_thin)), (False, None))
        self.assertIsNone(self.a.show(vol.provider_id)["volmig:migration"])
        self.a_thin.delete_volume(vol)

    def test_onto_a_pool_that_is_not_volmig_is_left_to_cinder(self):
        vol = cs.created(self.a_thin)
        lvm = {"host": "cv-c@lvm#lvm", "cluster_name": None,
               "capabilities": {"volume_backend_name": "lvm", "vendor_name": "Open Source", "sparse_copy_volume": True,
                                "location_info": "LVMVolumeDriver:cv-c:vg:thin:0"}}
        self.assertEqual(self.a_thin.migrate_volume(None, vol, lvm), (False, None))
        self.assertEqual(self.a_thin.migrate_volume(None, vol, {"host": "cv-d@x#x"}), (False, None))
        view = self.a.show(vol.provider_id)
        self.assertEqual((view["os-vol-host-attr:host"], view["volmig:migration"]), ("host-a@thin#thin", None))
        self.a_thin.delete_volume(vol)

    def test_a_failing_migration_raises_and_the_source_stays_usable(self):
        vol = self.source(9)
        want, _ = digest(self.a_thin, vol)
        # A volmig pool host-a has no peer for: volmigd refuses, the driver raises its message.
        bogus = scheduler_host("cv-b@b-thin", self.b_thin)
        bogus["capabilities"]["volmig_pool"] = "host-z@thin#thin"
        with self.assertRaises(exception.VolumeBackendAPIException) as raised:
            self.a_thin.migrate_volume(None, vol, bogus)
        self.assertIn("host-z", str(raised.exception))
        # The destination daemon down: the migration itself fails.
        target = scheduler_host("cv-b@b-thin", self.b_thin)
        self.b.stop()
        try:
            with self.assertRaises(exception.VolumeBackendAPIException) as raised:
                self.a_thin.migrate_volume(None, vol, target)
            self.assertIn("volmig migration", str(raised.exception))
            self.assertIn("host-b (%s) did not answer" % self.b.url, str(raised.exception))
        finally:
            self.b.start()
        view = self.a.show(vol.provider_id)
        self.assertEqual((view["os-vol-host-attr:host"], view["status"]), ("host-a@thin#thin", "available"))
        self.assertEqual(digest(self.a_thin, vol)[0], want, "the source's bytes changed")
        self.assertNotIn(vol.provider_id, [v["id"] for v in self.b.volumes()])
        self.a_thin.delete_volume(vol)

    def test_update_migrated_volume_returns_only_name_id_and_provider_location(self):
        vol = cs.created(self.a_thin)
        new = cs.created(self.b_thin)
        update = self.b_thin.update_migrated_volume(None, vol, new, "available")
        self.assertEqual(update, {"_name_id": new.id, "provider_location": new.provider_location})
        self.a_thin.delete_volume(vol)
        self.b_thin.delete_volume(new)


if __name__ == "__main__":
    unittest.main()
