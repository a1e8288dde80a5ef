"""The seed study: retrain every model under each seed in `models.seeds` and report each
figure's mean and 95% interval, with McNemar's test of the ensemble against the best single
model per seed. Expensive (every model, every seed), so it is a command of its own
(`iot-anomaly study`), not part of the default `dvc repro`."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from iot_anomaly.config import Paths
from iot_anomaly.data.preprocess import targets
from iot_anomaly.evaluation import metrics as mt
from iot_anomaly.io import write_json
from iot_anomaly.stages import train
from iot_anomaly.stages.evaluate import evaluate_model, paired_test

#: (model, path into its evaluation result) of every figure the study summarises.
FIGURES: tuple[tuple[str, tuple[str, ...]], ...] = (
    *((m, ("binary", k)) for m in train.MODELS for k in ("accuracy", "precision", "recall", "f1")),
    *(
        (m, ("multiclass", k))
        for m in ("knn", "cnn_lstm", "rf", "ensemble")
        for k in ("accuracy", "macro_f1")
    ),
    *((m, ("scores", "roc_auc")) for m in ("ae", "gan")),
    *((m, ("kdd_cost",)) for m in ("knn", "cnn_lstm", "rf", "ensemble")),
)


@dataclass(frozen=True)
class SeedPaths(Paths):
    """Splits and preprocessors from the project; models and predictions per seed."""

    seed_dir: Path = Path()

    def model_dir(self, protocol: str, model: str) -> Path:
        return self.seed_dir / "models" / protocol / model

    def predictions(self, protocol: str, model: str) -> Path:
        return self.seed_dir / "predictions" / protocol / f"{model}.parquet"


def _dig(result: dict[str, Any], keys: tuple[str, ...]) -> float | None:
    for key in keys:
        result = result.get(key) if isinstance(result, dict) else None
    return result  # type: ignore[return-value]


def run(
    params: dict[str, Any],
    paths: Paths,
    protocol: str,
    seeds: list[int],
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Train and evaluate every model per seed; aggregate; write reports/seed_study.json."""
    test = pd.read_parquet(paths.split(protocol, "test"))
    category, attack = targets(test)
    per_seed: dict[int, dict[str, Any]] = {}
    paired: dict[int, dict[str, Any]] = {}
    for seed in seeds:
        seeded = copy.deepcopy(params)
        seeded["models"]["seed"] = int(seed)
        seed_paths = SeedPaths(paths.root, paths.artifacts / "study" / f"seed_{seed}")
        results = {}
        for model in train.MODELS:
            progress(f"seed {seed}: {model}")
            train.run(seeded, seed_paths, model, protocol)
            predictions = pd.read_parquet(seed_paths.predictions(protocol, model))
            results[model] = evaluate_model(model, predictions, test, category, attack)
        per_seed[seed] = results
        paired[seed] = paired_test(seed_paths, protocol, results, category)

    summary = {}
    for model, keys in FIGURES:
        values = [_dig(per_seed[s][model], keys) for s in seeds]
        if all(v is not None for v in values):
            summary[f"{model}.{'.'.join(keys)}"] = mt.mean_ci([float(v) for v in values])
    report = {"protocol": protocol, "seeds": seeds, "summary": summary, "mcnemar": paired}
    write_json(report, paths.reports / f"seed_study_{protocol}.json")
    return report
