"""One protocol's evaluation results from the models' test predictions: each model's figures,
the paper's three layers alone, McNemar's test of the ensemble against the best single
model, feature importances, and the rows of the DVC plots. The `evaluate` stage and the seed
study read the files and call these."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance

from iot_anomaly import schema
from iot_anomaly.data.preprocess import feature_names, targets, transform
from iot_anomaly.evaluation import metrics as mt
from iot_anomaly.models import catalog
from iot_anomaly.models import ensemble as ens

#: The single classifiers the ensemble is tested against (McNemar).
SINGLE_CLASSIFIERS = ("knn", "cnn_lstm", "rf")


def category_detection(category: np.ndarray, flagged: np.ndarray) -> dict[str, float | None]:
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
    result["flagged_as_attack_by_category"] = category_detection(category, flagged)
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


def paired_test(
    results: dict[str, Any], category: np.ndarray, predicted: Callable[[str], np.ndarray]
) -> dict[str, Any]:
    """McNemar's test: the ensemble against the best single classifier of `results` (by
    5-class accuracy); `predicted(model)` gives a model's predicted categories."""
    singles = [m for m in SINGLE_CLASSIFIERS if m in results]
    best = max(singles, key=lambda m: results[m]["multiclass"]["accuracy"])
    return {"against": best, **mt.mcnemar(category, predicted("ensemble"), predicted(best))}


def feature_importance(
    forest: Any,
    preprocessor: Any,
    test: pd.DataFrame,
    rows: int,
    repeats: int,
    top: int,
    seed: int,
) -> dict[str, dict[str, float]]:
    """The `top` features of a fitted forest by impurity importance and by permutation
    importance (accuracy drop, `repeats` permutations) on at most `rows` test rows;
    `seed` draws the rows and the permutations, `preprocessor` encodes them."""
    names = feature_names(preprocessor)
    sample = test.sample(min(len(test), rows), random_state=seed)
    category, _ = targets(sample)
    perm = permutation_importance(
        forest, transform(preprocessor, sample), category, n_repeats=repeats, random_state=seed,
        n_jobs=1,
    )  # fmt: skip

    def ranked(values: np.ndarray) -> dict[str, float]:
        order = np.argsort(values)[::-1][:top]
        return {names[i]: float(values[i]) for i in order}

    return {
        "impurity": ranked(forest.feature_importances_),
        "permutation": ranked(perm.importances_mean),
    }


def roc_points(curves: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The ROC curves of `mt.roc_pr_curves` per model as the rows of a DVC plot."""
    return [
        {"model": m, "fpr": f, "tpr": t}
        for m, c in curves.items()
        for f, t in zip(c["fpr"], c["tpr"], strict=True)
    ]


def confusion_pairs(category: np.ndarray, predicted: np.ndarray) -> pd.DataFrame:
    """True and predicted category names per test row: a DVC confusion plot's rows."""
    names = np.array(schema.CATEGORIES)
    return pd.DataFrame({"actual": names[category], "predicted": names[predicted]})
