"""The seed study: retrain every model under each seed and report each figure's mean and 95%
interval, with McNemar's test of the ensemble against the best single model per seed (the
figures and the summary: evaluation/results.py and evaluation/study.py).

Two things can vary: the models' seed (`models.seeds`; the split stays), or the seed of a
random-split protocol's split (`models.split_seeds`; the split and its encodings are rebuilt
and the models keep `models.seed`), which shows how much a figure owes to which rows happened
to land in the test split. Expensive (every model, every seed), so it is a command of its own
(`iot-anomaly study`), not part of the default `dvc repro`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from iot_anomaly.config import Paths
from iot_anomaly.data.preprocess import targets
from iot_anomaly.evaluation.results import evaluate_model, paired_test
from iot_anomaly.evaluation.study import summarise
from iot_anomaly.io import write_json
from iot_anomaly.models import catalog
from iot_anomaly.params import Params
from iot_anomaly.runtime import Runtime
from iot_anomaly.stages import preprocess, train
from iot_anomaly.stages.evaluate import predicted_categories

VARIES = ("models", "split")
#: Splits whose test part is drawn at random (the others test on a fixed file).
RANDOM_SPLITS = ("paper", "dedup")


@dataclass(frozen=True)
class SeedPaths(Paths):
    """Splits and preprocessors from the project; models and predictions per seed."""

    seed_dir: Path = Path()

    def model_dir(self, protocol: str, model: str) -> Path:
        return self.seed_dir / "models" / protocol / model

    def predictions(self, protocol: str, model: str) -> Path:
        return self.seed_dir / "predictions" / protocol / f"{model}.parquet"


@dataclass(frozen=True)
class SplitPaths(Paths):
    """A whole artifact tree per split seed (splits, encodings, models, predictions); the
    parsed data sets are the project's."""

    project: Path = Path()

    def clean(self, dataset: str) -> Path:
        return Paths(self.project).clean(dataset)


def study_file(paths: Paths, protocol: str, vary: str) -> Path:
    """reports/seed_study_<protocol>.json, or ..._split.json when the split's seed varies."""
    suffix = "" if vary == "models" else f"_{vary}"
    return paths.reports / f"seed_study_{protocol}{suffix}.json"


def run_dir(paths: Paths, vary: str, seed: int) -> Path:
    """Where one seed's run keeps its files: artifacts/study/seed_<seed> or split_<seed>."""
    return paths.artifacts / "study" / f"{'seed' if vary == 'models' else vary}_{seed}"


def _seeded(
    params: Params, paths: Paths, protocol: str, vary: str, seed: int
) -> tuple[Params, Paths]:
    """The params and paths of one seed's run; for a split seed, the split built first."""
    if vary == "models":
        models = params.models.model_copy(update={"seed": seed})
        seed_paths = SeedPaths(paths.root, run_dir(paths, vary, seed))
        return params.model_copy(update={"models": models}), seed_paths
    split = params.preprocess.model_copy(update={"seed": seed, "protocols": [protocol]})
    split_paths = SplitPaths(run_dir(paths, vary, seed), project=paths.root)
    preprocess.build(split, split_paths)
    return params.model_copy(update={"preprocess": split}), split_paths


def run(
    params: Params,
    paths: Paths,
    protocol: str,
    seeds: list[int],
    progress: Callable[[str], None] = lambda _: None,
    vary: str = "models",
    runtime: Runtime | None = None,
) -> dict[str, Any]:
    """Train and evaluate every model per seed (of the models, or of the split); aggregate;
    write the study file (`study_file`). `runtime` defaults to the environment's."""
    if vary not in VARIES:
        raise ValueError(f"vary must be one of {VARIES}, not {vary!r}")
    if vary == "split" and params.preprocess.definition(protocol).split not in RANDOM_SPLITS:
        drawn = [
            p for p in params.preprocess.protocols
            if params.preprocess.definitions[p].split in RANDOM_SPLITS
        ]  # fmt: skip
        raise ValueError(
            f"{protocol!r} tests on a fixed file, so its split has no seed to vary; "
            f"use one of {drawn} or vary the models' seed"
        )
    runtime = runtime or Runtime.from_env()
    per_seed: dict[int, dict[str, Any]] = {}
    paired: dict[int, dict[str, Any]] = {}
    for seed in seeds:
        progress(f"seed {seed}: data")
        seeded, seed_paths = _seeded(params, paths, protocol, vary, seed)
        test = pd.read_parquet(seed_paths.split(protocol, "test"))
        category, attack = targets(test)
        results = {}
        for model in catalog.TRAINING_ORDER:
            progress(f"seed {seed}: {model}")
            train.run(seeded, seed_paths, model, protocol, runtime)
            predictions = pd.read_parquet(seed_paths.predictions(protocol, model))
            results[model] = evaluate_model(model, predictions, test, category, attack)
        per_seed[seed] = results
        paired[seed] = paired_test(results, category, predicted_categories(seed_paths, protocol))

    report = {
        "protocol": protocol, "vary": vary, "seeds": seeds, "summary": summarise(per_seed, seeds),
        "mcnemar": paired,
    }  # fmt: skip
    write_json(report, study_file(paths, protocol, vary))
    return report
