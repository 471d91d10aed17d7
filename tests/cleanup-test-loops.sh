#!/bin/bash
# Detaches loop devices whose backing file lives in a leftover volmig test directory
# (volmig-test.*), unmounting them first if needed, and removes such directories. Only touches
# what the tests created (devices are chosen by their backing file's name), and only what was
# left behind: a directory whose owner (the pid in its .owner file) is still running belongs to
# a test that is still going on, and one without an .owner younger than two minutes may be
# being set up right now.
set -u
BASE=${VOLMIG_TEST_TMP:-/var/tmp}

leftover() {  # leftover DIR: true when no live test owns DIR
  local dir=$1 pid
  if [ -f "$dir/.owner" ]; then
    read -r pid < "$dir/.owner" 2>/dev/null || pid=
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && return 1
    return 0
  fi
  [ -n "$(find "$dir" -maxdepth 0 -mmin +2 2>/dev/null)" ]
}

losetup --list --noheadings --output NAME,BACK-FILE 2>/dev/null | while read -r dev back; do
  case "$back" in
    */volmig-test.*)
      dir=$(printf '%s\n' "$back" | sed -E 's#^(.*/volmig-test\.[^/]+).*#\1#')
      [ -d "$dir" ] && ! leftover "$dir" && continue
      for m in $(findmnt -rn -S "$dev" -o TARGET 2>/dev/null); do umount "$m" 2>/dev/null; done
      losetup -d "$dev" && echo "detached leftover $dev ($back)" ;;
  esac
done
for d in "$BASE"/volmig-test.* /dev/shm/volmig-test.*; do  # /dev/shm: the fuzz targets' (tests/fuzz/run-target.sh)
  [ -d "$d" ] || continue
  leftover "$d" || continue
  findmnt -rn -o TARGET | grep -q "^$d" && continue
  rm -rf --one-file-system "$d" && echo "removed leftover $d"
done
exit 0
