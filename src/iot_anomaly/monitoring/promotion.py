"""Challenger vs champion on fixed evaluation sets that neither trained on (the holdout of
corrected.gz, and the IoT-23 scenarios that are never replayed), and the rules in params that
decide promotion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from iot_anomaly.config import CONFIRMED, Paths
from iot_anomaly.data.splits import without_rows_of
from iot_anomaly.params import IngestParams, MonitorParams, PromotionRule
from iot_anomaly.serving import Champion, labelled_metrics


def holdout_mask(rows: int, fraction: float, seed: int) -> np.ndarray:
    """Which rows of corrected.gz form the fixed evaluation set (the same for a seed)."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"monitor.holdout_fraction must lie in (0, 1), got {fraction}")
    return np.random.default_rng(seed).random(rows) < fraction


def evaluation_set(monitor: MonitorParams, paths: Paths) -> pd.DataFrame:
    """The holdout rows of corrected.gz, minus any row identical to a confirmed training row
    (duplicates would otherwise let a model be judged on rows it learned)."""
    test = pd.read_parquet(paths.clean("test"))
    holdout = test[holdout_mask(len(test), monitor.holdout_fraction, monitor.seed)]
    confirmed = paths.clean(CONFIRMED)
    return without_rows_of(holdout, pd.read_parquet(confirmed)) if confirmed.is_file() else holdout


def replay_rows(monitor: MonitorParams, test: pd.DataFrame) -> pd.DataFrame:
    """The rows of corrected.gz that replay may send: every row outside the holdout."""
    return test[~holdout_mask(len(test), monitor.holdout_fraction, monitor.seed)]


def scenario_files(folder: Path, prefer: str) -> dict[str, Path]:
    """One file per IoT-23 scenario in `folder` (params `data.iot23_dir`), the `prefer`
    format where a scenario comes in both (params `crossdata.prefer`); none without the
    folder."""
    from iot_anomaly.evaluation.crossdata import scenario_files as one_per_scenario

    return one_per_scenario(sorted(folder.iterdir()), prefer) if folder.is_dir() else {}


def heldout_scenarios(folder: Path, monitor: MonitorParams, prefer: str) -> dict[str, Path]:
    """The scenarios of params `monitor.holdout_scenarios`: never replayed, never trained on;
    each must be in the folder."""
    files = scenario_files(folder, prefer)
    missing = [s for s in monitor.holdout_scenarios if s not in files]
    if missing:
        raise FileNotFoundError(f"{folder}: no file of the held-out scenarios {missing}")
    return {s: files[s] for s in monitor.holdout_scenarios}


def scenario_set(
    folder: Path, monitor: MonitorParams, ingest: IngestParams, prefer: str
) -> pd.DataFrame:
    """The held-out scenarios, each ingested on its own (no time window spans two), as one
    labelled frame (features, label, category; unmeasured features 0); empty when none are
    named."""
    from iot_anomaly.monitoring.batches import records_frame
    from iot_anomaly.traffic.ingest import ingest as ingest_sources

    files = heldout_scenarios(folder, monitor, prefer)
    if not files:
        return pd.DataFrame()
    records = [ingest_sources([path], ingest).records for path in files.values()]
    frame, _, labelled = records_frame(pd.concat(records, ignore_index=True))
    if not labelled:
        raise ValueError(f"{folder}: the held-out scenarios {list(files)} carry no labels")
    return frame


def figures(champion: Champion, frame: pd.DataFrame) -> dict[str, float]:
    """The figures the promotion rules read, for one model on an evaluation set."""
    m = labelled_metrics(frame, champion.predict(frame))
    return {
        "accuracy": m["binary"]["accuracy"],
        "binary_f1": m["binary"]["f1"],
        "attack_recall": m["binary"]["recall"],
        "macro_f1": m["multiclass"]["macro_f1"],
        "kdd_cost": m["kdd_cost"],
    }


def compare(
    champion: dict[str, float],
    challenger: dict[str, float],
    rules: dict[str, PromotionRule],
    where: str = "",
) -> tuple[bool, list[str]]:
    """Promote unless some figure is worse than the champion's by more than its tolerance
    (params `promotion.rules`); return the verdict and one line per rule saying why (each
    line starts with `where`, the evaluation set, when given)."""
    promote, lines = True, []
    for name, rule in rules.items():
        lower = rule.better == "lower"
        old, new, tolerance = champion[name], challenger[name], rule.tolerance
        worse_by = (new - old) if lower else (old - new)
        ok = worse_by <= tolerance
        promote &= ok
        word = "ok" if ok else "worse"
        lines.append(
            f"{where}{name}: challenger {new:.4f} vs champion {old:.4f} "
            f"({'lower' if lower else 'higher'} is better, tolerance {tolerance}) {word}"
        )
    return promote, lines
