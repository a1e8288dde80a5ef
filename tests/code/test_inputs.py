"""Model inputs: duplicates collapsed with their counts, weights, class balancing."""

import numpy as np
import pandas as pd
import pytest

from iot_anomaly.models.inputs import (
    ModelData,
    balance_classes,
    collapse_duplicates,
    weights_from_counts,
)
from tests.helpers import blank_row


def test_collapse_duplicates_keeps_first_rows_and_counts() -> None:
    frame = pd.DataFrame(
        [blank_row(label="smurf"), blank_row(label="normal"), blank_row(label="smurf"),
         blank_row(label="smurf"), blank_row(src_bytes=9, label="normal")]
    )  # fmt: skip
    unique, counts = collapse_duplicates(frame)
    assert unique.index.tolist() == [0, 1, 4]
    assert counts.tolist() == [3.0, 1.0, 1.0]


@pytest.mark.parametrize(
    ("weighting", "expected"),
    [
        ("count", [4, 1, 1]),
        ("sqrt", [2, 1, 1]),
        ("log", [1 + np.log(4), 1, 1]),
        ("none", [1, 1, 1]),
    ],
)
def test_weights_from_counts(weighting: str, expected: list[float]) -> None:
    weight = weights_from_counts(np.array([4.0, 1.0, 1.0]), weighting)
    expected = np.array(expected, dtype=float)
    np.testing.assert_allclose(weight, expected / expected.mean(), rtol=1e-6)
    assert weight.mean() == pytest.approx(1.0)


def test_unknown_weighting() -> None:
    with pytest.raises(ValueError, match="weighting"):
        weights_from_counts(np.ones(2), "squared")


def test_balance_classes() -> None:
    data = ModelData(
        np.zeros((4, 1)), np.array([0, 0, 0, 1]), np.array([0, 0, 0, 1]), np.ones(4, np.float32)
    )
    assert balance_classes(data, 0.0) is data
    equal = balance_classes(data, 1.0)
    totals = np.bincount(equal.category, weights=equal.weight)
    assert totals[0] == pytest.approx(totals[1])  # every category weighs the same
    half = balance_classes(data, 0.5)
    assert half.weight[3] / half.weight[0] == pytest.approx(np.sqrt(3))
