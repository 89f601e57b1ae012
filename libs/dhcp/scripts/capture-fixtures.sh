#!/usr/bin/env bash
# Capture real DHCP client packets for libs/dhcp/test-fixtures (lab-only, needs root, iproute2,
# busybox-static and isc-dhcp-client). Two private network namespaces joined by one veth pair
# (10.77.0.0/24); nothing touches the host's interfaces; both namespaces are deleted on exit.
#
#   sudo libs/dhcp/scripts/capture-fixtures.sh [OUT_DIR]     (run from the repository root)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
OUT=${1:-$(mktemp -d /tmp/bmdhcp-capture.XXXXXX)}
mkdir -p "$OUT"
R=$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
S=bmdhcp-$R-srv
C=bmdhcp-$R-cli
WORK=$(mktemp -d /tmp/bmdhcp-work.XXXXXX)
SRV_PID=

cleanup() {
  set +e
  [ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null && wait "$SRV_PID" 2>/dev/null
  [ -f "$WORK/dhclient.pid" ] && kill "$(cat "$WORK/dhclient.pid")" 2>/dev/null
  ip netns del "$S" 2>/dev/null
  ip netns del "$C" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

ip netns add "$S"
ip netns add "$C"
ip -n "$S" link add eth0 type veth peer name eth0 netns "$C"
ip -n "$S" link set lo up
ip -n "$S" addr add 10.77.0.1/24 dev eth0
ip -n "$S" link set eth0 up
ip -n "$S" route add 255.255.255.255/32 dev eth0 # netboot-lab.md: else send() to 255.255.255.255 is ENETUNREACH
ip -n "$C" link set lo up
ip -n "$C" link set eth0 address 52:54:00:77:00:20
ip -n "$C" link set eth0 up

(cd "$ROOT" && OUT_DIR="$OUT" exec ip netns exec "$S" node -r ts-node/register/transpile-only -r tsconfig-paths/register libs/dhcp/scripts/capture-server.ts) >"$OUT/server.log" 2>&1 &
SRV_PID=$!
for _ in $(seq 100); do [ -f "$OUT/ready" ] && break; sleep 0.1; done
[ -f "$OUT/ready" ] || { echo "capture server did not start"; cat "$OUT/server.log"; exit 1; }

# Hooks: configure the address (renew and release are unicast from it) and log what the client got.
cat >"$WORK/udhcpc-hook" <<EOF
#!/bin/sh
echo "udhcpc \$1 ip=\$ip mask=\$mask router=\$router siaddr=\$siaddr boot_file=\$boot_file bootfile=\$bootfile tftp=\$tftp serverid=\$serverid lease=\$lease" >>"$OUT/clients.log"
case "\$1" in
  bound|renew) ip addr replace "\$ip/\$mask" dev "\$interface" ;;
  deconfig) ip addr flush dev "\$interface" ;;
esac
EOF
cat >"$WORK/dhclient-hook" <<EOF
#!/bin/sh
echo "dhclient \$reason ip=\$new_ip_address mask=\$new_subnet_mask routers=\$new_routers next_server=\$new_next_server filename=\$new_filename bootfile=\$new_bootfile_name tftp=\$new_tftp_server_name server=\$new_dhcp_server_identifier" >>"$OUT/clients.log"
case "\$reason" in
  BOUND|RENEW|REBOOT|REBIND) ip addr replace "\$new_ip_address/24" dev "\$interface" ;;
  RELEASE|EXPIRE|STOP) ip addr flush dev "\$interface" ;;
esac
EOF
cat >"$WORK/dhclient.conf" <<'EOF'
option pxe-arch code 93 = unsigned integer 16;
send vendor-class-identifier "PXEClient:Arch:00000:UNDI:002001";
send pxe-arch 0;
request subnet-mask, routers, tftp-server-name, bootfile-name;
EOF
chmod +x "$WORK/udhcpc-hook" "$WORK/dhclient-hook"
label() { echo "$1" >"$OUT/label"; }
UDHCPC=(ip netns exec "$C" busybox udhcpc -i eth0 -f -t 3 -T 1 -A 1 -V PXEClient:Arch:00000:UNDI:002001 -O bootfile -O tftp -x 0x5d:0000 -s "$WORK/udhcpc-hook")

# 1. udhcpc as a PXE-like client (the deploy ramdisk's command line): DISCOVER, REQUEST, then RELEASE (-R) on quit (-q).
label udhcpc
"${UDHCPC[@]}" -n -q -R
ip -n "$C" addr flush dev eth0

# 2. udhcpc staying up: SIGUSR1 → renew (REQUEST unicast from ciaddr), SIGUSR2 → release.
label udhcpc-renew
"${UDHCPC[@]}" -n &
U=$!
for _ in $(seq 50); do grep -q 'udhcpc bound' "$OUT/clients.log" 2>/dev/null && [ "$(grep -c 'udhcpc bound' "$OUT/clients.log")" -ge 2 ] && break; sleep 0.1; done
sleep 0.3
kill -USR1 "$U"; sleep 1
kill -USR2 "$U"; sleep 0.5
kill "$U"; wait "$U" || true
ip -n "$C" addr flush dev eth0

# 3. dhclient: DISCOVER/REQUEST; then stop without release (-x) and start again → INIT-REBOOT REQUEST; then -r → RELEASE.
DH=(ip netns exec "$C" dhclient -4 -cf "$WORK/dhclient.conf" -sf "$WORK/dhclient-hook" -lf "$WORK/dhclient.leases" -pf "$WORK/dhclient.pid")
label dhclient
"${DH[@]}" -1 eth0
"${DH[@]}" -x eth0
ip -n "$C" addr flush dev eth0
label dhclient-reboot
"${DH[@]}" -1 eth0
label dhclient-release
"${DH[@]}" -r eth0
rm -f "$WORK/dhclient.pid"

rm -f "$OUT/label" "$OUT/ready"
echo "fixtures in $OUT"
ls -1 "$OUT"
