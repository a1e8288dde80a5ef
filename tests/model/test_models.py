"""Model tests on small slices: every model learns, reloads identically, and is evaluated."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from iot_anomaly import schema
from iot_anomaly.data.preprocess import load_preprocessor, targets, transform
from iot_anomaly.models.ensemble import combine, conflict_mask, conflicts_usable
from iot_anomaly.models.knn import KnnClassifier
from iot_anomaly.models.lightning import training_logs
from iot_anomaly.models.networks import load_network, run_batched
from iot_anomaly.stages.train import PROBA_COLUMNS, protocol_frames

PROTOCOL = "paper"


def _metrics(trained) -> dict:
    _, paths = trained
    return json.loads((paths.reports / "metrics.json").read_text())


def _losses(trained, model: str, column: str) -> list[float]:
    _, paths = trained
    log = pd.read_csv(training_logs(paths.model_dir(PROTOCOL, model)) / "metrics.csv")
    return log[column].dropna().tolist()


@pytest.mark.parametrize(
    ("model", "column"), [("ae", "train_loss"), ("gan", "recon"), ("cnn_lstm", "train_loss")]
)
def test_training_loss_falls(trained, model: str, column: str) -> None:
    losses = _losses(trained, model, column)
    assert len(losses) == 4
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("model", ["ae", "gan"])
def test_anomaly_scores_beat_chance(trained, model: str) -> None:
    result = _metrics(trained)[PROTOCOL][model]
    # A few epochs on ~900 normal rows: far from the full-size figures, far above chance.
    # (Thresholds from ~100 held-out normal rows are too noisy to test accuracy here.)
    assert result["scores"]["roc_auc"] > 0.8
    _, paths = trained
    meta = json.loads((paths.model_dir(PROTOCOL, model) / "meta.json").read_text())
    predictions = pd.read_parquet(paths.predictions(PROTOCOL, model))
    assert (predictions["attack"] == (predictions["score"] > meta["threshold"])).all()


@pytest.mark.parametrize("model", ["knn", "cnn_lstm", "rf", "ensemble"])
def test_classifiers_beat_the_majority_class(trained, model: str) -> None:
    _, paths = trained
    test = pd.read_parquet(paths.split(PROTOCOL, "test"))
    majority = test[schema.CATEGORY].value_counts(normalize=True).max()
    result = _metrics(trained)[PROTOCOL][model]
    assert result["multiclass"]["accuracy"] > max(majority, 0.9)
    assert result["binary"]["f1"] > 0.9


def test_reloaded_networks_predict_identically(trained) -> None:
    """The saved networks, loaded as plain torch modules (what prediction loads, without
    Lightning), give the numbers training wrote, bit for bit, whatever the batch size."""
    params, paths = trained
    frames = protocol_frames(params.models, paths, PROTOCOL)
    for name in ("ae", "gan", "cnn_lstm"):
        encoding = getattr(params, f"train_{name}").encoding
        X = transform(load_preprocessor(paths.preprocessor(PROTOCOL, encoding)), frames.test)
        path = paths.model_dir(PROTOCOL, name) / "model.pt"
        net = load_network(path)
        assert "lightning" not in type(net).__module__
        out = run_batched(net, X)
        np.testing.assert_array_equal(run_batched(load_network(path), X), out)
        for batch_size in (64, 1024):
            np.testing.assert_array_equal(run_batched(net, X, batch_size), out)
        saved = pd.read_parquet(paths.predictions(PROTOCOL, name))
        if name == "cnn_lstm":
            np.testing.assert_array_equal(saved[PROBA_COLUMNS].to_numpy(), out)
        else:
            np.testing.assert_array_equal(saved["score"].to_numpy(), out)
    pre = load_preprocessor(paths.preprocessor(PROTOCOL, params.train_knn.encoding))
    knn = KnnClassifier.load(paths.model_dir(PROTOCOL, "knn") / "model")
    saved = pd.read_parquet(paths.predictions(PROTOCOL, "knn"))["category"].to_numpy()
    np.testing.assert_array_equal(knn.predict(transform(pre, frames.test)), saved)


def test_knn_every_index_finds_the_same_duplicates() -> None:
    rng = np.random.default_rng(0)
    X = rng.random((500, 8), dtype=np.float32)
    y = rng.integers(0, 5, 500)
    for index in ("exact", "ivf", "hnsw"):
        knn = KnnClassifier(k=1, index_type=index).fit(X, y)
        np.testing.assert_array_equal(knn.predict(X), y)  # each row is its own neighbour
    votes = KnnClassifier(k=3, index_type="exact").fit(
        X[:3] * 0, np.array([1, 2, 2]), np.array([5.0, 1.0, 1.0])
    )
    assert votes.predict(X[:1] * 0)[0] == 1  # duplicate counts weigh the vote


def test_knn_ivf_cells_follow_the_seed_not_the_cores(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    X = rng.random((4000, 8), dtype=np.float32)
    y = (X[:, 0] > 0.5).astype(np.int64)
    queries = rng.random((2000, 8), dtype=np.float32)
    fits = [
        KnnClassifier(index_type="ivf", nlist=64, nprobe=2, threads=t, seed=s).fit(X, y)
        for t, s in ((1, 0), (2, 0), (2, 1))
    ]
    assert fits[0]._index.nlist == 64
    cells = [f._index.quantizer.reconstruct_n(0, 64) for f in fits]
    np.testing.assert_array_equal(cells[0], cells[1])  # one or two cores: same cells
    assert not np.array_equal(cells[0], cells[2])  # another seed: other cells
    path = fits[1].save(tmp_path / "knn")
    reloaded = KnnClassifier.load(path.with_suffix(""))
    assert (reloaded.index_type, reloaded.nprobe, reloaded.seed) == ("ivf", 2, 0)
    np.testing.assert_array_equal(reloaded.predict_proba(queries), fits[0].predict_proba(queries))
    small = KnnClassifier(index_type="ivf", nlist=1024).fit(X[:100], y[:100])
    assert small._index.nlist == 100 // 39  # too few rows for 1,024 cells: fewer cells
    np.testing.assert_array_equal(small.predict(X[:100]), y[:100])
    with pytest.raises(ValueError, match="nprobe"):
        KnnClassifier(index_type="ivf", nprobe=0)


def test_ensemble_agreement_and_conflicts() -> None:
    class Forest:
        classes_ = np.arange(5)

        def predict_proba(self, X):
            return np.tile([0.0, 0.0, 0.0, 1.0, 0.0], (len(X), 1))  # always r2l

    knn = np.array([0, 1, 2, 4])
    cnn = np.array([0, 1, 3, 1])
    decision = combine(knn, np.eye(5)[cnn], Forest(), np.zeros((4, 3)))
    assert decision.category.tolist() == [0, 1, 3, 3]
    assert decision.layer.tolist() == [0, 0, 1, 1]
    assert decision.forest.tolist() == [-1, -1, 3, 3]
    mask = conflict_mask(knn, cnn)
    assert conflicts_usable(np.array([0, 1, 2, 3]), mask, 2)
    assert not conflicts_usable(np.array([0, 1, 2, 2]), mask, 2)  # one category only
    assert not conflicts_usable(np.array([0, 1, 2, 3]), mask, 3)  # too few


def test_evaluation_reports(trained) -> None:
    _, paths = trained
    metrics = _metrics(trained)
    assert set(metrics) == {"paper", "corrected_flow"}
    for protocol in metrics:
        assert set(metrics[protocol]) == {"ae", "gan", "cnn_lstm", "knn", "rf", "ensemble"}
    corrected = metrics["corrected_flow"]["ensemble"]
    assert 0 <= corrected["kdd_cost"] <= 4
    assert 0 <= corrected["unseen_attacks_detected"] <= 1
    cm = np.array(metrics["paper"]["ensemble"]["multiclass"]["confusion_matrix"])
    test = pd.read_parquet(paths.split("paper", "test"))
    category, _ = targets(test)
    assert cm.sum() == len(test)
    assert cm.sum(axis=1).tolist() == np.bincount(category, minlength=5).tolist()
    comparison = (paths.reports / "comparison.md").read_text()
    assert "How each column is averaged" in comparison
    for name in ("confusion_paper_ensemble.png", "roc_pr_paper.png", "importance_paper.png"):
        assert (paths.reports / "figures" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    details = json.loads((paths.reports / "evaluation_details.json").read_text())
    assert details["paper"]["mcnemar"]["against"] in {"knn", "cnn_lstm", "rf"}
    assert len(details["paper"]["feature_importance"]["permutation"]) == 15


def test_same_seed_same_model(trained, tmp_path) -> None:
    from iot_anomaly.runtime import Runtime
    from iot_anomaly.stages import train
    from iot_anomaly.stages.study import SeedPaths

    params, paths = trained
    scores = []
    for run in ("first", "second"):
        seed_paths = SeedPaths(paths.root, tmp_path / run)
        train.run(params, seed_paths, "ae", PROTOCOL, Runtime(progress=False))
        scores.append(pd.read_parquet(seed_paths.predictions(PROTOCOL, "ae"))["score"].to_numpy())
    np.testing.assert_array_equal(scores[0], scores[1])
