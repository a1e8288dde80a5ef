"""Random Forest (the ensemble's third layer, and a strong baseline on its own)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.ensemble import RandomForestClassifier


def make_forest(arguments: dict[str, Any], seed: int, n_jobs: int = 1) -> RandomForestClassifier:
    """A Random Forest from the `forest` params (any RandomForestClassifier argument but the
    seed and `n_jobs`)."""
    return RandomForestClassifier(random_state=seed, n_jobs=n_jobs, **arguments)


def fit_forest(
    X: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray,
    arguments: dict[str, Any],
    seed: int,
    n_jobs: int = 1,
) -> RandomForestClassifier:
    """Fit on `n_jobs` cores; the fitted forest predicts on one job. The forest is the same
    for any `n_jobs` (every tree's seed is drawn from `seed` before the trees are spread over
    the jobs), but its predictions would not be: on several jobs scikit-learn sums the trees'
    probabilities in whatever order the jobs finish, which moves their last bits."""
    forest = make_forest(arguments, seed, n_jobs).fit(X, y, sample_weight=weight)
    return forest.set_params(n_jobs=None)


def save_forest(forest: RandomForestClassifier, path: Path) -> Path:
    """Save a fitted forest; it holds no `n_jobs` (see `fit_forest`), so the file is the same
    whatever cores trained it."""
    joblib.dump(forest, path)
    return path


def full_proba(forest: RandomForestClassifier, X: np.ndarray, n_classes: int) -> np.ndarray:
    """Class probabilities over all n_classes, even for classes the forest never saw."""
    proba = np.zeros((len(X), n_classes))
    proba[:, forest.classes_.astype(int)] = forest.predict_proba(X)
    return proba
