"""Stage `crossdata`: the flow models, trained on KDD Cup 99, scored on IoT-23's scenarios,
beside models that also learned from the other IoT-23 scenarios (leave one scenario out).

Each scenario is one file of `data.iot23_dir` (`crossdata.prefer` picks the format where a
scenario has both), ingested on its own (traffic.ingest; its time windows never span two
scenarios). Five models score every scenario:

- `ensemble`: the flow ensemble of the champion's protocol (data.splits.CHAMPION_PROTOCOL,
  `corrected_flow`), loaded and scored as the champion is (serving.Champion), trained on KDD
  rows alone;
- `rf`: that ensemble's Random Forest layer (the `train_rf` model), KDD rows alone;
- `peer_rf`: scikit-learn's RandomForestClassifier with its defaults, on every KDD training
  row (duplicates included, as a default user would), the `train_rf` encoding;
- `rf_loso`: the `train_rf` recipe (encoding refitted, duplicate weighting, forest params)
  on the KDD rows plus every other scenario's rows;
- `peer_rf_loso`: the default forest on those same rows, duplicates included.

A fold never learns from the scenario it scores: its KDD rows lose every row identical (flow
features and label) to one of that scenario's rows, which matters once confirmed batches of
ingested traffic join the protocol's training rows. Writes reports/crossdata.json; the
`evaluate` stage copies it into reports/metrics.json under `iot23`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np
import pandas as pd

from iot_anomaly import schema
from iot_anomaly.config import Paths
from iot_anomaly.data.preprocess import (
    EncodingSpec,
    feature_columns,
    fit_preprocessor,
    load_preprocessor,
    targets,
    transform,
)
from iot_anomaly.data.splits import CHAMPION_PROTOCOL
from iot_anomaly.evaluation import crossdata as cd
from iot_anomaly.io import write_json
from iot_anomaly.models import ensemble as ens
from iot_anomaly.models.forest import fit_forest, full_proba, make_forest
from iot_anomaly.models.inputs import model_data
from iot_anomaly.params import Params
from iot_anomaly.runtime import Runtime

if TYPE_CHECKING:
    from iot_anomaly.serving import Champion

#: The models scored, in report order: name → what it learned from.
MODELS: dict[str, str] = {
    "ensemble": "the flow ensemble (the champion's recipe), KDD rows only",
    "rf": "its Random Forest layer, KDD rows only",
    "peer_rf": "default scikit-learn Random Forest, KDD rows only",
    "rf_loso": "our Random Forest recipe, KDD rows + the other scenarios",
    "peer_rf_loso": "default scikit-learn Random Forest, KDD rows + the other scenarios",
}
COLUMNS = [*schema.FEATURES, schema.LABEL, schema.CATEGORY]  # what the models learn from
NORMAL = schema.category_index(schema.NORMAL)


@dataclass(frozen=True)
class Scenario:
    """One IoT-23 scenario as ingested: its records and how many lines went to quarantine."""

    name: str
    file: str
    records: pd.DataFrame
    quarantined: int

    @property
    def attack(self) -> np.ndarray:
        return (self.records[schema.CATEGORY] != schema.NORMAL).to_numpy()

    @property
    def labels(self) -> pd.Series:
        return self.records[schema.LABEL].reset_index(drop=True)


def read_scenarios(params: Params, paths: Paths) -> list[Scenario]:
    """Every scenario of `data.iot23_dir`, one file each, ingested on its own. A record
    without a category (an unlabelled row) is an error naming its file and line."""
    from iot_anomaly.traffic.ingest import ingest

    folder = paths.root / params.data.iot23_dir
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no IoT-23 folder (params data.iot23_dir)")
    files = cd.scenario_files(sorted(folder.iterdir()), params.crossdata.prefer)
    if not files:
        raise FileNotFoundError(f"{folder}: no IoT-23 scenario files (*-labeled.csv, "
                                "*.conn.log.labeled)")  # fmt: skip
    found = []
    for name, path in files.items():
        ingested = ingest([path], params.ingest)
        records = ingested.records.reset_index(drop=True)
        if schema.CATEGORY not in records.columns:
            raise ValueError(f"{path}: no labelled connection; IoT-23 files carry labels")
        unlabelled = records[schema.CATEGORY].isna() | (records[schema.CATEGORY] == "")
        if unlabelled.any():
            row = records[unlabelled].iloc[0]
            raise ValueError(f"{row['file']}, line {row['line']}: field label: no category")
        file = str(params.data.iot23_dir / path.name)  # as named in params, on any machine
        found.append(Scenario(name, file, records, len(ingested.quarantine)))
    return found


def flow_ensemble(params: Params, paths: Paths, runtime: Runtime) -> Champion:
    """The flow ensemble of the champion's protocol, loaded as the registered champion is
    (`serving.Champion.from_record`), but from a record built here rather than the registry
    file: the registry is written after `evaluate`, which reads this stage's report."""
    from iot_anomaly.serving import Champion

    record = {
        "protocol": CHAMPION_PROTOCOL,
        "params": {
            g: getattr(params, g).model_dump(mode="json") for g in ("train_knn", "train_ae")
        },
    }
    return Champion.from_record(paths, record, runtime)


def forest_verdicts(forest: Any, pre: Any, frame: pd.DataFrame) -> np.ndarray:
    """1 where a 5-category forest names an attack category (its likeliest category)."""
    proba = full_proba(forest, transform(pre, frame), ens.N_CLASSES)
    return (proba.argmax(axis=1) != NORMAL).astype(np.int8)


def default_forest(frame: pd.DataFrame, pre: Any, seed: int, threads: int) -> Any:
    """The peer: RandomForestClassifier with scikit-learn's defaults (seeded), on every row
    of `frame` (duplicates included), encoded by `pre`."""
    category, _ = targets(frame)
    forest = make_forest({}, seed, threads).fit(transform(pre, frame), category)
    return forest.set_params(n_jobs=None)  # predicts on one job, as `fit_forest` explains


def _key(frame: pd.DataFrame, features: tuple[str, ...]) -> pd.Series:
    """A hash of each row's features (those the models read) and label, the same for equal
    values whatever their dtype (the splits hold nullable integers, records floats)."""
    columns = {
        c: frame[c].astype(str) if c in schema.CATEGORICAL else frame[c].astype("float64")
        for c in features
    }
    columns[schema.LABEL] = frame[schema.LABEL].astype(str)
    return pd.util.hash_pandas_object(pd.DataFrame(columns), index=False)


def rows_seen(
    rows: pd.DataFrame,
    other: pd.DataFrame,
    features: tuple[str, ...],
    keys: pd.Series | None = None,
) -> np.ndarray:
    """Per row of `rows`, whether it is identical (features and label) to a row of `other`;
    `keys`: the rows' keys, when computed before (hashing the KDD rows takes seconds)."""
    keys = _key(rows, features) if keys is None else keys
    return keys.isin(set(_key(other, features))).to_numpy()


def fold_rows(
    kdd: pd.DataFrame,
    scenarios: dict[str, Scenario],
    fold: cd.Fold,
    features: tuple[str, ...],
    kdd_keys: pd.Series | None = None,
) -> pd.DataFrame:
    """What a fold learns from: the KDD rows minus any identical to a test scenario row, then
    every training scenario's records; never a row of the test scenario itself. `kdd_keys`:
    the KDD rows' keys (`_key`), when computed before."""
    test = scenarios[fold.test].records
    kept = kdd[~rows_seen(kdd, test, features, kdd_keys)][COLUMNS]
    parts = [kept, *(scenarios[s].records[COLUMNS] for s in fold.train)]
    return pd.concat(parts, ignore_index=True)


def loso_verdicts(
    params: Params,
    kdd: pd.DataFrame,
    scenarios: dict[str, Scenario],
    fold: cd.Fold,
    features: tuple[str, ...],
    threads: int,
    kdd_keys: pd.Series | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One fold: the `train_rf` recipe and the default forest learn from the fold's rows
    (the encoding refitted on them) and give their verdicts on the left-out scenario."""
    rf = params.train_rf
    learn = fold_rows(kdd, scenarios, fold, features, kdd_keys)
    spec = EncodingSpec.from_params(rf.encoding, params.preprocess.encodings[rf.encoding])
    pre = fit_preprocessor(learn, spec, features)
    data = model_data(learn, pre, rf.weighting)
    seed = params.models.seed
    ours = fit_forest(data.X, data.category, data.weight, rf.forest, seed, threads)
    peer = default_forest(learn, pre, seed, threads)
    test = scenarios[fold.test].records
    return forest_verdicts(ours, pre, test), forest_verdicts(peer, pre, test)


def run(
    params: Params,
    paths: Paths,
    runtime: Runtime | None = None,
    step: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Score every IoT-23 scenario with the five models; write reports/crossdata.json and
    return it, with the wall and CPU seconds each part took under `seconds` (not written: it
    is no result)."""
    runtime = runtime or Runtime.from_env()
    step = step or (lambda _: None)
    cfg, seed, threads = params.crossdata, params.models.seed, runtime.threads
    protocol = CHAMPION_PROTOCOL
    features = feature_columns(params.preprocess.definition(protocol).features)
    seconds: dict[str, dict[str, float]] = {}
    started = time.perf_counter(), time.process_time()

    def lap(name: str) -> None:
        """Wall and CPU seconds (all threads of this process) since the last lap."""
        nonlocal started
        now = time.perf_counter(), time.process_time()
        seconds[name] = {
            "wall": round(now[0] - started[0], 1),
            "cpu": round(now[1] - started[1], 1),
        }
        started = now

    step("ingest the scenarios")
    scenarios = {s.name: s for s in read_scenarios(params, paths)}
    kdd = pd.read_parquet(paths.split(protocol, "train"))
    kdd_keys = _key(kdd, features)
    lap("ingest")
    flagged: dict[str, dict[str, np.ndarray]] = {m: {} for m in MODELS}

    step(f"score with the {protocol} ensemble")
    champion = flow_ensemble(params, paths, runtime)
    layers: list[np.ndarray] = []
    try:
        for name, s in scenarios.items():
            verdicts = champion.predict(s.records)
            flagged["ensemble"][name] = verdicts["attack"].to_numpy()
            layers.append(verdicts["decided_by"].to_numpy())
    finally:
        champion.close()
    lap("ensemble")

    step("score with its forest layer and the default forest")
    pre = load_preprocessor(paths.preprocessor(protocol, params.train_rf.encoding))
    forest = joblib.load(paths.model_dir(protocol, "rf") / "model.joblib")
    peer = default_forest(kdd, pre, seed, threads)
    for name, s in scenarios.items():
        flagged["rf"][name] = forest_verdicts(forest, pre, s.records)
        flagged["peer_rf"][name] = forest_verdicts(peer, pre, s.records)
    lap("kdd_forests")

    plan = cd.fold_plan(list(scenarios))
    for number, fold in enumerate(plan, 1):
        step(f"fold {number} of {len(plan)}: {fold.test} left out")
        ours, peer = loso_verdicts(params, kdd, scenarios, fold, features, threads, kdd_keys)
        flagged["rf_loso"][fold.test], flagged["peer_rf_loso"][fold.test] = ours, peer
    lap("folds")

    known = set(kdd_keys)
    report = {
        "protocol": protocol,
        "prefer": cfg.prefer,
        "scenarios": {
            name: {
                "file": s.file,
                "records": len(s.records),
                "quarantined": s.quarantined,
                "attack_rows": int(s.attack.sum()),
                "rows_in_kdd_training": int(_key(s.records, features).isin(known).sum()),
            }
            for name, s in scenarios.items()
        },
        "folds": [{"test": f.test, "train": list(f.train)} for f in plan],
        "models": {
            model: {
                "learned_from": MODELS[model],
                **cd.model_figures(
                    {n: (s.attack, flagged[model][n], s.labels) for n, s in scenarios.items()}
                ),
            }
            for model in MODELS
        },
    }
    report["models"]["ensemble"]["flagged_by_layer"] = cd.flagged_by_layer(
        np.concatenate(layers),
        np.concatenate([s.attack for s in scenarios.values()]),
        np.concatenate(list(flagged["ensemble"].values())),
        ens.LAYERS,
    )
    write_json(report, cd.report_file(paths.reports))
    return {**report, "seconds": seconds}
