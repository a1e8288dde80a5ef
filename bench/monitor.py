"""Benchmark: one monitoring step on one batch, in a scratch copy of the monitoring state.

The step validates the batch, scores it with the champion, writes the Evidently drift report
and decides whether drift fired; its wall time is held against `targets.monitor_step_s`
(params.yaml). The batch is replayed from corrected.gz outside the evaluation holdout. The
champion is adopted (copied) before the clock starts, as it is once per promotion in real
use; the drift reference's champion predictions are cached on the first batch and counted
here. Run from the project root after `dvc repro`:
    python -m bench.monitor [--rows 50000] [--unlabelled]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from bench.targets import Check, Figure, add_project_options, at_most, project
from iot_anomaly.monitoring.promotion import replay_rows
from iot_anomaly.monitoring.replay import cut_batches, write_batch
from iot_anomaly.monitoring.store import ensure_champion
from iot_anomaly.params import TargetsParams
from iot_anomaly.stages import monitor

TARGET = "monitor_step_s"


def target_check(seconds: float, targets: TargetsParams) -> Check:
    """The monitoring step's wall time (one run) against its target."""
    return Check(TARGET, Figure(seconds), at_most(targets.monitor_step_s), "s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.monitor", description=__doc__.splitlines()[0]
    )
    add_project_options(parser)
    parser.add_argument("--rows", type=int, default=50_000, help="rows in the batch")
    parser.add_argument("--unlabelled", action="store_true", help="drop the label column")
    args = parser.parse_args(argv)
    params, paths = project(args)

    with tempfile.TemporaryDirectory(dir=paths.root) as tmp:
        # Monitoring state in the scratch folder; models and data read from the project.
        scratch = Path(tmp).resolve()
        state = ("inbox", "batches_dir", "reports_dir", "workspace")
        monitor_cfg = params.monitor.model_copy(update={k: scratch / k for k in state})
        promotion = params.promotion.model_copy(update={"decision_log": scratch / "log.jsonl"})
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
        if outcome is None or outcome.status != "scored":
            raise SystemExit(f"the batch was not scored: {outcome}")

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
    print(target_check(wall, params.targets).line())


if __name__ == "__main__":
    main()
