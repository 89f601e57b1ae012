#!/usr/bin/env bash
# The main job (README): the whole seed flow on this machine, every service a plain process, and
# nodes provisioned from enrolled to running their image.
#
#   npm run lab [-- --nodes N] [--qemu 0|1] [--keep] [--timeout SECONDS]
#
#   --nodes N    simulated nodes (default 4): apps/lab-nodes, many per process, each a virtual BMC
#                whose machine PXE-boots from netboot, plays the seed's deploy ramdisk (its disk
#                file exported by a real tgtd, the callback POSTed from its leased address, `done`
#                awaited on its port 10000) and then PXE-boots the instance, checking root=UUID=
#                against the filesystem now on its disk
#   --qemu 1|0   one QEMU node (default 1; TCG, ~40 s): a virtual BMC driving a VM that PXE-boots
#                the real deploy ramdisk, is deployed over iSCSI, reboots and runs the image from
#                its own disk (the image's marker on its serial console proves it)
#   --keep       leave everything running afterwards, to explore with bmctl and the RabbitMQ
#                management UI (Ctrl-C stops it)
#   --timeout S  how long the boots may take (default 240)
#   --deploy-workers N   the deploy helper's concurrent deploys (default 4)
#   --report FILE        JSON for npm run bench:lab: the boots' wall time, each node's time in each
#                state, every service's peak memory (VmHWM) and CPU time
#
# Steps:
#   1. install what is missing, start PostgreSQL and RabbitMQ, build (when the sources changed);
#      build the boot files once into .cache/netboot (Debian's kernel, the deploy ramdisk, the
#      user image: scripts/netboot/build-*.sh);
#   2. a fresh lab database (nova_bm_lab, dropped and migrated: bmctl db sync);
#   3. the boot network: namespace bmlab (bridge br0 10.77.0.1/24: netboot's DHCP and TFTP, the
#      deploy helper, the QEMU node's tap) and namespace bmlab-nodes (the nodes' side: its eth0 a
#      veth into br0, the BMCs on its 127.0.0.1, the power service), PostgreSQL, RabbitMQ and the
#      images service relayed in; the host's own interfaces are never touched;
#   4. the nodes (lab-nodes, the QEMU node's virtual BMC), enrolled from the generated
#      .lab/baremetal.csv; the images uploaded by id (bmctl image create); a flavor per node size,
#      naming the deploy kernel and ramdisk;
#   5. the services (compute, scheduler, images and the rack view on the host; netboot, deploy
#      helper in bmlab; power in bmlab-nodes), each healthy; open the rack view
#      (http://127.0.0.1:9180/) to watch the boots;
#   6. one `bmctl boot` per node at once, through the scheduler; `bmctl node watch` shows each
#      node live (state, phase, bytes, elapsed) and then the time each spent in each state;
#   7. the proof: every simulated node booted its instance from the root it was given, the QEMU
#      node printed the image's marker from its own disk; the QEMU node's timeline;
#   8. stop everything (or --keep). Exit status: 0 only when every node ended active and booted.
# Logs: .lab/logs/. Environment: DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/nova_bm_lab),
# TRANSPORT_URL (default: a login per service on nova_bm_lab, a vhost the lab makes; .lab/broker/env),
# RACK_PORT (default 9180: the rack view's port on 127.0.0.1).
# Needs root (namespaces, tgtd).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

sims=4 qemu=1 keep=no timeout=240 report='' workers=4
usage() {
  echo "usage: npm run lab [-- --nodes N] [--qemu 0|1] [--keep] [--timeout SECONDS] [--deploy-workers N] [--report FILE]" >&2
  exit 64
}
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) sims=${2:-}; shift 2 ;;
    --qemu) qemu=${2:-}; shift 2 ;;
    --keep) keep=yes; shift ;;
    --timeout) timeout=${2:-}; shift 2 ;;
    --deploy-workers) workers=${2:-}; shift 2 ;;
    --report) report=${2:-}; shift 2 ;;
    -h | --help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done
[[ "$sims" =~ ^[0-9]+$ ]] && [ "$sims" -le 190 ] || { echo '--nodes takes 0 to 190' >&2; exit 64; }
[[ "$qemu" =~ ^[01]$ ]] || { echo '--qemu takes 0 or 1' >&2; exit 64; }
[[ "$timeout" =~ ^[0-9]+$ ]] && [ "$timeout" -gt 0 ] || { echo '--timeout takes seconds' >&2; exit 64; }
[[ "$workers" =~ ^[0-9]+$ ]] && [ "$workers" -gt 0 ] || { echo '--deploy-workers takes a count' >&2; exit 64; }
[ -z "$report" ] || report=$(realpath -m "$report")
[ $((sims + qemu)) -gt 0 ] || { echo 'no nodes: --nodes 0 --qemu 0' >&2; exit 64; }
[ "$(id -u)" -eq 0 ] || { echo 'the lab needs root (network namespaces, tgtd)' >&2; exit 1; }
started_at=$SECONDS
step() { printf '\n--- [%3ss] %s\n' $((SECONDS - started_at)) "$*"; }

step 'set-up: packages, PostgreSQL, RabbitMQ, build'
bash scripts/services.sh all
# Where PostgreSQL does not let postgres in without a password (a stock Debian), services.sh made
# the role nova_bm and wrote its URLs in .lab/database.env (README, "Set-up").
if [ -z "${DATABASE_URL:-}" ] && [ -f .lab/database.env ]; then . ./.lab/database.env; fi
export DATABASE_URL=${DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/nova_bm_lab}
# The lab's own RabbitMQ vhost, made anew each run as the database: oslo names queues by topic
# alone (`scheduler`, `compute.<host>`), so anything else on the broker's default vhost (tests,
# another program) would share them. Each service logs in as its own broker user, with only the
# permissions its role needs (docs/messaging.md, "Broker security"); bmctl as the operator. The
# services check the AMQP user_id of capability reports and of destructive requests.
declare -A broker_url=()
if [ -z "${TRANSPORT_URL:-}" ]; then
  for _ in $(seq 1 50); do
    curl -fsS -o /dev/null -u guest:guest http://127.0.0.1:15672/api/overview && break
    sleep 0.2 # the management plugin may still be starting
  done
  curl -sS -o /dev/null -u guest:guest -X DELETE http://127.0.0.1:15672/api/vhosts/nova_bm_lab
  bash scripts/services.sh broker-users --vhost nova_bm_lab --compute-host "${BM_HOST:-$(hostname)}" --dir .lab/broker
  . ./.lab/broker/env
  broker_url=([compute]=$BROKER_URL_COMPUTE [scheduler]=$BROKER_URL_SCHEDULER [power]=$BROKER_URL_POWER
    [netboot]=$BROKER_URL_NETBOOT [deploy-helper]=$BROKER_URL_DEPLOY_HELPER [images]=$BROKER_URL_IMAGES
    [rack]=$BROKER_URL_RACK)
  export TRANSPORT_URL=$BROKER_URL_OPERATOR BM_RPC_CHECK_SENDER=true
fi
# Builds when a source is newer than the last build (a full build takes ~2 minutes on 2 cores).
stamp=dist/.lab-built
if [ ! -f "$stamp" ] || [ -n "$(find apps libs package-lock.json tsconfig*.json nest-cli.json -newer "$stamp" -type f -print -quit)" ]; then
  node scripts/build.js
  touch "$stamp"
fi
bmctl() { node dist/apps/cli/main.js "$@"; }
# The key that encrypts the BMC passwords in nova_bm ([baremetal] pm_password_key_file): made on
# the first run, kept in .lab/; every service and bmctl below reads it through the environment.
if [ -z "${BM_PM_PASSWORD_KEY_FILE:-}" ]; then
  mkdir -p .lab
  export BM_PM_PASSWORD_KEY_FILE=$PWD/.lab/pm_password.key
  bmctl db gen-key --if-missing "$BM_PM_PASSWORD_KEY_FILE" >/dev/null
fi
# `json EXPR`: EXPR (JavaScript, `d` the parsed standard input) printed.
json() { node -e 'let s="";process.stdin.on("data",(c)=>(s+=c)).on("end",()=>{const d=JSON.parse(s);const v=('"$1"');console.log(Array.isArray(v)?v.join("\n"):v)})'; }

BOOT=.cache/netboot
bash scripts/netboot/build-test-boot.sh "$BOOT" >/dev/null # pxelinux.0, ldlinux.c32, Debian's vmlinuz
bash scripts/netboot/build-deploy-ramdisk.sh "$BOOT" >/dev/null
bash scripts/netboot/build-user-image.sh "$BOOT" >/dev/null
rm -rf .lab/logs .lab/tftpboot .lab/disks .lab/images .lab/boots
mkdir -p .lab/logs .lab/tftpboot .lab/disks .lab/boots
cp -f "$BOOT/pxelinux.0" "$BOOT/ldlinux.c32" .lab/tftpboot/ # as an operator installs them in tftp_root

step 'a fresh lab database (bmctl db sync)'
node -e '
const { Client } = require("pg");
const url = new URL(process.argv[1]);
const name = decodeURIComponent(url.pathname.slice(1));
url.pathname = "/postgres";
const c = new Client({ connectionString: url.toString() });
c.connect()
  .then(() => c.query(`DROP DATABASE IF EXISTS "${name.replace(/"/g, "")}" WITH (FORCE)`))
  .then(() => c.end())
  .catch((e) => { console.error(`cannot drop the lab database: ${e.message}`); process.exit(1); });
' "$DATABASE_URL"
bmctl db sync --create-database

NS=bmlab NODES_NS=bmlab-nodes
pids=()
status=0
stop() {
  # Newest first: the services stop while their database and broker relays are still there.
  local i alive
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
  for _ in $(seq 1 75); do
    alive=no
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=yes; done
    [ $alive = no ] && break
    sleep 0.2
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$NODES_NS" 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  rm -f /tmp/bmlab-*.sock
}
trap stop EXIT
trap 'exit 130' INT TERM

step "the boot network: namespaces $NS (br0 10.77.0.1/24) and $NODES_NS (eth0 on br0)"
ip netns del "$NODES_NS" 2>/dev/null || true
ip netns del "$NS" 2>/dev/null || true
ip netns add "$NS"
ip netns add "$NODES_NS"
ip -n "$NS" link set lo up
ip -n "$NODES_NS" link set lo up
ip -n "$NS" link add br0 type bridge
ip -n "$NS" addr add 10.77.0.1/24 dev br0
ip -n "$NS" link set br0 up
ip -n "$NS" route add 255.255.255.255/32 dev br0 # broadcast DHCP replies need a route in a namespace
ip -n "$NS" link add vnodes type veth peer name eth0 netns "$NODES_NS"
ip -n "$NS" link set vnodes master br0
ip -n "$NS" link set vnodes up
ip -n "$NS" tuntap add dev tapq1 mode tap # the QEMU node's NIC
ip -n "$NS" link set tapq1 master br0
ip -n "$NS" link set tapq1 up
# IPv6 router advertisements only (no DHCP/TFTP): without them iPXE waits ~13 s for an IPv6 router.
ip -n "$NS" -6 addr add fd77::1/64 dev br0 nodad
ip netns exec "$NS" dnsmasq --keep-in-foreground --port=0 --interface=br0 --bind-interfaces --enable-ra \
  --dhcp-range=::,constructor:br0,ra-only,64 --pid-file= --conf-file=/dev/null >.lab/logs/ra.log 2>&1 &
pids+=($!)
# PostgreSQL, RabbitMQ and the images service relayed into the namespaces through Unix sockets
# (scripts/netboot/relay.js): a listener on the namespace's 127.0.0.1 for each.
db_port=$(node -e 'console.log(new URL(process.argv[1]).port || 5432)' "$DATABASE_URL")
relay() { # PORT NAMESPACE…
  local port=$1 ns
  shift
  node scripts/netboot/relay.js "/tmp/bmlab-$port.sock" "127.0.0.1:$port" >/dev/null &
  pids+=($!)
  sleep 0.2
  for ns in "$@"; do
    ip netns exec "$ns" node scripts/netboot/relay.js "127.0.0.1:$port" "/tmp/bmlab-$port.sock" >/dev/null &
    pids+=($!)
  done
}
relay "$db_port" "$NS" "$NODES_NS"
relay 5672 "$NS" "$NODES_NS"
relay 9292 "$NS"

declare -A ports=([images]=9106 [compute]=9101 [scheduler]=9102 [power]=9103 [netboot]=9104 [deploy-helper]=9105 [rack]=9107)
declare -A where=([images]='' [compute]='' [scheduler]='' [power]=$NODES_NS [netboot]=$NS [deploy-helper]=$NS [rack]='')
in_ns() { # NAMESPACE|'' COMMAND…
  local ns=$1
  shift
  if [ -n "$ns" ]; then ip netns exec "$ns" "$@"; else "$@"; fi
}
healthy() { # APP: waits up to 20 s for its /healthz
  local app=$1 url="http://127.0.0.1:${ports[$1]}/healthz" body
  for _ in $(seq 1 100); do
    if body=$(in_ns "${where[$app]}" curl -fsS "$url" 2>/dev/null); then
      printf '%-14s healthy   %s\n' "$app" "$body"
      return 0
    fi
    sleep 0.2
  done
  printf '%-14s UNHEALTHY (see .lab/logs/%s.log)\n' "$app" "$app"
  return 1
}
service() { # APP [VAR=VALUE…]: starts dist/apps/APP/main.js where it belongs, its log in .lab/logs
  local app=$1
  shift
  local cmd=(env BM_HEALTH_PORT="${ports[$app]}" "$@" node "dist/apps/$app/main.js")
  [ -n "${where[$app]}" ] && cmd=(ip netns exec "${where[$app]}" "${cmd[@]}")
  # A simple command in the background (not a function): $! is the service itself (ip and env exec it).
  # Its broker login goes in its environment, not on a command line.
  TRANSPORT_URL=${broker_url[$app]:-$TRANSPORT_URL} "${cmd[@]}" >".lab/logs/$app.log" 2>&1 &
  pids+=($!)
  svc_pid[$app]=$!
}
declare -A svc_pid=()

step 'the images service (Glance v2 API on 127.0.0.1:9292, data in .lab/images)'
service images BM_DATA_DIR="$PWD/.lab/images"
healthy images

step 'the images, uploaded by id (bmctl image create)'
image() { # NAME DISK_FORMAT FILE [--property K=V…] → the new image's id
  local name=$1 format=$2 file=$3 container
  shift 3
  container=$format
  [ "$format" = raw ] && container=bare
  bmctl image create "$name" --disk-format "$format" --container-format "$container" --file "$file" "$@" --json 2>/dev/null | json d.id
}
deploy_kernel=$(image lab-deploy-kernel aki "$BOOT/vmlinuz")
deploy_ramdisk=$(image lab-deploy-ramdisk ari "$BOOT/deploy-initrd.gz")
kernel=$(image lab-kernel aki "$BOOT/vmlinuz")
ramdisk=$(image lab-ramdisk ari "$BOOT/user-initrd.gz")
image lab-image raw "$BOOT/user-root.img" --property "kernel_id=$kernel" --property "ramdisk_id=$ramdisk" >/dev/null
bmctl image list
marker=$(debugfs -R 'cat /etc/nova-bm-marker' "$BOOT/user-root.img" 2>/dev/null)

step "the nodes: $sims simulated (lab-nodes) and $qemu QEMU, enrolled from .lab/baremetal.csv"
password=$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n') # IPMI 2.0: at most 20 bytes
(umask 077 && printf '%s\n' "$password" >.lab/bmc-password)
sim_mac() { printf '52:54:00:b3:01:%02x' "$1"; }
QEMU_MAC=52:54:00:b3:00:01
{
  echo 'name,mac,bmc_port,bmc_password_file,disk_file,disk_size'
  for i in $(seq 1 "$sims"); do echo "sim-$i,$(sim_mac "$i"),$((6240 + i)),../bmc-password,sim-$i.img,3G"; done
} >.lab/disks/nodes.csv
{
  echo 'mac,pm_user,pm_password,pm_address,cpus,memory_mb,local_gb,cpu_arch,service_host,terminal_port'
  # local_gb 2 = the lab.sim flavor's root 1 + ephemeral 1 (ExactDiskFilter); the QEMU node: root 1.
  for i in $(seq 1 "$sims"); do echo "$(sim_mac "$i"),admin,$password,127.0.0.1:$((6240 + i)),1,2048,2,x86_64,,"; done
  [ "$qemu" = 1 ] && echo "$QEMU_MAC,admin,$password,127.0.0.1:6231,1,768,1,x86_64,,"
} >.lab/baremetal.csv
chmod 600 .lab/baremetal.csv
if [ "$sims" -gt 0 ]; then
  ip netns exec "$NODES_NS" node dist/apps/lab-nodes/main.js --nodes .lab/disks/nodes.csv --interface eth0 \
    --status-file .lab/lab-nodes-status.json --status-interval 500 >.lab/logs/lab-nodes.log 2>&1 &
  pids+=($!)
  svc_pid[lab-nodes]=$!
  for _ in $(seq 1 150); do grep -q '"event":"ready"' .lab/logs/lab-nodes.log && break; sleep 0.2; done
  grep -q '"event":"ready"' .lab/logs/lab-nodes.log || { tail -5 .lab/logs/lab-nodes.log; exit 1; }
fi
if [ "$qemu" = 1 ]; then
  # Its disk: 2 GiB, sparse; boot code `int 18h` (no boot loader: the firmware goes on to PXE).
  truncate -s 0 .lab/disks/qemu-1.img
  truncate -s 2G .lab/disks/qemu-1.img
  printf '\xcd\x18\xeb\xfe' | dd of=.lab/disks/qemu-1.img conv=notrunc status=none
  ip netns exec "$NODES_NS" node dist/apps/cli/main.js vbmc start --port 6231 --user admin --password-file .lab/bmc-password \
    --qemu-mac "$QEMU_MAC" --qemu-netns "$NS" --qemu-tap tapq1 --qemu-memory 768 --qemu-disk .lab/disks/qemu-1.img \
    --qemu-console .lab/logs/qemu-1-console.log --qemu-log .lab/logs/qemu-1.log >.lab/logs/vbmc-qemu-1.log 2>&1 &
  pids+=($!)
fi
bmctl node import .lab/baremetal.csv
nodes_json=$(bmctl node list --long --json)
node_id() { echo "$nodes_json" | json "d.find((n) => n['MAC Addresses'].includes('$1')).ID"; }

step 'flavors, one per node size, naming the deploy kernel and ramdisk'
flavor() { # NAME RAM DISK EPHEMERAL
  bmctl flavor create "$1" --vcpus 1 --ram "$2" --disk "$3" --ephemeral "$4" --extra-spec cpu_arch=x86_64 \
    --extra-spec "baremetal:deploy_kernel_id=$deploy_kernel" --extra-spec "baremetal:deploy_ramdisk_id=$deploy_ramdisk" >/dev/null
}
[ "$sims" -gt 0 ] && flavor lab.sim 2048 1 1
[ "$qemu" = 1 ] && flavor lab.qemu 768 1 0
bmctl flavor list

step 'the services (logs in .lab/logs/)'
# Destructive requests only from the broker users that send them (AMQP user_id; topic permissions
# alone cannot stop a service writing into another's queue through the default exchange).
service power BM_RPC_ADMIN_SENDERS='^(compute-.+|bmctl)$'
service netboot BM_RPC_ADMIN_SENDERS='^(compute-.+|deploy-helper|bmctl)$' BM_MY_IP=10.77.0.1 BM_PXE_INTERFACE=br0 BM_DHCP_MODE=full BM_DHCP_RANGE=10.77.0.20,10.77.0.250 \
  BM_TFTP_ENABLED=true BM_TFTP_ROOT="$PWD/.lab/tftpboot" BM_PXE_APPEND_PARAMS='console=ttyS0 panic=1 quiet'
# The deploy ramdisks post to the boot server's 10000 and export their disks on the boot network:
# the userspace initiator (no kernel iSCSI needed) reaches them there.
service deploy-helper BM_MY_IP=10.77.0.1 BM_ISCSI_ATTACHER=userspace BM_DEPLOY_WORKERS="$workers"
service compute BM_PXE_DEPLOY_TIMEOUT=$((timeout - 20))
service scheduler
# The rack view: every node on one page, live (open it to watch the boots below).
RACK_PORT=${RACK_PORT:-9180}
service rack BM_RACK_PORT="$RACK_PORT"
for app in power netboot deploy-helper compute scheduler rack; do healthy "$app" || status=1; done
[ $status = 0 ] || exit 1
echo "the rack view: http://127.0.0.1:$RACK_PORT/"

step "the nodes as hypervisors (compute's resource reports: bmctl hypervisor list)"
total=$((sims + qemu))
for _ in $(seq 1 100); do
  [ "$(bmctl hypervisor list --json | json d.length)" = "$total" ] && break
  sleep 0.2
done
bmctl hypervisor list

step "$total boots at once through the scheduler (bmctl boot), followed live (bmctl node watch)"
ids=()
for i in $(seq 1 "$sims"); do ids+=("$(node_id "$(sim_mac "$i")")"); done
[ "$qemu" = 1 ] && qemu_id=$(node_id "$QEMU_MAC") && ids+=("$qemu_id")
since=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ) # a node whose deploy began after this and failed ends the watch
boots_started=$(date +%s%N)
declare -A boots=()
# One request for the simulated nodes (as `nova boot --min-count N`: a node each, named
# vm-sim-1…N) and one for the QEMU node. bmctl boot returns once the scheduler placed them
# (`building`; a NoValidHost fails it); from there the watch follows every node.
boot() { # NAME FLAVOR COUNT: in the background, the answer in .lab/boots/NAME.json, progress in NAME.log
  node dist/apps/cli/main.js boot "$1" --flavor "$2" --count "$3" --image lab-image --wait-for building \
    --timeout "$timeout" --json >".lab/boots/$1.json" 2>".lab/boots/$1.log" &
  boots[$1]=$!
  pids+=($!)
}
[ "$sims" -gt 0 ] && boot vm-sim lab.sim "$sims"
[ "$qemu" = 1 ] && boot vm-qemu lab.qemu 1
bmctl node watch "${ids[@]}" --until active --timeout "$timeout" --since "$since" || status=1
boots_ms=$((($(date +%s%N) - boots_started) / 1000000))
for name in "${!boots[@]}"; do
  wait "${boots[$name]}" || { echo "bmctl boot $name failed: $(tail -1 ".lab/boots/$name.log")"; status=1; }
done

step 'the proof: each node runs what was written to its disk'
if [ "$sims" -gt 0 ]; then
  # Each simulated node's second PXE round booted the instance label, root=UUID= naming the
  # filesystem it found on its own disk (apps/lab-nodes checks both).
  for _ in $(seq 1 50); do
    [ "$(json "d.nodes.filter((n) => n.phase === 'booted-instance').length" <.lab/lab-nodes-status.json)" = "$sims" ] && break
    sleep 0.2
  done
  json "d.nodes.map((n) => \`\${n.name.padEnd(8)} \${n.phase.padEnd(16)} \${n.instance ? 'root=UUID=' + n.instance.rootUuid + ' on partition ' + n.instance.partition : n.error ?? ''}\`)" \
    <.lab/lab-nodes-status.json
  [ "$(json "d.nodes.filter((n) => n.phase === 'booted-instance').length" <.lab/lab-nodes-status.json)" = "$sims" ] || status=1
fi
if [ "$qemu" = 1 ]; then
  # The VM rebooted after the deploy, PXE gave it the boot label, its initramfs mounted root=UUID=…
  # from /dev/vda and switched to it: the image's init prints the marker read from inside the image.
  seen=''
  for _ in $(seq 1 300); do
    seen=$(grep -a -m1 '^NOVA-BM-USER-IMAGE ' .lab/logs/qemu-1-console.log | tr -d '\r' || true)
    [ -n "$seen" ] && break
    grep -aqE 'Kernel panic|NOVA-BM-[A-Z-]+: error' .lab/logs/qemu-1-console.log && break
    sleep 0.2
  done
  if [ -n "$seen" ] && [ "$seen" = "$marker" ]; then
    echo "qemu-1   the image's marker on its serial console: $seen"
    grep -a 'NOVA-BM-USER-IMAGE: root' .lab/logs/qemu-1-console.log | tr -d '\r' | sed 's/^/         /' || true
  else
    echo "qemu-1   no marker (expected \"$marker\"); console tail:"
    tail -c 1500 .lab/logs/qemu-1-console.log | tr -d '\r'
    status=1
  fi
  step "the QEMU node's timeline (bmctl node timeline $qemu_id)"
  bmctl node timeline "$qemu_id"
fi

if [ -n "$report" ]; then
  # Every node's time in each state (the watch's JSON: at once, they are settled); each service's
  # peak resident memory (VmHWM) and CPU seconds so far (its own and its waited-for children's:
  # the deploy helper's qemu-storage-daemon, sfdisk, mkfs…; /proc/PID/stat fields 14-17, in ticks).
  watched=$(bmctl node watch "${ids[@]}" --until active --timeout 5 --since "$since" --json 2>/dev/null || echo '[]')
  usage=$(for app in "${!svc_pid[@]}"; do
    pid=${svc_pid[$app]}
    printf '%s %s %s\n' "$app" "$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)" \
      "$(awk '{print $14 + $15 + $16 + $17}' "/proc/$pid/stat" 2>/dev/null || echo 0)"
  done)
  node -e '
const [file, sims, qemu, ms, status, watched, usage, hz] = process.argv.slice(1);
const rows = usage.trim().split("\n").filter(Boolean).map((l) => l.split(" "));
require("fs").writeFileSync(file, JSON.stringify({
  sims: +sims, qemu: +qemu, boots_ms: +ms, ok: status === "0", nodes: JSON.parse(watched),
  peak_rss_kb: Object.fromEntries(rows.map(([app, kb]) => [app, +kb])),
  cpu_s: Object.fromEntries(rows.map(([app, , ticks]) => [app, +ticks / +hz])),
  cpus: require("os").cpus().length,
}, null, 1) + "\n");
' "$report" "$sims" "$qemu" "$boots_ms" "$status" "$watched" "$usage" "$(getconf CLK_TCK)"
  echo "report: $report"
fi

step 'the instances (bmctl instance list) and the message bus (bmctl queues)'
bmctl instance list || status=1
bmctl queues || status=1

printf '\n--- [%3ss] ' $((SECONDS - started_at))
if [ $status = 0 ]; then echo "lab: $total node(s) provisioned end to end"; else echo 'lab: FAILED (logs in .lab/logs/)'; fi
if [ $keep = yes ]; then
  cat <<EOF
--- services running; Ctrl-C stops them. To explore:
  export DATABASE_URL='$DATABASE_URL'; . ./.lab/broker/env; export TRANSPORT_URL=\$BROKER_URL_OPERATOR
  node dist/apps/cli/main.js node list | instance list | node timeline ID | queues
  ip netns exec $NODES_NS node dist/apps/cli/main.js ipmi --address 127.0.0.1:6241 --user admin --password-file .lab/bmc-password power status
  the rack view: http://127.0.0.1:$RACK_PORT/ (every node, live; a click shows its timeline)
  RabbitMQ management UI: http://127.0.0.1:15672/#/queues/nova_bm_lab (guest/guest, or bmctl's login: .lab/broker/env); logs in .lab/logs/
EOF
  wait
fi
exit $status
