#!/usr/bin/env bash
# Makes sure what the tests and the lab need is here: Debian packages, node_modules, the
# PostgreSQL and RabbitMQ servers (started if they are not running) and a PostgreSQL login.
# Idempotent; quiet when everything is already in place. Run by scripts/test.sh, scripts/lab.sh,
# .ci/run and the benchmarks (scripts/bench/peers.ts).
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
    # tftpd-hpa is here for its in.tftpd, which bench:tftp runs in a namespace of its own, and
    # nova-conductor for the tests, which run their own on a vhost of their own; each package also
    # starts its daemon (TFTP on port 69 of every interface; a conductor on /etc/nova/nova.conf's
    # broker): stop them and keep them off.
    local daemon
    for daemon in tftpd-hpa nova-conductor; do
      [[ " ${missing[*]} " == *" $daemon "* ]] || continue
      say "stopping and disabling the $daemon daemon (the tests run the program themselves)"
      if [ -d /run/systemd/system ]; then
        $sudo systemctl disable --now "$daemon" >/dev/null 2>&1 || true
      else
        $sudo service "$daemon" stop >/dev/null 2>&1 || true
        $sudo update-rc.d "$daemon" disable >/dev/null 2>&1 || true
      fi
    done
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
  pg_ctlcluster --skip-systemctl-redirect "$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -1)" main start
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
  notification_cap /
}

# The PostgreSQL login of the lab and the tests. Our machines let `postgres` in over TCP without a
# password (pg_hba.conf `trust`): nothing to do, the default URLs work. A stock Debian does not
# (scram-sha-256 for TCP, peer for the Unix socket); there, once: the role nova_bm (LOGIN
# CREATEDB, not a superuser) is created through the Unix socket as the postgres OS user, with a
# random password kept in .lab/pg-password (mode 0600), and .lab/database.env (0600) gets the
# URLs naming it; scripts/test.sh and the benchmarks read TEST_DATABASE_URL from there, the lab
# DATABASE_URL. pg_hba.conf is never changed. A DATABASE_URL/TEST_DATABASE_URL set by the caller
# wins over the file.
PG_PASSWORD_FILE=.lab/pg-password
PG_ENV_FILE=.lab/database.env
pg_login_ok() ( # USER [PASSWORD]: can USER log in to 127.0.0.1:5432 over TCP (never prompting)?
  unset PGPASSWORD
  [ -n "${2:-}" ] && export PGPASSWORD=$2
  PGCONNECT_TIMEOUT=5 psql -X -w -q -h 127.0.0.1 -p 5432 -U "$1" -d postgres -c 'SELECT 1' >/dev/null 2>&1
)
as_postgres() { # runs a command as the postgres OS user (peer authentication on the Unix socket)
  if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else (cd / && sudo -u postgres -- "$@"); fi
}
setup_database_login() {
  if [ -n "${DATABASE_URL:-}" ] && [ -n "${TEST_DATABASE_URL:-}" ]; then return; fi
  if pg_login_ok postgres; then
    rm -f "$PG_ENV_FILE" # left by an earlier run on a stricter pg_hba.conf: the defaults work now
    return
  fi
  local pw=''
  [ -s "$PG_PASSWORD_FILE" ] && pw=$(cat "$PG_PASSWORD_FILE")
  if [ -z "$pw" ] || ! pg_login_ok nova_bm "$pw"; then
    say "PostgreSQL does not let postgres in over TCP without a password: using the role nova_bm (CREATEDB), password in $PG_PASSWORD_FILE"
    mkdir -p .lab
    [ -n "$pw" ] || pw=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
    rm -f "$PG_PASSWORD_FILE"
    (umask 077 && printf '%s\n' "$pw" >"$PG_PASSWORD_FILE")
    # On stdin, not on a command line (ps would show it); hex, so nothing to quote.
    as_postgres psql -X -q -v ON_ERROR_STOP=1 -d postgres >/dev/null <<SQL
SELECT 'CREATE ROLE nova_bm' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'nova_bm') \\gexec
ALTER ROLE nova_bm WITH LOGIN CREATEDB NOSUPERUSER PASSWORD '$pw';
SQL
    pg_login_ok nova_bm "$pw" || {
      say 'nova_bm cannot log in over TCP either: pg_hba.conf needs a host line for 127.0.0.1 with scram-sha-256 or md5 (Debian has one)'
      exit 1
    }
  fi
  local base="postgresql://nova_bm:$pw@127.0.0.1:5432"
  rm -f "$PG_ENV_FILE.tmp"
  (umask 077 && cat >"$PG_ENV_FILE.tmp" <<ENV
# Written by scripts/services.sh: PostgreSQL here does not let postgres in over TCP without a
# password, so the lab and the tests use the role nova_bm. A variable already set wins.
export DATABASE_URL="\${DATABASE_URL:-$base/nova_bm_lab}"
export TEST_DATABASE_URL="\${TEST_DATABASE_URL:-$base/postgres}"
ENV
  ) && mv -f "$PG_ENV_FILE.tmp" "$PG_ENV_FILE"
}

# One RabbitMQ user per service on a vhost (libs/messaging broker-users.ts): the lab's, or a
# test's. Needs rabbitmqctl (root on the broker's machine). Passwords are generated once into
# .lab/broker/passwords (mode 600) and handed to rabbitmqctl as hashes on stdin; .lab/broker/env
# (mode 600) gets each service's transport URL. Idempotent.
#   services.sh broker-users --vhost nova_bm_lab --compute-host HOST [--prefix P] [--dir DIR]
broker_users() {
  npx ts-node -r tsconfig-paths/register --transpile-only scripts/broker-users.ts "$@"
}

# Notification queues (notifications.info, …) that nobody reads must not fill the broker: its
# memory alarm would then block every publisher. A policy (deploy/rabbitmq-notification-policy.json:
# the newest 10000 messages, 64 MiB, per queue) caps them without changing how they are declared,
# so oslo peers declaring the same queues still agree. Per vhost: `/` when the broker starts here;
# other vhosts (the lab's) with `services.sh notification-cap VHOST`.
notification_cap() {
  local vhost=${1:-/} file=deploy/rabbitmq-notification-policy.json
  field() { /usr/bin/python3 -c 'import json, sys; v = json.load(open(sys.argv[1]))[sys.argv[2]]; print(v if isinstance(v, str) else json.dumps(v))' "$file" "$1"; }
  rabbitmqctl -q set_policy -p "$vhost" --apply-to queues --priority "$(field priority)" \
    bm-notifications "$(field pattern)" "$(field definition)" >/dev/null
}

case "${1:-all}" in
  packages) install_packages ;;
  node) install_node_modules ;;
  servers) start_postgres; setup_database_login; start_rabbitmq ;;
  database) setup_database_login ;;
  broker-users) shift; broker_users "$@" ;;
  notification-cap) notification_cap "${2:-/}" ;;
  all) install_packages; install_node_modules; start_postgres; setup_database_login; start_rabbitmq ;;
  *) echo "usage: $0 [packages|node|servers|database|all|broker-users ARGS…|notification-cap [VHOST]]" >&2; exit 2 ;;
esac
