#!/bin/bash
# Installs what volmig needs on Debian 12 (as root) and builds it. Idempotent: packages that
# are already installed are not touched, and the build is incremental.
#
#   tools/setup.sh [--sanitize] [--fuzz]   build/, and build-sanitize/ (ASan+UBSan), build-fuzz/
#                                          (clang: libFuzzer targets with ASan+UBSan)
set -euo pipefail
cd "$(dirname "$0")/.."

sanitize=0 fuzz=0
for arg in "$@"; do
  case "$arg" in
    --sanitize) sanitize=1 ;;
    --fuzz) fuzz=1 ;;
    *) echo "setup: unknown option $arg (known: --sanitize, --fuzz)" >&2; exit 2 ;;
  esac
done

# Why each package:
#   build-essential cmake pkg-config   the C++17 toolchain and CMake
#   libpoco-dev                        HTTP server, SQLite through Poco::Data
#   libsqlite3-dev                     SQLite's commit hook (the volume store's group commit)
#   nlohmann-json3-dev                 JSON documents (reports, API bodies, extent maps)
#   libcurl4-openssl-dev               the peer client
#   libboost-dev                       Boost.Process (header-only) for dd, lvm2, losetup...
#   doctest-dev                        unit and integration tests
#   libxxhash-dev                      XXH3 content checksums for verification
#   libzstd-dev                        zstd compression of the extent stream's DATA records
#   util-linux coreutils               losetup, blkdiscard, fallocate, fstrim, dd, sync
#   e2fsprogs xfsprogs                 filesystems the tests create on loop devices
#   python3                            the bench, the main job, the conformance suite, scenario tests
#   python3-cinderclient               the tests that standard OpenStack tooling works against volmigd:
#   python3-openstackclient            cinder, openstack and the openstacksdk, unmodified
#   python3-openstacksdk
#   python3-cinder                     the Cinder volume driver (driver/cinder) is built on it and tested under it
#   rabbitmq-server cinder-api         the real-Cinder test (tests/scenarios/real_cinder_*, tools/pylib/cinder_lab.py):
#   cinder-scheduler cinder-volume     real cinder-api, scheduler and two cinder-volume services over RabbitMQ,
#                                      started as plain processes in a temp dir (nothing starts system-wide)
#   dmidecode                          os-brick's nvmeof connector, which cinder-volume loads, calls it
#   prometheus                         promtool checks the /metrics exposition
#   curl                               the CLI scenario tests talk HTTP with it
#   clang                              compiles the fuzz build (libFuzzer is clang's)
#   libfuzzer-14-dev                   libFuzzer itself, for the fuzz targets (tests/fuzz)
#   libclang-rt-14-dev                 clang's ASan, UBSan and fuzzer runtimes the fuzz build links
#   openssl                            the TLS tests make their CA and certificates with its CLI
#   nbdkit socat libnbd-bin qemu-utils the bench's WAN case (tools/bench --cases wan, and its ctest smoke test):
#                                      nbdcopy (libnbd-bin) and qemu-img are the peers measured; nbdkit serves the NBD
#                                      exports nbdcopy and qemu-img use, socat carries the dd | gzip pipeline
PACKAGES=(build-essential cmake pkg-config libpoco-dev libsqlite3-dev nlohmann-json3-dev libcurl4-openssl-dev
          libboost-dev doctest-dev libxxhash-dev libzstd-dev util-linux coreutils e2fsprogs xfsprogs python3
          python3-cinderclient python3-openstackclient python3-openstacksdk python3-cinder
          rabbitmq-server cinder-api cinder-scheduler cinder-volume dmidecode prometheus curl clang libfuzzer-14-dev libclang-rt-14-dev
          nbdkit socat libnbd-bin qemu-utils openssl)
PACKAGES+=(${VOLMIG_EXTRA_PACKAGES:-})

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "setup: need root to install: ${missing[*]}" >&2; exit 1; }
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Debian's postinst scripts start rabbitmq-server and the cinder services system-wide; a
  # policy-rc.d that answers 101 forbids that. An existing one is kept aside and put back after.
  policy=/usr/sbin/policy-rc.d saved=""
  if [ -e "$policy" ]; then saved=$(mktemp /usr/sbin/.policy-rc.d.XXXXXX); cp -p "$policy" "$saved"; fi
  restore_policy() { if [ -n "$saved" ]; then mv -f "$saved" "$policy"; else rm -f "$policy"; fi; }
  trap restore_policy EXIT
  printf '#!/bin/sh\n# tools/setup.sh: no service starts during the install\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null && \
         apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"; }
  restore_policy
  trap - EXIT
fi

jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
if [ $sanitize = 1 ]; then
  cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=Debug -DVOLMIG_SANITIZE=ON >/dev/null
  cmake --build build-sanitize -j"$jobs"
fi
if [ $fuzz = 1 ]; then
  cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ -DVOLMIG_FUZZ=ON >/dev/null
  cmake --build build-fuzz -j"$jobs"
fi
