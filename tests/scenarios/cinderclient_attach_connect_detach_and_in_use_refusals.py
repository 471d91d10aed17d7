#!/usr/bin/env python3
"""Debian's python3-cinderclient, through its Python API (cinderclient.client.Client('3') with
its noauth plugin), attaches volumes of a thin_file and a thick_file backend the way Nova's old
flow does: reserve, initialize_connection, attach; then begin_detaching, roll_detaching,
terminate_connection, detach; and reserve/unreserve. Checked on the daemon and on the storage:
the connection's device_path is a file (thin) or a loop device over the volume's region
(thick, checked with losetup) and what is written through it is read back from the volume's
storage; the device survives a daemon restart between initialize and terminate and terminate
releases it afterwards; delete, migrate and extend of the in-use volume are refused with 400
and change nothing; no loop device is left at the end."""
import os
import subprocess
import sys

try:
    import cinderclient  # noqa: F401  Debian's, under /usr/bin/python3 (the pyenv python3 has none)
except ImportError:
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise

from cinderclient import client as cinder_client
from cinderclient import exceptions as cinder_exceptions
from cinderclient.contrib import noauth
from keystoneauth1 import session as ks_session

from volmig_lab import MiB

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import check, loops_below, run_scenario

PROJECT = "p"
SERVER = "6f0c1a52-3f5e-4b4e-9a43-2f3f1f4d9c11"
CONNECTOR = {"host": "compute-sc", "initiator": "iqn.1993-08.org.debian:01:sc", "ip": "127.0.0.1",
             "platform": "x86_64", "os_type": "linux", "multipath": False}


def losetup_row(device):
    """(backing file, offset) of a loop device, from losetup; None when it is not attached."""
    r = subprocess.run(["losetup", "--list", "--noheadings", "--output", "BACK-FILE,OFFSET", device],
                       capture_output=True, text=True)
    parts = r.stdout.split()
    return (parts[0], int(parts[1])) if r.returncode == 0 and len(parts) == 2 else None


def write_through(path, offset, data):
    fd = os.open(path, os.O_WRONLY)
    try:
        check(os.pwrite(fd, data, offset) == len(data), f"short write to {path}")
        os.fsync(fd)
    finally:
        os.close(fd)


def read_from(path, offset, n):
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(n)


def refused(call, what):
    """Runs a cinderclient call that must fail with 400; returns the daemon's message."""
    try:
        call()
    except cinder_exceptions.BadRequest as e:
        return str(e)
    raise AssertionError(f"{what} was not refused with 400")


def main(lab):
    d = lab.daemon("host-at", backends={
        "thin": {"volume_driver": "thin_file"},
        "thick": {"volume_driver": "thick_file", "pool_size": "3G"},
    })
    auth = noauth.CinderNoAuthPlugin("u", PROJECT, endpoint=f"{d.url}/v3")
    cc = cinder_client.Client("3", session=ks_session.Session(auth=auth))
    pool = d.backends["thick"]["pool_file"]

    for backend, other in (("thin", "thick"), ("thick", "thin")):
        vol = cc.volumes.create(1, name=f"at-{backend}", volume_type=backend)
        vid = vol.id
        check(d.show(vid)["status"] == "available", f"{backend}: the new volume is {d.show(vid)['status']}")

        # reserve / unreserve.
        cc.volumes.reserve(vid)
        check(d.show(vid)["status"] == "attaching", f"{backend}: after reserve: {d.show(vid)['status']}")
        cc.volumes.unreserve(vid)
        check(d.show(vid)["status"] == "available", f"{backend}: after unreserve: {d.show(vid)['status']}")
        message = refused(lambda: cc.volumes.unreserve(vid), "unreserve of an available volume")
        check("is available" in message, f"{backend}: unreserve of an available volume said: {message}")

        # Nova's attach: reserve, initialize_connection, attach.
        cc.volumes.reserve(vid)
        info = cc.volumes.initialize_connection(vid, CONNECTOR)
        check(info["driver_volume_type"] == "local", f"{backend}: connection_info {info}")
        device = info["data"]["device_path"]
        view = d.show(vid)
        if backend == "thin":
            check(device == view["volmig:location"], f"thin: device_path {device} is not the volume's file {view['volmig:location']}")
            storage, base = view["volmig:location"], 0
        else:
            region = int(view["volmig:location"])
            check(device.startswith("/dev/loop") and losetup_row(device) == (pool, region),
                  f"thick: device_path {device} is not a loop device over {pool} at {region}: {losetup_row(device)}")
            storage, base = pool, region
        cc.volumes.attach(vid, SERVER, "/dev/vdb", mode="rw")
        view = d.show(vid)
        check(view["status"] == "in-use", f"{backend}: after attach: {view['status']}")
        check(len(view["attachments"]) == 1, f"{backend}: attachments {view['attachments']}")
        a = view["attachments"][0]
        check(a["server_id"] == SERVER and a["device"] == "/dev/vdb" and a["volume_id"] == vid and a["id"] == vid and a["attached_at"],
              f"{backend}: attachment {a}")
        shown = cc.volumes.get(vid)
        check(shown.status == "in-use" and shown.attachments[0]["attachment_id"] == a["attachment_id"],
              f"{backend}: cinderclient sees {shown.status} {shown.attachments}")

        # Data written through the device is in the volume's storage.
        data = os.urandom(MiB)
        write_through(device, 3 * MiB, data)
        check(read_from(storage, base + 3 * MiB, MiB) == data, f"{backend}: the bytes written through {device} are not in the volume's storage")

        # In use: delete, migrate and extend are refused, and the volume is unchanged.
        message = refused(lambda: cc.volumes.delete(vid), "delete of an in-use volume")
        check("must not be migrating, attached" in message, f"{backend}: delete said: {message}")
        message = refused(lambda: cc.volumes.migrate_volume(vid, f"host-at@{other}", False, False), "migration of an in-use volume")
        check("a later version moves in-use volumes" in message, f"{backend}: migrate said: {message}")
        message = refused(lambda: cc.volumes.extend(vid, 2), "extend of an in-use volume")
        check("does not extend a volume in use" in message, f"{backend}: extend said: {message}")
        after = d.show(vid)
        check(after["status"] == "in-use" and after["size"] == 1 and after["attachments"] == view["attachments"]
              and after["migration_status"] is None and after["os-vol-host-attr:host"] == view["os-vol-host-attr:host"],
              f"{backend}: the refused requests changed the volume: {after}")

        # A restart between initialize and terminate: the device stays, still the volume's.
        d.stop()
        d.start()
        if backend == "thick":
            check(losetup_row(device) == (pool, base), f"thick: after the restart {device} is {losetup_row(device)}")
        check(read_from(device, 3 * MiB, MiB) == data, f"{backend}: after the restart {device} does not read back the data")
        check(d.show(vid)["status"] == "in-use", f"{backend}: after the restart: {d.show(vid)['status']}")
        check("kept connection" in open(d.log_path).read(), f"{backend}: the daemon's log does not say it kept the connection")

        # Nova's detach: begin_detaching (rolled back once), terminate_connection, detach.
        cc.volumes.begin_detaching(vid)
        check(d.show(vid)["status"] == "detaching", f"{backend}: after begin_detaching: {d.show(vid)['status']}")
        cc.volumes.roll_detaching(vid)
        check(d.show(vid)["status"] == "in-use", f"{backend}: after roll_detaching: {d.show(vid)['status']}")
        cc.volumes.begin_detaching(vid)
        cc.volumes.terminate_connection(vid, CONNECTOR)
        if backend == "thick":
            check(losetup_row(device) != (pool, base), f"thick: {device} is still attached over the volume after terminate")
        check(loops_below(d.dir) == [], f"{backend}: loop devices left after terminate: {loops_below(d.dir)}")
        cc.volumes.detach(vid, a["attachment_id"])
        view = d.show(vid)
        check(view["status"] == "available" and view["attachments"] == [], f"{backend}: after detach: {view['status']} {view['attachments']}")

        # Available again: extend and delete work.
        cc.volumes.extend(vid, 2)
        check(d.show(vid)["size"] == 2, f"{backend}: extend after detach")
        cc.volumes.delete(vid)
        d.request("GET", f"/v3/volumes/{vid}", expect=404)

    check(loops_below(d.dir) == [], f"loop devices left: {loops_below(d.dir)}")
    check(d.volumes() == [], "volumes left")


if __name__ == "__main__":
    run_scenario(main)
