"""The production model (the champion): the ensemble trained on the 10% file (the
`corrected` protocol's models), with the AE and GAN scores beside it, and the registry file
that says which model, data and params it came from."""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import yaml

from iot_anomaly import schema
from iot_anomaly.config import Paths
from iot_anomaly.data.preprocess import load_preprocessor, targets, transform
from iot_anomaly.evaluation import metrics as mt
from iot_anomaly.models import ensemble as ens
from iot_anomaly.models.cnn_lstm import CnnLstm
from iot_anomaly.models.knn import KnnClassifier
from iot_anomaly.models.lightning import load_module
from iot_anomaly.stages.train import SCORERS, unique_rows

CHAMPION_PROTOCOL = "corrected"  # its training split is the whole 10% file
COMPONENTS = ("knn", "cnn_lstm", "rf", "ensemble", "ae", "gan")
PARAM_GROUPS = (
    "preprocess",
    "models",
    "train_ae",
    "train_gan",
    "train_cnn_lstm",
    "train_knn",
    "train_rf",
    "ensemble",
)


def _digest(path: Path) -> str:
    """md5 over a file or every file under a folder (names and bytes)."""
    digest = hashlib.md5()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if "logs" in file.parts or "checkpoints" in file.parts:
            continue
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def _git_commit(root: Path) -> str | None:
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True)
    return done.stdout.strip() or None


def register(params: dict[str, Any], paths: Paths) -> dict[str, Any]:
    """Write artifacts/registry/champion.json for the current champion models."""
    protocol = CHAMPION_PROTOCOL
    data_dvc = paths.root / "data.dvc"
    data_version = (
        yaml.safe_load(data_dvc.read_text())["outs"][0]["md5"] if data_dvc.is_file() else None
    )
    components = {m: _digest(paths.model_dir(protocol, m)) for m in COMPONENTS}
    version = hashlib.md5(json.dumps(components, sort_keys=True).encode()).hexdigest()[:12]
    metrics_file = paths.reports / "metrics.json"
    metrics = (
        json.loads(metrics_file.read_text()).get(protocol, {}).get("ensemble")
        if metrics_file.is_file()
        else None
    )
    record = {
        "model": "ensemble",
        "version": version,
        "protocol": protocol,
        "trained_on": params["data"]["train_file"],
        "data_version": data_version,
        "git_commit": _git_commit(paths.root),
        "registered_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "components": components,
        "params": {g: params.get(g) for g in PARAM_GROUPS},
        "evaluation_on_corrected": None
        if metrics is None
        else {
            "accuracy": metrics["binary"]["accuracy"],
            "binary_f1": metrics["binary"]["f1"],
            "macro_f1": metrics["multiclass"]["macro_f1"],
            "kdd_cost": metrics["kdd_cost"],
        },
    }
    path = paths.artifacts / "registry" / "champion.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    return record


@dataclass
class Champion:
    """Every component the ensemble and its side scores need, loaded once."""

    label_pre: Any
    onehot_pre: Any
    knn: KnnClassifier
    cnn: CnnLstm
    forest: Any
    scorers: dict[str, Any]
    thresholds: dict[str, float]
    record: dict[str, Any]

    @classmethod
    def load(cls, paths: Paths) -> Champion:
        registry = paths.artifacts / "registry" / "champion.json"
        if not registry.is_file():
            raise FileNotFoundError(f"{registry}: no champion registered; run `dvc repro` first")
        record = json.loads(registry.read_text())
        protocol = record["protocol"]
        settings = record["params"]
        scorers, thresholds = {}, {}
        for name, module in SCORERS.items():
            scorers[name] = load_module(module, paths.model_dir(protocol, name) / "model.pt")
            meta = json.loads((paths.model_dir(protocol, name) / "meta.json").read_text())
            thresholds[name] = float(meta["threshold"])
        return cls(
            label_pre=load_preprocessor(
                paths.preprocessor(protocol, settings["train_knn"]["encoding"])
            ),
            onehot_pre=load_preprocessor(
                paths.preprocessor(protocol, settings["train_ae"]["encoding"])
            ),
            knn=KnnClassifier.load(paths.model_dir(protocol, "knn") / "model"),
            cnn=load_module(CnnLstm, paths.model_dir(protocol, "cnn_lstm") / "model.pt"),
            forest=joblib.load(paths.model_dir(protocol, "ensemble") / "forest.joblib"),
            scorers=scorers,
            thresholds=thresholds,
            record=record,
        )

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Per row: category, attack yes/no, each layer's vote, the deciding layer, and the
        AE and GAN anomaly scores with their verdicts. Each distinct row is scored once."""
        first, codes = unique_rows(frame)
        distinct = frame.iloc[first]
        X = transform(self.label_pre, distinct)
        decision = ens.combine(
            self.knn.predict(X), self.cnn.predict_proba(X).argmax(axis=1), self.forest, X
        )
        names = np.array(schema.CATEGORIES)
        out = pd.DataFrame(
            {
                "category": names[decision.category],
                "attack": decision.category != schema.category_index(schema.NORMAL),
                "knn": names[decision.knn],
                "cnn_lstm": names[decision.cnn_lstm],
                "forest": np.where(decision.forest >= 0, names[np.maximum(decision.forest, 0)], ""),
                "decided_by": np.array(ens.LAYERS)[decision.layer],
            }
        )
        X_onehot = transform(self.onehot_pre, distinct)
        for name, model in self.scorers.items():
            scores = model.score(X_onehot)
            out[f"{name}_score"] = scores
            out[f"{name}_attack"] = scores > self.thresholds[name]
        result = out.iloc[codes].set_index(frame.index)
        return result


def labelled_metrics(frame: pd.DataFrame, predictions: pd.DataFrame) -> dict[str, Any]:
    """Metrics of the champion's predictions against a labelled frame."""
    category, attack = targets(frame)
    predicted = pd.Categorical(predictions["category"], categories=schema.CATEGORIES).codes
    return {
        "binary": mt.binary_metrics(attack, predictions["attack"].to_numpy().astype(int)),
        "multiclass": mt.multiclass_metrics(category, predicted),
        "kdd_cost": mt.kdd_cost(category, predicted),
    }
