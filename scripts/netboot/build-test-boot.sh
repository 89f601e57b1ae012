#!/usr/bin/env bash
# Builds what a test PXE boot needs, from Debian packages, into .cache/netboot/ (not in git):
#   vmlinuz       a Debian kernel (linux-image-*-amd64 downloaded and unpacked, never installed)
#   initrd.gz     a busybox initramfs whose /init prints a marker on the serial console
#                 (NOVA-BM-TEST-INITRAMFS <kernel command line>) and powers off
#   pxelinux.0, ldlinux.c32   from Debian's pxelinux and syslinux-common
# Idempotent: reuses what is there. Usage: scripts/netboot/build-test-boot.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
out=${1:-.cache/netboot}
mkdir -p "$out"
out=$(cd "$out" && pwd)

if [ ! -s "$out/vmlinuz" ]; then
  pkg=$(apt-cache search --names-only '^linux-image-[0-9.]+-[0-9]+-amd64$' | awk '{print $1}' | sort -V | tail -1)
  [ -n "$pkg" ] || { echo "no linux-image-*-amd64 package found (apt-get update?)" >&2; exit 1; }
  work=$(mktemp -d)
  (cd "$work" && apt-get -o APT::Sandbox::User=root download -q "$pkg" >/dev/null && dpkg-deb -x ./*.deb tree)
  cp "$work"/tree/boot/vmlinuz-* "$out/vmlinuz"
  rm -rf "$work"
fi

if [ ! -s "$out/initrd.gz" ]; then
  root=$(mktemp -d)
  mkdir -p "$root"/{bin,dev,proc,sys}
  cp /bin/busybox "$root/bin/busybox"
  ln -s busybox "$root/bin/sh"
  cat > "$root/init" <<'INIT'
#!/bin/sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t devtmpfs devtmpfs /dev
echo "NOVA-BM-TEST-INITRAMFS $(/bin/busybox cat /proc/cmdline)" > /dev/ttyS0
/bin/busybox poweroff -f
INIT
  chmod +x "$root/init"
  (cd "$root" && find . | cpio -o -H newc --quiet | gzip -9 > "$out/initrd.gz")
  rm -rf "$root"
fi

cp -f /usr/lib/PXELINUX/pxelinux.0 "$out/pxelinux.0"
cp -f /usr/lib/syslinux/modules/bios/ldlinux.c32 "$out/ldlinux.c32"
ls -l "$out"
