"""Peers: what off-the-shelf models reach on the same rows and the same machine, measured in
the same run as ours, because issue 3's bars are set against them (`bench/peers.py`).

The peers are scikit-learn's Random Forest and KNN with their default settings, trained on
every training row (duplicates included, as a default user would), and a plain autoencoder
(ReLU layers, Adam, mean squared error) trained on the normal training rows. They see the
project's own encodings, fitted on the training rows only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.ensemble import RandomForestClassifier
from sklearn.neighbors import KNeighborsClassifier

from iot_anomaly import schema
from iot_anomaly.evaluation import metrics as mt
from iot_anomaly.models.networks import mlp, reconstruction_error
from iot_anomaly.params import PeersParams

NORMAL = schema.category_index(schema.NORMAL)


def timed(fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    """fn(*args) and the seconds it took."""
    started = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - started


def classifier_figures(category: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Binary and 5-class accuracy, 5-class macro-F1 and the KDD cost of category indices."""
    binary = mt.binary_metrics((category != NORMAL).astype(int), (predicted != NORMAL).astype(int))
    multi = mt.multiclass_metrics(category, predicted)
    return {
        "accuracy_binary": binary["accuracy"],
        "accuracy_5class": multi["accuracy"],
        "macro_f1": multi["macro_f1"],
        "kdd_cost": mt.kdd_cost(category, predicted),
    }


def classifier_peer(
    model: Any, X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray
) -> dict[str, float]:
    """Fit a peer classifier, score the test rows, and time both."""
    _, fit_seconds = timed(model.fit, X_train, y_train)
    predicted, seconds = timed(model.predict, X_test)
    return {
        **classifier_figures(y_test, np.asarray(predicted)),
        "test_rows": len(X_test),
        "fit_seconds": fit_seconds,
        "records_per_second": len(X_test) / seconds,
    }


def sample_rows(n_rows: int, n: int, seed: int) -> np.ndarray:
    """At most n row positions, drawn without replacement, in their original order."""
    if n >= n_rows:
        return np.arange(n_rows)
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=n, replace=False))


def plain_autoencoder_scores(
    X_normal: np.ndarray, X_test: np.ndarray, settings: PeersParams
) -> np.ndarray:
    """Train a plain autoencoder on normal rows; each test row's reconstruction error."""
    torch.manual_seed(settings.seed)
    ae = settings.autoencoder
    n, hidden = X_normal.shape[1], list(ae.hidden)
    sizes = [n, *hidden, *hidden[-2::-1], n]
    net = mlp(sizes, ["relu"] * (len(sizes) - 2))  # the output layer stays linear
    optimizer = torch.optim.Adam(net.parameters(), lr=ae.lr)
    X = torch.as_tensor(X_normal, dtype=torch.float32)
    generator = torch.Generator().manual_seed(settings.seed)
    for _ in range(ae.epochs):
        for batch in torch.randperm(len(X), generator=generator).split(ae.batch_size):
            optimizer.zero_grad()
            loss = reconstruction_error(net(X[batch]), X[batch]).mean()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        T = torch.as_tensor(X_test, dtype=torch.float32)
        return reconstruction_error(net(T), T).numpy()


def measure_peers(
    classifier_train: np.ndarray,
    classifier_test: np.ndarray,
    ae_normal_train: np.ndarray,
    ae_test: np.ndarray,
    y_train: np.ndarray,
    y_test: np.ndarray,
    settings: PeersParams,
) -> dict[str, Any]:
    """The three peers on one protocol (params `bench.peers`): default forest and KNN on the
    rows as our classifiers see them (KNN on a sample of `knn_rows` test rows), the plain
    autoencoder on the rows as our autoencoder sees them, the normal training rows to learn
    from."""
    forest = RandomForestClassifier(random_state=settings.seed)
    sample = sample_rows(len(classifier_test), settings.knn_rows, settings.seed)
    scores, ae_seconds = timed(plain_autoencoder_scores, ae_normal_train, ae_test, settings)
    return {
        "rf": classifier_peer(forest, classifier_train, y_train, classifier_test, y_test),
        "knn": classifier_peer(
            KNeighborsClassifier(),
            classifier_train,
            y_train,
            classifier_test[sample],
            y_test[sample],
        ),
        "plain_ae": {
            **mt.score_metrics((y_test != NORMAL).astype(int), scores),
            "seconds": ae_seconds,
        },
    }


@dataclass(frozen=True)
class Bar:
    """One of issue 3's bars: a figure of ours, the peer figure beside it, the bar."""

    name: str
    ours: Callable[[dict[str, Any]], float]
    peer: Callable[[dict[str, Any]], float | None]
    bar: float
    higher_is_better: bool = True

    def met(self, value: float) -> bool:
        return value >= self.bar if self.higher_is_better else value <= self.bar


def _ours(*keys: str) -> Callable[[dict[str, Any]], float]:
    """Our figure at this path in reports/metrics.json (protocol, model, group, name)."""
    return lambda ours: mt.figure_at(ours["metrics"], keys)


def _peer(protocol: str, model: str, key: str) -> Callable[[dict[str, Any]], float | None]:
    return lambda peers: mt.figure_at(peers, (protocol, model, key))  # None: not measured


def _no_peer(_: dict[str, Any]) -> None:
    """For a bar no off-the-shelf peer is measured for."""


BARS: tuple[Bar, ...] = (
    Bar("paper: accuracy (binary)", _ours("paper", "ensemble", "binary", "accuracy"),
        _peer("paper", "rf", "accuracy_binary"), 0.9995),
    Bar("paper: F1 (binary)", _ours("paper", "ensemble", "binary", "f1"), _no_peer, 0.9995),
    Bar("paper: macro-F1 (5-class)", _ours("paper", "ensemble", "multiclass", "macro_f1"),
        _peer("paper", "rf", "macro_f1"), 0.95),
    Bar("corrected: accuracy (binary)", _ours("corrected", "ensemble", "binary", "accuracy"),
        _peer("corrected", "rf", "accuracy_binary"), 0.935),
    Bar("corrected: accuracy (5-class)", _ours("corrected", "ensemble", "multiclass", "accuracy"),
        _peer("corrected", "rf", "accuracy_5class"), 0.935),
    Bar("corrected: KDD cost", _ours("corrected", "ensemble", "kdd_cost"),
        _peer("corrected", "rf", "kdd_cost"), 0.225, higher_is_better=False),
    Bar("paper: autoencoder ROC-AUC", _ours("paper", "ae", "scores", "roc_auc"),
        _peer("paper", "plain_ae", "roc_auc"), 0.997),
    Bar("paper: GAN ROC-AUC", _ours("paper", "gan", "scores", "roc_auc"), _no_peer, 0.99),
    Bar("records/s end to end (ours: `predict`; peer: KNN scoring alone)",
        lambda ours: ours["records_per_second"], _peer("corrected", "knn", "records_per_second"),
        50_000),
)  # fmt: skip


def bar_rows(ours: dict[str, Any], peers: dict[str, Any]) -> list[dict[str, Any]]:
    """Per bar: ours, the peer's figure (None where no peer applies), the bar, met or not.
    `ours` holds the pipeline's `metrics` (reports/metrics.json) and `records_per_second`."""
    rows = []
    for bar in BARS:
        value = float(bar.ours(ours))
        rows.append(
            {
                "bar": bar.name,
                "ours": value,
                "peer": bar.peer(peers),
                "needed": ("≥ " if bar.higher_is_better else "≤ ") + f"{bar.bar:,g}",
                "met": bar.met(value),
            }
        )
    return rows


def cell(value: float | None) -> str:
    """A figure for a table: counts and rates with thousands separators, others to 5 digits."""
    if value is None:
        return ""
    return f"{value:,.0f}" if abs(value) >= 1000 or float(value).is_integer() else f"{value:.5g}"


def markdown(rows: list[dict[str, Any]], peers: dict[str, Any]) -> str:
    """The bars beside the peers, and every peer figure, as a Markdown page."""
    lines = [
        "# Issue 3's bars, ours beside off-the-shelf peers (one run, this machine)",
        "",
        "Ours: `reports/metrics.json` of the last `dvc repro` and `iot-anomaly predict` on",
        "`corrected.gz`, timed in this run. Peers: scikit-learn's Random Forest and KNN with",
        "default settings on every training row, and a plain autoencoder on the normal ones",
        "(`src/iot_anomaly/evaluation/peers.py`). Ours is one run at the default seed; the",
        "README's seed and split studies give the spread of our figures.",
        "",
        "| bar | ours | peer | needed | met |",
        "|---|---|---|---|---|",
        *(
            f"| {r['bar']} | {cell(r['ours'])} | {cell(r['peer'])} | {r['needed']} | "
            f"{'yes' if r['met'] else 'no'} |"
            for r in rows
        ),
        "",
        "## Every peer figure",
        "",
        "| protocol | peer | figure | value |",
        "|---|---|---|---|",
    ]
    for protocol, models in peers.items():
        for model, figures in models.items():
            for key, value in figures.items():
                lines.append(f"| {protocol} | {model} | {key} | {cell(value)} |")
    return "\n".join(lines) + "\n"
