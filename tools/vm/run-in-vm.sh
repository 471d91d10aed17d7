#!/bin/bash
# tools/vm/run-in-vm.sh - run a script as root in a disposable QEMU guest that has a real
# device-mapper (dm-mod, dm-thin-pool) and real lvm2, then return the script's exit code.
#
# usage: tools/vm/run-in-vm.sh [-d SIZE]... [-t SECONDS] [-m MB] [-e NAME=VALUE]...
#                              [-s DIR]... [-c CPUS] [-k] [-v] SCRIPT [ARGS...]
#
#   -d SIZE        attach a sparse raw disk of SIZE (truncate(1) syntax, e.g. 4G) as the next of
#                  /dev/vda, /dev/vdb, ...; repeatable.  Without -d: two 8G disks.  -d none: no disk.
#   -t SECONDS     wall-clock limit for the whole VM (default 1200); on expiry qemu is killed, exit 124
#   -m MB          guest RAM (default 2048)
#   -e NAME=VALUE  export NAME=VALUE to the script (repeatable)
#   -s DIR         share host DIR read-write at the same path (repeatable).  Default: the repository
#                  containing this script, plus $PWD when it lies outside it.
#   -c CPUS        guest vCPUs (default 1)
#   -k             keep the per-run directory (disk images, console log) and print its path
#   -v             print the guest kernel console log to stderr after the run
#
# How it works: the guest boots the host's Debian kernel (linux-image-amd64, uncompressed vmlinux
# through the PVH entry point when it can be extracted: much faster under TCG) with a small busybox
# initramfs.  The initramfs loads the virtio/9p/overlay/dm modules, mounts the host's / read-only over
# virtio-9p under a tmpfs overlay (so every host binary and library is available, and guest writes
# outside the shares vanish), mounts the shares read-write on top, and chroots into it to run SCRIPT
# (with bash unless it has a #! line) in the host's current directory.  There is no udev in the guest:
# DM_DISABLE_UDEV=1 is exported and /etc/lvm/lvmlocal.conf (guest-only) turns off udev sync/rules,
# dmeventd monitoring, lvmpolld and the devices file, so lvm/dmsetup create /dev/mapper nodes
# themselves.  Other modules are loaded on demand (kernel modprobe helper = chroot + host modprobe).
# In the guest VOLMIG_VM_GUEST=1 is set.
#
# The script's stdout and stderr (merged) stream to our stdout through a virtio-serial port.
# Exit status: the script's; 124 = timeout; 125 = harness/VM failure.
# Needs root on Debian 12: missing packages (qemu-system-x86 linux-image-amd64 busybox-static cpio
# kmod lvm2 thin-provisioning-tools xz-utils) are installed with apt-get.  The kernel + initramfs are
# cached in $VOLMIG_VM_CACHE (default /var/tmp/volmig-vm-cache).  Env knobs: VOLMIG_VM_ACCEL (qemu
# -accel value, default tcg), VOLMIG_VM_KERNEL (kernel version to boot), VOLMIG_VM_APPEND (extra
# kernel command line).
set -euo pipefail

PROG=run-in-vm
fail() { echo "$PROG: $*" >&2; exit 125; }
usage() { sed -n '2,/^set -euo/{/^#/!d;s/^# \{0,1\}//;p}' "$0" >&2; exit 125; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd "$HERE/../.." && pwd -P)

disks=() shares=() envs=()
timeout_s=1200 mem=2048 cpus=1 keep=0 verbose=0
while getopts ":d:t:m:e:s:c:kvh" o; do
  case $o in
    d) disks+=("$OPTARG") ;;
    t) timeout_s=$OPTARG ;;
    m) mem=$OPTARG ;;
    e) [[ $OPTARG == [A-Za-z_]*=* ]] || fail "-e wants NAME=VALUE, got '$OPTARG'"; envs+=("$OPTARG") ;;
    s) [ -d "$OPTARG" ] || fail "-s: not a directory: $OPTARG"; shares+=("$(cd "$OPTARG" && pwd -P)") ;;
    c) cpus=$OPTARG ;;
    k) keep=1 ;;
    v) verbose=1 ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || usage
script=$1; shift
[ -f "$script" ] || fail "script not found: $script"
[[ $timeout_s =~ ^[0-9]+$ && $mem =~ ^[0-9]+$ && $cpus =~ ^[0-9]+$ ]] || fail "-t/-m/-c want integers"
[ ${#disks[@]} -gt 0 ] || disks=(8G 8G)
[ "${disks[*]}" != none ] || disks=()
cwd=$(pwd -P)
if [ ${#shares[@]} -eq 0 ]; then
  shares=("$REPO")
  case $cwd/ in "$REPO"/*) ;; *) shares+=("$cwd") ;; esac
fi
[ "$(id -u)" = 0 ] || fail "must run as root (qemu needs no privileges, but apt-get and reading /boot do)"

# ------------------------------------------------------------------ host packages (idempotent)
pkg_ok() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]; }
missing=()
for p in qemu-system-x86 linux-image-amd64 cpio kmod lvm2 thin-provisioning-tools xz-utils; do
  pkg_ok "$p" || missing+=("$p")
done
pkg_ok busybox-static || pkg_ok busybox || missing+=(busybox-static)
if [ ${#missing[@]} -gt 0 ]; then
  echo "$PROG: apt-get install ${missing[*]}" >&2
  apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=600 \
      install --no-install-recommends "${missing[@]}" >&2
  }
  apt_install || { apt-get -q -o DPkg::Lock::Timeout=600 update >&2 && apt_install; } \
    || fail "apt-get install ${missing[*]} failed"
fi

# ------------------------------------------------------------------ guest kernel
kver=${VOLMIG_VM_KERNEL:-}
if [ -z "$kver" ]; then
  for d in $(ls -1 /lib/modules 2>/dev/null | sort -rV); do
    [ -f "/boot/vmlinuz-$d" ] || continue
    ls "/lib/modules/$d/kernel/drivers/md/"dm-thin-pool.ko* > /dev/null 2>&1 || continue
    kver=$d; break
  done
fi
[ -n "$kver" ] && [ -f "/boot/vmlinuz-$kver" ] || fail "no bootable kernel with dm-thin-pool in /boot (+ /lib/modules)"

# Modules insmod'ed by the initramfs (with their dependencies).  Everything else is modprobed on
# demand from the 9p root.
boot_modules="virtio_pci virtio_blk virtio_console 9pnet_virtio 9p overlay dm_mod dm_thin_pool"

# PID 1 of the guest (busybox sh).  /ctl is the per-run control share: config, job.sh, script, rc.
read -r -d '' INIT <<'EOF' || true
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
log() { echo "vm-init: $*" > /dev/kmsg; }
while read -r m; do insmod "/modules/$m" || log "insmod $m failed"; done < /modules/load-order
abort() { log "FAILED: $*"; echo "vm-init: FAILED: $*"; echo 125 > /ctl/rc; sync; poweroff -f; }
P9=trans=virtio,version=9p2000.L,msize=262144
mkdir -p /ctl /host /rw /sysroot
mount -t 9p -o $P9 ctl /ctl || abort "cannot mount the control share"
mount -t 9p -o $P9,ro,cache=loose hostroot /host || abort "cannot mount the host root"
mount -t tmpfs -o mode=0755 rw /rw && mkdir /rw/upper /rw/work
mount -t overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work overlay /sysroot \
  || abort "cannot mount the overlay root"
S=/sysroot
mount -t proc proc $S/proc
mount -t sysfs sysfs $S/sys
mount -t devtmpfs devtmpfs $S/dev
mkdir -p $S/dev/pts $S/dev/shm
mount -t devpts -o gid=5,mode=0620,ptmxmode=0666 devpts $S/dev/pts
mount -t tmpfs -o mode=1777 shm $S/dev/shm
mount -t tmpfs -o mode=0755 run $S/run
mount -t tmpfs -o mode=1777 tmp $S/tmp
mkdir -p $S/run/lock/lvm $S/run/lvm $S/run/vm
mount -o bind /ctl $S/run/vm
while read -r tag dir; do
  mkdir -p "$S$dir" && mount -t 9p -o $P9,cache=mmap "$tag" "$S$dir" || abort "cannot mount share $dir"
done < /ctl/shares
mkdir -p $S/etc/lvm
cat > $S/etc/lvm/lvmlocal.conf <<'LVMCONF'
# guest-only, written by tools/vm/run-in-vm.sh: there is no udev and no lvm daemon in the VM
activation {
	udev_sync = 0
	udev_rules = 0
	monitoring = 0
}
devices {
	obtain_device_list_from_udev = 0
	external_device_info_source = "none"
	use_devicesfile = 0
}
global {
	use_lvmpolld = 0
	event_activation = 0
}
LVMCONF
printf '#!/bin/sh\nexec chroot /sysroot /sbin/modprobe "$@"\n' > /bin/modprobe-in-root
chmod 0755 /bin/modprobe-in-root
echo /bin/modprobe-in-root > /proc/sys/kernel/modprobe
out=/dev/console
for p in /sys/class/virtio-ports/*; do
  [ "$(cat "$p/name" 2>/dev/null)" = job-output ] && out=/dev/${p##*/}
done
log "starting job"
chroot $S /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME=/root USER=root LOGNAME=root TERM=dumb LANG=C.UTF-8 DM_DISABLE_UDEV=1 \
  LVM_SUPPRESS_FD_WARNINGS=1 VOLMIG_VM_GUEST=1 /bin/bash /run/vm/job.sh < /dev/null > $out 2>&1
rc=$?
log "job exited with $rc"
echo $rc > /ctl/rc
sync
while read -r tag dir; do umount "$S$dir"; done < /ctl/shares
poweroff -f
EOF

cache=${VOLMIG_VM_CACHE:-/var/tmp/volmig-vm-cache}
bb=$(command -v busybox || true)
[ -n "$bb" ] || fail "busybox not found"
key=$(printf '%s\n' "$kver" "$boot_modules" "$INIT" "$(stat -c %s.%Y "/boot/vmlinuz-$kver" "$bb")" | sha256sum | cut -c1-16)
kdir=$cache/$kver-$key

build_boot_files() {  # $1 = empty directory to fill with vmlinux|bzImage + initrd
  local out=$1 root=$1/root off f m
  # Debian compresses the kernel with xz: decompress it once so the guest skips self-decompression.
  off=$(LC_ALL=C grep -obUaP -m1 '\xfd7zXZ\x00' "/boot/vmlinuz-$kver" | head -n1 | cut -d: -f1 || true)
  if [ -n "$off" ]; then
    tail -c +$((off + 1)) "/boot/vmlinuz-$kver" | xz -dcq > "$out/vmlinux" 2>/dev/null || true
  fi
  if [ "$(head -c4 "$out/vmlinux" 2>/dev/null | od -An -tx1 | tr -d ' ')" != 7f454c46 ]; then
    rm -f "$out/vmlinux"; cp "/boot/vmlinuz-$kver" "$out/bzImage"
  fi
  mkdir -p "$root"/{bin,dev,proc,sys,modules}
  cp "$bb" "$root/bin/busybox"
  if ldd "$bb" > /dev/null 2>&1; then        # a dynamic busybox: take its libraries along
    ldd "$bb" | grep -o '/[^ ]*' | while read -r f; do
      mkdir -p "$root$(dirname "$f")"; cp -L "$f" "$root$f"
    done
  fi
  printf '%s\n' "$INIT" > "$root/init"
  chmod 0755 "$root/init" "$root/bin/busybox"
  : > "$root/modules/load-order"
  for m in $boot_modules; do
    modprobe -S "$kver" --show-depends "$m" || fail "module $m not found for $kver"
  done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' | while read -r f; do
    m=$(basename "$f"); m=${m%.ko*}.ko
    case $f in
      *.ko.xz) xz -dc "$f" ;; *.ko.zst) zstd -qdc "$f" ;; *.ko.gz) gzip -dc "$f" ;; *) cat "$f" ;;
    esac > "$root/modules/$m"
    echo "$m" >> "$root/modules/load-order"
  done
  (cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) > "$out/initrd"
  rm -rf "$root"
}

if [ ! -f "$kdir/initrd" ]; then
  mkdir -p "$cache"
  exec 8> "$cache/lock"
  flock 8
  if [ ! -f "$kdir/initrd" ]; then
    echo "$PROG: building boot files for $kver in $kdir" >&2
    tmpk=$(mktemp -d "$cache/tmp.XXXXXX")
    set +e
    (set -e; build_boot_files "$tmpk")
    st=$?
    set -e
    if [ $st != 0 ] || [ ! -s "$tmpk/initrd" ]; then
      rm -rf "$tmpk"; fail "building the guest initramfs failed"
    fi
    rm -rf "$kdir"
    mv "$tmpk" "$kdir"
    for old in "$cache"/*/; do [ "${old%/}" = "$kdir" ] || rm -rf "$old"; done
  fi
  exec 8>&-
fi
kernel=$kdir/vmlinux
[ -f "$kernel" ] || kernel=$kdir/bzImage

# ------------------------------------------------------------------ per-run directory
run=$(mktemp -d "${TMPDIR:-/var/tmp}/volmig-vm.XXXXXX")
qpid=
cleanup() {
  [ -z "$qpid" ] || kill "$qpid" 2> /dev/null || true
  if [ $keep = 1 ]; then echo "$PROG: run directory kept: $run" >&2; else rm -rf "$run"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

mkdir "$run/ctl"
cp "$script" "$run/ctl/script"
chmod 0755 "$run/ctl/script"
{
  for e in "${envs[@]+"${envs[@]}"}"; do printf 'export %q\n' "$e"; done
  printf 'cd %q || exit 125\n' "$cwd"
  if [ "$(head -c2 "$script")" = '#!' ]; then printf 'exec /run/vm/script'; else printf 'exec /bin/bash /run/vm/script'; fi
  printf ' %q' "$@"
  printf '\n'
} > "$run/ctl/job.sh"

qargs=()
: > "$run/ctl/shares"
i=0
for s in "${shares[@]}"; do
  [[ $s != *[[:space:]]* ]] || fail "share path with white space is not supported: $s"
  echo "share$i $s" >> "$run/ctl/shares"
  qargs+=(-fsdev "local,id=share$i,path=$s,security_model=none,multidevs=remap"
          -device "virtio-9p-pci,fsdev=share$i,mount_tag=share$i")
  i=$((i + 1))
done
i=0
for sz in "${disks[@]+"${disks[@]}"}"; do
  truncate -s "$sz" "$run/disk$i.raw" || fail "bad disk size: $sz"
  qargs+=(-drive "file=$run/disk$i.raw,if=none,id=disk$i,format=raw,cache=unsafe,aio=threads,discard=unmap"
          -device "virtio-blk-pci,drive=disk$i,serial=volmig-vm-disk$i")
  i=$((i + 1))
done

# The job's output goes to a file chardev that tail(1) follows until qemu is gone.
: > "$run/output"
start=$(date +%s%N)
timeout -k 5 "$timeout_s" qemu-system-x86_64 \
  -machine q35 -accel "${VOLMIG_VM_ACCEL:-tcg,thread=multi,tb-size=256}" -cpu max \
  -smp "$cpus" -m "$mem" -nodefaults -no-user-config -display none -no-reboot \
  -kernel "$kernel" -initrd "$kdir/initrd" \
  -append "console=ttyS0 quiet loglevel=4 panic=-1 rdinit=/init mitigations=off ${VOLMIG_VM_APPEND:-}" \
  -serial "file:$run/console.log" \
  -device virtio-serial-pci \
  -chardev "file,id=out,path=$run/output" -device "virtserialport,chardev=out,name=job-output" \
  -fsdev "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap" \
  -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
  -fsdev "local,id=ctl,path=$run/ctl,security_model=none" -device virtio-9p-pci,fsdev=ctl,mount_tag=ctl \
  "${qargs[@]}" < /dev/null > "$run/qemu.log" 2>&1 &
qpid=$!
tail -q -n +1 -s 0.1 -f --pid=$qpid "$run/output" &
tpid=$!
qrc=0
wait $qpid || qrc=$?
qpid=
wait $tpid || true
secs=$(( ($(date +%s%N) - start) / 1000000 ))
secs=$((secs / 1000)).$(printf %03d $((secs % 1000)))

[ $verbose = 0 ] || { echo "---- guest console ----"; tr -d '\r' < "$run/console.log"; } >&2
if [ $qrc = 124 ] || [ $qrc = 137 ]; then
  echo "$PROG: timed out after ${timeout_s}s; last guest console lines:" >&2
  tr -d '\r' < "$run/console.log" | tail -n 20 >&2
  exit 124
fi
rc=$(cat "$run/ctl/rc" 2> /dev/null || true)
if ! [[ $rc =~ ^[0-9]+$ ]]; then
  echo "$PROG: the VM ended without an exit status (qemu status $qrc); qemu log and console tail:" >&2
  cat "$run/qemu.log" >&2
  tr -d '\r' < "$run/console.log" | tail -n 40 >&2
  exit 125
fi
echo "$PROG: exit status $rc after ${secs}s" >&2
exit "$rc"
