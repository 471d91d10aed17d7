#!/usr/bin/env python3
"""A migration from host-a@thin onto host-b@thick (a thick_file pool volmig made, so regions and
their loop devices are at stake) survives host-b SIGKILLing itself in the middle of the stream
and half-way through the adoption: once host-b is restarted the migration ends in success or
error within 60 s, the volume is intact on exactly one side, host-b's pool allocates exactly
the regions of the volumes it lists, no loop device is left over the pool file, and after error
a retry succeeds (support/crash_points.py)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from crash_points import THICK, run_points

if __name__ == "__main__":
    run_points(("target.mid_stream", "target.during_adoption"), b_backends=THICK)
