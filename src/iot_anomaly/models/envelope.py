"""The service envelope: the ensemble's novelty layer.

For each service, the smallest and largest value of every numeric feature over the normal
training rows of that service. A connection the three layers call normal, but whose numbers
lie outside its service's envelope by more than `margin` (a share of that feature's range
over all training rows), behaves unlike any normal use of that service seen in training: the
envelope calls it an attack. A service with fewer than `min_rows` normal training rows has no
envelope to trust, so every connection to it counts as outside.

Why: supervised layers only know the attacks they were shown. On the `corrected` test set,
password guessing against pop_3 (4,367 rows; the training rows of that attack are telnet)
looks normal to every classifier, but no normal pop_3 connection in training came with
hundreds of connections to the same host and service (`dst_host_srv_count`).

The envelope covers the numeric features its protocol's models read (`numeric_features`):
all 38 by default, the 23 numeric flow features for a flow protocol; it names them in its
file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from iot_anomaly import schema

SERVICE = "service"
ENVELOPE_FILE = "envelope.json"  # beside the conflict forest in the ensemble's model folder
FEATURES: tuple[str, ...] = schema.NUMERIC  # the default: every numeric feature


def numeric_features(features: Sequence[str]) -> tuple[str, ...]:
    """The numeric ones of `features` (the envelope's columns), in file order."""
    return tuple(f for f in schema.NUMERIC if f in features)


@dataclass(frozen=True)
class ServiceEnvelope:
    """Per service, the normal training rows' range of every numeric feature."""

    services: tuple[str, ...]
    low: np.ndarray  # (services, features)
    high: np.ndarray  # (services, features)
    rows: np.ndarray  # normal training rows per service
    span: np.ndarray  # (features,) range over all training rows; 1 where it is 0
    margin: float
    min_rows: int
    features: tuple[str, ...] = FEATURES  # the numeric features it covers, in file order

    @classmethod
    def fit(
        cls,
        train: pd.DataFrame,
        margin: float,
        min_rows: int,
        features: Sequence[str] = FEATURES,
    ) -> ServiceEnvelope:
        """Learn the envelope from a training frame (raw features and a category column)
        over the numeric ones of `features`; no other column is read."""
        if margin < 0 or min_rows < 1:
            raise ValueError(f"envelope: margin must be >= 0, min_rows >= 1 ({margin}, {min_rows})")
        columns = list(numeric_features(features))
        normal = train[train[schema.CATEGORY] == schema.NORMAL]
        groups = normal.groupby(SERVICE, observed=True)[columns]
        low, high = groups.min(), groups.max()
        values = train[columns].to_numpy(dtype=np.float64)
        span = values.max(axis=0) - values.min(axis=0) if len(values) else np.ones(len(columns))
        return cls(
            services=tuple(str(s) for s in low.index),
            low=low.to_numpy(dtype=np.float64),
            high=high.to_numpy(dtype=np.float64),
            rows=groups.size().to_numpy(np.int64),
            span=np.where(span > 0, span, 1.0),
            margin=float(margin),
            min_rows=int(min_rows),
            features=tuple(columns),
        )

    def excess(self, frame: pd.DataFrame) -> np.ndarray:
        """Per row, how far its furthest feature lies outside its service's envelope, as a
        share of that feature's training range (0 inside; inf without a trusted envelope)."""
        position = {s: i for i, s in enumerate(self.services)}
        which = frame[SERVICE].astype(str).map(position).to_numpy(dtype=np.float64)
        known = ~np.isnan(which)
        out = np.full(len(frame), np.inf)
        if known.any():
            idx = which[known].astype(np.int64)
            X = frame[list(self.features)].to_numpy(dtype=np.float64)[known]
            beyond = np.maximum(self.low[idx] - X, 0) + np.maximum(X - self.high[idx], 0)
            excess = (beyond / self.span).max(axis=1)
            excess[self.rows[idx] < self.min_rows] = np.inf
            out[known] = excess
        return out

    def outside(self, frame: pd.DataFrame) -> np.ndarray:
        """Rows that lie outside their service's envelope by more than the margin."""
        return self.excess(frame) > self.margin

    def to_json(self) -> dict[str, Any]:
        """A readable form: one entry per service with its rows and ranges."""
        return {
            "margin": self.margin,
            "min_rows": self.min_rows,
            "features": list(self.features),
            "span": self.span.tolist(),
            "services": {
                s: {"rows": int(n), "low": lo.tolist(), "high": hi.tolist()}
                for s, n, lo, hi in zip(self.services, self.rows, self.low, self.high, strict=True)
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ServiceEnvelope:
        features = tuple(data["features"])
        if features != numeric_features(features):
            raise ValueError(
                f"envelope features {list(features)} are not numeric features in file order "
                "(schema.NUMERIC); retrain the ensemble"
            )
        services = tuple(data["services"])
        width = len(features)
        entries = [data["services"][s] for s in services]
        return cls(
            services=services,
            low=np.array([e["low"] for e in entries], dtype=np.float64).reshape(-1, width),
            high=np.array([e["high"] for e in entries], dtype=np.float64).reshape(-1, width),
            rows=np.array([e["rows"] for e in entries], dtype=np.int64),
            span=np.array(data["span"], dtype=np.float64),
            margin=float(data["margin"]),
            min_rows=int(data["min_rows"]),
            features=features,
        )

    def save(self, path: Path) -> Path:
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: Path) -> ServiceEnvelope:
        return cls.from_json(json.loads(path.read_text()))


def load_envelope(model_dir: Path) -> ServiceEnvelope | None:
    """The envelope saved beside an ensemble's forest, or None if it was trained without."""
    path = model_dir / ENVELOPE_FILE
    return ServiceEnvelope.load(path) if path.is_file() else None
