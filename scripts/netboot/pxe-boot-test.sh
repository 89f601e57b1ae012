#!/usr/bin/env bash
# A real PXE boot through our DHCP and TFTP: a QEMU VM (TCG, iPXE ROM) on a tap device in a
# network namespace of its own gets its address and boot file from scripts/netboot/serve.ts,
# TFTPs pxelinux.0 and its 01-<mac> config, then the kernel and initramfs the config names, and
# the initramfs prints its marker on the serial console. Needs root.
#
#   scripts/netboot/pxe-boot-test.sh TFTP_ROOT MAC OUT_DIR [TIMEOUT_S]
# Exit 0 when the marker appeared; OUT_DIR gets serial.log and servers.log either way.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TFTP_ROOT=$1 MAC=$2 OUT=$3 TIMEOUT=${4:-90}
mkdir -p "$OUT"
R=$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
NS=bmpxe-$R
SRV_PID='' QEMU_PID='' RA_PID=''

cleanup() {
  set +e
  [ -n "$QEMU_PID" ] && kill "$QEMU_PID" 2>/dev/null
  [ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null
  [ -n "$RA_PID" ] && kill "$RA_PID" 2>/dev/null
  wait 2>/dev/null
  ip netns del "$NS" 2>/dev/null
}
trap cleanup EXIT

ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" tuntap add dev tap0 mode tap
ip -n "$NS" addr add 10.77.0.1/24 dev tap0
ip -n "$NS" link set tap0 up
ip -n "$NS" route add 255.255.255.255/32 dev tap0 # broadcast replies need a route in a namespace

# IPv6 router advertisements only (dnsmasq RA mode takes no DHCP or TFTP port): without them iPXE
# waits ~13 s for an IPv6 router before it boots (reference: netboot-lab.md).
if command -v dnsmasq >/dev/null; then
  ip -n "$NS" -6 addr add fd77::1/64 dev tap0 nodad
  ip netns exec "$NS" dnsmasq --keep-in-foreground --port=0 --interface=tap0 --bind-interfaces --enable-ra \
    --dhcp-range=::,constructor:tap0,ra-only,64 --pid-file= --conf-file=/dev/null >"$OUT/ra.log" 2>&1 &
  RA_PID=$!
fi

(cd "$ROOT" && CAPTURE_DIR="${CAPTURE_DIR:-}" ADDRESS=10.77.0.1 RANGE=10.77.0.50,10.77.0.99 MACS="$MAC" TFTP_ROOT="$TFTP_ROOT" READY_FILE="$OUT/ready" \
  exec ip netns exec "$NS" node -r ts-node/register/transpile-only scripts/netboot/serve.ts) >"$OUT/servers.log" 2>&1 &
SRV_PID=$!
for _ in $(seq 100); do [ -f "$OUT/ready" ] && break; sleep 0.1; done
[ -f "$OUT/ready" ] || { echo "servers did not start:"; cat "$OUT/servers.log"; exit 1; }

ip netns exec "$NS" qemu-system-x86_64 -machine pc,accel=tcg -m 512 -display none -monitor none \
  -serial "file:$OUT/serial.log" -no-reboot -boot n \
  -netdev tap,id=n0,ifname=tap0,script=no,downscript=no -device virtio-net-pci,netdev=n0,mac="$MAC" &
QEMU_PID=$!

for _ in $(seq $((TIMEOUT * 5))); do
  if grep -aq 'NOVA-BM-TEST-INITRAMFS' "$OUT/serial.log" 2>/dev/null; then
    grep -a 'NOVA-BM-TEST-INITRAMFS' "$OUT/serial.log"
    exit 0
  fi
  kill -0 "$QEMU_PID" 2>/dev/null || break
  sleep 0.2
done
echo "no marker after ${TIMEOUT}s; serial console tail:"
tail -c 2000 "$OUT/serial.log" 2>/dev/null || true
exit 1
