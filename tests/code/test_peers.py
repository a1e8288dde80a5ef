"""The peer benchmark's logic (bench/peers.py): peer figures, the plain autoencoder, and the
rows that set ours (labelled by what they rest on) beside the peers' single runs."""

import numpy as np
import pytest

from bench import peers, predict
from bench.targets import Check, Figure, at_least, fmt
from iot_anomaly.params import Bound, PeerAutoencoder, PeersParams, TargetsParams

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


MEASURED = {
    "paper": {
        "rf": {"accuracy_binary": 0.9998, "macro_f1": 0.91},
        "knn": {"accuracy_binary": 0.9995},
        "plain_ae": {"roc_auc": 0.9992},
    },
    "corrected": {"knn": {"records_per_second": 571.5}},
}


def test_peer_figure_sets_like_beside_like() -> None:
    assert peers.peer_figure("paper.ensemble.binary.accuracy", MEASURED) == 0.9998
    assert peers.peer_figure("paper.rf.multiclass.macro_f1", MEASURED) == 0.91
    assert peers.peer_figure("paper.knn.binary.accuracy", MEASURED) == 0.9995
    assert peers.peer_figure("paper.ae.scores.roc_auc", MEASURED) == 0.9992
    assert peers.peer_figure("paper.gan.scores.roc_auc", MEASURED) is None  # no GAN peer
    assert peers.peer_figure("paper.ensemble.binary.f1", MEASURED) is None
    assert peers.peer_figure("corrected.ensemble.kdd_cost", MEASURED) is None  # not measured


def test_protocols_are_the_ones_the_targets_name() -> None:
    targets = TargetsParams(
        quality={
            "corrected.ensemble.kdd_cost": {"max": 0.2},
            "paper.ae.scores.roc_auc": {"min": 0.9},
            "corrected.rf.binary.accuracy": {"min": 0.9},
        },
        predict_records_per_s=1, monitor_step_s=1, preprocess_s=1, preprocess_memory_gib=1,
        traffic_connections_per_s=1, traffic_pcap_connections_per_s=1,
        scale_records_per_s=1, scale_memory_gib=1, scale_memory_spread=1,
    )  # fmt: skip
    assert peers.protocols(targets) == ["corrected", "paper"]


def test_target_rows_label_what_each_figure_rests_on() -> None:
    study = Figure(0.9449, "seed study, mean of 3", 0.925, 0.965)
    checks = [
        Check("paper.ensemble.multiclass.macro_f1", study, Bound(min=0.95)),
        Check("paper.ensemble.binary.accuracy", Figure(0.9997), Bound(min=0.9995)),
        Check("paper.gan.scores.roc_auc", None, Bound(min=0.99)),
        Check(predict.TARGET, Figure(57_766.0, "median of 3 runs"), at_least(50_000)),
    ]
    rows = {r["target"]: r for r in peers.target_rows(checks, MEASURED)}
    macro = rows["paper.ensemble.multiclass.macro_f1"]
    assert (macro["ours"], macro["ours_low"], macro["ours_high"]) == (0.9449, 0.925, 0.965)
    assert macro["ours_basis"] == "seed study, mean of 3"
    assert (macro["peer"], macro["peer_basis"]) == (0.91, "one run")
    assert not macro["met"] and macro["verdict"] == "not met"
    accuracy = rows["paper.ensemble.binary.accuracy"]
    assert accuracy["ours_basis"] == "one run" and accuracy["met"]
    gan = rows["paper.gan.scores.roc_auc"]
    assert gan["ours"] is None and gan["verdict"] == "not measured" and not gan["met"]
    assert gan["peer"] is None and gan["peer_basis"] is None
    speed = rows[predict.TARGET]
    assert speed["peer"] == 571.5 and "KNN scoring alone" in speed["peer_basis"]
    assert speed["needed"] == "≥ 50,000" and speed["met"]

    page = peers.markdown(list(rows.values()), MEASURED)
    assert (
        "| paper.ensemble.multiclass.macro_f1 | 0.9449 | [0.925, 0.965] | seed study, mean of 3 "
        "| 0.91 | one run | ≥ 0.95 | not met |"
    ) in page
    assert "| paper | rf | macro_f1 | 0.91 |" in page
    assert fmt(311029.0) == "311,029" and fmt(None) == ""
