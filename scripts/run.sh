#!/usr/bin/env bash
# The main job: install, fetch the raw data from the in-repo DVC remote, run the pipeline.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
dvc repro "$@"
cat <<'DONE'

Pipeline done. Open:
  reports/comparison.md           ours vs the paper's Table 3, per protocol, with how each figure is averaged
  reports/metrics.json            every figure of every model on every protocol (`dvc metrics show`)
  reports/figures/                confusion matrices, ROC/PR curves, feature importance (PNG)
  reports/validation/index.html   data validation (Great Expectations results, quarantine counts)
  artifacts/registry/champion.json  the production model: `iot-anomaly predict --input F --output O`
DONE
