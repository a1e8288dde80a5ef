"""Stage `evaluate`: every model on every protocol, from the predictions the training stages
wrote. Writes reports/metrics.json (DVC metrics), confusion matrices and ROC/PR curves (DVC
plots and PNG), the comparison with the paper's Table 3, feature importances, and the paired
test of the ensemble against the best single model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance

from iot_anomaly import schema
from iot_anomaly.config import Paths
from iot_anomaly.data.preprocess import feature_names, load_preprocessor, targets, transform
from iot_anomaly.evaluation import metrics as mt
from iot_anomaly.evaluation import paper, plots
from iot_anomaly.io import write_json, write_text
from iot_anomaly.models import catalog
from iot_anomaly.models import ensemble as ens
from iot_anomaly.params import EvaluateParams, Params
from iot_anomaly.runtime import Runtime


def _category_detection(category: np.ndarray, flagged: np.ndarray) -> dict[str, float | None]:
    """Per category, the share of rows flagged as attack (for normal: the false alarms)."""
    out: dict[str, float | None] = {}
    for i, name in enumerate(schema.CATEGORIES):
        rows = category == i
        out[name] = float(flagged[rows].mean()) if rows.any() else None
    return out


def evaluate_model(
    model: str,
    predictions: pd.DataFrame,
    test: pd.DataFrame,
    category: np.ndarray,
    attack: np.ndarray,
) -> dict[str, Any]:
    """All figures for one model's predictions on one protocol's test rows."""
    unseen = test[schema.LABEL].isin(schema.UNSEEN_LABELS).to_numpy()
    result: dict[str, Any] = {"test_rows": len(test)}
    if model in catalog.CLASSIFIERS:
        predicted = predictions["category"].to_numpy()
        flagged = (predicted != schema.category_index(schema.NORMAL)).astype(np.int64)
        result["multiclass"] = mt.multiclass_metrics(category, predicted)
        result["kdd_cost"] = mt.kdd_cost(category, predicted)
    else:
        flagged = predictions["attack"].to_numpy()
        result["scores"] = mt.score_metrics(attack, predictions["score"].to_numpy())
    result["binary"] = mt.binary_metrics(attack, flagged)
    result["flagged_as_attack_by_category"] = _category_detection(category, flagged)
    if unseen.any():
        result["unseen_attacks_detected"] = float(flagged[unseen].mean())
        known = (attack == 1) & ~unseen
        result["known_attacks_detected"] = float(flagged[known].mean())
    if model == "ensemble":
        layer = predictions["layer"].to_numpy()
        result["decided_by_forest"] = float((layer == ens.FOREST).mean())
        result["decided_by_envelope"] = float((layer == ens.ENVELOPE).mean())
        result["three_layers_only"] = three_layer_figures(category, predicted, layer)
    return result


def three_layer_figures(category: np.ndarray, predicted: np.ndarray, layer: np.ndarray) -> dict:
    """The headline figures of the paper's three layers alone (no service envelope)."""
    three = ens.three_layer_answer(predicted, layer)
    binary = mt.binary_metrics(
        (category != ens.NORMAL).astype(np.int64), (three != ens.NORMAL).astype(np.int64)
    )
    multiclass = mt.multiclass_metrics(category, three)
    return {
        "accuracy": binary["accuracy"],
        "f1": binary["f1"],
        "multiclass_accuracy": multiclass["accuracy"],
        "macro_f1": multiclass["macro_f1"],
        "weighted_f1": multiclass["weighted_f1"],
        "kdd_cost": mt.kdd_cost(category, three),
    }


def feature_importance(
    cfg: EvaluateParams,
    encoding: str,
    seed: int,
    paths: Paths,
    protocol: str,
    test: pd.DataFrame,
    threads: int = 1,
) -> dict[str, dict[str, float]]:
    """RF impurity importances and permutation importance (accuracy drop) on test rows;
    `encoding` is the rf model's (`train_rf.encoding`), `seed` draws the rows and
    permutations, the forest predicts on `threads` cores."""
    forest = joblib.load(paths.model_dir(protocol, "rf") / "model.joblib")
    forest.set_params(n_jobs=threads)
    pre = load_preprocessor(paths.preprocessor(protocol, encoding))
    names = feature_names(pre)
    sample = test.sample(min(len(test), cfg.permutation_rows), random_state=seed)
    category, _ = targets(sample)
    perm = permutation_importance(
        forest, transform(pre, sample), category, n_repeats=cfg.permutation_repeats,
        random_state=seed, n_jobs=1,
    )  # fmt: skip
    top = cfg.top_features

    def ranked(values: np.ndarray) -> dict[str, float]:
        order = np.argsort(values)[::-1][:top]
        return {names[i]: float(values[i]) for i in order}

    return {
        "impurity": ranked(forest.feature_importances_),
        "permutation": ranked(perm.importances_mean),
    }


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
            results[protocol][model] = evaluate_model(model, predictions, test, category, attack)
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
            write_json(
                [
                    {"model": m, "fpr": f, "tpr": t}
                    for m, c in curves.items()
                    for f, t in zip(c["fpr"], c["tpr"], strict=True)
                ],
                plots_dir / f"roc_{protocol}.json",
            )
        if "ensemble" in results[protocol]:
            ensemble = pd.read_parquet(paths.predictions(protocol, "ensemble"))[
                "category"
            ].to_numpy()
            pd.DataFrame(
                {
                    "actual": np.array(schema.CATEGORIES)[category],
                    "predicted": np.array(schema.CATEGORIES)[ensemble],
                }
            ).to_csv(_ensure(plots_dir) / f"confusion_{protocol}.csv", index=False)
            extras.setdefault(protocol, {})["mcnemar"] = paired_test(
                paths, protocol, results[protocol], category
            )
        if (paths.model_dir(protocol, "rf") / "model.joblib").is_file():
            importance = feature_importance(
                params.evaluate, params.train_rf.encoding, params.models.seed, paths, protocol,
                test, runtime.threads,
            )  # fmt: skip
            extras.setdefault(protocol, {})["feature_importance"] = importance
            plots.bar_png(importance["permutation"], figures / f"importance_{protocol}.png",
                          f"Permutation importance, rf on {protocol}", "accuracy drop")  # fmt: skip
        if protocol == "corrected":
            extras.setdefault(protocol, {})["winner_1999"] = paper.WINNER_1999

    write_json(results, paths.reports / "metrics.json")
    write_json(extras, paths.reports / "evaluation_details.json")
    rows = paper.comparison_rows(results)
    write_text(paper.comparison_markdown(rows), paths.reports / "comparison.md")
    write_json(rows, paths.reports / "comparison.json")
    return results


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def paired_test(
    paths: Paths, protocol: str, results: dict[str, Any], category: np.ndarray
) -> dict[str, Any]:
    """McNemar's test: the ensemble against the best single classifier (by accuracy)."""
    singles = [m for m in ("knn", "cnn_lstm", "rf") if m in results]
    best = max(singles, key=lambda m: results[m]["multiclass"]["accuracy"])

    def read(model: str) -> np.ndarray:
        return pd.read_parquet(paths.predictions(protocol, model))["category"].to_numpy()

    return {"against": best, **mt.mcnemar(category, read("ensemble"), read(best))}
