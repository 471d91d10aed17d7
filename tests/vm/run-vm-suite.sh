#!/bin/bash
# Runs inside the VM harness: the doctest binary given as $1 (the lvm driver suite), with the
# guest's scratch disks. Exit code: the suite's.
set -euo pipefail
[ "${VOLMIG_VM_GUEST:-}" = 1 ] || { echo "run-vm-suite.sh: run me through tools/vm/run-in-vm.sh" >&2; exit 2; }
export PATH="$PATH:/usr/sbin:/sbin"
exec "$@"
