"""The seed study: every model retrained per seed, figures summarised with intervals."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from iot_anomaly.config import Paths
from iot_anomaly.data.preprocess import targets
from iot_anomaly.evaluation.study import FIGURES
from iot_anomaly.runtime import Runtime
from iot_anomaly.stages import study

QUIET = Runtime(progress=False)


def _predictions(paths: Paths, seed: int, model: str) -> Path:
    """Where the study keeps one seed's test predictions of one model."""
    seeded = study.SeedPaths(paths.root, study.run_dir(paths, "models", seed))
    return seeded.predictions("paper", model)


def test_seed_study_on_slices(trained) -> None:
    params, paths = trained
    report = study.run(params, paths, "paper", [1, 2], runtime=QUIET)
    assert report["seeds"] == [1, 2]
    acc = report["summary"]["ensemble.binary.accuracy"]
    assert acc["n"] == 2 and acc["low"] <= acc["mean"] <= acc["high"]
    assert "ae.scores.roc_auc" in report["summary"]
    assert "rf.kdd_cost" in report["summary"]
    # 5-class accuracy (the figure the 1999 winner is quoted in) is each seed's share of right
    # categories, averaged over the seeds.
    category, _ = targets(pd.read_parquet(paths.split("paper", "test")))
    per_seed = [
        np.mean(pd.read_parquet(_predictions(paths, seed, "ensemble"))["category"] == category)
        for seed in (1, 2)
    ]
    summary = report["summary"]["ensemble.multiclass.accuracy"]
    assert summary["mean"] == pytest.approx(np.mean(per_seed))
    for seed in (1, 2):
        assert report["mcnemar"][seed]["against"] in {"knn", "cnn_lstm", "rf"}
        assert 0.0 <= report["mcnemar"][seed]["p_value"] <= 1.0
    # Seeds change the models: the two GANs' scores are not the same.
    a = _predictions(paths, 1, "gan").read_bytes()
    b = _predictions(paths, 2, "gan").read_bytes()
    assert a != b
    saved = json.loads((paths.reports / "seed_study_paper.json").read_text())
    assert saved["summary"].keys() == report["summary"].keys()


def test_split_study_draws_a_new_test_split_per_seed(trained) -> None:
    params, paths = trained
    own_split = paths.split("paper", "test").read_bytes()
    report = study.run(params, paths, "paper", [1, 2], vary="split", runtime=QUIET)
    assert report["vary"] == "split" and report["seeds"] == [1, 2]
    tests = [
        pd.read_parquet(study.SplitPaths(study.run_dir(paths, "split", s)).split("paper", "test"))
        for s in (1, 2)
    ]
    # Each seed tests on other rows, drawn from the same file and as many of them.
    assert not tests[0].index.equals(tests[1].index)
    assert len(tests[0]) == len(tests[1])
    assert paths.split("paper", "test").read_bytes() == own_split  # the project's split stays
    assert {f"{m}.{'.'.join(k)}" for m, k in FIGURES} >= set(report["summary"])
    assert "ensemble.multiclass.macro_f1" in report["summary"]
    saved = json.loads(study.study_file(paths, "paper", "split").read_text())
    assert saved["summary"] == json.loads(json.dumps(report["summary"]))


def test_split_study_refuses_a_fixed_test_file(trained) -> None:
    params, paths = trained
    with pytest.raises(ValueError, match="fixed file"):
        study.run(params, paths, "corrected_flow", [1], vary="split")
