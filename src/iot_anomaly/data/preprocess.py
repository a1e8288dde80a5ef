"""Feature encoders and scalers, fitted on training rows only and reused at prediction time.

Two encodings, as in the paper: one-hot categorical columns (for the autoencoder and GAN,
which learn from sparse input) and label (ordinal) encoding (for the other models). Each is
followed by a scaler chosen in params: MinMaxScaler, Normalizer, both, or none. A category
never seen in training (corrected.gz has service `icmp`) is encoded, never a crash: one-hot
gives it all zeros, ordinal encoding gives it the code -1.

A preprocessor reads the columns of its protocol's feature set (`all` or `flow`) and no
other: the columns it was fitted on (`input_features`) are the only ones `transform` takes
from a frame, so every model downstream of it reads those and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import joblib
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    MinMaxScaler,
    Normalizer,
    OneHotEncoder,
    OrdinalEncoder,
    StandardScaler,
)

from iot_anomaly import schema
from iot_anomaly.params import Categorical, EncodingParams, Scaler

ENCODERS: tuple[str, ...] = get_args(Categorical)
SCALERS: tuple[str, ...] = get_args(Scaler)
UNKNOWN_CODE = -1

#: The features a protocol's models read, by feature set (params `preprocess.definitions`).
FEATURE_SETS: dict[str, tuple[str, ...]] = {"all": schema.FEATURES, "flow": schema.FLOW_FEATURES}


def feature_columns(feature_set: str) -> tuple[str, ...]:
    """The columns of a feature set, in file order."""
    if feature_set not in FEATURE_SETS:
        raise ValueError(f"unknown feature set {feature_set!r}; expected one of {FEATURE_SETS}")
    return FEATURE_SETS[feature_set]


@dataclass(frozen=True)
class EncodingSpec:
    """How one named encoding turns a frame into a float matrix (one entry of params
    `preprocess.encodings`, whose model checks the choices)."""

    name: str
    categorical: str = "onehot"
    scaler: str = "minmax"
    log1p: tuple[str, ...] = ()
    clip: bool = False

    @classmethod
    def from_params(cls, name: str, encoding: EncodingParams) -> EncodingSpec:
        return cls(
            name=name,
            categorical=encoding.categorical,
            scaler=encoding.scaler,
            log1p=tuple(encoding.log1p),
            clip=encoding.clip,
        )


def _categorical_encoder(kind: str) -> OneHotEncoder | OrdinalEncoder:
    if kind == "onehot":
        return OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float32)
    return OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=UNKNOWN_CODE, dtype=np.float32
    )


def _scaler_steps(kind: str, clip: bool) -> list[tuple[str, Any]]:
    steps: list[tuple[str, Any]] = []
    if kind in ("normalizer", "normalizer+minmax"):
        steps.append(("normalizer", Normalizer()))
    if kind in ("minmax", "normalizer+minmax"):
        steps.append(("minmax", MinMaxScaler(clip=clip)))
    if kind == "standard":
        steps.append(("standard", StandardScaler()))
    return steps


def build_preprocessor(spec: EncodingSpec, features: tuple[str, ...] = schema.FEATURES) -> Pipeline:
    """An unfitted sklearn pipeline for one encoding spec over the given features (log1p
    columns outside them are left out)."""
    logged = [c for c in spec.log1p if c in features]
    plain = [c for c in schema.NUMERIC if c in features and c not in spec.log1p]
    categorical = [c for c in schema.CATEGORICAL if c in features]
    columns = ColumnTransformer(
        [
            ("categorical", _categorical_encoder(spec.categorical), categorical),
            ("log1p", FunctionTransformer(np.log1p, feature_names_out="one-to-one"), logged),
            ("numeric", "passthrough", plain),
        ],
        verbose_feature_names_out=False,
    )
    return Pipeline([("columns", columns), *_scaler_steps(spec.scaler, spec.clip)])


def fit_preprocessor(
    train: pd.DataFrame, spec: EncodingSpec, features: tuple[str, ...] = schema.FEATURES
) -> Pipeline:
    """Fit one encoding on training rows only (never on test rows: no leakage), reading
    `features` only (a feature set's columns, in file order)."""
    unknown = sorted(set(features) - set(schema.FEATURES))
    if unknown:
        raise ValueError(f"not features of the KDD records: {unknown}")
    ordered = [c for c in schema.FEATURES if c in features]
    return build_preprocessor(spec, tuple(ordered)).fit(train[ordered])


def input_features(preprocessor: Pipeline) -> list[str]:
    """The columns a fitted preprocessor reads (those it was fitted on), in file order."""
    return [str(c) for c in preprocessor.feature_names_in_]


def transform(preprocessor: Pipeline, frame: pd.DataFrame) -> np.ndarray:
    """Encode and scale a frame with a fitted preprocessor; float32, one row per input row.
    Only the preprocessor's own columns are read; a frame without one of them is an error."""
    columns = input_features(preprocessor)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"the rows lack the feature columns {missing}")
    return np.ascontiguousarray(preprocessor.transform(frame[columns]), dtype=np.float32)


def feature_names(preprocessor: Pipeline) -> list[str]:
    """Names of the output columns (one per one-hot value, or one per input feature)."""
    return [str(n) for n in preprocessor.named_steps["columns"].get_feature_names_out()]


def save_preprocessor(preprocessor: Pipeline, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(preprocessor, path)
    return path


def load_preprocessor(path: Path) -> Pipeline:
    return joblib.load(path)


def targets(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(category index 0..4 in schema.CATEGORIES order, attack 0/1) for a labelled frame."""
    codes = pd.Categorical(frame[schema.CATEGORY], categories=schema.CATEGORIES).codes
    if (codes < 0).any():
        raise ValueError("frame has rows whose category is not one of schema.CATEGORIES")
    category = codes.astype(np.int64)
    return category, (category != schema.category_index(schema.NORMAL)).astype(np.int64)
