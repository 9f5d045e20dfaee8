#!/usr/bin/env bash
# The Linux Swift toolchain for the tests: Debian trixie's `swiftlang` in a
# debootstrap chroot (Swift is not packaged for the host's Debian release).
#
#   swift-chroot.sh ensure DIR        make the chroot once (about 3.5 minutes);
#                                     an existing, complete one is reused
#   swift-chroot.sh run DIR CMD...    run CMD (through bash -c) inside it with
#                                     /proc mounted; /proc is unmounted after
#
# A chroot is built in DIR.partial and renamed to DIR only when complete, so
# an interrupted build is never mistaken for a finished one. Runs are
# serialized through a lock file beside DIR. Needs root (or sudo).
set -euo pipefail

MIRROR="${SWIFT_CHROOT_MIRROR:-http://deb.debian.org/debian}"
SUITE=trixie
READY=etc/nexus-swift-chroot-ready   # written last: the chroot is complete

die() { echo "swift-chroot: $*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "needs root (or sudo) to run: $*"; fi
}

is_mounted() { grep -qs " $(readlink -f "$1") " /proc/mounts; }

unmount_proc() {
  local dir=$1
  if is_mounted "$dir/proc"; then as_root umount "$dir/proc" || as_root umount -l "$dir/proc"; fi
}

ensure() {
  local dir=$1
  [ -f "$dir/$READY" ] && return 0
  local partial="$dir.partial"
  echo "swift-chroot: creating $dir (Debian $SUITE + swiftlang; about 3.5 minutes, once)"
  if ! command -v debootstrap >/dev/null; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  fi
  unmount_proc "$partial"
  as_root rm -rf "$partial"
  mkdir -p "$(dirname "$dir")"
  as_root debootstrap --variant=minbase "$SUITE" "$partial" "$MIRROR" >"$partial.log" 2>&1 \
    || { tail -20 "$partial.log" >&2; die "debootstrap failed (full log: $partial.log)"; }
  as_root cp /etc/resolv.conf "$partial/etc/resolv.conf"
  as_root mount -t proc proc "$partial/proc"
  trap 'unmount_proc "'"$partial"'"' EXIT
  as_root chroot "$partial" /usr/bin/env DEBIAN_FRONTEND=noninteractive bash -c \
    'apt-get update -qq && apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends swiftlang libc6-dev >/dev/null && apt-get clean' \
    || die "installing swiftlang in the chroot failed"
  as_root chroot "$partial" /usr/bin/swift --version >/dev/null 2>&1 || die "no working swift in $partial after installing swiftlang"
  unmount_proc "$partial"
  trap - EXIT
  as_root touch "$partial/$READY"
  as_root mv "$partial" "$dir"
  rm -f "$partial.log"
  echo "swift-chroot: ready: $dir"
}

run() {
  local dir=$1; shift
  [ -f "$dir/$READY" ] || die "no chroot at $dir (run: $0 ensure $dir)"
  # Under the lock a mounted /proc can only be left over from a killed run:
  # use it, and unmount it after like our own.
  is_mounted "$dir/proc" || as_root mount -t proc proc "$dir/proc"
  trap 'unmount_proc "'"$dir"'"' EXIT
  # The lock stays with this script: a process left behind in the chroot
  # must not hold it.
  as_root chroot "$dir" /usr/bin/env HOME=/root bash -c "$*" 9>&-
}

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || die "usage: $0 ensure|run DIR [CMD...]"
dir=$(mkdir -p "$(dirname "$dir")" && cd "$(dirname "$dir")" && pwd)/$(basename "$dir")
shift 2
# One user of a chroot at a time (creation, and runs sharing /proc's mount).
exec 9>"$dir.lock"
flock 9
# An interrupted run still unmounts /proc (the EXIT traps).
trap 'exit 130' INT TERM HUP
case $cmd in
  ensure) ensure "$dir" ;;
  run) run "$dir" "$@" ;;
  *) die "unknown command $cmd" ;;
esac
