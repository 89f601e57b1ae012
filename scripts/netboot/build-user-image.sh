#!/usr/bin/env bash
# Builds the lab's user image, the instance a QEMU node gets deployed with, into .cache/netboot/
# (not in git). Nova's baremetal driver deploys a partition image (a filesystem, no partition
# table) with a kernel and ramdisk of its own (reference nova-baremetal.md §3.1): upload
#   user-root.img     as the image (disk_format raw, container bare), with properties
#                     kernel_id = vmlinuz (aki) and ramdisk_id = user-initrd.gz (ari)
#   user-initrd.gz    the instance's ramdisk
# and boot them with .cache/netboot/vmlinuz, the kernel the deploy ramdisk runs too
# (scripts/netboot/build-deploy-ramdisk.sh, which this script runs first for the kernel modules).
#
#   user-root.img     a small ext4 filesystem (mkfs.ext4 -d, nothing mounted) holding busybox,
#                     /etc/nova-bm-marker (`NOVA-BM-USER-IMAGE <random hex>`, new per build) and
#                     /sbin/init, which prints that marker on the serial console and idles, as a
#                     booted instance would (the VM stays on until it is powered off)
#   user-initrd.gz    busybox, the virtio and ext4 modules, and an /init that does what a
#                     distribution's initramfs does with the boot label's `root=UUID=<uuid> ro`
#                     (the root partition's UUID, which the deploy helper read from the image):
#                     mounts /proc /sys /dev, loads the modules, finds the partition (findfs),
#                     mounts it read-only and switch_roots into its /sbin/init.
# Markers on the serial console: `NOVA-BM-USER-INITRD: <step>` from the initramfs, then the line
# of /etc/nova-bm-marker (read the expected one from the image: debugfs -R 'cat /etc/nova-bm-marker').
#
# Installs nothing (busybox-static, cpio, e2fsprogs: deploy/apt-packages.txt). Idempotent: reuses
# what is there (delete a file to rebuild it).
# Usage: scripts/netboot/build-user-image.sh [OUT_DIR]   (default .cache/netboot)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
out=${1:-.cache/netboot}
mkdir -p "$out"
out=$(cd "$out" && pwd)

for tool in busybox cpio gzip mkfs.ext4 od; do
  command -v "$tool" >/dev/null ||
    { echo "$tool is missing: scripts/services.sh packages installs deploy/apt-packages.txt" >&2; exit 1; }
done

# The kernel, and its modules (modules-<kver>/, with a modules.dep for busybox modprobe).
bash scripts/netboot/build-deploy-ramdisk.sh "$out" >/dev/null
ptr=$(od -An -tu2 -j $((0x20E)) -N2 "$out/vmlinuz" | tr -d ' ')
kver=$(dd if="$out/vmlinuz" bs=1 skip=$((ptr + 0x200)) count=100 2>/dev/null | tr '\0' '\n' | awk 'NR == 1 { print $1 }')
modules=$out/modules-$kver
[ -f "$modules/.complete" ] || { echo "no kernel modules for $kver in $out" >&2; exit 1; }

# 1. The root filesystem.
if [ ! -s "$out/user-root.img" ]; then
  tree=$(mktemp -d)
  trap 'rm -rf "$tree"' EXIT
  mkdir -p "$tree"/{bin,sbin,etc,dev,proc,sys,tmp,run,root}
  cp /bin/busybox "$tree/bin/busybox"
  # The applets as links, made here: the image is mounted read-only (busybox --install could not).
  for applet in $(busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$tree/bin/$applet"
  done
  echo "NOVA-BM-USER-IMAGE $(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')" >"$tree/etc/nova-bm-marker"
  echo 'nova-bm-user' >"$tree/etc/hostname"
  cat >"$tree/sbin/init" <<'INIT'
#!/bin/sh
# The lab's user image: says who it is on the serial console, then idles like a booted instance.
export PATH=/bin:/sbin
# The initramfs moved /proc, /sys and /dev here; mount them when booted some other way.
[ -e /proc/cmdline ] || mount -t proc proc /proc
[ -d /sys/class ] || mount -t sysfs sysfs /sys
[ -e /dev/null ] || mount -t devtmpfs devtmpfs /dev
hostname -F /etc/hostname
marker=$(cat /etc/nova-bm-marker)
root=$(awk '$2 == "/" && $1 != "rootfs" { print $1 " (" $3 ", " $4 ")" }' /proc/mounts | tail -1)
echo "$marker"
echo "NOVA-BM-USER-IMAGE: root $root; kernel $(uname -r)"
if ! grep -q 'console=ttyS0' /proc/cmdline; then
  echo "$marker" >/dev/ttyS0
  echo "NOVA-BM-USER-IMAGE: root $root; kernel $(uname -r)" >/dev/ttyS0
fi
while :; do sleep 3600; done
INIT
  chmod +x "$tree/sbin/init"
  mkfs.ext4 -q -F -L nova-bm-root -d "$tree" "$out/user-root.img.tmp" 16M >/dev/null
  mv "$out/user-root.img.tmp" "$out/user-root.img"
  rm -rf "$tree"
  trap - EXIT
fi

# 2. The instance's initramfs.
if [ ! -s "$out/user-initrd.gz" ]; then
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,newroot,lib/modules}
  cp /bin/busybox "$root/bin/busybox"
  ln -s busybox "$root/bin/sh"
  mknod -m 600 "$root/dev/console" c 5 1
  cp -r "$modules" "$root/lib/modules/$kver"
  rm -f "$root/lib/modules/$kver/.complete"
  cat >"$root/init" <<'INIT'
#!/bin/sh
# The lab's instance initramfs (scripts/netboot/build-user-image.sh): root=UUID=<uuid> ro -> switch_root.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
SERIAL=/dev/ttyS0
grep -q 'console=ttyS0' /proc/cmdline && SERIAL=
say() {
  echo "NOVA-BM-USER-INITRD: $*"
  [ -z "$SERIAL" ] || echo "NOVA-BM-USER-INITRD: $*" >"$SERIAL" 2>/dev/null
}
# No root to go on with: power off, so a failed boot ends instead of spinning.
fail() {
  say "error: $*"
  poweroff -f
  while :; do sleep 60; done
}

ROOT='' MODE=ro
# shellcheck disable=SC2013 # the command line is words
for arg in $(cat /proc/cmdline); do
  case $arg in
    root=*) ROOT=${arg#root=} ;;
    ro) MODE=ro ;;
    rw) MODE=rw ;;
  esac
done
say "started (kernel $(uname -r)), root=$ROOT $MODE"
[ -n "$ROOT" ] || fail "no root= on the kernel command line"
case $ROOT in
  UUID=None) fail "root=UUID=None: the deploy found no root partition" ;;
esac

for m in virtio_pci virtio_blk crc32c_generic ext4; do
  modprobe "$m" 2>/dev/null || grep -q "/$m.ko" "/lib/modules/$(uname -r)/modules.builtin" ||
    say "cannot load $m"
done

# The partition: findfs for UUID=/LABEL=, else a device path; disks may take a moment to appear.
device=
t=0
while [ -z "$device" ]; do
  case $ROOT in
    UUID=* | LABEL=*) device=$(findfs "$ROOT" 2>/dev/null) ;;
    *) [ -b "$ROOT" ] && device=$ROOT ;;
  esac
  [ -n "$device" ] && break
  t=$((t + 1))
  [ "$t" -le 100 ] || fail "no partition $ROOT ($(awk 'NR > 2 { printf "%s ", $4 }' /proc/partitions))"
  sleep 0.1
done
say "root $ROOT is $device"
mount -t ext4 -o "$MODE" "$device" /newroot || fail "cannot mount $device"
[ -x /newroot/sbin/init ] || fail "$device has no /sbin/init"
say "switch_root to $device"
for d in proc sys dev; do mount -o move "/$d" "/newroot/$d"; done
exec switch_root /newroot /sbin/init
INIT
  chmod +x "$root/init"
  (cd "$root" && find . | cpio -o -H newc --quiet | gzip -9 >"$out/user-initrd.gz.tmp")
  mv "$out/user-initrd.gz.tmp" "$out/user-initrd.gz"
  rm -rf "$root"
  trap - EXIT
fi
ls -l "$out/user-root.img" "$out/user-initrd.gz"
