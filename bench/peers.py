"""Benchmark: issue 3's bars, our models beside off-the-shelf peers, in one run on this machine.

Peers (src/iot_anomaly/evaluation/peers.py): scikit-learn's Random Forest and KNN with default
settings and a plain autoencoder, trained now on the `paper` and `corrected` training rows.
Ours: the figures of the last `dvc repro` (reports/metrics.json) and `iot-anomaly predict` on
`corrected.gz`, timed now. Writes reports/bench/peers.json and reports/bench/peers.md.
Run from the project root after `dvc repro` (about 2 minutes on 2 cores):
    python bench/peers.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import pandas as pd
from predict import end_to_end  # bench/predict.py
from rich.console import Console
from rich.table import Table

from iot_anomaly import schema
from iot_anomaly.config import Paths, load_params
from iot_anomaly.data.preprocess import load_preprocessor, targets, transform
from iot_anomaly.data.reader import parse_kdd
from iot_anomaly.evaluation import peers
from iot_anomaly.io import write_json, write_text

PROTOCOLS = ("paper", "corrected")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=Path("data/corrected.gz"))
    parser.add_argument("--runs", type=int, default=3, help="timed `predict` runs (median)")
    args = parser.parse_args()
    params, paths, console = load_params(Path("params.yaml")), Paths(), Console()
    settings = params.bench.peers

    measured = {}
    for protocol in PROTOCOLS:
        with console.status(f"peers on {protocol}"):
            train = pd.read_parquet(paths.split(protocol, "train"))
            test = pd.read_parquet(paths.split(protocol, "test"))
            # the encodings our classifiers and our autoencoder see
            classifier_pre = load_preprocessor(
                paths.preprocessor(protocol, params.train_knn.encoding)
            )
            ae_pre = load_preprocessor(paths.preprocessor(protocol, params.train_ae.encoding))
            y_train, _ = targets(train)
            y_test, _ = targets(test)
            normal = train[train[schema.CATEGORY] == schema.NORMAL]
            measured[protocol] = peers.measure_peers(
                transform(classifier_pre, train), transform(classifier_pre, test),
                transform(ae_pre, normal), transform(ae_pre, test),
                y_train, y_test, settings,
            )  # fmt: skip
    with console.status(f"`iot-anomaly predict` on {args.input}, {args.runs} runs"):
        walls = end_to_end(args.input, args.runs)
    ours = {
        "metrics": json.loads((paths.reports / "metrics.json").read_text()),
        "records_per_second": len(parse_kdd(args.input).frame) / statistics.median(walls),
    }
    rows = peers.bar_rows(ours, measured)

    out = paths.reports / "bench"
    write_json(
        {
            "bars": rows,
            "peers": measured,
            "predict_seconds": walls,
            "settings": settings.model_dump(),
        },
        out / "peers.json",
    )
    write_text(peers.markdown(rows, measured), out / "peers.md")
    table = Table("bar", "ours", "peer", "needed", "met", title="issue 3's bars beside peers")
    for r in rows:
        figures = (peers.cell(r["ours"]), peers.cell(r["peer"]))
        table.add_row(r["bar"], *figures, r["needed"], "yes" if r["met"] else "no")
    console.print(table)
    console.print(f"written: {out / 'peers.md'}, {out / 'peers.json'}")


if __name__ == "__main__":
    main()
