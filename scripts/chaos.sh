#!/usr/bin/env bash
# The chaos soak: sustained load through a private copy of the whole stack while, on a schedule,
# the worker is SIGKILLed, the Temporal dev server and PostgreSQL are restarted, WAHA is down and
# the agent service is stopped; then the checks of ventros-chaos (see bench/src/bin/ventros-chaos.rs).
#   scripts/chaos.sh            the full soak: 10 msg/s for 10 minutes, every fault five times
#   scripts/chaos.sh --short    about two minutes, each fault once (part of scripts/test.sh)
# Everything listens on loopback, on free ports, with data in a temporary directory that is removed
# at the end; the stack of scripts/stack.sh (in .data/) is not touched. VENTROS_PROFILE=release
# measures a release build (default: debug, which the test command has already built).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

MODE=full
[ "${1:-}" = "--short" ] && MODE=short
export VENTROS_PROFILE=${VENTROS_PROFILE:-debug}
ensure_venv >/dev/null

DATA=$(mktemp -d "${TMPDIR:-/tmp}/ventros-chaos.XXXXXX")
export VENTROS_DATA=$DATA
TAKEN=()
for port in PG_PORT TEMPORAL_PORT TEMPORAL_UI_PORT API_PORT WAHA_SIM_PORT META_SIM_PORT MCP_PORT AGENTS_PORT MEMORY_PORT API_METRICS_PORT WORKER_METRICS_PORT; do
  TAKEN+=("$(free_port "${TAKEN[@]}")")
  export "VENTROS_$port=${TAKEN[-1]}"
done
unset DATABASE_URL TEMPORAL_ADDRESS
# The sweeper re-drives stranded inbox rows quickly, so the soak can see it finish.
export INBOX_SWEEP_INTERVAL_SECS=10 INBOX_SWEEP_AFTER_SECS=20

cleanup() {
  scripts/stack.sh down >/dev/null 2>&1 || true
  if [ "${CHAOS_KEEP:-0}" = 1 ]; then echo "chaos: logs kept in $DATA/logs"; else rm -rf "$DATA"; fi
}
trap cleanup EXIT

log "chaos: starting a private stack ($MODE, $VENTROS_PROFILE build) in $DATA"
# The debug build is the test command's (same flags, so nothing is rebuilt).
if [ "$VENTROS_PROFILE" = release ]; then cargo build --release --locked --bins; else cargo build --workspace --all-targets --locked; fi
VENTROS_SKIP_BUILD=1 scripts/stack.sh up >"$DATA/up.log" 2>&1 || { cat "$DATA/up.log"; exit 1; }
export VENTROS_SKIP_BUILD=1
PIDS="$DATA/pids"
pid() { cat "$PIDS/$1"; }
# Brings back whatever a fault stopped (stack.sh up restarts only what is missing).
heal() { scripts/stack.sh up >>"$DATA/heal.log" 2>&1; }

if [ "$MODE" = short ]; then
  DURATION=120 RATE=4 CHATS=60 RECIPIENTS=10 CYCLES=1 CYCLE=120 WAHA_DOWN=20 AGENTS_DOWN=15 SETTLE=300
else
  DURATION=600 RATE=10 CHATS=300 RECIPIENTS=40 CYCLES=5 CYCLE=120 WAHA_DOWN=60 AGENTS_DOWN=30 SETTLE=600
fi
# Within each cycle: worker SIGKILL at +10 s, Temporal restart at +30 s, PostgreSQL restart at
# +50 s, WAHA down at +70 s, agent service stopped at +95 s.
waha_args=()
for c in $(seq 0 $((CYCLES - 1))); do waha_args+=(--waha-down-at $((c * CYCLE + 70))); done

"target/$VENTROS_PROFILE/ventros-chaos" \
  --api-url "http://127.0.0.1:$VENTROS_API_PORT" \
  --database-url "postgres://postgres@127.0.0.1:$VENTROS_PG_PORT/ventros" \
  --duration-secs "$DURATION" --rate "$RATE" --chats "$CHATS" --campaign-recipients "$RECIPIENTS" \
  "${waha_args[@]}" --waha-down-secs "$WAHA_DOWN" --faults-done "$DATA/faults-done" \
  --temporal-cli "$VENV/bin/temporal" --temporal-address "127.0.0.1:$VENTROS_TEMPORAL_PORT" --settle-secs "$SETTLE" &
driver=$!

started=$(date +%s)
# at OFFSET: waits until OFFSET seconds after the load began (a schedule, not a synchronisation).
at() { local wait=$(( $1 - ($(date +%s) - started) )); [ "$wait" -gt 0 ] && sleep "$wait"; return 0; }
for c in $(seq 0 $((CYCLES - 1))); do
  base=$((c * CYCLE))
  at $((base + 10)); echo "fault: worker SIGKILL at $((base + 10)) s"
  kill -KILL "$(pid worker)"; sleep 2; heal
  at $((base + 30)); echo "fault: Temporal dev server restarted at $((base + 30)) s"
  kill -KILL "$(pid temporal)"; sleep 2; heal
  at $((base + 50)); echo "fault: PostgreSQL crashed and restarted at $((base + 50)) s"
  "$VENV/bin/python" scripts/pg.py stop "$DATA/pg" --immediate >/dev/null; sleep 2; heal
  at $((base + 95)); echo "fault: agent service stopped at $((base + 95)) s for $AGENTS_DOWN s"
  kill -TERM "$(pid agents)"; sleep "$AGENTS_DOWN"; heal
done
touch "$DATA/faults-done"
status=0
wait "$driver" || status=$?
if [ "$status" != 0 ]; then
  echo "chaos: the soak failed; the last lines of each log:"
  for f in "$DATA"/logs/*.log; do echo "--- $f"; tail -n 15 "$f" | cut -c1-400; done
fi
exit "$status"
