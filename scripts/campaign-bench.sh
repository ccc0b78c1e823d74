#!/usr/bin/env bash
# The campaign benchmark against the running stack (started here if it is not up):
#   scripts/campaign-bench.sh [--recipients N]
# One campaign to N synthetic contacts (default 10,000) through an in-process WAHA simulator, rate
# limit lifted, best-time waiting off, every message personalised by the agent service. Prints
# recipients per second end to end, time to first send, Temporal history sizes, peak memory of the
# worker, the API, the agent service and the Temporal server, and duplicates/losses.
# Uses the release build (VENTROS_PROFILE=debug to measure a debug build).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PROFILE=${VENTROS_PROFILE:-release}
scripts/stack.sh up >/dev/null
PG_PORT=${VENTROS_PG_PORT:-54329}
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:$PG_PORT/ventros}
export TEMPORAL_ADDRESS=${TEMPORAL_ADDRESS:-http://127.0.0.1:${VENTROS_TEMPORAL_PORT:-7233}}
processes=()
for name in worker api agents temporal; do
  [ -f ".data/pids/$name" ] && processes+=(--process "$name=$(cat ".data/pids/$name")")
done
exec "target/$PROFILE/ventros-campaign-bench" --api-url "http://127.0.0.1:${VENTROS_API_PORT:-8080}" "${processes[@]}" "$@"
