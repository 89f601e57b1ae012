#!/usr/bin/env bash
# Builds the lab's deploy ramdisk for QEMU nodes, from Debian packages, into .cache/netboot/ (not in git):
#
#   deploy-initrd.gz    busybox (busybox-static), tgtd + tgtadm (tgt) with the shared libraries
#                       they load (ldd), the kernel modules of QEMU's virtio NIC and disk, and an
#                       /init that does what the seed's deploy ramdisk does (reference
#                       nova-baremetal.md §3.3: diskimage-builder's `ramdisk` + `deploy` elements,
#                       scripts/init, scripts/d/init-func, elements/deploy/init). Boot it with
#                       .cache/netboot/vmlinuz: the modules come from the same linux-image package.
#   modules-<kver>/     the kernel modules of the lab's VMs (virtio NIC, disk and PCI; ext4 for
#                       the user image's initramfs, scripts/netboot/build-user-image.sh), with a
#                       busybox-modprobe modules.dep: extracted once from the linux-image .deb
#   vmlinuz             kept when it is the kernel of that package; else (or when missing) that
#                       package's kernel (as scripts/netboot/build-test-boot.sh fetches it)
#
# The /init, step by step (the seed's step in brackets):
#   mount /proc /sys /dev; modprobe virtio_pci virtio_net virtio_blk   [init: udevd, udevadm trigger]
#   parse /proc/cmdline: BOOTIF=01-<mac> (pxelinux `ipappend 3`), ip=<client>:<server>:<gw>:<mask>,
#     disk=, deployment_id=, deployment_key=, iscsi_target_iqn=, troubleshoot=   [init-func: get_kernel_parameter]
#   the NIC whose MAC is BOOTIF's: ifconfig <nic> <client> netmask <mask>, route add default gw <gw>,
#     ping <server>                                                   [init: find_interface, ifconfig, route]
#   the first of disk=a,b,c whose /proc/partitions entry exists -> /dev/<it>   [deploy/init: find_disk]
#   tgtd; tgtadm target new (tid 1, the IQN), logicalunit new (lun 1, the disk), bind ALL   [start_iscsi_target]
#   wget --post-data "i=<id>&k=<key>&a=<own address>&n=<iqn>&e=<first error>" http://<server>:10000
#     (libs/contracts/src/deploy-callback.ts is what the deploy helper accepts)
#   nc -l -p 10000 until the helper's `done`                          [deploy/init: wait for notice of complete]
#   logicalunit delete, target delete, stop tgtd; reboot -f          [stop_iscsi_target; reboot -f]
# Each step prints `NOVA-BM-DEPLOY-RAMDISK: <step>` on the serial console (ttyS0), for tests and
# operators to follow. Differences from the seed, all of them lab-sized:
#   - modules are loaded by name (busybox modprobe) instead of udev;
#   - tgtd stops through `tgtadm --mode system --op delete`: tgt 1.0.85's tgtd ignores SIGTERM, so
#     the seed's `killall tgtd` would leave it running (it does not matter: reboot -f follows);
#   - an error that leaves the ramdisk unable to call back (no NIC with BOOTIF's MAC, no address)
#     powers the VM off after the troubleshoot shell (troubleshoot=1) instead of hanging at nc:
#     compute's deploy timeout then fails the deploy, and no TCG VM spins on a dead end.
#
# Installs nothing: everything it runs comes from deploy/apt-packages.txt (busybox-static, tgt,
# cpio; apt-get download + dpkg-deb for the kernel package). Idempotent: reuses what is there
# (delete deploy-initrd.gz to rebuild it after editing this script).
# Usage: scripts/netboot/build-deploy-ramdisk.sh [OUT_DIR]   (default .cache/netboot)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
out=${1:-.cache/netboot}
mkdir -p "$out"
out=$(cd "$out" && pwd)

# The kernel modules the lab's QEMU nodes need (deps are added from modules.dep): the NIC
# (virtio-net-pci), the disk (virtio-blk) and the bus they sit on; ext4 (+ the crc32c its checksums
# ask for by name, which modules.dep does not list) for the user image's root filesystem.
LAB_MODULES=(virtio_pci virtio_net virtio_blk ext4 crc32c_generic)
# What the deploy ramdisk loads (and carries): the NIC and the disk.
DEPLOY_MODULES=(virtio_pci virtio_net virtio_blk)

need() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null ||
      { echo "$tool is missing: scripts/services.sh packages installs deploy/apt-packages.txt" >&2; exit 1; }
  done
}
need busybox tgtd tgtadm cpio gzip apt-get apt-cache dpkg-deb ldd

# The kernel release of a bzImage (boot protocol: a pointer to the version string at 0x20E).
kernel_release() {
  local ptr
  ptr=$(od -An -tu2 -j $((0x20E)) -N2 "$1" | tr -d ' ')
  dd if="$1" bs=1 skip=$((ptr + 0x200)) count=100 2>/dev/null | tr '\0' '\n' | awk 'NR == 1 { print $1 }'
}

# Paths (relative to the modules directory, from its modules.dep) of the named modules and of every
# module they need, each once. A name that is built into the kernel (modules.builtin) is skipped;
# one that is neither fails.
module_closure() {
  local dir=$1
  shift
  touch "$dir/modules.builtin"
  awk -v want="$*" '
    function name(p) { sub(/.*\//, "", p); sub(/\.ko(\.[a-z]+)?$/, "", p); gsub(/-/, "_", p); return p }
    FILENAME ~ /modules\.builtin$/ { builtin[name($1)] = 1; next }
    { sub(/:$/, "", $1); path[name($1)] = $1; deps[name($1)] = ""; for (i = 2; i <= NF; i++) deps[name($1)] = deps[name($1)] " " $i }
    function add(n,   list, k, i) {
      if (n in seen) return
      seen[n] = 1
      if (!(n in path)) { if (!(n in builtin)) missing = missing " " n; return }
      print path[n]
      k = split(deps[n], list, " ")
      for (i = 1; i <= k; i++) add(name(list[i]))
    }
    END {
      n = split(want, w, " ")
      for (i = 1; i <= n; i++) add(w[i])
      if (missing != "") { print "no such kernel module:" missing > "/dev/stderr"; exit 1 }
    }' "$dir/modules.builtin" "$dir/modules.dep"
}

# Copies `modules` (paths from module_closure) of modules directory `from` into `to`, with the
# lines of modules.dep (and modules.builtin) that busybox modprobe needs for them.
copy_modules() {
  local from=$1 to=$2 m
  shift 2
  mkdir -p "$to"
  for m in "$@"; do
    mkdir -p "$to/$(dirname "$m")"
    cp "$from/$m" "$to/$m"
  done
  printf '%s\n' "$@" | awk 'NR == FNR { keep[$1 ":"] = 1; next } $1 in keep' - "$from/modules.dep" >"$to/modules.dep"
  cp "$from/modules.builtin" "$to/modules.builtin"
}

# 1. The kernel and its modules, from one linux-image package: the one vmlinuz came from.
if [ -s "$out/vmlinuz" ]; then
  kver=$(kernel_release "$out/vmlinuz")
  [ -n "$kver" ] || { echo "cannot read the kernel release of $out/vmlinuz" >&2; exit 1; }
  pkg=linux-image-$kver
else
  pkg=$(apt-cache search --names-only '^linux-image-[0-9.]+-[0-9]+-amd64$' | awk '{print $1}' | sort -V | tail -1)
  [ -n "$pkg" ] || { echo "no linux-image-*-amd64 package found (apt-get update?)" >&2; exit 1; }
  kver=${pkg#linux-image-}
fi
modules=$out/modules-$kver
if [ ! -f "$modules/.complete" ]; then
  echo "extracting the lab's kernel modules from $pkg" >&2
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && apt-get -o APT::Sandbox::User=root download -q "$pkg" >/dev/null) ||
    { echo "cannot download $pkg (the kernel of $out/vmlinuz): remove $out/vmlinuz to take the newest kernel" >&2; exit 1; }
  dpkg-deb -x "$work"/*.deb "$work/tree"
  # The package's own kernel: vmlinuz and the modules must be of one build (module versions).
  if ! cmp -s "$work/tree/boot/vmlinuz-$kver" "$out/vmlinuz"; then
    echo "vmlinuz: the kernel of $pkg" >&2
    cp "$work/tree/boot/vmlinuz-$kver" "$out/vmlinuz"
  fi
  tree=$(find "$work/tree" -maxdepth 4 -type d -path "*/lib/modules/$kver" -print -quit)
  [ -n "$tree" ] || { echo "$pkg has no lib/modules/$kver" >&2; exit 1; }
  # Debian ships no modules.dep (its postinst runs depmod): busybox depmod writes one.
  busybox depmod -b "${tree%/lib/modules/"$kver"}" "$kver"
  list=$(module_closure "$tree" "${LAB_MODULES[@]}")
  mapfile -t closure <<<"$list"
  rm -rf "$modules"
  copy_modules "$tree" "$modules" "${closure[@]}"
  # Compressed modules (newer Debian kernels): busybox insmod takes plain ones.
  for m in "${closure[@]}"; do
    case $m in
      *.ko) ;;
      *.ko.xz)
        busybox unxz "$modules/$m"
        sed -i "s#${m//./\\.}#${m%.xz}#g" "$modules/modules.dep"
        ;;
      *) echo "unsupported module compression: $m" >&2; exit 1 ;;
    esac
  done
  touch "$modules/.complete"
  rm -rf "$work"
  trap - EXIT
fi

# 2. The deploy ramdisk.
if [ ! -s "$out/deploy-initrd.gz" ]; then
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,var/run/tgtd,lib64}
  cp /bin/busybox "$root/bin/busybox"
  ln -s busybox "$root/bin/sh"
  mknod -m 600 "$root/dev/console" c 5 1
  # tgtd and tgtadm with what the dynamic loader finds for them (the loader itself included).
  for bin in /usr/sbin/tgtd /usr/sbin/tgtadm; do
    cp "$(readlink -f "$bin")" "$root/usr/sbin/$(basename "$bin")"
    for lib in $(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
      mkdir -p "$root$(dirname "$lib")"
      cp -L "$lib" "$root$lib"
    done
  done
  list=$(module_closure "$modules" "${DEPLOY_MODULES[@]}")
  mapfile -t deploy_modules <<<"$list"
  copy_modules "$modules" "$root/lib/modules/$kver" "${deploy_modules[@]}"

  cat >"$root/init" <<'INIT'
#!/bin/sh
# The seed's deploy ramdisk (diskimage-builder `deploy`), for the lab's QEMU nodes: see
# scripts/netboot/build-deploy-ramdisk.sh. PID 1: it never exits, it reboots or powers off.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

# Markers go to the serial console whatever console= says (once when the console is ttyS0).
SERIAL=/dev/ttyS0
grep -q 'console=ttyS0' /proc/cmdline && SERIAL=
say() {
  echo "NOVA-BM-DEPLOY-RAMDISK: $*"
  [ -z "$SERIAL" ] || echo "NOVA-BM-DEPLOY-RAMDISK: $*" >"$SERIAL" 2>/dev/null
}
FIRST_ERR_MSG=
err_msg() {
  say "error: $1"
  [ -n "$FIRST_ERR_MSG" ] || FIRST_ERR_MSG=$1
}
troubleshoot() {
  if [ "$TROUBLESHOOT" = 1 ]; then
    say "troubleshoot: a shell on the console; exit it to go on"
    setsid cttyhack sh
  fi
}
# Nothing to call back with: say so and power off (the seed would hang at nc; see the script).
give_up() {
  err_msg "$1"
  troubleshoot
  say "powering off"
  poweroff -f
  while :; do sleep 60; done
}
say "started (kernel $(uname -r))"

# Kernel command line (init-func get_kernel_parameter; pxelinux ipappend 3 adds BOOTIF and ip).
BOOT_MAC_ADDRESS='' BOOT_IP_ADDRESS='' BOOT_SERVER='' BOOT_GATEWAY='' BOOT_NETMASK=''
DISK='' DEPLOYMENT_ID='' DEPLOYMENT_KEY='' ISCSI_TARGET_IQN='' TROUBLESHOOT=0
# shellcheck disable=SC2013 # the command line is words
for arg in $(cat /proc/cmdline); do
  case $arg in
    BOOTIF=*) BOOT_MAC_ADDRESS=$(echo "${arg#BOOTIF=}" | sed -e 's/^01-//' -e 's/-/:/g' | tr 'A-F' 'a-f') ;;
    ip=*)
      IFS=: read -r BOOT_IP_ADDRESS BOOT_SERVER BOOT_GATEWAY BOOT_NETMASK _ <<EOF
${arg#ip=}
EOF
      ;;
    disk=*) DISK=${arg#disk=} ;;
    deployment_id=*) DEPLOYMENT_ID=${arg#deployment_id=} ;;
    deployment_key=*) DEPLOYMENT_KEY=${arg#deployment_key=} ;;
    iscsi_target_iqn=*) ISCSI_TARGET_IQN=${arg#iscsi_target_iqn=} ;;
    troubleshoot=*) TROUBLESHOOT=${arg#troubleshoot=} ;;
  esac
done
say "cmdline: mac=$BOOT_MAC_ADDRESS address=$BOOT_IP_ADDRESS server=$BOOT_SERVER gateway=$BOOT_GATEWAY netmask=$BOOT_NETMASK disk=$DISK deployment_id=$DEPLOYMENT_ID iqn=$ISCSI_TARGET_IQN"

# Drivers (the seed: udev).
for m in virtio_pci virtio_net virtio_blk; do
  modprobe "$m" || err_msg "Failed to load kernel module $m."
done
say "modules loaded"

# The NIC PXE booted from: the one with BOOTIF's MAC (the seed retries for ~10 s).
[ -n "$BOOT_MAC_ADDRESS" ] || give_up "No BOOTIF on the kernel command line (pxelinux ipappend 3)."
if [ -z "$BOOT_IP_ADDRESS" ] || [ -z "$BOOT_SERVER" ] || [ -z "$BOOT_NETMASK" ]; then
  give_up "No ip=<client>:<server>:<gateway>:<netmask> on the kernel command line (pxelinux ipappend 3)."
fi
BOOT_INTERFACE=
t=0
while [ -z "$BOOT_INTERFACE" ]; do
  for dev in /sys/class/net/*; do
    [ "$(cat "$dev/address" 2>/dev/null)" = "$BOOT_MAC_ADDRESS" ] && BOOT_INTERFACE=${dev##*/}
  done
  [ -n "$BOOT_INTERFACE" ] && break
  t=$((t + 1))
  [ "$t" -le 100 ] || give_up "Failed to find interface with MAC $BOOT_MAC_ADDRESS."
  sleep 0.1
done
ifconfig lo 127.0.0.1 up
ifconfig "$BOOT_INTERFACE" "$BOOT_IP_ADDRESS" netmask "$BOOT_NETMASK" up ||
  give_up "Failed to set $BOOT_IP_ADDRESS on $BOOT_INTERFACE."
case $BOOT_GATEWAY in
  '' | 0.0.0.0) ;;
  *) route add default gw "$BOOT_GATEWAY" || err_msg "Failed to add the default route via $BOOT_GATEWAY." ;;
esac
t=0
until ping -c 1 -W 1 "$BOOT_SERVER" >/dev/null 2>&1; do
  t=$((t + 1))
  if [ "$t" -ge 30 ]; then err_msg "Boot server $BOOT_SERVER does not answer ping."; break; fi
done
say "network up: $BOOT_INTERFACE $BOOT_IP_ADDRESS/$BOOT_NETMASK"

# The disk: the first of disk= that the kernel knows (/proc/partitions), retried 10 x 1 s.
[ -n "$ISCSI_TARGET_IQN" ] || err_msg "iscsi_target_iqn is not defined."
TARGET_DISK=
t=0
while [ -z "$TARGET_DISK" ] && [ "$t" -lt 10 ]; do
  for d in $(echo "$DISK" | tr ',' ' '); do
    if awk -v d="$d" 'NR > 2 && $4 == d { found = 1 } END { exit !found }' /proc/partitions; then
      TARGET_DISK=/dev/$d
      break
    fi
  done
  [ -n "$TARGET_DISK" ] || { t=$((t + 1)); sleep 1; }
done
if [ -n "$TARGET_DISK" ]; then say "disk $TARGET_DISK"; else err_msg "Could not find a disk among $DISK."; fi

# start_iscsi_target "$ISCSI_TARGET_IQN" "$TARGET_DISK" ALL
tgtd -f >/tmp/tgtd.log 2>&1 &
TGTD_PID=$!
t=0
until tgtadm --mode system --op show >/dev/null 2>&1; do
  t=$((t + 1))
  if [ "$t" -gt 100 ] || ! kill -0 "$TGTD_PID" 2>/dev/null; then
    err_msg "tgtd did not start."
    cat /tmp/tgtd.log
    break
  fi
  sleep 0.1
done
if [ -n "$TARGET_DISK" ] && [ -n "$ISCSI_TARGET_IQN" ]; then
  if tgtadm --lld iscsi --mode target --op new --tid 1 --targetname "$ISCSI_TARGET_IQN" &&
    tgtadm --lld iscsi --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$TARGET_DISK" &&
    tgtadm --lld iscsi --mode target --op bind --tid 1 --initiator-address ALL; then
    say "exported $TARGET_DISK as $ISCSI_TARGET_IQN lun 1 on $BOOT_IP_ADDRESS:3260"
  else
    err_msg "Failed to start iscsi target."
  fi
fi

# The callback: e is the first error, "URL-safe" the seed's way (its bracket keeps [a-zA-Z0-9.-_]
# where .-_ is a range; spaces become +, the rest goes).
e=$(printf '%s' "$FIRST_ERR_MSG" | tr -dc 'a-zA-Z0-9.-_ ' | tr ' ' '+')
say "calling back http://$BOOT_SERVER:10000 (request boot server to deploy image)"
if wget -q -O /dev/null --post-data "i=$DEPLOYMENT_ID&k=$DEPLOYMENT_KEY&a=$BOOT_IP_ADDRESS&n=$ISCSI_TARGET_IQN&e=$e" \
  "http://$BOOT_SERVER:10000"; then
  say "callback accepted"
else
  err_msg "The callback to $BOOT_SERVER:10000 failed."
fi

# Wait for the helper's notice that the image is written.
say "waiting for done on port 10000"
nc -l -p 10000 </dev/null >/tmp/received 2>&1
say "done received: $(head -c 64 /tmp/received)"

# stop_iscsi_target, then reboot -f.
tgtadm --lld iscsi --mode logicalunit --op delete --tid 1 --lun 1 >/dev/null 2>&1
tgtadm --lld iscsi --mode target --op delete --tid 1 >/dev/null 2>&1
tgtadm --mode system --op delete >/dev/null 2>&1
t=0
while kill -0 "$TGTD_PID" 2>/dev/null && [ "$t" -lt 50 ]; do t=$((t + 1)); sleep 0.1; done
kill -9 "$TGTD_PID" 2>/dev/null
say "target stopped"
troubleshoot
sync
say "rebooting"
reboot -f
while :; do sleep 60; done
INIT
  chmod +x "$root/init"
  (cd "$root" && find . | cpio -o -H newc --quiet | gzip -9 >"$out/deploy-initrd.gz.tmp")
  mv "$out/deploy-initrd.gz.tmp" "$out/deploy-initrd.gz"
  rm -rf "$root"
  trap - EXIT
fi
ls -l "$out/vmlinuz" "$out/deploy-initrd.gz"
