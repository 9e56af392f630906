#!/usr/bin/env bash
# Installs the Debian packages of the test servers (PostgreSQL, Redis, MariaDB) and of the browser test
# (Chromium) when they are missing.
# Used by scripts/setup.sh and scripts/test-servers.sh. Needs root (or sudo) only when
# something is actually missing.
set -euo pipefail

PG_BIN_DEFAULT=/usr/lib/postgresql/15/bin

have_postgres() { [ -x "${VAULT_PG_BIN:-$PG_BIN_DEFAULT}/postgres" ] || compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; }
have_redis() { command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; }
have_chromium() { command -v chromium >/dev/null 2>&1; }
have_mariadb() { { command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]; } && command -v mariadb >/dev/null 2>&1; }

packages=()
have_postgres || packages+=(postgresql)
have_redis || packages+=(redis-server)
have_chromium || packages+=(chromium)
have_mariadb || packages+=(mariadb-server)
[ ${#packages[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "install-servers: ${packages[*]} missing and not root (no sudo): install them with apt-get install -y ${packages[*]}" >&2
  exit 1
fi
command -v apt-get >/dev/null 2>&1 || { echo "install-servers: ${packages[*]} missing and apt-get is not available; install them by hand." >&2; exit 1; }

echo "install-servers: installing ${packages[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq >&2
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}" >&2
have_postgres || { echo "install-servers: postgresql was installed but no postgres binary found under /usr/lib/postgresql" >&2; exit 1; }
have_redis || { echo "install-servers: redis-server was installed but redis-server/redis-cli are not on PATH" >&2; exit 1; }
have_chromium || { echo "install-servers: chromium was installed but is not on PATH" >&2; exit 1; }
have_mariadb || { echo "install-servers: mariadb-server was installed but mariadbd/mariadb are not found" >&2; exit 1; }
