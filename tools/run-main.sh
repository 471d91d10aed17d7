#!/bin/bash
# The main job: installs and builds (tools/setup.sh), then runs the migration demo
# (tools/demo-migration): two volmig daemons on 127.0.0.1, a thin volume holding an ext4
# filesystem migrated host-a@thin -> host-b@thick (a pool of stale bytes) -> host-b@thin, both
# reports side by side, then fsck and file checksums. Needs root (loop devices, mount).
# Arguments go to tools/demo-migration (see tools/demo-migration --help).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run-main: needs root (packages, loop devices, mount)" >&2; exit 2; }
tools/setup.sh
export PATH="$PATH:/usr/sbin:/sbin"
exec python3 tools/demo-migration --volmig build/bin/volmig --volmigd build/bin/volmigd "$@"
