#!/usr/bin/env bash
# Runs a command with throwaway PostgreSQL, Redis and MariaDB servers:
#   scripts/with-test-servers.sh node --test build/test/drivers/postgres.servers.test.js
# Starts them (scripts/test-servers.sh), exports VAULT_TEST_POSTGRES_URL, VAULT_TEST_REDIS_URL, VAULT_TEST_MYSQL_URL,
# VAULT_TEST_SERVERS_STATE and VAULT_TEST_SERVERS_CTL, runs the command, stops the servers
# whatever happens, and exits with the command's exit code. If a server cannot start, exits 1.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ $# -eq 0 ]; then
  echo "usage: $0 <command> [args…]" >&2
  exit 2
fi

STATE="$(mktemp -d "${TMPDIR:-/tmp}/vault-servers.XXXXXX")" || { echo "with-test-servers: mktemp failed" >&2; exit 1; }
cleanup() { bash "$HERE/test-servers.sh" stop "$STATE" || echo "with-test-servers: could not stop the servers in $STATE" >&2; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! exports="$(bash "$HERE/test-servers.sh" start "$STATE")"; then
  echo "with-test-servers: the PostgreSQL/Redis/MariaDB test servers could not be started (see above). Failing: these suites are never skipped." >&2
  exit 1
fi
eval "$exports"

# Watchdog in its own session: if this script dies without running its trap (SIGKILL, or its
# whole process group killed), it stops the servers so none is left behind.
if command -v setsid >/dev/null 2>&1; then
  setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 2; done; [ -d "$3" ] && bash "$2" stop "$3"' \
    vault-watchdog "$$" "$HERE/test-servers.sh" "$STATE" </dev/null >/dev/null 2>&1 &
fi

"$@"
rc=$?
exit $rc
