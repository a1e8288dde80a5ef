"""The seed study: every model retrained per seed, figures summarised with intervals."""

import json

import numpy as np
import pandas as pd
import pytest

from iot_anomaly.data.preprocess import targets
from iot_anomaly.stages import study


def test_seed_study_on_slices(trained) -> None:
    params, paths = trained
    report = study.run(params, paths, "paper", [1, 2])
    assert report["seeds"] == [1, 2]
    acc = report["summary"]["ensemble.binary.accuracy"]
    assert acc["n"] == 2 and acc["low"] <= acc["mean"] <= acc["high"]
    assert "ae.scores.roc_auc" in report["summary"]
    assert "rf.kdd_cost" in report["summary"]
    # 5-class accuracy (the figure the 1999 winner is quoted in) is each seed's share of right
    # categories, averaged over the seeds.
    category, _ = targets(pd.read_parquet(paths.split("paper", "test")))
    per_seed = [
        np.mean(
            pd.read_parquet(
                paths.artifacts
                / "study"
                / f"seed_{seed}"
                / "predictions"
                / "paper"
                / "ensemble.parquet"
            )["category"].to_numpy()
            == category
        )
        for seed in (1, 2)
    ]
    summary = report["summary"]["ensemble.multiclass.accuracy"]
    assert summary["mean"] == pytest.approx(np.mean(per_seed))
    for seed in (1, 2):
        assert report["mcnemar"][seed]["against"] in {"knn", "cnn_lstm", "rf"}
        assert 0.0 <= report["mcnemar"][seed]["p_value"] <= 1.0
    # Seeds change the models: the two GANs' scores are not the same.
    a = (
        paths.artifacts / "study" / "seed_1" / "predictions" / "paper" / "gan.parquet"
    ).read_bytes()
    b = (
        paths.artifacts / "study" / "seed_2" / "predictions" / "paper" / "gan.parquet"
    ).read_bytes()
    assert a != b
    saved = json.loads((paths.reports / "seed_study_paper.json").read_text())
    assert saved["summary"].keys() == report["summary"].keys()
