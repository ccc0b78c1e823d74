#!/usr/bin/env bash
# The inbound-message benchmark against the running stack (started here if it is not up):
#   scripts/bench.sh [--messages N] [--rate R] [--concurrency C]
# Prints webhook -> reply latency percentiles, sustained throughput, loss, and peak memory of the
# worker and the API. Uses the release build (VENTROS_PROFILE=debug to measure a debug build).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PROFILE=${VENTROS_PROFILE:-release}
scripts/stack.sh up >/dev/null
if [ "$PROFILE" = release ]; then cargo build --release --locked --bin ventros-bench; else cargo build --locked --bin ventros-bench; fi
PG_PORT=${VENTROS_PG_PORT:-54329}
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:$PG_PORT/ventros}
export TEMPORAL_ADDRESS=${TEMPORAL_ADDRESS:-http://127.0.0.1:${VENTROS_TEMPORAL_PORT:-7233}}
exec "target/$PROFILE/ventros-bench" \
  --api-url "http://127.0.0.1:${VENTROS_API_PORT:-8080}" \
  --process "worker=$(cat .data/pids/worker)" --process "api=$(cat .data/pids/api)" "$@"
