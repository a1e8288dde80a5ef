"""Random Forest (the ensemble's third layer, and a strong baseline on its own)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.ensemble import RandomForestClassifier


def make_forest(params: dict[str, Any], seed: int) -> RandomForestClassifier:
    """A Random Forest from the `rf` params (any RandomForestClassifier argument)."""
    return RandomForestClassifier(random_state=seed, **params)


def fit_forest(
    X: np.ndarray, y: np.ndarray, weight: np.ndarray, params: dict[str, Any], seed: int
) -> RandomForestClassifier:
    return make_forest(params, seed).fit(X, y, sample_weight=weight)


def full_proba(forest: RandomForestClassifier, X: np.ndarray, n_classes: int) -> np.ndarray:
    """Class probabilities over all n_classes, even for classes the forest never saw."""
    proba = np.zeros((len(X), n_classes))
    proba[:, forest.classes_.astype(int)] = forest.predict_proba(X)
    return proba
