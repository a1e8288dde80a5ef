"""The registry record: artifacts/registry/champion.json says which models (a digest of each
component's files), data and params the production model, the ensemble trained on the 10%
file over the flow features (the `corrected_flow` protocol's models), came from.

The file is a DVC output versioned in git, so it holds only what the models, data and
params determine: registering the same models twice writes the same bytes. When, and at
which commit, a version entered the champion store or was promoted is the store's own record
(monitoring/store.py)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

from iot_anomaly.config import Paths
from iot_anomaly.data.splits import CHAMPION_PROTOCOL
from iot_anomaly.io import write_json
from iot_anomaly.models import catalog
from iot_anomaly.params import Params

COMPONENTS = catalog.NAMES  # every model the champion serves
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


def registry_file(paths: Paths) -> Path:
    """artifacts/registry/champion.json of a project (or of a version in the store)."""
    return paths.artifacts / "registry" / "champion.json"


def digest(path: Path) -> str:
    """md5 over a file or every file under a folder (names and bytes)."""
    md5 = hashlib.md5()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        md5.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        md5.update(file.read_bytes())
    return md5.hexdigest()


def data_version(root: Path) -> str | None:
    """The md5 that `data.dvc` records for the raw data, None without the file."""
    data_dvc = root / "data.dvc"
    return yaml.safe_load(data_dvc.read_text())["outs"][0]["md5"] if data_dvc.is_file() else None


def register(params: Params, paths: Paths) -> dict[str, Any]:
    """Write the registry file for the current champion models; return its record."""
    protocol = CHAMPION_PROTOCOL
    components = {m: digest(paths.model_dir(protocol, m)) for m in COMPONENTS}
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
        "trained_on": str(params.data.train_file),
        "data_version": data_version(paths.root),
        "components": components,
        "params": {g: getattr(params, g).model_dump(mode="json") for g in PARAM_GROUPS},
        "evaluation_on_corrected": None
        if metrics is None
        else {
            "accuracy": metrics["binary"]["accuracy"],
            "binary_f1": metrics["binary"]["f1"],
            "macro_f1": metrics["multiclass"]["macro_f1"],
            "kdd_cost": metrics["kdd_cost"],
        },
    }
    write_json(record, registry_file(paths))
    return record
