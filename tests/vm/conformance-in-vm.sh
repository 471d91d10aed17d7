#!/bin/bash
# Runs inside the VM harness (tools/vm/run-in-vm.sh): the conformance matrix (tools/volmig-conformance)
# with lvm thin and lvm thick destinations, which need real device-mapper. The volume group is
# made on the guest's scratch disks /dev/vda and /dev/vdb (wiped).
#
#   tools/vm/run-in-vm.sh -t 600 -d 4G -d 4G tests/vm/conformance-in-vm.sh REPO VOLMIGD [ARGS...]
#
# REPO is the repository (the harness copies this script, so it cannot find it by itself),
# VOLMIGD the daemon binary; ARGS go to volmig-conformance (e.g. --junit FILE under a shared
# directory). Exit code: the conformance run's.
set -euo pipefail
[ "${VOLMIG_VM_GUEST:-}" = 1 ] || { echo "conformance-in-vm.sh: run me through tools/vm/run-in-vm.sh" >&2; exit 2; }
[ $# -ge 2 ] || { echo "usage: conformance-in-vm.sh REPO VOLMIGD [ARGS...]" >&2; exit 2; }
repo=$1 volmigd=$2
shift 2
export PATH="$PATH:/usr/sbin:/sbin"
export PYTHONPATH="$repo/tools/pylib${PYTHONPATH:+:$PYTHONPATH}"
# The guest boots with the loopback interface down: the daemons listen on 127.0.0.1.
ip link set lo up
# No udev in the guest: load the loop driver so losetup finds /dev/loop-control.
modprobe loop
exec python3 "$repo/tools/volmig-conformance" --backends lvm --lvm-devices /dev/vda,/dev/vdb --volmigd "$volmigd" "$@"
