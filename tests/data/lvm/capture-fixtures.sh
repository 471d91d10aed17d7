#!/bin/bash
# Regenerates the lvm2 / dm-thin fixtures in this directory from a real lvm2 inside the test VM.
# It wipes /dev/vda and /dev/vdb, so it refuses to run anywhere but in the VM:
#
#   tools/vm/run-in-vm.sh -d 8G -d 8G tests/data/lvm/capture-fixtures.sh [OUTDIR]
#
# (run from the repository root; OUTDIR defaults to tests/data/lvm).  See README.md for what each
# file is.  UUIDs, timings and the device numbers in dmsetup output vary between runs; everything
# else (sizes, thin ids, the mappings in the thin_dump XML) is deterministic.
set -u
[ "${VOLMIG_VM_GUEST:-}" = 1 ] || { echo "refusing to run outside the VM (it wipes /dev/vda, /dev/vdb)" >&2; exit 2; }
OUT=$(cd "${1:-tests/data/lvm}" && pwd) || exit 2
T=$(mktemp -d)
VG=cinder-volumes                 # Cinder's default names: hyphens get doubled in dm names
POOL=cinder-volumes-pool
VG2=vg-empty-pool
POOL2=pool-empty
DMVG=${VG//-/--} DMPOOL=${POOL//-/--}
TPOOL=/dev/mapper/$DMVG-$DMPOOL-tpool
TMETA=/dev/mapper/$DMVG-${DMPOOL}_tmeta
FIELDS=lv_name,vg_name,lv_size,data_percent,metadata_percent,pool_lv,lv_attr,lv_path,chunk_size,segtype
VGFIELDS=vg_name,vg_size,vg_free,vg_extent_size,lv_count
MiB=1048576

rm -f "$OUT"/*.json "$OUT"/*.xml "$OUT"/*.stderr "$OUT"/*.stdout "$OUT"/*.txt
: > "$OUT/commands.txt"
: > "$OUT/facts.txt"
die() { echo "capture-fixtures: FAILED: $*" >&2; exit 1; }
must() { "$@" || die "$*"; }
fact() { echo "$*" | tee -a "$OUT/facts.txt"; }
# save FILE CMD...: stdout of CMD -> $OUT/FILE (stderr shown on the console); must succeed
save() {
  local f=$1; shift
  "$@" > "$OUT/$f" || die "$* (for $f)"
  printf '%s\t0\t%s\n' "$f" "$*" >> "$OUT/commands.txt"
}
# save_err NAME CMD...: stderr of CMD -> $OUT/NAME.stderr (and a non-empty stdout -> NAME.stdout);
# the exit status is recorded in commands.txt
save_err() {
  local n=$1 rc; shift
  "$@" > "$OUT/$n.stdout" 2> "$OUT/$n.stderr"; rc=$?
  printf '%s\t%s\t%s\n' "$n.stderr" "$rc" "$*" >> "$OUT/commands.txt"
  if [ -s "$OUT/$n.stdout" ]; then
    printf '%s\t%s\t%s\n' "$n.stdout" "$rc" "$*" >> "$OUT/commands.txt"
  else
    rm -f "$OUT/$n.stdout"
  fi
  echo "[$n] exit $rc:"; cat "$OUT/$n.stderr"
}
# write DEV OFFSET LENGTH: write 0xAB bytes at [OFFSET, OFFSET+LENGTH) with O_DIRECT
write() {
  local bs=4096
  [ $(($2 % MiB)) = 0 ] && [ $(($3 % MiB)) = 0 ] && bs=$MiB
  tr '\000' '\253' < /dev/zero | dd of="$1" bs=$bs seek=$(($2 / bs)) count=$(($3 / bs)) \
    iflag=fullblock oflag=direct status=none || die "write $*"
}
now() { date +%s%N; }
ms_since() { echo $(( ($(now) - $1) / 1000000 )); }

save lvm-version.txt lvm version
thin_dump --version >> "$OUT/lvm-version.txt"

# ------------------------------------------------------------------ volumes
must pvcreate -q /dev/vda /dev/vdb
must vgcreate -q $VG /dev/vda
must vgcreate -q $VG2 /dev/vdb
must lvcreate -q -L 2G -T $VG/$POOL
must lvcreate -q -L 1G --chunksize 256k -T $VG2/$POOL2
save_err lvcreate-thin-ok lvcreate -V 1G -T $VG/$POOL -n volume-thin-empty
must lvcreate -q -V 1G -T $VG/$POOL -n volume-thin-partial
save_err lvcreate-thin-ok-overprovisioned lvcreate -V 256M -T $VG/$POOL -n volume-thin-full
must lvcreate -q -L 512M -n volume-thick-a $VG
save_err lvcreate-thick-ok-rounded lvcreate -L 10M -n volume-thick-b $VG   # rounds up to 12 MiB

P=/dev/$VG/volume-thin-partial
write $P 0 $MiB                       # [0, 1 MiB)
write $P $((64 * MiB)) $((3 * MiB))   # [64 MiB, 67 MiB)
write $P $((200 * MiB)) 4096          # [200 MiB, 200 MiB + 4 KiB)
write /dev/$VG/volume-thin-full 0 $((256 * MiB))
write /dev/$VG/volume-thick-a 0 $MiB

# ------------------------------------------------------------------ lvs / vgs reports
save lvs-thin-thick-nosuffix.json lvs --reportformat json --units b --nosuffix -o $FIELDS $VG
save lvs-thin-thick-suffix.json   lvs --reportformat json --units b -o $FIELDS $VG
save lvs-thin-thick-all-nosuffix.json lvs -a --reportformat json --units b --nosuffix -o $FIELDS $VG
save lvs-single-lv-nosuffix.json  lvs --reportformat json --units b --nosuffix -o $FIELDS $VG/volume-thin-partial
save lvs-extra-fields-nosuffix.json lvs --reportformat json --units b --nosuffix \
  -o lv_name,lv_full_name,lv_dm_path,lv_path,thin_id,origin,pool_lv,lv_active,data_lv,metadata_lv,lv_metadata_size,discards,zero $VG
save lvs-empty-pool-nosuffix.json lvs --reportformat json --units b --nosuffix -o $FIELDS $VG2
save lvs-empty-pool-suffix.json   lvs --reportformat json --units b -o $FIELDS $VG2
save vgs-nosuffix.json vgs --reportformat json --units b --nosuffix -o $VGFIELDS
save vgs-suffix.json   vgs --reportformat json --units b -o $VGFIELDS
save lvs-default-human.txt lvs -a $VG $VG2

CHUNK=$(lvs --noheadings --units b --nosuffix -o chunk_size $VG/$POOL | tr -d ' ')
fact "pool $VG/$POOL chunk_size: $CHUNK bytes"
fact "pool $VG2/$POOL2 chunk_size: $(lvs --noheadings --units b --nosuffix -o chunk_size $VG2/$POOL2 | tr -d ' ') bytes"
for lv in volume-thin-empty volume-thin-partial volume-thin-full; do
  fact "thin_id of $VG/$lv: $(lvs --noheadings -o thin_id $VG/$lv | tr -d ' ')"
done

# ------------------------------------------------------------------ device-mapper view
save dmsetup-ls.txt dmsetup ls
save dmsetup-table.txt dmsetup table
save dmsetup-status.txt dmsetup status
ls -l /dev/mapper /dev/$VG /dev/$VG2 2>&1 | sed 's/ [A-Z][a-z][a-z] [ 0-9][0-9] [0-9:]\{5\} / DATE /' > "$OUT/dev-nodes.txt"
printf '%s\t0\t%s\n' dev-nodes.txt "ls -l /dev/mapper /dev/$VG /dev/$VG2" >> "$OUT/commands.txt"

# ------------------------------------------------------------------ thin_dump through a metadata snapshot
DMTPOOL=${TPOOL#/dev/mapper/}
must dmsetup message $DMTPOOL 0 reserve_metadata_snap
save dmsetup-status-pool-with-metadata-snap.txt dmsetup status $DMTPOOL
save_err dmsetup-reserve-metadata-snap-twice dmsetup message $DMTPOOL 0 reserve_metadata_snap
t0=$(now)
save thin-dump-before-discard.xml thin_dump --metadata-snap -f xml $TMETA
fact "thin_dump --metadata-snap (3 thin devices, few mappings): $(ms_since $t0) ms (TCG guest)"
save_err thin-dump-live-metadata-refused thin_dump -f xml $TMETA   # without --metadata-snap
save thin-dump-partial-dev-only.xml thin_dump --metadata-snap --dev-id "$(lvs --noheadings -o thin_id $VG/volume-thin-partial | tr -d ' ')" -f xml $TMETA
save thin-ls-before-discard.txt thin_ls --metadata-snap -o DEV,MAPPED_BLOCKS,EXCLUSIVE_BLOCKS,SHARED_BLOCKS,MAPPED_BYTES,TRANSACTION,CREATE_TIME,SNAP_TIME $TMETA
# lvm keeps working while the metadata snapshot is held?
save_err lvcreate-thin-while-metadata-snap-held lvcreate -V 64M -T $VG/$POOL -n volume-while-snap
save_err lvremove-thin-while-metadata-snap-held lvremove -y $VG/volume-while-snap
must dmsetup message $DMTPOOL 0 release_metadata_snap
save_err dmsetup-release-metadata-snap-not-held dmsetup message $DMTPOOL 0 release_metadata_snap
save_err thin-dump-metadata-snap-not-held thin_dump --metadata-snap -f xml $TMETA

# ------------------------------------------------------------------ discard
DMP=$DMVG-volume--thin--partial
thin_status() { echo "$1: dmsetup status $DMP = $(dmsetup status $DMP)  (mapped sectors, highest mapped sector)"; }
fact "$(thin_status 'before any discard')"
must blkdiscard -o $((64 * MiB)) -l $MiB $P            # 16 whole chunks
fact "$(thin_status 'after blkdiscard -o 64MiB -l 1MiB')"
must blkdiscard -o $((200 * MiB)) -l 4096 $P           # less than a chunk
fact "$(thin_status 'after blkdiscard -o 200MiB -l 4KiB')"
must dmsetup message $DMTPOOL 0 reserve_metadata_snap
save thin-dump-after-discard.xml thin_dump --metadata-snap -f xml $TMETA
save thin-ls-after-discard.txt thin_ls --metadata-snap -o DEV,MAPPED_BLOCKS,EXCLUSIVE_BLOCKS,SHARED_BLOCKS,MAPPED_BYTES $TMETA
must dmsetup message $DMTPOOL 0 release_metadata_snap
save lvs-after-discard-nosuffix.json lvs --reportformat json --units b --nosuffix -o $FIELDS $VG
save dmsetup-status-after-discard.txt dmsetup status
must blkdiscard -o $((200 * MiB)) -l $CHUNK $P         # the whole chunk
fact "$(thin_status 'after blkdiscard -o 200MiB -l 64KiB (the whole chunk)')"

# ------------------------------------------------------------------ errors
save_err lvcreate-insufficient-free-space lvcreate -L 100G -n volume-too-big $VG
save_err lvcreate-thin-pool-insufficient-free-space lvcreate -L 100G -T $VG/pool-too-big
save_err lvcreate-thick-name-exists lvcreate -L 4M -n volume-thick-a $VG
save_err lvcreate-thin-name-exists lvcreate -V 4M -T $VG/$POOL -n volume-thin-empty
save_err lvcreate-vg-not-found lvcreate -L 4M -n x no-such-vg
save_err lvremove-lv-not-found lvremove -y $VG/volume-does-not-exist
save_err lvremove-vg-not-found lvremove -y no-such-vg/volume-x
save_err lvs-lv-not-found lvs --reportformat json --units b --nosuffix -o $FIELDS $VG/volume-does-not-exist
save_err lvs-vg-not-found lvs --reportformat json -o lv_name no-such-vg
exec 3< /dev/$VG/volume-thick-b                    # keep it open
save_err lvremove-lv-in-use lvremove -y $VG/volume-thick-b
exec 3<&-
save_err lvremove-ok lvremove -y $VG/volume-thick-b

# ------------------------------------------------------------------ thin snapshot + thin_delta
save_err lvcreate-snapshot-reserved-name lvcreate -s -n snapshot-of-partial $VG/volume-thin-partial
save_err lvcreate-thin-snapshot-ok lvcreate -s -n _snapshot-of-partial $VG/volume-thin-partial
lvs $VG/_snapshot-of-partial > /dev/null || die "no thin snapshot"
write $P $((300 * MiB)) $CHUNK                      # new chunk in the origin after the snapshot
write $P 0 4096                                     # overwrite inside a shared chunk (breaks sharing)
save lvs-with-snapshot-nosuffix.json lvs --reportformat json --units b --nosuffix \
  -o lv_name,lv_size,data_percent,pool_lv,origin,thin_id,lv_attr,lv_active $VG
must dmsetup message $DMTPOOL 0 reserve_metadata_snap
save thin-dump-with-snapshot.xml thin_dump --metadata-snap -f xml $TMETA
SNAPID=$(lvs --noheadings -o thin_id $VG/_snapshot-of-partial | tr -d ' ')
ORIGID=$(lvs --noheadings -o thin_id $VG/volume-thin-partial | tr -d ' ')
save thin-delta-snapshot-vs-origin.xml thin_delta --metadata-snap --snap1 $SNAPID --snap2 $ORIGID $TMETA
must dmsetup message $DMTPOOL 0 release_metadata_snap

# ------------------------------------------------------------------ thin_dump speed with many mappings
must lvcreate -q -V 2G -T $VG/$POOL -n volume-scatter
N=8000
python3 - /dev/$VG/volume-scatter $N $CHUNK <<'PY' || die "scatter writes"
import mmap, os, sys
dev, n, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
buf = mmap.mmap(-1, 4096); buf.write(b"\xab" * 4096)
fd = os.open(dev, os.O_WRONLY | os.O_DIRECT)
for i in range(n):                    # one 4 KiB write in every other chunk -> n single mappings
    os.pwritev(fd, [buf], 2 * i * chunk)
os.close(fd)
PY
must dmsetup message $DMTPOOL 0 reserve_metadata_snap
t0=$(now)
thin_dump --metadata-snap -f xml $TMETA > $T/big.xml || die "thin_dump big"
fact "thin_dump --metadata-snap with $N extra single mappings: $(ms_since $t0) ms, $(wc -c < $T/big.xml) bytes of XML (TCG guest)"
t0=$(now)
thin_dump --metadata-snap --dev-id "$(lvs --noheadings -o thin_id $VG/volume-scatter | tr -d ' ')" -f xml $TMETA > $T/one.xml || die "thin_dump one"
fact "thin_dump --metadata-snap --dev-id (that device only): $(ms_since $t0) ms, $(grep -c single_mapping $T/one.xml) single_mapping elements"
must dmsetup message $DMTPOOL 0 release_metadata_snap
t0=$(now)
lvs --reportformat json --units b --nosuffix -o $FIELDS $VG > /dev/null
fact "one lvs --reportformat json: $(ms_since $t0) ms (TCG guest)"

# ------------------------------------------------------------------ dm names of a pool over its life
{
  echo "# $VG2/$POOL2 just created, no thin LV:"; dmsetup ls | grep "^${VG2//-/--}-"
  lvcreate -q -V 64M -T $VG2/$POOL2 -n volume-a > /dev/null 2>&1 || die "lvcreate in $VG2"
  echo "# after lvcreate -V 64M -T $VG2/$POOL2 -n volume-a:"; dmsetup ls | grep "^${VG2//-/--}-"
  lvremove -q -y $VG2/volume-a > /dev/null 2>&1 || die "lvremove in $VG2"
  echo "# after lvremove of volume-a (pool empty again, still active):"; dmsetup ls | grep "^${VG2//-/--}-"
  vgchange -q -an $VG2 > /dev/null 2>&1 && vgchange -q -ay $VG2 > /dev/null 2>&1 || die "vgchange $VG2"
  echo "# after vgchange -an + -ay $VG2:"; dmsetup ls | grep "^${VG2//-/--}-"
} > "$OUT/dmsetup-ls-pool-lifecycle.txt"
printf '%s\t0\t%s\n' dmsetup-ls-pool-lifecycle.txt "dmsetup ls (see capture-fixtures.sh)" >> "$OUT/commands.txt"
cat "$OUT/dmsetup-ls-pool-lifecycle.txt"

rm -rf "$T"
echo "capture-fixtures: done, files in $OUT"
