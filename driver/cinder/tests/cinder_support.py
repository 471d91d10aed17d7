"""What the driver's tests share: real volmigd daemons (tools/pylib/volmig_lab.py), a real
cinder.conf parsed by oslo.config the way cinder-volume parses it, drivers constructed as
cinder-volume constructs them (cinder.volume.configuration.Configuration over a backend group),
and Cinder's own Volume objects (cinder.tests.unit.fake_volume, shipped in python3-cinder)."""
import os
import sys
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(HERE, ".."))                 # volmig_cinder
sys.path.insert(0, os.path.join(ROOT, "tools", "pylib"))     # volmig_lab

from oslo_config import cfg  # noqa: E402

from cinder import context  # noqa: E402
from cinder import objects  # noqa: E402
from cinder.tests.unit import fake_volume  # noqa: E402
from cinder.volume import configuration  # noqa: E402
from cinder.volume import manager  # noqa: E402,F401  registers volume_manager_opts as cinder-volume does

from volmig_lab import Lab, MiB  # noqa: E402
from volmig_cinder import driver as volmig_driver  # noqa: E402

objects.register_all()

VOLMIGD = os.environ.get("VOLMIGD", os.path.join(ROOT, "build", "bin", "volmigd"))
STALE = b"\xa5" * 4096


def fill_file(path, pattern, length):
    chunk = pattern * (MiB // len(pattern))
    with open(path, "wb") as f:
        for _ in range(length // len(chunk)):
            f.write(chunk)
        os.fsync(f.fileno())


def new_lab():
    return Lab(volmigd=VOLMIGD)


def load_cinder_conf(lab, backends):
    """Writes a cinder.conf with one section per backend {section: {option: value}} and parses
    it into oslo.config's global ConfigOpts, as cinder-volume does at start."""
    path = os.path.join(lab.dir, "cinder.conf")
    with open(path, "w") as f:
        f.write("[DEFAULT]\nenabled_backends = %s\n" % ", ".join(backends))
        for section, opts in backends.items():
            f.write("[%s]\n" % section)
            f.write("volume_driver = volmig_cinder.driver.VolmigDriver\n")
            for k, v in opts.items():
                f.write("%s = %s\n" % (k, v))
    cfg.CONF.reset()
    cfg.CONF(["--config-file", path], project="cinder", default_config_files=[])
    return path


def make_driver(section, host):
    """A driver as cinder-volume's VolumeManager makes one for a backend section, set up as
    init_host does (do_setup, check_for_setup_error, init_capabilities)."""
    conf = configuration.Configuration(manager.volume_manager_opts, config_group=section)
    d = volmig_driver.VolmigDriver(configuration=conf, host=host, cluster_name=None)
    d.do_setup(context.get_admin_context())
    d.check_for_setup_error()
    d.init_capabilities()
    return d


def cinder_volume(drv, size=1, **updates):
    """A Cinder Volume object on the driver's host, status available."""
    vid = str(uuid.uuid4())
    fields = dict(id=vid, size=size, host=drv.host + "#" + drv.get_volume_stats()["pools"][0]["pool_name"],
                  status="available", provider_id=None, provider_location=None, name_id=None)
    fields.update(updates)
    fields.pop("name_id")
    return fake_volume.fake_volume_obj(context.get_admin_context(), **fields)


def created(drv, size=1):
    """A Cinder volume created through the driver, with the model update applied as the
    manager applies it."""
    vol = cinder_volume(drv, size)
    update = drv.create_volume(vol)
    vol.update(update)
    return vol


CONNECTOR = {"host": "compute-1", "initiator": "iqn.1993-08.org.debian:01:c1", "ip": "127.0.0.1",
             "platform": "x86_64", "os_type": "linux", "multipath": False}


def write_through(drv, vol, offset, data):
    """Writes through initialize_connection's device path and terminates the connection."""
    info = drv.initialize_connection(vol, CONNECTOR)
    path = info["data"]["device_path"]
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, data, offset)
        os.fsync(fd)
    finally:
        os.close(fd)
        drv.terminate_connection(vol, CONNECTOR)
    return info


def read_through(drv, vol, offset, n):
    info = drv.initialize_connection(vol, CONNECTOR)
    try:
        with open(info["data"]["device_path"], "rb") as f:
            f.seek(offset)
            return f.read(n)
    finally:
        drv.terminate_connection(vol, CONNECTOR)


class LabCase(unittest.TestCase):
    """A test class over one lab: subclasses start their daemons and drivers in start(lab);
    the lab (daemons, loop devices, directory) is closed after the class, or at once if
    start() fails."""

    @classmethod
    def start(cls, lab):
        raise NotImplementedError

    @classmethod
    def setUpClass(cls):
        cls.lab = new_lab().__enter__()
        try:
            cls.start(cls.lab)
        except BaseException:
            cls.lab.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.lab.close()
