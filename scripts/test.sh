#!/usr/bin/env bash
# The test command: install, fetch the raw data, lint, then run the test suite (every tier).
# Arguments go to pytest: `bash scripts/test.sh -m "not slow"` runs the fast tier.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
ruff check .
ruff format --check .
pytest "$@"
