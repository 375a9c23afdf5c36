#!/usr/bin/env bash
# `make run`: the whole SmartSlot stack on this machine, without containers.
#
#   install → PostgreSQL, Redis, RabbitMQ (scripts/infra.sh) → read replica → migrations → Prometheus (optional)
#   → the services and the mail sink (honcho, Procfile) → wait for /readyz → demo data → follow the logs.
#
# Ctrl-C (or TERM) stops the services, Prometheus if this script started it, and the servers and replica
# scripts/infra.sh started (stop-started); servers that were already running are left alone.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

LOG_DIR=var/log
RUN_DIR=var/run
MAIL_DIR=var/mail
STACK_LOG=$LOG_DIR/stack.log
HONCHO_PIDFILE=$RUN_DIR/honcho.pid
PROMETHEUS_PIDFILE=$RUN_DIR/prometheus.pid
READY_DEADLINE_SECONDS=90
PROMETHEUS_PORT=9090
SMTP_PORT=${SMARTSLOT_NOTIFIER_SMTP_PORT:-1025}
# name:port of every service in the Procfile; each answers GET /readyz with 200 once it can serve.
SERVICES=(gateway:8080 booking:8081 availability:8082 waitlist:8083 notifier:8084 console:8085)

HONCHO_PID=""
PROMETHEUS_PID=""
FOLLOW_PID=""
INFRA_TOUCHED=""
REPLICA_NOTE=""
PROMETHEUS_NOTE=""

say() { printf '%s\n' "$*"; }
step() { printf '\n==> %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}
# shellcheck disable=SC2016 # $0 expands in the inner bash, on purpose
tcp_open() { timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"' "$1" 2>/dev/null; }
alive() { [[ -n $1 ]] && kill -0 "$1" 2>/dev/null; }

# shellcheck disable=SC2317 # only reached from the EXIT trap
# Stop a background process with TERM, then KILL if it has not exited within a few seconds.
stop_process() {
  local pid=$1 name=$2 deadline=$((SECONDS + 15))
  alive "$pid" || return 0
  say "Stopping $name ..."
  kill -TERM "$pid" 2>/dev/null || true
  while alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
  if alive "$pid"; then
    warn "$name did not stop in 15 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317 # the EXIT trap
cleanup() {
  local status=$?
  # Stop everything that can be stopped, even when one step fails or another Ctrl-C arrives.
  set +e
  trap - EXIT TERM
  trap '' INT
  [[ -n $FOLLOW_PID ]] && kill "$FOLLOW_PID" 2>/dev/null
  # honcho stops its processes itself (TERM, then KILL after 5 s).
  stop_process "$HONCHO_PID" "the services (honcho)"
  stop_process "$PROMETHEUS_PID" Prometheus
  rm -f "$HONCHO_PIDFILE" "$PROMETHEUS_PIDFILE"
  if [[ -n $INFRA_TOUCHED ]]; then
    scripts/infra.sh stop-started || warn "could not stop every server (scripts/infra.sh status)"
  fi
  exit "$status"
}

# Defaults that match the servers scripts/infra.sh provides; anything already set in the environment wins.
export_settings() {
  export SMARTSLOT_DATABASE_URL="${SMARTSLOT_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/smartslot}"
  export SMARTSLOT_REDIS_URL="${SMARTSLOT_REDIS_URL:-redis://127.0.0.1:6379/0}"
  export SMARTSLOT_AMQP_URL="${SMARTSLOT_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}"
  export SMARTSLOT_NOTIFIER_SMTP_HOST="${SMARTSLOT_NOTIFIER_SMTP_HOST:-127.0.0.1}"
  export SMARTSLOT_NOTIFIER_SMTP_PORT="$SMTP_PORT"
  # Webhook receivers of a laptop stack listen on plain http on this host; production allows neither.
  export SMARTSLOT_NOTIFIER_WEBHOOKS_ALLOW_HTTP="${SMARTSLOT_NOTIFIER_WEBHOOKS_ALLOW_HTTP:-true}"
  export SMARTSLOT_NOTIFIER_WEBHOOKS_ALLOWED_NETWORKS="${SMARTSLOT_NOTIFIER_WEBHOOKS_ALLOWED_NETWORKS:-127.0.0.0/8,::1/128}"
  export SMARTSLOT_BOOTSTRAP_ADMIN_EMAIL="${SMARTSLOT_BOOTSTRAP_ADMIN_EMAIL:-admin@example.com}"
  export SMARTSLOT_BOOTSTRAP_ADMIN_PASSWORD="${SMARTSLOT_BOOTSTRAP_ADMIN_PASSWORD:-smartslot-admin}"
  export SMARTSLOT_GATEWAY_PORT="${SMARTSLOT_GATEWAY_PORT:-8080}"
  export SMARTSLOT_CONSOLE_GATEWAY_URL="${SMARTSLOT_CONSOLE_GATEWAY_URL:-http://127.0.0.1:$SMARTSLOT_GATEWAY_PORT}"
  # The console calls the gateway for its users from 127.0.0.1 and says whom for (X-Forwarded-For): loopback is a
  # trusted proxy here, so each console user has a sign-in allowance of their own. Only processes on this machine
  # connect from loopback (they can name any client, and could do anything here anyway); never trust it behind a local
  # proxy that relays outside callers without appending their address.
  export SMARTSLOT_GATEWAY_TRUSTED_PROXIES="${SMARTSLOT_GATEWAY_TRUSTED_PROXIES-127.0.0.1,::1}"
  # On a loopback stack every caller shares the address 127.0.0.1, so the per-address limits (10 sign-ins a minute
  # in production) would meet one developer running the test suite; per-user limits stay as in production.
  export SMARTSLOT_GATEWAY_RATE_LIMIT_AUTH="${SMARTSLOT_GATEWAY_RATE_LIMIT_AUTH:-600/minute}"
  export SMARTSLOT_GATEWAY_RATE_LIMIT_IP="${SMARTSLOT_GATEWAY_RATE_LIMIT_IP:-6000/minute}"
  ensure_local_secrets
  # Log lines reach var/log/stack.log as they happen, not when a pipe buffer fills.
  export PYTHONUNBUFFERED=1
}

# The gateway signs tokens, and the identity it forwards to the services, with secrets read from files
# (SMARTSLOT_SECRETS_DIR, one file per setting; a variable that is set wins over its file); random ones are made
# once per checkout so local tokens survive restarts and are never committed.
ensure_local_secrets() {
  if [[ -z ${SMARTSLOT_SECRETS_DIR:-} ]]; then
    local dir=var/secrets name
    mkdir -p "$dir" && chmod 700 "$dir"
    for name in smartslot_jwt_secret smartslot_internal_identity_key; do
      [[ -s $dir/$name ]] || (umask 077 && head -c 48 /dev/urandom | base64 | tr -d '\n' >"$dir/$name")
    done
    export SMARTSLOT_SECRETS_DIR="$PWD/$dir"
  fi
}

# A second stack would fail to bind, or worse, the readiness checks would see the first one's services.
refuse_if_already_running() {
  local pid="" busy=() entry
  [[ -f $HONCHO_PIDFILE ]] && pid=$(<"$HONCHO_PIDFILE")
  if alive "$pid"; then
    die "the stack is already running (honcho pid $pid); stop it with Ctrl-C in its terminal or 'kill $pid'"
  fi
  for entry in "${SERVICES[@]}" "mailsink:$SMTP_PORT"; do
    tcp_open "${entry#*:}" && busy+=("${entry%%:*} port ${entry#*:}")
  done
  ((${#busy[@]} == 0)) || die "ports already in use: ${busy[*]} (another stack or program; see 'ss -ltnp')"
}

start_servers() {
  step "Servers"
  INFRA_TOUCHED=1
  scripts/infra.sh ensure
  if scripts/infra.sh replica; then
    export SMARTSLOT_REPLICA_DATABASE_URL="${SMARTSLOT_REPLICA_DATABASE_URL:-postgresql://postgres@127.0.0.1:5433/smartslot}"
    REPLICA_NOTE="127.0.0.1:5433, streaming from the primary"
  else
    warn "no read replica; availability reads the primary instead"
    unset SMARTSLOT_REPLICA_DATABASE_URL
    REPLICA_NOTE="not running (availability reads the primary)"
  fi
}

migrate() {
  step "Migrations"
  .venv/bin/smartslot-migrate gateway booking availability waitlist notifier
}

# Prometheus is optional: used when installed, never installed by this script.
start_prometheus() {
  step "Prometheus"
  if ! command -v prometheus >/dev/null 2>&1; then
    PROMETHEUS_NOTE="not installed (optional: apt-get install prometheus)"
  elif tcp_open "$PROMETHEUS_PORT"; then
    PROMETHEUS_NOTE="something already listens on :$PROMETHEUS_PORT; not started"
  else
    prometheus --config.file=deploy/prometheus/prometheus.local.yml --storage.tsdb.path=var/prometheus \
      --web.listen-address="127.0.0.1:$PROMETHEUS_PORT" >"$LOG_DIR/prometheus.log" 2>&1 &
    PROMETHEUS_PID=$!
    echo "$PROMETHEUS_PID" >"$PROMETHEUS_PIDFILE"
    PROMETHEUS_NOTE="http://localhost:$PROMETHEUS_PORT (log: $LOG_DIR/prometheus.log)"
  fi
  say "Prometheus: $PROMETHEUS_NOTE"
}

start_services() {
  step "Services"
  # Keep the previous run's log for a post-mortem.
  [[ -f $STACK_LOG ]] && mv "$STACK_LOG" "$STACK_LOG.1"
  .venv/bin/honcho start -f Procfile >"$STACK_LOG" 2>&1 &
  HONCHO_PID=$!
  echo "$HONCHO_PID" >"$HONCHO_PIDFILE"
  say "Started ${SERVICES[*]%%:*} and mailsink with honcho (pid $HONCHO_PID), logs in $STACK_LOG"
}

# honcho prefixes each line with "HH:MM:SS <name>.1 <padding>| ", its own with "HH:MM:SS system <padding>| ".
show_log_tail() {
  say "--- last lines of $1 (from $STACK_LOG) ---"
  grep -E "^[0-9:]{8} $1(\.1)? +\| " "$STACK_LOG" | tail -n 20 || say "(no output)"
}

wait_until_ready() {
  local endpoints=() entry not_ready name
  for entry in "${SERVICES[@]}"; do
    endpoints+=("${entry%%:*}=http://127.0.0.1:${entry#*:}/readyz")
  done
  endpoints+=("mailsink=tcp://127.0.0.1:$SMTP_PORT")
  say "Waiting up to ${READY_DEADLINE_SECONDS}s for every /readyz to answer 200 ..."
  if not_ready=$(.venv/bin/python scripts/wait_ready.py --deadline "$READY_DEADLINE_SECONDS" \
    --watch-pid "$HONCHO_PID" "${endpoints[@]}"); then
    say "All services are ready."
    return
  fi
  for name in $not_ready; do show_log_tail "$name"; done
  # When honcho has exited, its own lines say which process stopped first and how.
  alive "$HONCHO_PID" || show_log_tail system
  die "not ready: $(echo "$not_ready" | xargs); stopping everything"
}

# The seed script prints the demo credentials; a failure leaves a running stack worth keeping.
seed_demo_data() {
  step "Demo data"
  if [[ ! -f scripts/seed_demo.py ]]; then
    warn "scripts/seed_demo.py not found; no demo data"
    return
  fi
  .venv/bin/python scripts/seed_demo.py --gateway-url "http://127.0.0.1:$SMARTSLOT_GATEWAY_PORT" 2>&1 |
    tee "$LOG_DIR/seed.log" || warn "seeding failed (output above and in $LOG_DIR/seed.log); the stack keeps running"
}

print_summary() {
  local gateway="http://localhost:$SMARTSLOT_GATEWAY_PORT"
  cat <<EOF

SmartSlot is running.
  Web console   $gateway/   (sign in as admin@example.com, provider@example.com or client@example.com, below)
  Gateway       $gateway/v1   (API docs: $gateway/docs)
  Services      booking :8081, availability :8082, waitlist :8083, notifier :8084, console :8085 (internal)
  Read replica  $REPLICA_NOTE
  Prometheus    $PROMETHEUS_NOTE
  Logs          $STACK_LOG (all processes), $LOG_DIR/infra.log (server tools)
  Caught mail   $MAIL_DIR/*.eml (SMTP sink on 127.0.0.1:$SMTP_PORT)
  Admin         $SMARTSLOT_BOOTSTRAP_ADMIN_EMAIL / $SMARTSLOT_BOOTSTRAP_ADMIN_PASSWORD
  Provider      provider@example.com / smartslot-provider
  Client        client@example.com / smartslot-client

Following the logs; Ctrl-C stops everything this started.
EOF
}

# Show the services' output until honcho exits: it does when any process dies, and then stops the others.
follow_until_exit() {
  tail -n 0 -F "$STACK_LOG" &
  FOLLOW_PID=$!
  local status=0
  wait "$HONCHO_PID" || status=$?
  HONCHO_PID=""
  # 130/143: honcho got the Ctrl-C or TERM meant for the whole stack.
  ((status == 130 || status == 143)) && exit "$status"
  warn "a process exited and honcho stopped the others (status $status); see $STACK_LOG"
  # Any exit of a service is unexpected here, even a clean one.
  exit $((status == 0 ? 1 : status))
}

main() {
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  mkdir -p "$LOG_DIR" "$RUN_DIR" "$MAIL_DIR"
  export_settings
  refuse_if_already_running
  step "Install"
  make --no-print-directory install
  start_servers
  migrate
  start_prometheus
  start_services
  wait_until_ready
  seed_demo_data
  print_summary
  follow_until_exit
}

main "$@"
