#!/usr/bin/env python3
"""The source daemon (host-a) SIGKILLs itself at each point of a migration to host-b (thin to
thin, VOLMIG_FAILPOINTS): after the destination volume was created on host-b and recorded, in
the middle of the stream, after the checksums matched, while the adopt request is out, and
after the adoption was recorded but before the source's storage is deleted. Each time, once
host-a is restarted, the migration ends in success or error within 60 s, the volume is intact
on exactly the side its final state names, neither side keeps an orphaned record, file or loop
device, and after error a retry succeeds (support/crash_points.py)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from crash_points import SOURCE_POINTS, run_points

if __name__ == "__main__":
    run_points(SOURCE_POINTS)
