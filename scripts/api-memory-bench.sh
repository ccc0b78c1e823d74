#!/usr/bin/env bash
# The API's peak memory under its heaviest requests (large reports, oversized webhooks and
# uploads), against the running stack (started here if it is not up):
#   scripts/api-memory-bench.sh [--tenants N] [--rounds R] [--concurrency C]
# Prints each phase's peak and what the process keeps afterwards. Release build
# (VENTROS_PROFILE=debug to measure a debug build).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PROFILE=${VENTROS_PROFILE:-release}
scripts/stack.sh up >/dev/null
if [ "$PROFILE" = release ]; then cargo build --release --locked --bin ventros-api-memory; else cargo build --locked --bin ventros-api-memory; fi
PG_PORT=${VENTROS_PG_PORT:-54329}
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:$PG_PORT/ventros}
exec "target/$PROFILE/ventros-api-memory" \
  --api-url "http://127.0.0.1:${VENTROS_API_PORT:-8080}" --api-pid "$(cat .data/pids/api)" "$@"
