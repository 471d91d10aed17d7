#!/bin/bash
# Detaches loop devices whose backing file lives in a volmig test directory (volmig-test.*),
# unmounting them first if needed, and removes such directories. Only touches what the tests
# created: devices are chosen by their backing file's name.
set -u
losetup --list --noheadings --output NAME,BACK-FILE 2>/dev/null | while read -r dev back; do
  case "$back" in
    */volmig-test.*)
      for m in $(findmnt -rn -S "$dev" -o TARGET 2>/dev/null); do umount "$m" 2>/dev/null; done
      losetup -d "$dev" && echo "detached leftover $dev ($back)" ;;
  esac
done
for d in "${VOLMIG_TEST_TMP:-/var/tmp}"/volmig-test.*; do
  [ -d "$d" ] || continue
  findmnt -rn -o TARGET | grep -q "^$d" && continue
  rm -rf --one-file-system "$d" && echo "removed leftover $d"
done
exit 0
