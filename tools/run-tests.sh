#!/bin/bash
# The test command: installs and builds (tools/setup.sh), then runs every suite through ctest:
# unit tests, integration tests on real loop devices, CLI scenarios; then the unit and
# integration tests (and the fuzz corpus replays) again under AddressSanitizer +
# UndefinedBehaviorSanitizer; then each fuzz target under libFuzzer for 30 s in the clang build
# (build-fuzz; cmake -DVOLMIG_FUZZ_SECONDS=N there changes the time).
# Needs root (loop devices, mounts).   tools/run-tests.sh [--no-sanitize] [--no-fuzz]
set -euo pipefail
cd "$(dirname "$0")/.."
sanitize=1 fuzz=1
for arg in "$@"; do
  case "$arg" in
    --no-sanitize) sanitize=0 ;;
    --no-fuzz) fuzz=0 ;;
    *) echo "run-tests: unknown option $arg (known: --no-sanitize, --no-fuzz)" >&2; exit 2 ;;
  esac
done
setup=()
[ $sanitize = 1 ] && setup+=(--sanitize)
[ $fuzz = 1 ] && setup+=(--fuzz)
tools/setup.sh "${setup[@]}"
export PATH="$PATH:/usr/sbin:/sbin"

status=0
if [ $sanitize = 1 ]; then
  echo "== unit and integration tests under ASan+UBSan"
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-sanitize -j2 --output-on-failure -R '^(unit|integration|fuzz|cleanup):' || status=1
fi
if [ $fuzz = 1 ]; then
  echo "== fuzz targets under libFuzzer with ASan+UBSan"
  ctest --test-dir build-fuzz -j2 --output-on-failure -L fuzz || status=1
fi
echo "== all suites"
ctest --test-dir build -j2 --output-on-failure || status=1
exit $status
