#!/usr/bin/env bash
# The reply-quality evaluation against the local stack: starts it if it is not running
# (scripts/stack.sh up), makes sure the demo knowledge base is indexed, and prints the figures per
# language (python -m ventros_agents.reply_eval). Extra arguments go to the evaluation, e.g.
# `--show-failures` or `--json out.json`. The agent service answers with whatever model the stack
# runs (VENTROS_MODEL_PROVIDER; offline by default).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA="${VENTROS_DATA:-$ROOT/.data}"
API_URL="http://127.0.0.1:${VENTROS_API_PORT:-8080}"
if ! curl -fsS "$API_URL/readyz" >/dev/null 2>&1; then
  "$ROOT/scripts/stack.sh" up
fi
# shellcheck disable=SC1091
. "$DATA/demo.env"
PY="$ROOT/.venv/bin/python"
"$PY" -m ventros_agents.reply_eval seed --api "$API_URL" --key "$DEMO_API_KEY"
"$PY" -m ventros_agents.reply_eval run --api "$API_URL" --key "$DEMO_API_KEY" "$@"
