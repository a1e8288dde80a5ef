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


#: The ensemble's figures the feature-set comparison shows: (label, path, better).
FEATURE_SET_FIGURES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("accuracy (binary)", ("binary", "accuracy"), "higher"),
    ("attack recall", ("binary", "recall"), "higher"),
    ("macro-F1 (5-class)", ("multiclass", "macro_f1"), "higher"),
    ("KDD cost", ("kdd_cost",), "lower"),
)


def feature_set_pairs(details: dict[str, Any]) -> list[tuple[str, str]]:
    """(protocol over all features, protocol over the flow features) of each split that has
    both, from the protocols' definitions in reports/evaluation_details.json."""
    defined = {p: d["definition"] for p, d in details.items() if "definition" in d}
    pairs = []
    for flow, d in defined.items():
        if d["features"] != "flow":
            continue
        full = [
            p for p, e in defined.items() if e["split"] == d["split"] and e["features"] == "all"
        ]
        pairs += [(p, flow) for p in full]
    return pairs


def _ensemble_figures(result: dict[str, Any] | None, seeded: bool) -> list[Any]:
    """The comparison's figures of one protocol: from a seed study's summary (each a mean
    and interval) or from one run's ensemble result."""
    if seeded:
        summary = (result or {}).get("summary", {})
        return [summary.get(f"ensemble.{'.'.join(k)}") for _, k, _ in FEATURE_SET_FIGURES]
    return [mt.figure_at(result, k) for _, k, _ in FEATURE_SET_FIGURES]


def feature_set_comparison(
    metrics: dict[str, Any], studies: dict[str, dict[str, Any]], details: dict[str, Any]
) -> list[dict[str, Any]]:
    """The ensemble over all features beside the ensemble over the flow features, per split:
    what dropping the content and packet features costs. A pair is compared on its seed
    studies' means (`studies[protocol]`, the models' seed varied) when both protocols have
    one, else on the figures of one run (reports/metrics.json); `difference` is flow minus
    all, of the means or of the one run's figures."""
    rows = []
    for full, flow in feature_set_pairs(details):
        seeded = full in studies and flow in studies
        values = {
            p: _ensemble_figures(
                studies.get(p) if seeded else metrics.get(p, {}).get("ensemble"), seeded
            )
            for p in (full, flow)
        }
        means = {
            p: [v["mean"] if isinstance(v, dict) else v for v in vs] for p, vs in values.items()
        }
        if all(v is None for vs in means.values() for v in vs):
            continue  # neither protocol evaluated yet
        runs = [ci["n"] for p in (full, flow) for ci in values[p] if isinstance(ci, dict)]
        rows.append(
            {
                "split": details[flow]["definition"]["split"],
                "all": full,
                "flow": flow,
                "basis": "seed mean" if seeded else "one run",
                "runs": min(runs) if seeded and runs else 1,
                "values": values,
                "difference": [
                    None if a is None or b is None else b - a
                    for a, b in zip(means[full], means[flow], strict=True)
                ],
            }
        )
    return rows
