#!/bin/bash
# The test command: installs and builds (tools/setup.sh), then runs every suite through ctest:
# unit tests, integration tests on real loop devices, CLI scenarios; then the unit and
# integration tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
# Needs root (loop devices, mounts).   tools/run-tests.sh [--no-sanitize]
set -euo pipefail
cd "$(dirname "$0")/.."
sanitize=1
[ "${1:-}" = "--no-sanitize" ] && sanitize=0
if [ $sanitize = 1 ]; then tools/setup.sh --sanitize; else tools/setup.sh; fi
export PATH="$PATH:/usr/sbin:/sbin"

status=0
if [ $sanitize = 1 ]; then
  echo "== unit and integration tests under ASan+UBSan"
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-sanitize -j2 --output-on-failure -R '^(unit|integration|cleanup):' || status=1
fi
echo "== all suites"
ctest --test-dir build -j2 --output-on-failure || status=1
exit $status
