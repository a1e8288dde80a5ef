"""Model-ready arrays from split frames: encoded features, targets and duplicate weights.

70% of the 10% file repeats earlier rows, so every model learns from unique rows, each
weighted by how often it occurs: training cost grows with unique rows, not raw rows, while
the weighting keeps what the models see faithful to the traffic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from iot_anomaly import schema
from iot_anomaly.data.preprocess import input_features, targets, transform
from iot_anomaly.data.splits import random_split

WEIGHTINGS = ("count", "sqrt", "log", "none")


@dataclass(frozen=True)
class ModelData:
    """Encoded rows with their category (0..4), attack flag (0/1) and weight."""

    X: np.ndarray
    category: np.ndarray
    attack: np.ndarray
    weight: np.ndarray

    def __len__(self) -> int:
        return len(self.X)

    def subset(self, mask: np.ndarray) -> ModelData:
        return ModelData(self.X[mask], self.category[mask], self.attack[mask], self.weight[mask])


def collapse_duplicates(
    frame: pd.DataFrame, features: Sequence[str] = schema.FEATURES
) -> tuple[pd.DataFrame, np.ndarray]:
    """Unique rows (the given features and the label) with how many times each occurs."""
    columns = [c for c in (*features, schema.LABEL) if c in frame.columns]
    counts = frame.groupby(columns, sort=False, observed=True, dropna=False).size()
    first = frame.drop_duplicates(subset=columns, keep="first")
    # groupby with sort=False keeps first-occurrence order, as drop_duplicates does.
    return first, counts.to_numpy(dtype=np.float64)


def unique_rows(
    frame: pd.DataFrame, features: Sequence[str] = schema.FEATURES
) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the first row of each distinct vector of the given features, and per
    row the number of its vector: models score each distinct vector once (traffic repeats
    itself a lot)."""
    keys = pd.util.hash_pandas_object(frame[list(features)], index=False)
    codes, _ = pd.factorize(keys)
    first = pd.Series(np.arange(len(frame))).groupby(codes).first().to_numpy()
    return first, codes


def weights_from_counts(counts: np.ndarray, weighting: str) -> np.ndarray:
    """Turn duplicate counts into sample weights, normalised to mean 1."""
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, not {weighting!r}")
    weight = {
        "count": counts,
        "sqrt": np.sqrt(counts),
        "log": 1.0 + np.log(counts),
        "none": np.ones_like(counts),
    }[weighting]
    return (weight / weight.mean()).astype(np.float32)


def balance_classes(data: ModelData, power: float) -> ModelData:
    """Reweight rows so each category's total weight moves towards equal: each row's weight
    is divided by its category's total weight raised to `power` (0: unchanged, 1: equal)."""
    if power == 0:
        return data
    totals = np.bincount(data.category, weights=data.weight, minlength=len(schema.CATEGORIES))
    factor = np.where(totals > 0, totals, 1.0) ** -power
    weight = data.weight * factor[data.category]
    return ModelData(
        data.X, data.category, data.attack, (weight / weight.mean()).astype(np.float32)
    )


def model_data(
    frame: pd.DataFrame, preprocessor: Pipeline, weighting: str = "count", dedupe: bool = True
) -> ModelData:
    """Encode a labelled frame; with `dedupe`, one row per unique (features the
    preprocessor reads, label)."""
    if dedupe:
        frame, counts = collapse_duplicates(frame, input_features(preprocessor))
    else:
        counts = np.ones(len(frame))
    category, attack = targets(frame)
    return ModelData(
        transform(preprocessor, frame), category, attack, weights_from_counts(counts, weighting)
    )


def fit_val_split(
    train: pd.DataFrame, val_fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out a stratified validation part of the training split for model selection."""
    return random_split(train, val_fraction, seed)
