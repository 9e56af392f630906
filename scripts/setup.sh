#!/usr/bin/env bash
# One-shot setup of a fresh checkout: system packages for the test servers, dependencies
# (better-sqlite3 compiled from source), and the build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-servers.sh

# Native modules are built from source (no prebuilt binary download).
export npm_config_build_from_source=true
npm ci
npm run build

node -e "const D = require('better-sqlite3'); const db = new D(':memory:'); db.prepare('select 1').get(); db.close()" \
  || { echo "setup: better-sqlite3 did not load; its native build failed (see npm ci output above)." >&2; exit 1; }
echo "setup: ok (better-sqlite3 native module loads; package in dist/, tests in build/)" >&2
