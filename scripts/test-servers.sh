#!/usr/bin/env bash
# Throwaway PostgreSQL, Redis and MariaDB servers for the test suites: loopback only (127.0.0.1),
# free ports, temporary data directories, Redis with AOF on. Installs the Debian packages if missing.
# MariaDB (for the importers' tests: mysql-baileys, baileys-store) starts without grant tables:
# any user name connects, no password, on loopback only.
#
#   eval "$(scripts/test-servers.sh start)"      start all three, print `export VAULT_TEST_…=…` lines
#   scripts/test-servers.sh stop                 stop them and delete their data
#   scripts/test-servers.sh stop-postgres [fast|immediate] | start-postgres
#   scripts/test-servers.sh stop-redis [shutdown|kill]      | start-redis
#
# Every subcommand takes the state directory as an optional last argument; it defaults to
# $VAULT_TEST_SERVERS_STATE (set by `start`). `start` writes $STATE/env and $STATE/servers.json.
# Any failure exits non-zero with a message: CI must fail, never skip.
#
# Env: VAULT_PG_BIN (PostgreSQL bin dir, default /usr/lib/postgresql/15/bin),
#      VAULT_TEST_REDIS_APPENDFSYNC (everysec|always, default everysec).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SELF="$HERE/test-servers.sh"

die() {
  echo "test-servers: $*" >&2
  exit 1
}
log() { echo "test-servers: $*" >&2; }

pg_bin() {
  local dir="${VAULT_PG_BIN:-/usr/lib/postgresql/15/bin}"
  if [ ! -x "$dir/postgres" ]; then
    # Fall back to the newest installed major version.
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  fi
  [ -n "$dir" ] && [ -x "$dir/postgres" ] || die "no PostgreSQL binaries found (looked in ${VAULT_PG_BIN:-/usr/lib/postgresql/15/bin} and /usr/lib/postgresql/*/bin)"
  echo "$dir"
}

# PostgreSQL refuses to run as root: run its tools as the `postgres` user then.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' user to run PostgreSQL as (apt-get install postgresql creates it)"
    if command -v runuser >/dev/null 2>&1; then
      runuser -u postgres -- "$@"
    else
      su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
    fi
  else
    "$@"
  fi
}

free_port() {
  node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{process.stdout.write(String(s.address().port));s.close()})"
}

state_dir() {
  local dir="${1:-${VAULT_TEST_SERVERS_STATE:-}}"
  [ -n "$dir" ] || die "no state directory: pass it or set VAULT_TEST_SERVERS_STATE (run 'start' first)"
  [ -f "$dir/ports" ] || die "$dir is not a test-servers state directory (no ports file)"
  echo "$dir"
}

load_state() {
  STATE="$(state_dir "${1:-}")"
  # shellcheck disable=SC1091
  . "$STATE/ports"
  PGDATA="$STATE/pg/data"
}

# ---------------------------------------------------------------- PostgreSQL

pg_start() {
  local bin
  bin="$(pg_bin)"
  as_pg "$bin/pg_ctl" -D "$PGDATA" -l "$STATE/pg/postgres.log" -w -t 60 start >&2 ||
    { tail -n 30 "$STATE/pg/postgres.log" >&2 2>/dev/null || true; die "PostgreSQL did not start on 127.0.0.1:$PG_PORT (log above)"; }
  local i
  for i in $(seq 1 100); do
    if "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres; then return 0; fi
    sleep 0.1
  done
  die "PostgreSQL started but does not accept connections on 127.0.0.1:$PG_PORT"
}

# Returns non-zero (never exits) when PostgreSQL did not stop.
pg_stop() {
  local mode="${1:-fast}" bin
  bin="$(pg_bin)"
  [ -f "$PGDATA/postmaster.pid" ] || return 0
  as_pg "$bin/pg_ctl" -D "$PGDATA" -m "$mode" -w -t 60 stop >&2 || { log "PostgreSQL did not stop ($mode)"; return 1; }
}

pg_init() {
  local bin
  bin="$(pg_bin)"
  mkdir -p "$STATE/pg/sock"
  if [ "$(id -u)" -eq 0 ]; then chown -R postgres: "$STATE/pg"; fi
  chmod 700 "$STATE/pg"
  as_pg "$bin/initdb" -D "$PGDATA" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$STATE/pg/initdb.log" 2>&1 ||
    { cat "$STATE/pg/initdb.log" >&2; die "initdb failed (log above)"; }
  cat >>"$PGDATA/postgresql.conf" <<CONF
# baileys-vault test server: loopback only, throwaway data; fsync stays on (real durability).
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$STATE/pg/sock'
max_connections = 100
shared_buffers = 64MB
CONF
}

# ---------------------------------------------------------------- Redis

redis_ping() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

redis_start() {
  redis-server "$STATE/redis/redis.conf" >&2 || die "redis-server failed to start (see $STATE/redis/redis.log)"
  local i
  for i in $(seq 1 150); do
    if redis_ping; then return 0; fi
    sleep 0.1
  done
  tail -n 30 "$STATE/redis/redis.log" >&2 2>/dev/null || true
  die "Redis does not accept connections on 127.0.0.1:$REDIS_PORT (log above)"
}

# Returns non-zero (never exits) when Redis is still running afterwards.
redis_stop() {
  local mode="${1:-shutdown}" pid=""
  [ -f "$STATE/redis/redis.pid" ] && pid="$(cat "$STATE/redis/redis.pid")"
  if [ "$mode" = kill ]; then
    if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
  else
    # SHUTDOWN flushes and fsyncs the AOF before exiting.
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown >/dev/null 2>&1 || true
  fi
  local i
  for i in $(seq 1 100); do
    if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$STATE/redis/redis.pid"
      return 0
    fi
    sleep 0.1
  done
  log "Redis (pid $pid) did not stop ($mode)"
  return 1
}

redis_init() {
  mkdir -p "$STATE/redis/data"
  cat >"$STATE/redis/redis.conf" <<CONF
# baileys-vault test server: loopback only, throwaway data, AOF on.
bind 127.0.0.1
port $REDIS_PORT
protected-mode yes
daemonize yes
pidfile $STATE/redis/redis.pid
logfile $STATE/redis/redis.log
dir $STATE/redis/data
appendonly yes
appendfsync ${VAULT_TEST_REDIS_APPENDFSYNC:-everysec}
save ""
CONF
}

# ---------------------------------------------------------------- MariaDB

mariadbd_bin() {
  if command -v mariadbd >/dev/null 2>&1; then command -v mariadbd; elif [ -x /usr/sbin/mariadbd ]; then echo /usr/sbin/mariadbd; else die "mariadbd not found (apt-get install mariadb-server)"; fi
}

mysql_ping() { mariadb-admin --no-defaults -h 127.0.0.1 -P "$MYSQL_PORT" -u root --connect-timeout=1 ping >/dev/null 2>&1; }

# Launches mariadbd in the background (its own session, output to its log); mysql_wait waits for it.
# No mariadb-install-db: without grant tables the server needs no system tables, which saves seconds.
mysql_launch() {
  mkdir -p "$STATE/mysql/data"
  local user=()
  if [ "$(id -u)" -eq 0 ]; then
    id mysql >/dev/null 2>&1 || die "running as root but there is no 'mysql' user to run MariaDB as (apt-get install mariadb-server creates it)"
    chown -R mysql: "$STATE/mysql"
    user=(--user=mysql)
  fi
  setsid "$(mariadbd_bin)" --no-defaults "${user[@]}" --datadir="$STATE/mysql/data" --bind-address=127.0.0.1 --port="$MYSQL_PORT" \
    --socket="$STATE/mysql/mysqld.sock" --pid-file="$STATE/mysql/mysqld.pid" --log-error="$STATE/mysql/mysqld.log" \
    --skip-grant-tables --skip-name-resolve --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
    --innodb-buffer-pool-size=32M </dev/null >/dev/null 2>&1 &
  # Its pid now, so a start that fails before mariadbd writes its pid file still stops it.
  echo $! >"$STATE/mysql/launch.pid"
}

mysql_wait() {
  local i
  for i in $(seq 1 300); do
    if mysql_ping; then
      mariadb --no-defaults -h 127.0.0.1 -P "$MYSQL_PORT" -u root -e 'CREATE DATABASE IF NOT EXISTS vault' ||
        die "MariaDB on 127.0.0.1:$MYSQL_PORT accepts connections but CREATE DATABASE failed"
      return 0
    fi
    sleep 0.1
  done
  tail -n 30 "$STATE/mysql/mysqld.log" >&2 2>/dev/null || true
  die "MariaDB does not accept connections on 127.0.0.1:$MYSQL_PORT (log above)"
}

# Returns non-zero (never exits) when MariaDB is still running afterwards.
mysql_stop() {
  local pid=""
  [ -f "$STATE/mysql/launch.pid" ] && pid="$(cat "$STATE/mysql/launch.pid")"
  [ -f "$STATE/mysql/mysqld.pid" ] && pid="$(cat "$STATE/mysql/mysqld.pid")"
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  local i
  for i in $(seq 1 150); do
    if ! kill -0 "$pid" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  log "MariaDB (pid $pid) did not stop; killing it"
  kill -KILL "$pid" 2>/dev/null || true
  return 1
}

# ---------------------------------------------------------------- commands

cmd_start() {
  command -v node >/dev/null 2>&1 || die "node is needed to pick free ports"
  bash "$HERE/install-servers.sh" || die "PostgreSQL/Redis/MariaDB are not installed and could not be installed"
  command -v redis-server >/dev/null 2>&1 || die "redis-server not found"
  mariadbd_bin >/dev/null

  STATE="${1:-}"
  if [ -z "$STATE" ]; then STATE="$(mktemp -d "${TMPDIR:-/tmp}/vault-servers.XXXXXX")"; fi
  mkdir -p "$STATE"
  STATE="$(cd "$STATE" && pwd)"
  chmod 755 "$STATE" # the postgres user must reach its data directory inside
  PG_PORT="$(free_port)"
  REDIS_PORT="$(free_port)"
  while [ "$REDIS_PORT" = "$PG_PORT" ]; do REDIS_PORT="$(free_port)"; done
  MYSQL_PORT="$(free_port)"
  while [ "$MYSQL_PORT" = "$PG_PORT" ] || [ "$MYSQL_PORT" = "$REDIS_PORT" ]; do MYSQL_PORT="$(free_port)"; done
  printf 'PG_PORT=%s\nREDIS_PORT=%s\nMYSQL_PORT=%s\n' "$PG_PORT" "$REDIS_PORT" "$MYSQL_PORT" >"$STATE/ports"
  PGDATA="$STATE/pg/data"

  # Whatever fails from here on, do not leave a server running behind.
  trap 'rc=$?; if [ $rc -ne 0 ]; then bash "$SELF" stop "$STATE" >/dev/null 2>&1 || true; fi' EXIT

  # MariaDB starts in the background while PostgreSQL and Redis start.
  log "MariaDB $("$(mariadbd_bin)" --version | sed -n 's/.*Ver \([^ ]*\).*/\1/p') on 127.0.0.1:$MYSQL_PORT, data in $STATE/mysql/data"
  mysql_launch
  log "PostgreSQL ($(pg_bin)) on 127.0.0.1:$PG_PORT, data in $PGDATA"
  pg_init
  pg_start
  log "Redis $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') on 127.0.0.1:$REDIS_PORT (AOF, appendfsync ${VAULT_TEST_REDIS_APPENDFSYNC:-everysec}), data in $STATE/redis/data"
  redis_init
  redis_start
  mysql_wait

  local pg_url="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
  local redis_url="redis://127.0.0.1:$REDIS_PORT"
  local mysql_url="mysql://root@127.0.0.1:$MYSQL_PORT/vault"
  cat >"$STATE/env" <<ENV
export VAULT_TEST_POSTGRES_URL='$pg_url'
export VAULT_TEST_REDIS_URL='$redis_url'
export VAULT_TEST_MYSQL_URL='$mysql_url'
export VAULT_TEST_SERVERS_STATE='$STATE'
export VAULT_TEST_SERVERS_CTL='$SELF'
ENV
  cat >"$STATE/servers.json" <<JSON
{
  "state": "$STATE",
  "ctl": "$SELF",
  "postgres": { "url": "$pg_url", "port": $PG_PORT, "dataDir": "$PGDATA", "bin": "$(pg_bin)" },
  "redis": { "url": "$redis_url", "port": $REDIS_PORT, "dataDir": "$STATE/redis/data", "config": "$STATE/redis/redis.conf" },
  "mysql": { "url": "$mysql_url", "port": $MYSQL_PORT, "dataDir": "$STATE/mysql/data" }
}
JSON
  trap - EXIT
  log "ready; stop with: $SELF stop $STATE"
  cat "$STATE/env"
}

cmd_stop() {
  local dir="${1:-${VAULT_TEST_SERVERS_STATE:-}}"
  [ -n "$dir" ] || die "stop: no state directory"
  [ -d "$dir" ] || return 0
  if [ -f "$dir/ports" ]; then
    load_state "$dir"
    if ! pg_stop fast && [ -f "$PGDATA/postmaster.pid" ]; then
      log "killing PostgreSQL"
      kill -KILL "$(head -n 1 "$PGDATA/postmaster.pid")" 2>/dev/null || true
    fi
    redis_stop shutdown || redis_stop kill || true
    mysql_stop || true
  fi
  case "$dir" in
    /tmp/* | "${TMPDIR:-/tmp}"/*) rm -rf "$dir" ;;
    *) log "left $dir in place (not under ${TMPDIR:-/tmp})" ;;
  esac
}

sub="${1:-}"
[ $# -gt 0 ] && shift
case "$sub" in
  start) cmd_start "${1:-}" ;;
  stop) cmd_stop "${1:-}" ;;
  stop-postgres)
    mode=fast
    case "${1:-}" in fast | immediate | smart) mode="$1"; shift ;; esac
    load_state "${1:-}"
    pg_stop "$mode" || die "PostgreSQL did not stop ($mode)"
    ;;
  start-postgres) load_state "${1:-}" && pg_start ;;
  stop-redis)
    mode=shutdown
    case "${1:-}" in shutdown | kill) mode="$1"; shift ;; esac
    load_state "${1:-}"
    redis_stop "$mode" || die "Redis did not stop ($mode)"
    ;;
  start-redis) load_state "${1:-}" && redis_start ;;
  *)
    echo "usage: $0 start [STATE_DIR] | stop [STATE_DIR] | stop-postgres [fast|immediate] | start-postgres | stop-redis [shutdown|kill] | start-redis" >&2
    exit 2
    ;;
esac
