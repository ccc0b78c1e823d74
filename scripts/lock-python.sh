#!/usr/bin/env bash
# The project virtualenv's Python packages, locked: every package and version, with hashes, in
# scripts/requirements.lock, which scripts/lib.sh installs with --require-hashes. Run this after
# changing agents/pyproject.toml or scripts/requirements*.txt, and commit the lock.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
VENV="$ROOT/.venv"
"$VENV/bin/pip" install --quiet --disable-pip-version-check uv==0.13.8
"$VENV/bin/uv" pip compile --quiet --python-version 3.11 --generate-hashes --no-header \
  --extra dev agents/pyproject.toml scripts/requirements.txt scripts/requirements-test.txt \
  -o scripts/requirements.lock
# The agent service's image (Dockerfile) installs its runtime dependencies alone from this one.
"$VENV/bin/uv" pip compile --quiet --python-version 3.11 --generate-hashes --no-header \
  agents/pyproject.toml -o agents/requirements.lock
