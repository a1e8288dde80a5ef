"""The paper's three-layer ensemble (its Figure 3): KNN and CNN+LSTM each classify; where they
agree that is the answer; where they conflict, a Random Forest trained on the conflicting
training instances decides. With too few conflicts to learn from, the RF trained on all
training rows decides instead (the fallback), and the ensemble says which one it used."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import RandomForestClassifier

from iot_anomaly import schema
from iot_anomaly.models.forest import full_proba

N_CLASSES = len(schema.CATEGORIES)
LAYERS = ("agree", "forest")


@dataclass(frozen=True)
class EnsembleDecision:
    """Per row: the answer, each layer's vote, and which layer decided (0 agree, 1 forest)."""

    category: np.ndarray
    knn: np.ndarray
    cnn_lstm: np.ndarray
    forest: np.ndarray  # the forest's vote (-1 where it was not asked)
    layer: np.ndarray


def combine(
    knn_pred: np.ndarray, cnn_pred: np.ndarray, forest: RandomForestClassifier, X: np.ndarray
) -> EnsembleDecision:
    """Agreement wins; the forest settles every conflict."""
    agree = knn_pred == cnn_pred
    final = knn_pred.copy()
    forest_vote = np.full(len(knn_pred), -1, dtype=np.int64)
    if (~agree).any():
        forest_vote[~agree] = full_proba(forest, X[~agree], N_CLASSES).argmax(axis=1)
        final[~agree] = forest_vote[~agree]
    return EnsembleDecision(final, knn_pred, cnn_pred, forest_vote, (~agree).astype(np.int64))


def conflict_mask(knn_pred: np.ndarray, cnn_pred: np.ndarray) -> np.ndarray:
    return knn_pred != cnn_pred


def conflicts_usable(y: np.ndarray, mask: np.ndarray, min_conflicts: int) -> bool:
    """Enough conflicting rows, of at least two categories, to train a forest on."""
    return int(mask.sum()) >= min_conflicts and len(np.unique(y[mask])) >= 2
