#!/usr/bin/env bash
# Create .venv and install the project with its pinned dependencies (skipped when
# pyproject.toml has not changed since the last install). Sourced by run.sh and test.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "iot-anomaly needs Python 3.11 (found $("$PYTHON" --version 2>&1)); set PYTHON=..." >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv

stamp=.venv/.install-stamp
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "Installing iot-anomaly and its dependencies into .venv (first run takes a few minutes)..."
  .venv/bin/python -m pip install --quiet --upgrade pip
  # torch is pinned to the CPU build; an unpinned torch would pull a multi-GB CUDA build.
  .venv/bin/python -m pip install --quiet -e '.[dev]'
  echo "$want" > "$stamp"
fi

export PATH="$PWD/.venv/bin:$PATH"
# Tools that phone home are told not to: this project runs offline.
export DO_NOT_TRACK=1 DVC_NO_ANALYTICS=1 GX_ANALYTICS_ENABLED=false
export PREFECT_HOME="$PWD/.prefect" PREFECT_SERVER_ANALYTICS_ENABLED=false

# Raw data comes from the repository's own DVC remote (dvc-remote/): no network needed.
dvc pull --quiet data.dvc
