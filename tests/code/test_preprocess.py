"""Encoders and scalers: fitted on training rows only, saved, reused, robust to new values."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from iot_anomaly import schema
from iot_anomaly.data.preprocess import (
    SCALERS,
    UNKNOWN_CODE,
    EncodingSpec,
    feature_names,
    fit_preprocessor,
    load_preprocessor,
    save_preprocessor,
    targets,
    transform,
)
from iot_anomaly.data.reader import parse_kdd
from iot_anomaly.params import EncodingParams

ONEHOT = EncodingSpec("onehot", categorical="onehot", scaler="minmax", log1p=("src_bytes",))
LABEL = EncodingSpec("label", categorical="ordinal", scaler="minmax")


@pytest.fixture(scope="module")
def frame(tmp_path_factory: pytest.TempPathFactory, train_lines: list[str]) -> pd.DataFrame:
    path = tmp_path_factory.mktemp("pre") / "slice.csv"
    path.write_text("\n".join(train_lines) + "\n")
    return parse_kdd(path).frame


def test_fitted_on_train_only(frame: pd.DataFrame) -> None:
    train, test = frame.iloc[:3000], frame.iloc[3000:].copy()
    test["src_bytes"] = test["src_bytes"] * 1000 + 10**9  # far beyond anything in train
    test.loc[test.index[0], "service"] = "icmp"  # a service train never saw
    for spec in (ONEHOT, LABEL):
        fitted = fit_preprocessor(train, spec)
        # Refitting on train plus altered test rows must change the result: the scaler does
        # see its data, so identical train output proves test rows never reached it.
        leaky = fit_preprocessor(pd.concat([train, test]), spec)
        out = transform(fitted, train)
        np.testing.assert_array_equal(out, transform(fit_preprocessor(train, spec), train))
        seen_by_leaky = transform(leaky, train)
        assert seen_by_leaky.shape != out.shape or not np.allclose(out, seen_by_leaky)
        assert out.min() >= 0.0 and out.max() <= 1.0 + 1e-6
        assert transform(fitted, test).max() > 1.0  # test extremes lie outside the train range


def test_onehot_names_and_unknown_category(frame: pd.DataFrame) -> None:
    fitted = fit_preprocessor(frame, ONEHOT)
    names = feature_names(fitted)
    services = sorted(frame["service"].unique())
    assert [n for n in names if n.startswith("service_")] == [f"service_{s}" for s in services]
    assert len(names) == len(names) and len(names) == transform(fitted, frame).shape[1]
    assert "service_icmp" not in names
    row = frame.iloc[[0]].copy()
    row["service"] = "icmp"
    encoded = transform(fitted, row)
    service_cols = [i for i, n in enumerate(names) if n.startswith("service_")]
    assert encoded[0, service_cols].sum() == 0.0  # unseen: no one-hot bit set, no crash


def test_ordinal_unknown_gets_its_own_code(frame: pd.DataFrame) -> None:
    spec = EncodingSpec("raw", categorical="ordinal", scaler="none")
    fitted = fit_preprocessor(frame, spec)
    assert feature_names(fitted)[:3] == list(schema.CATEGORICAL)
    row = frame.iloc[[0]].copy()
    row["service"] = "icmp"
    assert transform(fitted, row)[0, 1] == UNKNOWN_CODE
    known = transform(fitted, frame)[:, 1]
    assert known.min() >= 0


@pytest.mark.parametrize("scaler", SCALERS)
def test_every_scaler(frame: pd.DataFrame, scaler: str) -> None:
    spec = EncodingSpec("s", categorical="ordinal", scaler=scaler)
    out = transform(fit_preprocessor(frame, spec), frame)
    assert out.shape == (len(frame), 41) and out.dtype == np.float32
    assert np.isfinite(out).all()
    if scaler == "normalizer":
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-4)
    if "minmax" in scaler:
        assert out.min() == 0.0 and out.max() == pytest.approx(1.0)


def test_save_and_reload_give_identical_output(frame: pd.DataFrame, tmp_path: Path) -> None:
    fitted = fit_preprocessor(frame, ONEHOT)
    again = load_preprocessor(save_preprocessor(fitted, tmp_path / "p" / "onehot.joblib"))
    np.testing.assert_array_equal(transform(fitted, frame), transform(again, frame))


def test_bad_encoding_params_are_rejected() -> None:
    good = {"categorical": "onehot", "scaler": "minmax", "log1p": ["duration"], "clip": False}
    spec = EncodingSpec.from_params("x", EncodingParams(**good))
    assert (spec.name, spec.log1p) == ("x", ("duration",))
    for bad, field in (
        ({"scaler": "zscore"}, "scaler"),
        ({"categorical": "hash"}, "categorical"),
        ({"log1p": ["service"]}, "log1p"),
    ):
        with pytest.raises(ValidationError, match=field):
            EncodingParams(**(good | bad))


def test_targets(frame: pd.DataFrame) -> None:
    category, attack = targets(frame)
    assert set(np.unique(category)) <= set(range(5))
    assert (attack == (frame[schema.CATEGORY] != "normal").to_numpy()).all()
    assert (category[frame[schema.CATEGORY].to_numpy() == "dos"] == 1).all()
