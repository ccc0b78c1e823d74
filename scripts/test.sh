#!/usr/bin/env bash
# Runs every test. Installs and starts what the tests need (a Temporal dev server and PostgreSQL
# with pgvector, both throwaway, on free ports), builds once, runs the suites, stops everything.
#   scripts/test.sh [extra cargo-nextest arguments]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

# A one-shot build gains nothing from incremental compilation, whose cache is a third of target/
# (2.6 of 8 GB in a debug build of the workspace); a CI run ran out of disk with it.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
# What a run writes (target/, the web app's and the agent service's packages, the test databases)
# comes to about 9 GB; say so plainly rather than fail later with a linker's bus error.
FREE_KB=$(df -Pk . | awk 'NR == 2 { print $4 }')
if [ "$FREE_KB" -lt $((9 * 1024 * 1024)) ]; then
  log "warning: $((FREE_KB / 1024)) MiB free on $(df -P . | awk 'NR == 2 { print $6 }'); the test command needs about 9 GB"
fi

ensure_venv
# Debian packages the tests drive, installed when missing.
apt_install() {
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    sudo apt-get update -qq >/dev/null && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  fi
}
if ! command -v docker-compose >/dev/null 2>&1; then
  log "installing Debian's docker-compose (validates docker-compose.temporal.yml against the Compose spec)"
  apt_install docker-compose
fi
ensure_libclang
if [ ! -x /usr/bin/chromium ]; then
  log "installing Debian's Chromium (the web app's browser tests drive it with playwright-core)"
  apt_install chromium
fi
if [ ! -x /usr/bin/prometheus ]; then
  log "installing Debian's Prometheus (a test scrapes the API and the worker with it)"
  apt_install prometheus
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  log "installing cargo-nextest"
  cargo install --locked cargo-nextest
fi
if ! cargo machete --version >/dev/null 2>&1; then
  log "installing cargo-machete (the unused-dependency check)"
  cargo install --locked cargo-machete --version 0.9.2
fi

WORK=$(mktemp -d /tmp/ventros-test.XXXXXX)
TEMPORAL_PID=""
cleanup() {
  [ -n "$TEMPORAL_PID" ] && kill "$TEMPORAL_PID" 2>/dev/null || true
  "$VENV/bin/python" scripts/pg.py stop "$WORK/pg" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

PG_PORT=$(free_port)
T_PORT=$(free_port "$PG_PORT")
T_UI_PORT=$(free_port "$PG_PORT" "$T_PORT")
log "starting PostgreSQL (port $PG_PORT) and the Temporal dev server (port $T_PORT)"
"$VENV/bin/python" scripts/pg.py start "$WORK/pg" "$PG_PORT" --fast
TEMPORAL_PID=$(start_temporal "$T_PORT" "$T_UI_PORT" "$WORK/temporal.log")

log "the web app: install (npm ci), type-check (tsc --noEmit) and build, lint (ESLint), unit tests (vitest),"
log "  and its API types generated from web/src/generated/openapi.json up to date (the API's own test checks that copy)"
build_web
(cd web && npm run lint --silent && npm test --silent && npm run gen:api:check --silent)

log "format: cargo fmt --check (the whole tree is rustfmt-formatted); unused dependencies: cargo machete"
cargo fmt --all --check
cargo machete
# Before the build: `cargo sqlx prepare` touches the sources of every crate with a query to make
# them recompile, so run after the build it made the tests rebuild every one of those crates.
log "compile-checked SQL: .sqlx/ must match the queries and the migrations (scripts/sqlx-prepare.sh)"
DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres" scripts/sqlx-prepare.sh --check
log "building (SQL checked at compile time from .sqlx/, no database: .cargo/config.toml)"
cargo build --workspace --all-targets --locked
log "lint: clippy with warnings denied (includes the workflow determinism guard, workflows/clippy.toml)"
cargo clippy --workspace --all-targets --locked -- -D warnings
wait_for_temporal "$T_PORT"

log "agent service: lint and format (ruff), types (mypy), tests (pytest)"
(cd agents && "$VENV/bin/ruff" check . && "$VENV/bin/ruff" format --check . && "$VENV/bin/mypy")
# The trained intent model is cached here by pytest and reused by the agent services the
# end-to-end tests start.
export VENTROS_AGENTS_CACHE="$WORK/agents-cache"
export VENTROS_PYTHON="$VENV/bin/python"
"$VENV/bin/python" -m pytest agents -q -p no:warnings

export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
export TEMPORAL_ADDRESS="http://127.0.0.1:$T_PORT"
export RUST_LOG=${RUST_LOG:-warn}
log "running the tests"
cargo nextest run --workspace --locked --no-fail-fast "$@"

# Alone, after the suites: it restarts its own Temporal and PostgreSQL, never the shared ones.
log "the chaos soak, short form: every fault once under load, then the delivery guarantees"
scripts/chaos.sh --short
