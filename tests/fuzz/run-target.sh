#!/bin/bash
# Runs one libFuzzer target for a bounded time and says how it went.
#
#   run-target.sh TARGET BINARY SECONDS ARTIFACT_DIR [--corpus DIR] [--jobs N]
#
# The target fuzzes over a work corpus: by default a copy of tests/fuzz/corpus/TARGET in a
# fresh test directory (the committed corpus is never written), with --corpus DIR a corpus that
# persists between runs (seeded from the committed one when empty). tests/fuzz/TARGET.dict is
# passed when present.
# Files the target makes live in the same test directory (volmig-test.*, see below), removed
# on exit, Ctrl-C or SIGTERM; a run killed harder leaves it to tests/cleanup-test-loops.sh.
# A crash, leak, timeout, out-of-memory or sanitizer report exits non-zero and names the saved
# input (in ARTIFACT_DIR) and how to replay it. The last line says how many inputs ran and how
# fast.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 4 ] || { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
target=$1 binary=$2 seconds=$3 artifacts=$4
shift 4
corpus= jobs=1
while [ $# -gt 0 ]; do
  case "$1" in
    --corpus) corpus=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    *) echo "run-target.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
seeds=$here/corpus/$target
[ -x "$binary" ] || { echo "run-target.sh: $binary is not built" >&2; exit 2; }
[ -d "$seeds" ] || { echo "run-target.sh: no seed corpus $seeds" >&2; exit 2; }

# Where the work corpus and the target's files live: $VOLMIG_FUZZ_TMP, else /dev/shm when
# there is one (a tmpfs: no fsync waits on a disk shared with other tests, about 3x the
# executions here; tmpfs has no fallocate ZERO_RANGE, so zero ranges are written as zeros),
# else where the tests put theirs.
base=${VOLMIG_FUZZ_TMP:-}
if [ -z "$base" ]; then
  if [ -d /dev/shm ] && [ -w /dev/shm ]; then base=/dev/shm; else base=${VOLMIG_TEST_TMP:-/var/tmp}; fi
fi
work=$(mktemp -d "$base/volmig-test.fuzz-$target.XXXXXX")
echo $$ > "$work/.owner"
cleanup() { rm -rf --one-file-system "$work"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -z "$corpus" ]; then
  corpus=$work/corpus
  cp -r "$seeds" "$corpus"
elif [ ! -d "$corpus" ] || [ -z "$(ls -A "$corpus")" ]; then
  mkdir -p "$corpus"
  cp "$seeds"/* "$corpus"/
fi
mkdir -p "$artifacts"
artifacts=$(cd "$artifacts" && pwd) binary=$(realpath "$binary")
[ -z "$corpus" ] || corpus=$(realpath "$corpus")
before=$(ls "$artifacts" | wc -l)

flags=(-max_total_time="$seconds" -rss_limit_mb=2048 -timeout=20 -detect_leaks=1 -print_final_stats=1
       -artifact_prefix="$artifacts/")
[ -f "$here/$target.dict" ] && flags+=(-dict="$here/$target.dict")
[ "$jobs" -gt 1 ] && flags+=(-fork="$jobs")

echo "fuzzing $target for ${seconds}s over $corpus (${flags[*]})"
status=0
(cd "$work" && VOLMIG_TEST_TMP=$work TMPDIR=$work ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 "$binary" "${flags[@]}" "$corpus") 2>&1 | tee "$work/fuzz.log" \
  || status=$?

runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$work/fuzz.log" | awk '{s += $2} END {print s + 0}' || true)
rate=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$work/fuzz.log" | awk '{s += $2} END {print s + 0}' || true)
if [ "$jobs" -gt 1 ] || [ "${runs:-0}" = 0 ]; then  # fork mode prints its totals on its status lines
  last=$(grep -E '^#[0-9]+' "$work/fuzz.log" | tail -1 || true)
  runs=$(echo "$last" | sed -nE 's/^#([0-9]+).*/\1/p')
  rate=$(echo "$last" | sed -nE 's/.*exec\/s:? ([0-9]+).*/\1/p')
fi
if [ $status != 0 ]; then
  saved=$(ls -t "$artifacts" | head -n $(( $(ls "$artifacts" | wc -l) - before )) | sed "s#^#$artifacts/#")
  echo "FAIL: fuzz target $target found a problem (see the report above)"
  if [ -n "$saved" ]; then
    for f in $saved; do echo "  input saved: $f"; echo "  replay it:   $binary $f"; done
  else
    echo "  no input was saved (the target failed before fuzzing: see above)"
  fi
  exit 1
fi
echo "$target: ${runs:-?} inputs in ${seconds}s, ${rate:-?} exec/s, $(ls "$corpus" | wc -l) inputs in the corpus; nothing found"
