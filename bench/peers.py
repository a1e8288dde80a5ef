"""Benchmark: the quality targets, our figures beside off-the-shelf peers on this machine.

The peers are scikit-learn's Random Forest and KNN with their default settings, trained on
every training row (duplicates included, as a default user would), and a plain autoencoder
(ReLU layers, Adam, mean squared error) trained on the normal training rows; they see the
project's own encodings, fitted on the training rows only, and each is one run. Settings:
params.yaml `bench.peers`; targets: `targets`. Ours: each quality figure is the seed study's
mean with its 95% interval where the study has it, else the last pipeline run's figure
(one run), and `iot-anomaly predict` timed now. Writes reports/bench/peers.json and
reports/bench/peers.md. Run from the project root after `dvc repro` and the seed studies
(a few minutes on 2 cores):  python -m bench.peers [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import torch
from rich.console import Console
from rich.table import Table
from sklearn.ensemble import RandomForestClassifier
from sklearn.neighbors import KNeighborsClassifier

from bench import predict
from bench.targets import (
    Check,
    add_project_options,
    fmt,
    params_file,
    project,
    quality_checks,
    read_studies,
)
from iot_anomaly import schema
from iot_anomaly.data.preprocess import load_preprocessor, transform
from iot_anomaly.data.preprocess import targets as labels
from iot_anomaly.data.reader import parse_kdd
from iot_anomaly.evaluation import metrics as mt
from iot_anomaly.io import write_json, write_text
from iot_anomaly.models.networks import mlp, reconstruction_error
from iot_anomaly.params import PeersParams, TargetsParams

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


#: Our classifier figures (model.figure below the protocol) and the peer figure that measures
#: the same thing.
CLASSIFIER_FIGURES = {
    "binary.accuracy": "accuracy_binary",
    "multiclass.accuracy": "accuracy_5class",
    "multiclass.macro_f1": "macro_f1",
    "kdd_cost": "kdd_cost",
}
#: The off-the-shelf peer beside each of our classifiers.
CLASSIFIER_PEERS = {"ensemble": "rf", "rf": "rf", "knn": "knn"}


def peer_figure(key: str, measured: dict[str, Any]) -> float | None:
    """The peer figure beside a quality target (`protocol.model.figure`): the default forest
    beside our ensemble and forest, the default KNN beside our KNN, the plain autoencoder
    beside our autoencoder's scores; None where no peer measures it."""
    protocol, model, figure = key.split(".", 2)
    if model == "ae" and figure.startswith("scores."):
        path = (protocol, "plain_ae", figure.removeprefix("scores."))
    elif model in CLASSIFIER_PEERS and figure in CLASSIFIER_FIGURES:
        path = (protocol, CLASSIFIER_PEERS[model], CLASSIFIER_FIGURES[figure])
    else:
        return None
    return mt.figure_at(measured, path)


def protocols(targets: TargetsParams) -> list[str]:
    """The protocols the quality targets name, in the order they first appear."""
    return list(dict.fromkeys(key.split(".", 1)[0] for key in targets.quality))


def target_rows(
    checks: list[Check], measured: dict[str, Any], knn_protocol: str = "corrected"
) -> list[dict[str, Any]]:
    """Per target: ours (with its interval and what it rests on), the peer's figure beside it
    (one run; None where no peer measures it), what is needed, and the verdict. The records/s
    target's peer is the default KNN's scoring alone on `knn_protocol`."""
    rows = []
    for check in checks:
        if check.name == predict.TARGET:
            peer = mt.figure_at(measured, (knn_protocol, "knn", "records_per_second"))
            peer_basis = f"one run, KNN scoring alone ({knn_protocol})"
        else:
            peer, peer_basis = peer_figure(check.name, measured), "one run"
        ours = check.figure
        rows.append(
            {
                "target": check.name,
                "ours": None if ours is None else ours.value,
                "ours_low": None if ours is None else ours.low,
                "ours_high": None if ours is None else ours.high,
                "ours_basis": None if ours is None else ours.basis,
                "peer": peer,
                "peer_basis": None if peer is None else peer_basis,
                "needed": check.needed,
                "met": check.met,
                "verdict": check.verdict,
            }
        )
    return rows


def _interval(row: dict[str, Any]) -> str:
    return "" if row["ours_low"] is None else f"[{fmt(row['ours_low'])}, {fmt(row['ours_high'])}]"


def markdown(rows: list[dict[str, Any]], measured: dict[str, Any]) -> str:
    """The targets, ours beside the peers, and every peer figure, as a Markdown page."""
    lines = [
        "# Targets, ours beside off-the-shelf peers (this machine)",
        "",
        "Targets: `targets` in `params.yaml`. Ours: each quality figure is the seed study's",
        "mean with its 95% interval (`reports/seed_study_<protocol>.json`) where the study has",
        "it, otherwise the last pipeline run's `reports/metrics.json`, labelled one run;",
        "`iot-anomaly predict` on `corrected.gz` is timed in this run. Peers, one run each:",
        "scikit-learn's Random Forest and KNN with default settings on every training row,",
        "and a plain autoencoder on the normal ones (`bench/peers.py`).",
        "",
        "| target | ours | 95% interval | ours from | peer | peer from | needed | verdict |",
        "|---|---|---|---|---|---|---|---|",
        *(
            f"| {r['target']} | {fmt(r['ours'])} | {_interval(r)} | {r['ours_basis'] or ''} | "
            f"{fmt(r['peer'])} | {r['peer_basis'] or ''} | {r['needed']} | {r['verdict']} |"
            for r in rows
        ),
        "",
        "## Every peer figure (one run each)",
        "",
        "| protocol | peer | figure | value |",
        "|---|---|---|---|",
    ]
    for protocol, models in measured.items():
        for model, figures in models.items():
            for key, value in figures.items():
                lines.append(f"| {protocol} | {model} | {key} | {fmt(value)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.peers", description=__doc__.splitlines()[0]
    )
    add_project_options(parser)
    predict.add_timing_options(parser)
    args = parser.parse_args(argv)
    params, paths = project(args)
    console, settings = Console(), params.bench.peers
    source = predict.timed_input(args, params)

    measured = {}
    for protocol in protocols(params.targets):
        with console.status(f"peers on {protocol}"):
            train = pd.read_parquet(paths.split(protocol, "train"))
            test = pd.read_parquet(paths.split(protocol, "test"))
            # the encodings our classifiers and our autoencoder see
            classifier_pre = load_preprocessor(
                paths.preprocessor(protocol, params.train_knn.encoding)
            )
            ae_pre = load_preprocessor(paths.preprocessor(protocol, params.train_ae.encoding))
            y_train, _ = labels(train)
            y_test, _ = labels(test)
            normal = train[train[schema.CATEGORY] == schema.NORMAL]
            measured[protocol] = measure_peers(
                transform(classifier_pre, train), transform(classifier_pre, test),
                transform(ae_pre, normal), transform(ae_pre, test),
                y_train, y_test, settings,
            )  # fmt: skip
    with console.status(f"`iot-anomaly predict` on {source}, {args.runs} runs"):
        walls = predict.end_to_end(source, args.runs, args.root, params_file(args))
    rows_scored = len(parse_kdd(source).frame)
    metrics = json.loads((paths.reports / "metrics.json").read_text())
    studies = read_studies(paths.reports, set(measured))
    checks = [
        *quality_checks(params.targets, metrics, studies),
        predict.target_check(rows_scored, walls, params.targets),
    ]
    rows = target_rows(checks, measured)

    out = paths.reports / "bench"
    write_json(
        {
            "targets": rows,
            "peers": measured,
            "predict_seconds": walls,
            "settings": settings.model_dump(mode="json"),
        },
        out / "peers.json",
    )
    write_text(markdown(rows, measured), out / "peers.md")
    table = Table(
        "target", "ours", "95% interval", "ours from", "peer (one run)", "needed", "verdict",
        title="targets, ours beside off-the-shelf peers",
    )  # fmt: skip
    for r in rows:
        table.add_row(
            r["target"], fmt(r["ours"]), _interval(r), r["ours_basis"] or "", fmt(r["peer"]),
            r["needed"], r["verdict"],
        )  # fmt: skip
    console.print(table)
    console.print(f"written: {out / 'peers.md'}, {out / 'peers.json'}")


if __name__ == "__main__":
    main()
