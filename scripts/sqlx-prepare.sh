#!/usr/bin/env bash
# Compile-checked SQL: every sqlx::query!/query_as! is checked against the schema the migrations
# build, and the result is kept in .sqlx/ so that builds need no database (SQLX_OFFLINE=true in
# .cargo/config.toml).
#   scripts/sqlx-prepare.sh           refresh .sqlx/ after adding or changing a query (commit it)
#   scripts/sqlx-prepare.sh --check   fail when .sqlx/ is stale (the test command runs this)
# Needs DATABASE_URL naming a PostgreSQL server (any database on it: a scratch one is made).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
: "${DATABASE_URL:?DATABASE_URL must name a PostgreSQL server}"
if ! cargo sqlx --version 2>/dev/null | grep -q "0.9.0"; then
  echo "==> installing sqlx-cli 0.9.0 (the compile-time SQL checker's command)" >&2
  cargo install --locked sqlx-cli --version 0.9.0 --no-default-features --features postgres,rustls
fi
# A fresh scratch database with exactly the migrations in the tree.
SCRATCH="${DATABASE_URL%/*}/ventros_sqlx_prepare"
DATABASE_URL="$SCRATCH" cargo sqlx database drop -y >/dev/null 2>&1 || true
DATABASE_URL="$SCRATCH" cargo sqlx database create
DATABASE_URL="$SCRATCH" cargo sqlx migrate run --source migrations/sql >/dev/null
trap 'DATABASE_URL="$SCRATCH" cargo sqlx database drop -y >/dev/null 2>&1 || true' EXIT
DATABASE_URL="$SCRATCH" cargo sqlx prepare --workspace "$@" -- --all-targets --locked
