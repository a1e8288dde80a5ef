"""The peer benchmark's logic (evaluation/peers.py): figures, the plain autoencoder, the bars."""

import numpy as np
import pytest

from iot_anomaly.evaluation import peers
from iot_anomaly.params import PeerAutoencoder, PeersParams

SETTINGS = PeersParams(
    knn_rows=50,
    autoencoder=PeerAutoencoder(hidden=[8, 4], epochs=30, batch_size=32, lr=0.01),
    seed=0,
)


def test_classifier_figures() -> None:
    category = np.array([0, 0, 1, 2, 3, 4])
    predicted = np.array([0, 1, 1, 1, 0, 4])  # a false alarm, a wrong attack, a missed r2l
    figures = peers.classifier_figures(category, predicted)
    assert figures["accuracy_binary"] == pytest.approx(4 / 6)
    assert figures["accuracy_5class"] == pytest.approx(3 / 6)
    assert figures["kdd_cost"] == pytest.approx((2 + 2 + 4) / 6)  # KDD cost matrix


def test_sample_rows() -> None:
    rows = peers.sample_rows(100, 10, seed=1)
    assert len(rows) == 10 and len(set(rows)) == 10 and list(rows) == sorted(rows)
    assert np.array_equal(rows, peers.sample_rows(100, 10, seed=1))
    assert np.array_equal(peers.sample_rows(5, 10, seed=1), np.arange(5))


def test_plain_autoencoder_ranks_anomalies_higher() -> None:
    rng = np.random.default_rng(0)
    normal = rng.normal(0, 0.05, (400, 6)) + np.array([1, 0, 1, 0, 0.5, 0.5])
    anomalies = rng.uniform(-1, 2, (40, 6))
    test = np.vstack([normal[:40], anomalies])
    scores = peers.plain_autoencoder_scores(normal, test, SETTINGS)
    assert scores.shape == (80,)
    assert scores[40:].mean() > 5 * scores[:40].mean()
    again = peers.plain_autoencoder_scores(normal, test, SETTINGS)
    np.testing.assert_array_equal(scores, again)  # seeded


def test_measure_peers_on_separable_rows() -> None:
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1, 2], 60)
    X = y[:, None] + rng.normal(0, 0.1, (len(y), 3))
    train, test = np.arange(len(y)) % 2 == 0, np.arange(len(y)) % 2 == 1
    result = peers.measure_peers(
        X[train], X[test], X[train & (y == 0)], X[test], y[train], y[test], SETTINGS
    )
    assert result["rf"]["accuracy_5class"] > 0.95
    assert result["knn"]["test_rows"] == SETTINGS.knn_rows
    assert result["rf"]["test_rows"] == test.sum()
    assert result["plain_ae"]["roc_auc"] > 0.9
    assert result["rf"]["records_per_second"] > 0


def _ours(macro_f1: float, cost: float) -> dict:
    ensemble = {
        "binary": {"accuracy": 0.9997, "f1": 0.9998},
        "multiclass": {"macro_f1": macro_f1, "accuracy": 0.9996},
        "kdd_cost": cost,
    }
    scores = {"ae": {"scores": {"roc_auc": 0.998}}, "gan": {"scores": {"roc_auc": 0.98}}}
    return {
        "metrics": {p: {"ensemble": ensemble, **scores} for p in ("paper", "corrected")},
        "records_per_second": 60_000.0,
    }


def test_bar_rows_say_which_bars_are_met() -> None:
    measured = {"paper": {"rf": {"accuracy_binary": 0.9998, "macro_f1": 0.91}}}
    rows = {r["bar"]: r for r in peers.bar_rows(_ours(0.94, 0.3), measured)}
    assert len(rows) == len(peers.BARS)
    assert rows["paper: accuracy (binary)"]["met"]
    assert rows["paper: accuracy (binary)"]["peer"] == 0.9998
    assert not rows["paper: macro-F1 (5-class)"]["met"]  # 0.94 < 0.95
    assert not rows["corrected: KDD cost"]["met"]  # 0.3 > 0.225: lower is better
    assert rows["corrected: KDD cost"]["peer"] is None  # no corrected peers measured
    assert not rows["paper: GAN ROC-AUC"]["met"]
    better = {r["bar"]: r for r in peers.bar_rows(_ours(0.96, 0.2), measured)}
    assert better["paper: macro-F1 (5-class)"]["met"] and better["corrected: KDD cost"]["met"]
    page = peers.markdown(list(rows.values()), measured)
    assert "| paper: macro-F1 (5-class) | 0.94 | 0.91 | ≥ 0.95 | no |" in page
    assert "| paper | rf | macro_f1 | 0.91 |" in page
    assert peers.cell(311029.0) == "311,029" and peers.cell(None) == ""
