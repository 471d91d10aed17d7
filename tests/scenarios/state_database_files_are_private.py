#!/usr/bin/env python3
"""The daemon's SQLite database in its state directory (volmig.sqlite and its -wal and -shm
files) holds stream tokens and every volume's location: it is mode 0600 (no group or other
bits), even when volmigd is started with the usual umask 022, and stays so after writes and a
restart."""
import os
import stat
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import THIN, check, expect, raise_problems, run_scenario

FILES = ("volmig.sqlite", "volmig.sqlite-wal", "volmig.sqlite-shm")


def check_modes(state, when):
    present = [f for f in FILES if os.path.exists(os.path.join(state, f))]
    check("volmig.sqlite" in present, f"{when}: no volmig.sqlite in {state}: {sorted(os.listdir(state))}")
    for name in present:
        mode = stat.S_IMODE(os.stat(os.path.join(state, name)).st_mode)
        expect(mode & 0o077 == 0, f"{when}: {name} is mode {mode:04o}: group or others may read it")
    print(f"{when}: " + ", ".join(f"{f} {stat.S_IMODE(os.stat(os.path.join(state, f)).st_mode):04o}" for f in present))


def scenario(lab):
    os.umask(0o022)  # what a daemon started from a login shell or a unit without UMask= gets
    a = lab.daemon("host-a", backends=THIN)
    state = os.path.join(a.dir, "state")
    vid = a.create(1, name="first")["id"]  # writes go through the WAL
    check_modes(state, "after a create")
    a.stop()
    a.start()
    a.delete(vid)
    a.create(1, name="second")
    check_modes(state, "after a restart and more writes")
    raise_problems()


if __name__ == "__main__":
    run_scenario(scenario)
