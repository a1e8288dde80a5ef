"""Parameters (params.yaml, typed in `iot_anomaly.params`) and the project's file layout, in
one place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from iot_anomaly.params import DEFAULT_PARAMS, Params, ParamsError, load_params, parse_params

__all__ = [
    "CONFIRMED",
    "DATASETS",
    "DEFAULT_PARAMS",
    "Params",
    "ParamsError",
    "Paths",
    "champion_version_root",
    "current_champion",
    "load_params",
    "parse_params",
    "serving_paths",
]

DATASETS = ("train", "test")  # the 10% file and corrected.gz, as named in params
CONFIRMED = "confirmed"  # labelled monitoring batches that joined the training data


@dataclass(frozen=True)
class Paths:
    """Where every stage reads and writes, relative to the project root."""

    root: Path = Path()

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    def clean(self, dataset: str) -> Path:
        """Parsed, validated rows of one raw data set."""
        return self.artifacts / "clean" / f"{dataset}.parquet"

    def quarantine(self, dataset: str) -> Path:
        return self.artifacts / "quarantine" / f"{dataset}.csv"

    @property
    def validation_dir(self) -> Path:
        return self.reports / "validation"

    def split(self, protocol: str, part: str) -> Path:
        """One part (train, test, train_normal) of one protocol's split."""
        return self.artifacts / "splits" / protocol / f"{part}.parquet"

    def preprocessor(self, protocol: str, encoding: str) -> Path:
        return self.artifacts / "preprocess" / protocol / f"{encoding}.joblib"

    @property
    def splits_report(self) -> Path:
        return self.reports / "splits.json"

    def model_dir(self, protocol: str, model: str) -> Path:
        """A trained model's files: weights, meta.json, Lightning logs."""
        return self.artifacts / "models" / protocol / model

    def predictions(self, protocol: str, model: str) -> Path:
        """A model's outputs for every test row of a protocol."""
        return self.artifacts / "predictions" / protocol / f"{model}.parquet"


def champion_version_root(store: Path, version: str) -> Path:
    """Where one promoted version lives in the champion store (laid out like a project)."""
    return store / "versions" / version


def current_champion(store: Path) -> str | None:
    """The champion's version named by the store's `current` file, None before any."""
    current = store / "current"
    return (current.read_text().strip() or None) if current.is_file() else None


def serving_paths(champion_dir: Path, paths: Paths) -> Paths:
    """Where the model in use is read from: the promoted champion in the champion store
    (`promotion.champion_dir`), or, before the first promotion, the model the pipeline
    registered."""
    store = paths.root / champion_dir
    version = current_champion(store)
    return Paths(champion_version_root(store, version)) if version else paths
