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
# google-adk requires google-auth[pyopenssl]. In --require-hashes mode pip resolves that extra as a
# requirement of its own, and once a newer google-auth than the lock's was published (2.63.1), it
# refused the install ("must have their versions pinned with =="). Pinning the extra itself keeps
# pip on the locked version (uv's --no-strip-extras writes "[pyopenssl, requests]", which pip does
# not match to the extra asked for).
sed -i 's/^google-auth==/google-auth[pyopenssl]==/' scripts/requirements.lock agents/requirements.lock
