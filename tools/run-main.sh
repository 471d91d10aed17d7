#!/bin/bash
# The main job: installs and builds (tools/setup.sh), then runs the copy demo: a thin volume
# with data, holes and allocated zeros copied with every strategy onto a zero-initialized and
# onto a dirty loop device, with a report table. Needs root (loop devices).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
export PATH="$PATH:/usr/sbin:/sbin"
exec python3 tools/demo-copy --volmig build/bin/volmig "$@"
