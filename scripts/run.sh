#!/usr/bin/env bash
# The main job: install, fetch the raw data from the in-repo DVC remote, run the pipeline.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
dvc repro "$@"
cat <<'DONE'

Pipeline done. Open:
  reports/validation/index.html   data validation (Great Expectations results, quarantine counts)
  reports/splits.json             rows per protocol, split and category (`dvc metrics show`)
  artifacts/                      splits and fitted preprocessors (DVC outputs)
DONE
