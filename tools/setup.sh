#!/bin/bash
# Installs what volmig needs on Debian 12 (as root) and builds it. Idempotent: packages that
# are already installed are not touched, and the build is incremental.
#
#   tools/setup.sh [--sanitize]     build/ (and build-sanitize/ with ASan+UBSan)
set -euo pipefail
cd "$(dirname "$0")/.."

# Why each package:
#   build-essential cmake pkg-config   the C++17 toolchain and CMake
#   libpoco-dev                        HTTP server, SQLite through Poco::Data
#   libsqlite3-dev                     SQLite's commit hook (the volume store's group commit)
#   nlohmann-json3-dev                 JSON documents (reports, API bodies, extent maps)
#   libcurl4-openssl-dev               the peer client
#   libboost-dev                       Boost.Process (header-only) for dd, lvm2, losetup...
#   doctest-dev                        unit and integration tests
#   libxxhash-dev                      XXH3 content checksums for verification
#   util-linux coreutils               losetup, blkdiscard, fallocate, fstrim, dd, sync
#   e2fsprogs xfsprogs                 filesystems the tests create on loop devices
#   python3                            the bench, the main job, the conformance suite, scenario tests
#   python3-cinderclient               the test that standard OpenStack tooling works against volmigd
#   curl                               the CLI scenario tests talk HTTP with it
PACKAGES=(build-essential cmake pkg-config libpoco-dev libsqlite3-dev nlohmann-json3-dev libcurl4-openssl-dev
          libboost-dev doctest-dev libxxhash-dev util-linux coreutils e2fsprogs xfsprogs python3
          python3-cinderclient curl)
PACKAGES+=(${VOLMIG_EXTRA_PACKAGES:-})

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "setup: need root to install: ${missing[*]}" >&2; exit 1; }
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null && \
         apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"; }
fi

jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
if [ "${1:-}" = "--sanitize" ]; then
  cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=Debug -DVOLMIG_SANITIZE=ON >/dev/null
  cmake --build build-sanitize -j"$jobs"
fi
