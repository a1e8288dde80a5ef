"""The evaluation layer: metrics against hand computations, the KDD cost, plots, paper table."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from iot_anomaly.evaluation import metrics, paper, plots
from iot_anomaly.schema import CATEGORIES

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Contest order (normal, probe, DOS, U2R, R2L), rows actual, cols predicted.
CONTEST_ORDER = ("normal", "probe", "dos", "u2r", "r2l")
CONTEST_COST = np.array(
    [
        [0, 1, 2, 2, 2],
        [1, 0, 2, 2, 2],
        [2, 1, 0, 2, 2],
        [3, 2, 2, 0, 2],
        [4, 2, 2, 2, 0],
    ]
)
WINNER_CM_CONTEST = np.array(
    [
        [60262, 243, 78, 4, 6],
        [511, 3471, 184, 0, 0],
        [5299, 1328, 223226, 0, 0],
        [168, 20, 0, 30, 10],
        [14527, 294, 0, 8, 1360],
    ]
)
# Our index i -> contest index of the same category.
TO_CONTEST = [CONTEST_ORDER.index(c) for c in CATEGORIES]
WINNER_CM = WINNER_CM_CONTEST[np.ix_(TO_CONTEST, TO_CONTEST)]


def idx(name: str) -> int:
    return CATEGORIES.index(name)


# ---------------------------------------------------------------- binary


def test_binary_metrics_hand_computed() -> None:
    y_true = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    y_pred = np.array([1, 1, 1, 0, 1, 1, 0, 0, 0, 0])
    m = metrics.binary_metrics(y_true, y_pred)
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (3, 2, 4, 1)
    assert m["accuracy"] == pytest.approx(0.7)
    assert m["precision"] == pytest.approx(3 / 5)
    assert m["recall"] == pytest.approx(3 / 4)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["false_positive_rate"] == pytest.approx(2 / 6)
    json.dumps(m)
    assert all(type(m[k]) is int for k in ("tp", "fp", "tn", "fn"))


def test_binary_metrics_degenerate_cases_do_not_raise() -> None:
    m = metrics.binary_metrics(np.ones(4, dtype=int), np.zeros(4, dtype=int))
    assert (m["precision"], m["recall"], m["f1"]) == (0.0, 0.0, 0.0)
    assert m["false_positive_rate"] == 0.0
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (0, 0, 0, 4)


# ---------------------------------------------------------------- multiclass


def test_multiclass_metrics_hand_computed() -> None:
    # u2r (4) is neither true nor predicted.
    y_true = np.array([0, 0, 0, 1, 1, 2, 2, 3])
    y_pred = np.array([0, 0, 1, 1, 1, 2, 0, 3])
    m = metrics.multiclass_metrics(y_true, y_pred)
    # Per class (P, R, F1): normal 2/3,2/3,2/3; dos 2/3,1,0.8; probe 1,1/2,2/3; r2l 1,1,1.
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["macro_precision"] == pytest.approx((2 / 3 + 2 / 3 + 1 + 1) / 4)
    assert m["macro_recall"] == pytest.approx((2 / 3 + 1 + 1 / 2 + 1) / 4)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.8 + 2 / 3 + 1) / 4)
    assert m["macro_f1_all5"] == pytest.approx((2 / 3 + 0.8 + 2 / 3 + 1) / 5)
    assert m["weighted_precision"] == pytest.approx((3 * 2 / 3 + 2 * 2 / 3 + 2 * 1 + 1) / 8)
    assert m["weighted_recall"] == pytest.approx(6 / 8)
    assert m["weighted_f1"] == pytest.approx((3 * 2 / 3 + 2 * 0.8 + 2 * 2 / 3 + 1) / 8)
    assert m["detection_rate"] == pytest.approx(
        {"normal": 2 / 3, "dos": 1.0, "probe": 0.5, "r2l": 1.0, "u2r": None}
    )
    assert m["f1_per_category"] == pytest.approx(
        {"normal": 2 / 3, "dos": 0.8, "probe": 2 / 3, "r2l": 1.0, "u2r": None}
    )
    assert m["support"] == {"normal": 3, "dos": 2, "probe": 2, "r2l": 1, "u2r": 0}
    assert m["confusion_matrix"] == [
        [2, 1, 0, 0, 0],
        [0, 2, 0, 0, 0],
        [1, 0, 1, 0, 0],
        [0, 0, 0, 1, 0],
        [0, 0, 0, 0, 0],
    ]
    assert json.loads(json.dumps(m)) == m


def test_multiclass_macro_counts_categories_that_are_only_predicted() -> None:
    m = metrics.multiclass_metrics(np.array([0, 0]), np.array([0, 4]))
    # normal: P 1, R 1/2, F1 2/3; u2r: predicted once, never true -> F1 0.
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0) / 2)
    assert m["macro_f1_all5"] == pytest.approx((2 / 3) / 5)
    assert m["detection_rate"]["u2r"] is None
    assert m["f1_per_category"]["u2r"] == 0.0
    assert m["f1_per_category"]["dos"] is None
    assert m["confusion_matrix"][0] == [1, 0, 0, 0, 1]


# ---------------------------------------------------------------- scores and curves


def test_score_metrics_perfect_and_single_class() -> None:
    y = np.array([0, 0, 0, 1, 1])
    assert metrics.score_metrics(y, np.array([0.1, 0.2, 0.3, 0.8, 0.9])) == {
        "roc_auc": 1.0,
        "pr_auc": 1.0,
    }
    reverse = metrics.score_metrics(y, np.array([0.9, 0.8, 0.7, 0.2, 0.1]))
    assert reverse["roc_auc"] == pytest.approx(0.0)
    assert metrics.score_metrics(np.zeros(5), np.arange(5.0)) == {"roc_auc": None, "pr_auc": None}
    assert metrics.score_metrics(np.ones(5), np.arange(5.0)) == {"roc_auc": None, "pr_auc": None}


def test_roc_pr_curves_downsampled_and_keep_ends() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 5000)
    scores = y + rng.normal(0, 1.0, 5000)
    curves = metrics.roc_pr_curves(y, scores, max_points=50)
    for a, b in (("fpr", "tpr"), ("recall", "precision")):
        assert 2 <= len(curves[a]) == len(curves[b]) <= 50
        assert all(type(v) is float for v in curves[a] + curves[b])
    assert (curves["fpr"][0], curves["tpr"][0]) == (0.0, 0.0)
    assert (curves["fpr"][-1], curves["tpr"][-1]) == (1.0, 1.0)
    assert curves["recall"][0] == 1.0 and curves["recall"][-1] == 0.0
    assert curves["roc_auc"] == pytest.approx(metrics.score_metrics(y, scores)["roc_auc"])
    json.dumps(curves)
    single = metrics.roc_pr_curves(np.zeros(3), np.arange(3.0))
    assert single["fpr"] == [] and single["roc_auc"] is None


# ---------------------------------------------------------------- KDD cost


def test_cost_matrix_orientation() -> None:
    cost = metrics.KDD_COST_MATRIX
    assert cost[idx("r2l")][idx("normal")] == 4
    assert cost[idx("u2r")][idx("normal")] == 3
    assert cost[idx("dos")][idx("probe")] == 1
    assert cost[idx("normal")][idx("probe")] == 1
    assert cost[idx("probe")][idx("normal")] == 1
    assert cost[idx("normal")][idx("dos")] == 2
    assert cost[idx("probe")][idx("dos")] == 2
    assert all(cost[i][i] == 0 for i in range(5))
    # Same matrix as the contest's, cell for cell, after mapping category names.
    for i, true in enumerate(CATEGORIES):
        for j, pred in enumerate(CATEGORIES):
            expected = CONTEST_COST[CONTEST_ORDER.index(true), CONTEST_ORDER.index(pred)]
            assert cost[i][j] == expected, (true, pred)


def test_winner_1999_cost_from_confusion() -> None:
    assert WINNER_CM.sum() == 311029
    # In the contest's own order with the contest's own matrix: the same figure.
    contest = (WINNER_CM_CONTEST * CONTEST_COST).sum() / WINNER_CM_CONTEST.sum()
    assert metrics.cost_from_confusion(WINNER_CM) == pytest.approx(contest)
    assert metrics.cost_from_confusion(WINNER_CM) == pytest.approx(0.2331, abs=1e-4)
    assert np.trace(WINNER_CM) / WINNER_CM.sum() == pytest.approx(0.9271, abs=1e-4)
    with pytest.raises(ValueError):
        metrics.cost_from_confusion(np.ones((4, 4)))


def test_winner_1999_kdd_cost_from_rows() -> None:
    true_idx, pred_idx = np.indices(WINNER_CM.shape)
    y_true = np.repeat(true_idx.ravel(), WINNER_CM.ravel())
    y_pred = np.repeat(pred_idx.ravel(), WINNER_CM.ravel())
    cost = metrics.kdd_cost(y_true, y_pred)
    assert isinstance(cost, float)
    assert cost == pytest.approx(paper.WINNER_1999["cost"], abs=1e-4)
    m = metrics.multiclass_metrics(y_true, y_pred)
    assert m["accuracy"] == pytest.approx(paper.WINNER_1999["accuracy"], abs=1e-4)
    assert m["confusion_matrix"] == WINNER_CM.tolist()
    assert metrics.kdd_cost(y_true, y_true) == 0.0


# ---------------------------------------------------------------- McNemar and CIs


def _paired(b: int, c: int, both_right: int, both_wrong: int):
    """Predictions with b rows only A gets right and c rows only B gets right (truth 0)."""
    a = [0] * b + [1] * c + [0] * both_right + [1] * both_wrong
    bb = [1] * b + [0] * c + [0] * both_right + [2] * both_wrong
    return np.zeros(len(a), dtype=int), np.array(a), np.array(bb)


def test_mcnemar_exact() -> None:
    y, a, b = _paired(10, 2, 5, 3)
    r = metrics.mcnemar(y, a, b)
    assert (r["b"], r["c"], r["method"]) == (10, 2, "exact")
    # Two-sided: 2 * P(X <= 2), X ~ Bin(12, 1/2) = 2 * (1 + 12 + 66) / 4096.
    assert r["p_value"] == pytest.approx(2 * 79 / 4096)
    swapped = metrics.mcnemar(y, b, a)
    assert (swapped["b"], swapped["c"]) == (2, 10)
    assert swapped["p_value"] == pytest.approx(r["p_value"])


def test_mcnemar_chi_square_with_continuity_correction() -> None:
    y, a, b = _paired(30, 10, 7, 1)
    r = metrics.mcnemar(y, a, b)
    assert (r["b"], r["c"], r["method"]) == (30, 10, "chi2")
    assert r["statistic"] == pytest.approx((20 - 1) ** 2 / 40)
    # Chi-square with 1 df: P(X > x) = erfc(sqrt(x / 2)).
    assert r["p_value"] == pytest.approx(math.erfc(math.sqrt(9.025 / 2)))


def test_mcnemar_identical_predictions() -> None:
    y = np.array([0, 1, 2, 3, 4, 0])
    pred = np.array([0, 1, 0, 3, 0, 0])
    r = metrics.mcnemar(y, pred, pred.copy())
    assert (r["b"], r["c"], r["p_value"]) == (0, 0, 1.0)
    json.dumps(r)


def test_mean_ci_hand_computed() -> None:
    r = metrics.mean_ci([1.0, 2.0, 3.0, 4.0])
    std = math.sqrt(5 / 3)  # sum of squared deviations 5, over n - 1 = 3
    half = 3.182446305284263 * std / 2  # t(0.975, df=3) * std / sqrt(4)
    assert r["n"] == 4
    assert r["mean"] == pytest.approx(2.5)
    assert r["std"] == pytest.approx(std)
    assert (r["low"], r["high"]) == pytest.approx((2.5 - half, 2.5 + half))
    wider = metrics.mean_ci([1.0, 2.0, 3.0, 4.0], confidence=0.99)
    assert wider["low"] < r["low"] and wider["high"] > r["high"]


def test_mean_ci_single_value() -> None:
    assert metrics.mean_ci([0.93]) == {"mean": 0.93, "std": 0.0, "low": 0.93, "high": 0.93, "n": 1}
    with pytest.raises(ValueError):
        metrics.mean_ci([])


# ---------------------------------------------------------------- plots


def _is_png(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG_MAGIC


def test_confusion_matrix_png(tmp_path: Path) -> None:
    out = plots.confusion_matrix_png(WINNER_CM.tolist(), tmp_path / "a" / "cm.png", "winner")
    assert out == tmp_path / "a" / "cm.png" and _is_png(out)
    zero_row = np.zeros((5, 5), dtype=int)
    zero_row[0, 0] = 3
    raw = plots.confusion_matrix_png(zero_row, tmp_path / "raw.png", "raw", normalise=False)
    assert _is_png(raw)
    assert not list(tmp_path.rglob("*.tmp"))


def test_roc_pr_png(tmp_path: Path) -> None:
    y = np.array([0, 0, 1, 1, 0, 1])
    curves = {
        "ae": metrics.roc_pr_curves(y, np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9])),
        "no_auc": {
            "fpr": [0.0, 1.0],
            "tpr": [0.0, 1.0],
            "recall": [1.0, 0.0],
            "precision": [0.5, 1.0],
        },
    }
    assert _is_png(plots.roc_pr_png(curves, tmp_path / "deep" / "roc.png", "curves"))


def test_bar_png(tmp_path: Path) -> None:
    values = {"src_bytes": 0.4, "count": 0.3, "service": 0.1}
    assert _is_png(plots.bar_png(values, tmp_path / "bar.png", "importance", "mean |SHAP|"))


# ---------------------------------------------------------------- paper comparison


def _ours() -> dict:
    binary = {"accuracy": 0.99, "precision": 0.98, "recall": 0.97, "f1": 0.96}
    multi = {
        "accuracy": 0.95,
        "macro_precision": 0.81,
        "macro_recall": 0.72,
        "macro_f1": 0.73,
        "weighted_precision": 0.94,
        "weighted_recall": 0.95,
        "weighted_f1": 0.945,
    }
    entry = {"binary": binary, "multiclass": multi}
    return {"kdd": {"ae": entry, "extra_model": entry}, "random": {"ensemble": entry}}


def test_paper_constants() -> None:
    t = paper.PAPER_TABLE3
    assert t["ensemble"] == {
        "accuracy": 0.9822,
        "precision": 0.9267,
        "recall": 0.9668,
        "f1": 0.9621,
    }
    assert t["ae"]["f1"] == 0.9345 and t["gan"]["accuracy"] == 0.9028
    assert paper.WINNER_1999 == {"cost": 0.2331, "accuracy": 0.9271}
    p, r = t["ensemble"]["precision"], t["ensemble"]["recall"]
    assert 2 * p * r / (p + r) == pytest.approx(0.9463, abs=1e-4)  # not the printed 0.9621


def test_comparison_rows() -> None:
    rows = paper.comparison_rows(_ours())
    assert [(r["protocol"], r["model"]) for r in rows[::4]] == [
        ("kdd", "ae"),
        ("random", "ensemble"),
    ]
    assert [r["metric"] for r in rows] == ["accuracy", "precision", "recall", "f1"] * 2
    keys = {"protocol", "model", "metric", "paper", "ours_binary", "ours_macro", "ours_weighted",
            "averaging_note"}  # fmt: skip
    assert all(set(r) == keys for r in rows)
    acc, prec, _, f1 = rows[:4]
    assert (acc["paper"], acc["ours_binary"], acc["ours_macro"], acc["ours_weighted"]) == (
        0.9796,
        0.99,
        0.95,
        0.95,
    )
    assert (prec["paper"], prec["ours_binary"], prec["ours_macro"], prec["ours_weighted"]) == (
        0.9068,
        0.98,
        0.81,
        0.94,
    )
    assert (f1["ours_macro"], f1["ours_weighted"]) == (0.73, 0.945)
    assert "unstated" in f1["averaging_note"] and "0.8897" in f1["averaging_note"]
    json.dumps(rows)
    assert paper.comparison_rows({"kdd": {"other": _ours()["kdd"]["ae"]}}) == []


def test_comparison_markdown_explains_averaging() -> None:
    rows = paper.comparison_rows(_ours())
    md = paper.comparison_markdown(rows)
    assert md.startswith("How each column is averaged")
    for phrase in ("attack vs normal", "positive class", "unweighted mean over the 5",
                   "weighted by their support", "does not state"):  # fmt: skip
        assert phrase in md
    assert "98.22%" in md and "99.00%" in md and "94.50%" in md
    assert md.count("\n| ") == len(rows) + 1


def test_figure_at_walks_a_nested_result() -> None:
    result = {"paper": {"ensemble": {"binary": {"accuracy": 0.99}}}}
    assert metrics.figure_at(result, ("paper", "ensemble", "binary", "accuracy")) == 0.99
    assert metrics.figure_at(result, ("paper", "knn", "binary", "accuracy")) is None
    assert metrics.figure_at(result, ("paper", "ensemble", "binary", "accuracy", "x")) is None
