#!/usr/bin/env python3
"""The destination daemon (host-b) SIGKILLs itself at each point of receiving a migration from
host-a (thin to thin, VOLMIG_FAILPOINTS): after answering volmig-prepare_receive, in the middle
of the stream, after the stream was applied and verified but before answering it, half-way
through the adoption (the volume's new record written, the temporary one not yet removed), and
after the adoption committed but before answering it. Each time, once host-b is restarted, the
migration ends in success or error within 60 s, the volume is intact on exactly the side its
final state names, neither side keeps an orphaned record, file or loop device, and after error
a retry succeeds (support/crash_points.py)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from crash_points import TARGET_POINTS, run_points

if __name__ == "__main__":
    run_points(TARGET_POINTS)
