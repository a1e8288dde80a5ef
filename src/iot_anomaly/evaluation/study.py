"""The seed study's summary: each figure's mean and 95% interval over the seeds' results.
Retraining per seed is the `study` stage's work (stages/study.py)."""

from __future__ import annotations

from typing import Any

from iot_anomaly.evaluation import metrics as mt
from iot_anomaly.models import catalog

#: (model, path into its evaluation result) of every figure the study summarises.
FIGURES: tuple[tuple[str, tuple[str, ...]], ...] = (
    *((m, ("binary", k)) for m in catalog.NAMES for k in ("accuracy", "precision", "recall", "f1")),
    *((m, ("multiclass", k)) for m in catalog.CLASSIFIERS for k in ("accuracy", "macro_f1")),
    *((m, ("scores", "roc_auc")) for m in catalog.SCORERS),
    *((m, ("kdd_cost",)) for m in catalog.CLASSIFIERS),
)


def summarise(per_seed: dict[int, dict[str, Any]], seeds: list[int]) -> dict[str, dict]:
    """`model.group.name` → mean and interval (`mt.mean_ci`) of each figure of `FIGURES`
    that every seed's results (`per_seed[seed][model]`) hold, in `FIGURES`' order."""
    summary = {}
    for model, keys in FIGURES:
        values = [mt.figure_at(per_seed[s][model], keys) for s in seeds]
        if all(v is not None for v in values):
            summary[f"{model}.{'.'.join(keys)}"] = mt.mean_ci([float(v) for v in values])
    return summary
