"""Stage `evaluate`: every model on every protocol, from the predictions the training stages
wrote. Writes reports/metrics.json (DVC metrics), confusion matrices and ROC/PR curves (DVC
plots and PNG), the comparison with the paper's Table 3, feature importances, and the paired
test of the ensemble against the best single model (the figures: evaluation/results.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import joblib
import numpy as np
import pandas as pd

from iot_anomaly.config import Paths
from iot_anomaly.data.preprocess import load_preprocessor, targets
from iot_anomaly.evaluation import crossdata, paper, plots
from iot_anomaly.evaluation import metrics as mt
from iot_anomaly.evaluation import results as ev
from iot_anomaly.io import write_json, write_text
from iot_anomaly.models import catalog
from iot_anomaly.params import Params
from iot_anomaly.runtime import Runtime


def predicted_categories(paths: Paths, protocol: str) -> Callable[[str], np.ndarray]:
    """A model's predicted categories on a protocol's test rows, read from its predictions."""

    def read(model: str) -> np.ndarray:
        return pd.read_parquet(paths.predictions(protocol, model))["category"].to_numpy()

    return read


def with_crossdata(results: dict[str, Any], paths: Paths) -> dict[str, Any]:
    """metrics.json: the protocols' results, and the `crossdata` stage's IoT-23 figures
    (reports/crossdata.json) copied under `iot23` when that stage has run."""
    report = crossdata.report_file(paths.reports)
    if not report.is_file():
        return results
    return {**results, crossdata.METRICS_KEY: json.loads(report.read_text())}


def run(params: Params, paths: Paths, runtime: Runtime | None = None) -> dict[str, Any]:
    """Evaluate every model with predictions on every protocol; write all reports."""
    runtime = runtime or Runtime.from_env()
    figures = paths.reports / "figures"
    plots_dir = paths.reports / "plots"
    results: dict[str, Any] = {}
    extras: dict[str, Any] = {}
    for protocol in params.preprocess.protocols:
        test = pd.read_parquet(paths.split(protocol, "test"))
        category, attack = targets(test)
        results[protocol] = {}
        curves: dict[str, dict] = {}
        for model in catalog.NAMES:
            path = paths.predictions(protocol, model)
            if not path.is_file():
                continue
            predictions = pd.read_parquet(path)
            results[protocol][model] = ev.evaluate_model(model, predictions, test, category, attack)
            if model in catalog.CLASSIFIERS:
                cm = results[protocol][model]["multiclass"]["confusion_matrix"]
                plots.confusion_matrix_png(
                    cm, figures / f"confusion_{protocol}_{model}.png", f"{model} on {protocol}"
                )
            else:
                curves[model] = mt.roc_pr_curves(attack, predictions["score"].to_numpy())
        if curves:
            plots.roc_pr_png(
                curves, figures / f"roc_pr_{protocol}.png", f"Anomaly scores on {protocol}"
            )
            write_json(ev.roc_points(curves), plots_dir / f"roc_{protocol}.json")
        if "ensemble" in results[protocol]:
            predicted = predicted_categories(paths, protocol)
            plots_dir.mkdir(parents=True, exist_ok=True)
            ev.confusion_pairs(category, predicted("ensemble")).to_csv(
                plots_dir / f"confusion_{protocol}.csv", index=False
            )
            extras.setdefault(protocol, {})["mcnemar"] = ev.paired_test(
                results[protocol], category, predicted
            )
        forest_file = paths.model_dir(protocol, "rf") / "model.joblib"
        if forest_file.is_file():
            forest = joblib.load(forest_file)
            forest.set_params(n_jobs=runtime.threads)
            cfg = params.evaluate
            importance = ev.feature_importance(
                forest, load_preprocessor(paths.preprocessor(protocol, params.train_rf.encoding)),
                test, cfg.permutation_rows, cfg.permutation_repeats, cfg.top_features,
                params.models.seed,
            )  # fmt: skip
            extras.setdefault(protocol, {})["feature_importance"] = importance
            plots.bar_png(importance["permutation"], figures / f"importance_{protocol}.png",
                          f"Permutation importance, rf on {protocol}", "accuracy drop")  # fmt: skip
        definition = params.preprocess.definition(protocol)
        # Which split and features: the docs set the flow protocols beside the others.
        extras.setdefault(protocol, {})["definition"] = definition.model_dump(mode="json")
        if definition.split == "corrected":  # tests on corrected.gz
            extras[protocol]["winner_1999"] = paper.WINNER_1999

    write_json(with_crossdata(results, paths), paths.reports / "metrics.json")
    write_json(extras, paths.reports / "evaluation_details.json")
    rows = paper.comparison_rows(results)
    write_text(paper.comparison_markdown(rows), paths.reports / "comparison.md")
    write_json(rows, paths.reports / "comparison.json")
    return results
