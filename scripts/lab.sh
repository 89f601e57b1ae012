#!/usr/bin/env bash
# The main job (README): bring up the lab on this machine as plain processes.
#   1. install what is missing, start PostgreSQL and RabbitMQ, build;
#   2. create and migrate the lab's nova_bm database;
#   3. enroll the sample hardware, deploy/baremetal.csv (re-runs skip nodes already enrolled);
#   4. start a virtual BMC per lab node and every service (compute, scheduler, power, netboot,
#      deploy-helper), wait until each reports healthy, ask compute for its nodes and the power
#      service to set PXE boot and power node 1 on (real IPMI 2.0 to its virtual BMC), show the
#      message bus; then stop everything (or keep it running: --keep).
# Environment: DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/nova_bm_lab),
# BM_CONFIG_FILE (a nova.conf), LAB_NODES (default deploy/baremetal.csv).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

keep=no
[ "${1:-}" = "--keep" ] && keep=yes

bash scripts/services.sh all
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

mkdir -p .lab/logs
pids=()
stop() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop EXIT

echo '--- starting a virtual BMC for each lab node (bmctl vbmc start; ports from deploy/baremetal.csv)'
printf 'password' > .lab/bmc-password
chmod 600 .lab/bmc-password
for port in 6231 6232 6233; do
  bmctl vbmc start --port "$port" --user admin --password-file .lab/bmc-password >".lab/logs/vbmc-$port.log" 2>&1 &
  pids+=($!)
done

echo '--- starting services (logs in .lab/logs/)'
port=9101
declare -A ports
for app in compute scheduler power netboot deploy-helper; do
  BM_HEALTH_PORT=$port node "dist/apps/$app/main.js" >".lab/logs/$app.log" 2>&1 &
  pids+=($!)
  ports[$app]=$port
  port=$((port + 1))
done
status=0
for app in compute scheduler power netboot deploy-helper; do
  url="http://127.0.0.1:${ports[$app]}/healthz"
  ok=no
  for _ in $(seq 1 100); do
    if body=$(curl -fsS "$url" 2>/dev/null); then ok=yes; break; fi
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
  echo '--- powering node 1 on through the power service (oslo RPC -> IPMI 2.0 -> its virtual BMC)'
  bmctl rpc call --topic baremetal-power --server "$(hostname)" --version 1.0 set_boot_device '{"node": 1, "device": "pxe", "persistent": true}' || status=1
  bmctl rpc call --topic baremetal-power --server "$(hostname)" --version 1.0 power_on '{"node": 1}' || status=1
  bmctl ipmi --address 127.0.0.1:6231 --user admin --password-file .lab/bmc-password power status || status=1
  echo '--- the message bus (bmctl queues)'
  bmctl queues || status=1
fi

if [ $keep = yes ] && [ $status = 0 ]; then
  echo '--- services running; Ctrl-C stops them'
  wait
fi
exit $status
