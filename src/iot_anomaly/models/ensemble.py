"""The paper's three-layer ensemble (its Figure 3): KNN and CNN+LSTM each classify; where they
agree that is the answer; where they conflict, a Random Forest trained on the conflicting
training instances decides. With too few conflicts to learn from, the RF trained on all
training rows decides instead (the fallback), and the ensemble says which one it used.

Our fourth layer (models/envelope.py, optional in params): a row the three layers call normal
that lies outside its service's normal envelope becomes the CNN+LSTM's most likely attack
category. The three layers' own answer stays derivable: it is normal wherever the envelope
decided."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import RandomForestClassifier

from iot_anomaly import schema
from iot_anomaly.models.forest import full_proba

N_CLASSES = len(schema.CATEGORIES)
NORMAL = schema.category_index(schema.NORMAL)
LAYERS = ("agree", "forest", "envelope")
AGREE, FOREST, ENVELOPE = range(len(LAYERS))


@dataclass(frozen=True)
class EnsembleDecision:
    """Per row: the answer, each layer's vote, and which layer decided (agree, forest, envelope)."""

    category: np.ndarray
    knn: np.ndarray
    cnn_lstm: np.ndarray
    forest: np.ndarray  # the forest's vote (-1 where it was not asked)
    layer: np.ndarray  # index into LAYERS


def combine(
    knn_pred: np.ndarray,
    cnn_proba: np.ndarray,
    forest: RandomForestClassifier,
    X: np.ndarray,
    outside: np.ndarray | None = None,
) -> EnsembleDecision:
    """Agreement wins; the forest settles every conflict; where `outside` (the service
    envelope's verdict) is given, a normal answer outside the envelope becomes the CNN+LSTM's
    most likely attack category."""
    cnn_pred = cnn_proba.argmax(axis=1)
    agree = knn_pred == cnn_pred
    final = knn_pred.copy()
    layer = np.where(agree, AGREE, FOREST).astype(np.int64)
    forest_vote = np.full(len(knn_pred), -1, dtype=np.int64)
    if (~agree).any():
        forest_vote[~agree] = full_proba(forest, X[~agree], N_CLASSES).argmax(axis=1)
        final[~agree] = forest_vote[~agree]
    if outside is not None:
        novel = outside & (final == NORMAL)
        final[novel] = most_likely_attack(cnn_proba[novel])
        layer[novel] = ENVELOPE
    return EnsembleDecision(final, knn_pred, cnn_pred, forest_vote, layer)


def most_likely_attack(proba: np.ndarray) -> np.ndarray:
    """The attack category with the highest probability (normal excluded)."""
    attacks = np.delete(np.arange(N_CLASSES), NORMAL)
    return attacks[proba[:, attacks].argmax(axis=1)]


def three_layer_answer(decision_category: np.ndarray, layer: np.ndarray) -> np.ndarray:
    """The paper's three-layer ensemble's answer: normal wherever the envelope decided."""
    return np.where(layer == ENVELOPE, NORMAL, decision_category)


def conflict_mask(knn_pred: np.ndarray, cnn_pred: np.ndarray) -> np.ndarray:
    return knn_pred != cnn_pred


def conflicts_usable(y: np.ndarray, mask: np.ndarray, min_conflicts: int) -> bool:
    """Enough conflicting rows, of at least two categories, to train a forest on."""
    return int(mask.sum()) >= min_conflicts and len(np.unique(y[mask])) >= 2
