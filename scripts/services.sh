#!/usr/bin/env bash
# Makes sure what the tests and the lab need is here: Debian packages, node_modules, and the
# PostgreSQL and RabbitMQ servers (started if they are not running). Idempotent; quiet when
# everything is already in place. Sourced by scripts/test.sh and scripts/lab.sh, run by .ci/run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf '[setup] %s\n' "$*" >&2; }

install_packages() {
  local missing=()
  local pkg
  while read -r pkg; do
    [ -z "$pkg" ] && continue
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done < <(grep -v '^\s*#' deploy/apt-packages.txt | awk '{print $1}')
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    local sudo=''
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

install_node_modules() {
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say 'npm ci'
    npm ci --no-audit --no-fund
  fi
}

start_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432; then return; fi
  say 'starting PostgreSQL'
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && return; sleep 1; done
  say 'PostgreSQL did not start'; exit 1
}

start_rabbitmq() {
  if ! rabbitmq-diagnostics -q ping >/dev/null 2>&1; then
    say 'starting RabbitMQ'
    rabbitmq-server -detached
    for _ in $(seq 1 60); do rabbitmq-diagnostics -q ping >/dev/null 2>&1 && break; sleep 1; done
    rabbitmq-diagnostics -q ping >/dev/null 2>&1 || { say 'RabbitMQ did not start'; exit 1; }
  fi
  # The management plugin gives operators (and `bmctl queues`) the queue view on :15672.
  if ! rabbitmq-plugins list -e -m 2>/dev/null | grep -qx rabbitmq_management; then
    say 'enabling rabbitmq_management'
    rabbitmq-plugins enable -q rabbitmq_management >/dev/null
  fi
}

case "${1:-all}" in
  packages) install_packages ;;
  node) install_node_modules ;;
  servers) start_postgres; start_rabbitmq ;;
  all) install_packages; install_node_modules; start_postgres; start_rabbitmq ;;
  *) echo "usage: $0 [packages|node|servers|all]" >&2; exit 2 ;;
esac
