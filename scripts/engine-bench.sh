#!/usr/bin/env bash
# The ceiling Temporal sets on this machine: signal-with-start and no-op activities per message,
# with an in-process worker, against the stack's Temporal server (started here if it is not up):
#   scripts/engine-bench.sh [--messages N] [--rate R] [--activities K]
# Prints latency, sustained messages/s and operations per message; compare with scripts/bench.sh.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PROFILE=${VENTROS_PROFILE:-release}
scripts/stack.sh up >/dev/null
if [ "$PROFILE" = release ]; then cargo build --release --locked --bin ventros-engine-bench; else cargo build --locked --bin ventros-engine-bench; fi
export TEMPORAL_ADDRESS=${TEMPORAL_ADDRESS:-http://127.0.0.1:${VENTROS_TEMPORAL_PORT:-7233}}
exec "target/$PROFILE/ventros-engine-bench" "$@"
