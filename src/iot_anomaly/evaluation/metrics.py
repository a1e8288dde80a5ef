"""Metrics for binary (attack vs normal) and 5-category predictions, as plain python values.

Every function takes numpy arrays and returns JSON-serialisable floats, ints, lists and dicts,
so that its output can go straight into a DVC metrics file or a report. Class index i is
`schema.CATEGORIES[i]`; in binary inputs 1 means attack, the positive class.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
from scipy import stats
from sklearn import metrics as skm

from iot_anomaly.schema import CATEGORIES

_LABELS: Final[list[int]] = list(range(len(CATEGORIES)))

#: The KDD Cup 1999 cost matrix in OUR category order (normal, dos, probe, r2l, u2r);
#: rows = true category, columns = predicted category. The contest published it in the
#: order (normal, probe, DOS, U2R, R2L); this is the same matrix with rows and columns
#: permuted, e.g. true r2l predicted normal costs 4 and true u2r predicted normal costs 3.
KDD_COST_MATRIX: Final[tuple[tuple[int, ...], ...]] = (
    # pred: normal dos probe r2l u2r
    (0, 2, 1, 2, 2),  # true normal
    (2, 0, 1, 2, 2),  # true dos
    (1, 2, 0, 2, 2),  # true probe
    (4, 2, 2, 0, 2),  # true r2l
    (3, 2, 2, 2, 0),  # true u2r
)


def _flat(values: np.ndarray) -> np.ndarray:
    return np.asarray(values).ravel()


def binary_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None = None
) -> dict:
    """Attack-vs-normal metrics with attack (1) as the positive class; `sample_weight`
    counts each row that many times (rows of a confusion matrix, weighted by its counts).

    The false-positive rate (normal traffic flagged as attack) is reported because it is
    what an operator pays for in alerts; it is 0.0 when there is no normal row.
    """
    y_true, y_pred = _flat(y_true), _flat(y_pred)
    w = {"sample_weight": sample_weight}
    cm = skm.confusion_matrix(y_true, y_pred, labels=[0, 1], **w)
    tn, fp, fn, tp = (int(v) for v in cm.ravel())
    return {
        "accuracy": float(skm.accuracy_score(y_true, y_pred, **w)),
        "precision": float(skm.precision_score(y_true, y_pred, zero_division=0, **w)),
        "recall": float(skm.recall_score(y_true, y_pred, zero_division=0, **w)),
        "f1": float(skm.f1_score(y_true, y_pred, zero_division=0, **w)),
        "false_positive_rate": fp / (fp + tn) if fp + tn else 0.0,
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
    }


def multiclass_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None = None
) -> dict:
    """5-category metrics on class indices 0..4 (see `schema.CATEGORIES`); `sample_weight`
    as in `binary_metrics`.

    The macro_* and weighted_* averages follow sklearn's default label set: they run over
    the categories present in y_true OR y_pred, so a category that never occurs and is never
    predicted does not drag the mean down. `macro_f1_all5` is the macro F1 over all five
    categories regardless (an absent category counts as F1 0), for comparison with work
    that averages over the fixed class list.

    Per-category values are keyed by category name. `detection_rate` (recall of each
    category) is None for a category absent from y_true, since its recall is undefined;
    `f1_per_category` is None for a category absent from both y_true and y_pred.
    The confusion matrix always has all five rows/columns (rows = true, cols = predicted).
    """
    y_true, y_pred = _flat(y_true), _flat(y_pred)
    w = {"sample_weight": sample_weight}
    out: dict = {"accuracy": float(skm.accuracy_score(y_true, y_pred, **w))}
    for average in ("macro", "weighted"):
        p, r, f, _ = skm.precision_recall_fscore_support(
            y_true, y_pred, average=average, zero_division=0, **w
        )
        out[f"{average}_precision"] = float(p)
        out[f"{average}_recall"] = float(r)
        out[f"{average}_f1"] = float(f)
    out["macro_f1_all5"] = float(
        skm.f1_score(y_true, y_pred, labels=_LABELS, average="macro", zero_division=0, **w)
    )

    _, recall, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=_LABELS, average=None, zero_division=0, **w
    )
    predicted = np.bincount(y_pred.astype(int), weights=sample_weight, minlength=len(CATEGORIES))
    out["detection_rate"] = {
        name: float(recall[i]) if support[i] else None for i, name in enumerate(CATEGORIES)
    }
    out["f1_per_category"] = {
        name: float(f1[i]) if support[i] or predicted[i] else None
        for i, name in enumerate(CATEGORIES)
    }
    out["support"] = {name: int(support[i]) for i, name in enumerate(CATEGORIES)}
    cm = skm.confusion_matrix(y_true, y_pred, labels=_LABELS, **w)
    out["confusion_matrix"] = [[int(v) for v in row] for row in cm]
    return out


def _both_classes(y_true: np.ndarray) -> bool:
    return np.unique(y_true).size == 2


def score_metrics(y_true: np.ndarray, scores: np.ndarray) -> dict:
    """Threshold-free ranking quality of anomaly scores (higher = more anomalous).

    roc_auc is the area under the ROC curve; pr_auc is average precision, which reflects
    the attack class better when classes are imbalanced. Both are None when y_true holds
    only one class, where they are undefined.
    """
    y_true, scores = _flat(y_true), _flat(scores)
    if not _both_classes(y_true):
        return {"roc_auc": None, "pr_auc": None}
    return {
        "roc_auc": float(skm.roc_auc_score(y_true, scores)),
        "pr_auc": float(skm.average_precision_score(y_true, scores)),
    }


def _downsample(n: int, max_points: int) -> np.ndarray:
    """Indices of at most max_points evenly spread points, always keeping both ends."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max(max_points, 2)).round().astype(int))


def roc_pr_curves(y_true: np.ndarray, scores: np.ndarray, max_points: int = 200) -> dict:
    """ROC (fpr, tpr) and precision-recall (recall, precision) curves as short lists.

    Each curve is cut down to at most max_points points (ends kept) so that it can be
    stored as a DVC plot or drawn without carrying one point per test row. The areas
    from `score_metrics` are included under roc_auc / pr_auc for plot legends. With only
    one class in y_true the curves are empty lists and the areas None.
    """
    y_true, scores = _flat(y_true), _flat(scores)
    out: dict = {"fpr": [], "tpr": [], "recall": [], "precision": []}
    out.update(score_metrics(y_true, scores))
    if not _both_classes(y_true):
        return out
    fpr, tpr, _ = skm.roc_curve(y_true, scores)
    keep = _downsample(fpr.size, max_points)
    out["fpr"], out["tpr"] = fpr[keep].tolist(), tpr[keep].tolist()
    precision, recall, _ = skm.precision_recall_curve(y_true, scores)
    keep = _downsample(recall.size, max_points)
    out["recall"], out["precision"] = recall[keep].tolist(), precision[keep].tolist()
    return out


def cost_from_confusion(cm: np.ndarray) -> float:
    """Average KDD Cup 1999 cost per record of a 5x5 confusion matrix in OUR order.

    This is the contest's own score (lower is better), which weighs missed r2l/u2r
    attacks more heavily than accuracy does.
    """
    cm = np.asarray(cm, dtype=float)
    if cm.shape != (len(CATEGORIES), len(CATEGORIES)):
        raise ValueError(f"confusion matrix must be 5x5, got {cm.shape}")
    total = cm.sum()
    if total == 0:
        raise ValueError("confusion matrix is empty")
    return float((cm * np.asarray(KDD_COST_MATRIX)).sum() / total)


def kdd_cost(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Average KDD Cup 1999 cost per test record of 5-category predictions (indices 0..4)."""
    cm = skm.confusion_matrix(_flat(y_true), _flat(y_pred), labels=_LABELS)
    return cost_from_confusion(cm)


def mcnemar(y_true: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray) -> dict:
    """McNemar's paired test: do two classifiers err on the same rows at different rates?

    b = rows A gets right and B gets wrong, c = rows A gets wrong and B gets right. With
    b + c < 25 the p-value is the exact two-sided binomial test of b ~ Bin(b + c, 1/2)
    (statistic = min(b, c)); otherwise the chi-square test with continuity correction,
    statistic (|b - c| - 1)^2 / (b + c) on 1 degree of freedom. No discordant rows means
    no evidence of a difference: p_value 1.0.
    """
    y_true = _flat(y_true)
    right_a = _flat(pred_a) == y_true
    right_b = _flat(pred_b) == y_true
    b = int(np.sum(right_a & ~right_b))
    c = int(np.sum(~right_a & right_b))
    n = b + c
    if n < 25:
        statistic = float(min(b, c))
        p_value = 1.0 if n == 0 else float(stats.binomtest(b, n, 0.5).pvalue)
        method = "exact"
    else:
        statistic = float((abs(b - c) - 1) ** 2 / n)
        p_value = float(stats.chi2.sf(statistic, df=1))
        method = "chi2"
    return {
        "b": b,
        "c": c,
        "statistic": statistic,
        "p_value": min(p_value, 1.0),
        "method": method,
    }


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> dict:
    """Mean and Student-t confidence interval of repeated runs (e.g. over seeds).

    std is the sample standard deviation (ddof=1). A single value has no spread to
    estimate: std 0 and low == high == mean.
    """
    data = np.asarray(values, dtype=float)
    n = int(data.size)
    if n == 0:
        raise ValueError("mean_ci needs at least one value")
    mean = float(data.mean())
    if n == 1:
        return {"mean": mean, "std": 0.0, "low": mean, "high": mean, "n": 1}
    std = float(data.std(ddof=1))
    half = float(stats.t.ppf((1 + confidence) / 2, df=n - 1)) * std / math.sqrt(n)
    return {"mean": mean, "std": std, "low": mean - half, "high": mean + half, "n": n}


def figure_at(result: Any, keys: Sequence[str]) -> Any:
    """The figure at a path of keys in a nested result (e.g. metrics.json: protocol, model,
    group, name); None where the path does not exist."""
    for key in keys:
        result = result.get(key) if isinstance(result, dict) else None
    return result
