"""Challenger vs champion on a fixed evaluation set that neither trained on, and the rule
in params that decides promotion."""

from __future__ import annotations

import numpy as np
import pandas as pd

from iot_anomaly.config import CONFIRMED, Paths
from iot_anomaly.data.splits import without_rows_of
from iot_anomaly.params import MonitorParams, PromotionRule
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


def figures(champion: Champion, frame: pd.DataFrame) -> dict[str, float]:
    """The figures the promotion rule reads, for one model on the evaluation set."""
    m = labelled_metrics(frame, champion.predict(frame))
    return {
        "accuracy": m["binary"]["accuracy"],
        "binary_f1": m["binary"]["f1"],
        "macro_f1": m["multiclass"]["macro_f1"],
        "kdd_cost": m["kdd_cost"],
    }


def compare(
    champion: dict[str, float], challenger: dict[str, float], rules: dict[str, PromotionRule]
) -> tuple[bool, list[str]]:
    """Promote unless some figure is worse than the champion's by more than its tolerance
    (params `promotion.rules`); return the verdict and one line per rule saying why."""
    promote, lines = True, []
    for name, rule in rules.items():
        lower = rule.better == "lower"
        old, new, tolerance = champion[name], challenger[name], rule.tolerance
        worse_by = (new - old) if lower else (old - new)
        ok = worse_by <= tolerance
        promote &= ok
        word = "ok" if ok else "worse"
        lines.append(
            f"{name}: challenger {new:.4f} vs champion {old:.4f} "
            f"({'lower' if lower else 'higher'} is better, tolerance {tolerance}) {word}"
        )
    return promote, lines
