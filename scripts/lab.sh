#!/usr/bin/env bash
# The main job (README): bring up the lab on this machine as plain processes.
#   1. install what is missing, start PostgreSQL and RabbitMQ, build;
#   2. create and migrate the lab's nova_bm database;
#   3. enroll the sample hardware, deploy/baremetal.csv (re-runs skip nodes already enrolled);
#   4. build a boot network: namespace bmlab, bridge br0 10.77.0.1/24 with one tap per lab node
#      (the host's own interfaces are never touched), the database and broker relayed into it;
#   5. start a virtual BMC per lab node whose machine is a QEMU VM on its tap (bmctl vbmc start
#      --qemu-mac), the netboot service (our DHCP + TFTP) and the deploy helper (the ramdisk's
#      callback on 10000, iSCSI to the nodes) inside the boot network, and the other
#      services on the host, and wait until each reports healthy;
#   6. ask compute for its nodes over oslo RPC; show them as hypervisors (compute's resource
#      reports); create a flavor equal to node 1 and `bmctl boot` an instance with it: the
#      scheduler picks node 1, compute claims it, has netboot fetch the images by id from the
#      images service (a Debian kernel and a test initramfs built by
#      scripts/netboot/build-test-boot.sh, uploaded with bmctl image create as the deploy pair and
#      as the instance image's kernel_id/ramdisk_id) and write Nova's pxelinux config, and the
#      power service set PXE and power it on (IPMI 2.0 to its virtual BMC, which starts the
#      VM); wait for the VM to PXE-boot the deploy ramdisk and print its kernel command line;
#      delete the instance; show the message bus;
#   then stop everything (or keep it running: --keep).
# Environment: DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/nova_bm_lab),
# BM_CONFIG_FILE (a nova.conf), LAB_NODES (default deploy/baremetal.csv). Needs root (namespaces).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

keep=no
[ "${1:-}" = "--keep" ] && keep=yes

bash scripts/services.sh all
# Where PostgreSQL does not let postgres in without a password (a stock Debian), services.sh made
# the role nova_bm and wrote its URLs in .lab/database.env (README, "Set-up").
if [ -z "${DATABASE_URL:-}" ] && [ -f .lab/database.env ]; then . ./.lab/database.env; fi
node scripts/build.js >/dev/null
export DATABASE_URL=${DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/nova_bm_lab}
nodes_file=${LAB_NODES:-deploy/baremetal.csv}
bmctl() { node dist/apps/cli/main.js "$@"; }

echo '--- nova_bm database'
bmctl db sync --create-database
echo "--- enrolling $nodes_file"
bmctl node import --skip-enrolled "$nodes_file"
echo '--- enrolled nodes'
bmctl node list

mkdir -p .lab/logs .lab/tftpboot
rm -f .lab/logs/*
NS=bmlab
pids=()
stop() {
  # Newest first: the services stop while their database and broker relays are still there.
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    alive=no
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=yes; done
    [ $alive = no ] && break
    sleep 0.2
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
}
trap stop EXIT

echo '--- boot images for the VMs (scripts/netboot/build-test-boot.sh → .cache/netboot)'
bash scripts/netboot/build-test-boot.sh .cache/netboot >/dev/null
cp -f .cache/netboot/pxelinux.0 .cache/netboot/ldlinux.c32 .lab/tftpboot/ # as an operator installs them in tftp_root

echo "--- boot network: namespace $NS, br0 10.77.0.1/24, tap1..3 (one per VM)"
ip netns del "$NS" 2>/dev/null || true
ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" link add br0 type bridge
for n in 1 2 3; do
  ip -n "$NS" tuntap add dev "tap$n" mode tap
  ip -n "$NS" link set "tap$n" master br0
  ip -n "$NS" link set "tap$n" up
done
ip -n "$NS" addr add 10.77.0.1/24 dev br0
ip -n "$NS" link set br0 up
ip -n "$NS" route add 255.255.255.255/32 dev br0 # broadcast DHCP replies need a route in a namespace
# IPv6 router advertisements only (no DHCP/TFTP): without them iPXE waits ~13 s for an IPv6 router.
ip -n "$NS" -6 addr add fd77::1/64 dev br0 nodad
ip netns exec "$NS" dnsmasq --keep-in-foreground --port=0 --interface=br0 --bind-interfaces --enable-ra \
  --dhcp-range=::,constructor:br0,ra-only,64 --pid-file= --conf-file=/dev/null >.lab/logs/ra.log 2>&1 &
pids+=($!)
# PostgreSQL, RabbitMQ and the images service, relayed into the namespace through Unix sockets
# (scripts/netboot/relay.js).
db_port=$(node -e 'console.log(new URL(process.argv[1]).port || 5432)' "$DATABASE_URL")
for p in "$db_port" 5672 9292; do
  node scripts/netboot/relay.js "/tmp/bmlab-$p.sock" "127.0.0.1:$p" >/dev/null &
  pids+=($!)
  sleep 0.2
  ip netns exec "$NS" node scripts/netboot/relay.js "127.0.0.1:$p" "/tmp/bmlab-$p.sock" >/dev/null &
  pids+=($!)
done

echo '--- a virtual BMC per lab node, each driving a QEMU VM on its tap (ports and MACs from deploy/baremetal.csv)'
printf 'password' > .lab/bmc-password
chmod 600 .lab/bmc-password
for n in 1 2 3; do
  # node directly (not the bmctl function, whose `&` would record a subshell's pid)
  node dist/apps/cli/main.js vbmc start --port "623$n" --user admin --password-file .lab/bmc-password \
    --qemu-mac "52:54:00:b3:00:0$n" --qemu-netns "$NS" --qemu-tap "tap$n" \
    --qemu-console ".lab/logs/node-$n-console.log" --qemu-log ".lab/logs/node-$n-qemu.log" >".lab/logs/vbmc-$n.log" 2>&1 &
  pids+=($!)
done

echo '--- starting the images service (Glance v2 API on 127.0.0.1:9292, data in .lab/images)'
declare -A ports=([images]=9106 [compute]=9101 [scheduler]=9102 [power]=9103 [netboot]=9104 [deploy-helper]=9105)
BM_HEALTH_PORT=${ports[images]} BM_DATA_DIR="$PWD/.lab/images" node dist/apps/images/main.js >.lab/logs/images.log 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:${ports[images]}/healthz" >/dev/null 2>&1 && break; sleep 0.2; done

echo '--- the boot images, uploaded by id (bmctl image create; those of an earlier run are replaced)'
head -c 1048576 /dev/zero >.lab/instance.img # the instance image: written to the disk once the deploy ramdisk calls back
lab_image() { # NAME DISK_FORMAT CONTAINER_FORMAT FILE [--property K=V…] → prints the new image's id
  local name=$1 disk=$2 container=$3 file=$4 old
  shift 4
  for old in $(bmctl image list --name "$name" --json | node -e 'let s="";process.stdin.on("data",(d)=>(s+=d)).on("end",()=>JSON.parse(s).forEach((i)=>console.log(i.id)))'); do
    bmctl image delete "$old" >/dev/null
  done
  bmctl image create "$name" --disk-format "$disk" --container-format "$container" --file "$file" "$@" --json 2>/dev/null |
    node -e 'let s="";process.stdin.on("data",(d)=>(s+=d)).on("end",()=>console.log(JSON.parse(s).id))'
}
kernel_id=$(lab_image lab-kernel aki aki .cache/netboot/vmlinuz)
ramdisk_id=$(lab_image lab-ramdisk ari ari .cache/netboot/initrd.gz)
image_id=$(lab_image lab-image raw bare .lab/instance.img --property "kernel_id=$kernel_id" --property "ramdisk_id=$ramdisk_id")
bmctl image list

echo '--- starting services (logs in .lab/logs/)'
for app in compute scheduler power netboot deploy-helper; do
  port=${ports[$app]}
  if [ "$app" = netboot ]; then
    # In the boot network: DHCP (full, for the enrolled MACs) and TFTP on br0, next-server 10.77.0.1;
    # images by id from the images service, relayed into the namespace.
    ip netns exec "$NS" env BM_HEALTH_PORT=$port BM_MY_IP=10.77.0.1 BM_PXE_INTERFACE=br0 BM_DHCP_MODE=full BM_DHCP_RANGE=10.77.0.50,10.77.0.99 \
      BM_TFTP_ENABLED=true BM_TFTP_ROOT="$PWD/.lab/tftpboot" BM_PXE_APPEND_PARAMS='console=ttyS0 panic=1 quiet' \
      node "dist/apps/$app/main.js" >".lab/logs/$app.log" 2>&1 &
  elif [ "$app" = deploy-helper ]; then
    # In the boot network too: the deploy ramdisk posts to the boot server's 10000 and exports its
    # disk on the lab network; the userspace initiator (no kernel iSCSI needed) reaches it there.
    ip netns exec "$NS" env BM_HEALTH_PORT=$port BM_MY_IP=10.77.0.1 BM_ISCSI_ATTACHER=userspace \
      node "dist/apps/$app/main.js" >".lab/logs/$app.log" 2>&1 &
  elif [ "$app" = compute ]; then
    # The deploy pair ([baremetal] deploy_kernel / deploy_ramdisk): the lab's kernel and initramfs.
    BM_HEALTH_PORT=$port BM_DEPLOY_KERNEL="$kernel_id" BM_DEPLOY_RAMDISK="$ramdisk_id" \
      node "dist/apps/$app/main.js" >".lab/logs/$app.log" 2>&1 &
  else
    BM_HEALTH_PORT=$port node "dist/apps/$app/main.js" >".lab/logs/$app.log" 2>&1 &
  fi
  pids+=($!)
done
status=0
for app in compute scheduler power netboot deploy-helper images; do
  url="http://127.0.0.1:${ports[$app]}/healthz"
  in=()
  [ "$app" = netboot ] || [ "$app" = deploy-helper ] && in=(ip netns exec "$NS")
  ok=no
  for _ in $(seq 1 100); do
    if body=$("${in[@]}" curl -fsS "$url" 2>/dev/null); then ok=yes; break; fi
    sleep 0.2
  done
  if [ $ok = yes ]; then
    printf '%-14s healthy   %s  %s\n' "$app" "$url" "$body"
  else
    printf '%-14s UNHEALTHY %s (see .lab/logs/%s.log)\n' "$app" "$url" "$app"
    status=1
  fi
done

if [ $status = 0 ]; then
  echo "--- asking compute over RabbitMQ (oslo RPC) for its nodes: bmctl rpc call --topic compute --server $(hostname) get_available_nodes"
  bmctl rpc call --topic compute --server "$(hostname)" --version 6.0 get_available_nodes || status=1
  echo '--- the nodes as hypervisors, from compute'"'"'s resource reports (bmctl hypervisor list)'
  for _ in $(seq 1 50); do
    [ "$(bmctl hypervisor list --json | node -e 'let s="";process.stdin.on("data",(d)=>(s+=d)).on("end",()=>console.log(JSON.parse(s).length))')" = 3 ] && break
    sleep 0.2
  done
  bmctl hypervisor list || status=1
  echo '--- a flavor equal to node 1, and a boot: scheduler -> compute -> netboot (PXE files) + power (IPMI -> virtual BMC -> QEMU)'
  bmctl flavor list --json | grep -q '"name": "lab.small"' ||
    bmctl flavor create lab.small --vcpus 1 --ram 1024 --disk 10 --extra-spec cpu_arch=x86_64 || status=1
  if bmctl instance show lab-vm1 >/dev/null 2>&1; then bmctl delete lab-vm1 >/dev/null || status=1; fi # left by an interrupted run
  bmctl boot lab-vm1 --flavor lab.small --image lab-image --wait-for prepared --timeout 60 || status=1
  bmctl ipmi --address 127.0.0.1:6231 --user admin --password-file .lab/bmc-password power status || status=1
  echo '--- waiting for node 1 to PXE-boot its deploy ramdisk (QEMU without KVM: ~10 s; console in .lab/logs/node-1-console.log)'
  booted=no
  for _ in $(seq 1 600); do
    if line=$(grep -a -m1 '^NOVA-BM-TEST-INITRAMFS' .lab/logs/node-1-console.log 2>/dev/null); then booted=yes; break; fi
    sleep 0.2
  done
  if [ $booted = yes ]; then
    echo "node 1 booted the deploy ramdisk; its kernel command line:"
    echo "  ${line#NOVA-BM-TEST-INITRAMFS }"
    echo '--- what the netboot service did for it'
    sed -E 's/\x1b\[[0-9;]*m//g' .lab/logs/netboot.log | grep -aE '\[(dhcp|tftp)\] ((offer|ack) 52:54:00:b3:00:01|complete .*(pxelinux|deploy_))' |
      sed -E 's/^.*\[(dhcp|tftp)\] +/  \1: /' || true
  else
    echo "node 1 did not boot within 120 s; console tail:"
    tail -c 1500 .lab/logs/node-1-console.log 2>/dev/null || true
    status=1
  fi
  echo '--- the instance (this test initramfs does not call the deploy helper back, so it stays "prepared")'
  bmctl instance list || status=1
  echo '--- deleting it: power off, PXE files removed, node 1 released (bmctl delete)'
  bmctl delete lab-vm1 || status=1
  echo '--- the message bus (bmctl queues)'
  bmctl queues || status=1
fi

if [ $keep = yes ] && [ $status = 0 ]; then
  echo '--- services running; Ctrl-C stops them'
  wait
fi
exit $status
