"""Benchmark: the monitoring step on one 50,000-row batch (validate, score with the
champion, Evidently drift report, decision), in a scratch copy of the monitoring state.

Bar (issue 4): at most 60 s on 2 cores. Run from the project root after `dvc repro`:
    python bench/monitor.py [--rows 50000] [--unlabelled]
The batch is replayed from corrected.gz outside the evaluation holdout. The champion is
adopted (copied) before the clock starts, as it is once per promotion in real use; the
drift reference's champion predictions are cached on the first batch and counted here.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

from iot_anomaly.config import Paths, load_params
from iot_anomaly.monitoring.promotion import replay_rows
from iot_anomaly.monitoring.replay import cut_batches, write_batch
from iot_anomaly.monitoring.store import ensure_champion
from iot_anomaly.stages import monitor

BAR_S = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--unlabelled", action="store_true", help="Drop the label column.")
    args = parser.parse_args()
    params = load_params("params.yaml")
    paths = Paths(Path())

    with tempfile.TemporaryDirectory(dir=".") as scratch:
        # Monitoring state in the scratch folder; models and data read from the project.
        state = ("inbox", "batches_dir", "reports_dir", "workspace")
        monitor_cfg = params.monitor.model_copy(update={k: Path(scratch) / k for k in state})
        log = Path(scratch) / "decisions.jsonl"
        promotion = params.promotion.model_copy(update={"decision_log": log})
        params = params.model_copy(update={"monitor": monitor_cfg, "promotion": promotion})
        store, _ = ensure_champion(params.promotion, params.monitor, paths)
        version = store.current()
        reference_cache = store.version_root(version) / monitor.REFERENCE_PREDICTIONS
        reference_cache.unlink(missing_ok=True)  # count computing it, as on a first batch

        rows = replay_rows(params.monitor, pd.read_parquet(paths.clean("test")))
        batch = next(cut_batches(rows, args.rows, seed=params.replay.seed))
        write_batch(batch, params.monitor.inbox, "bench", not args.unlabelled)

        started = time.perf_counter()
        outcome = monitor.run(params, paths)
        wall = time.perf_counter() - started
        assert outcome is not None and outcome.status == "scored", outcome
        shutil.rmtree(Path(scratch), ignore_errors=True)

    steps, last = [], 0.0
    for name, at in outcome.timings.items():
        steps.append(f"{name} {at - last:.1f} s")
        last = at
    print(f"batch: {outcome.rows:,} rows, labelled: {outcome.labelled}")
    print("steps: " + ", ".join(steps))
    print(
        f"drift: {outcome.drift['drifted_columns']} of {outcome.drift['columns']} features, "
        f"fired: {outcome.fired}"
    )
    print(
        f"monitoring step: {wall:.1f} s (bar {BAR_S:.0f} s): {'OK' if wall <= BAR_S else 'NOT MET'}"
    )


if __name__ == "__main__":
    main()
