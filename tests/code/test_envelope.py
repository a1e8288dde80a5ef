"""The service envelope (the ensemble's fourth layer) and how the ensemble uses it."""

import numpy as np
import pandas as pd
import pytest

from iot_anomaly import schema
from iot_anomaly.models import ensemble as ens
from iot_anomaly.models.envelope import ServiceEnvelope, load_envelope


def _rows(service: str, category: str, n: int, **values: float) -> pd.DataFrame:
    frame = pd.DataFrame(0.0, index=range(n), columns=list(schema.NUMERIC))
    for column, value in values.items():
        frame[column] = value
    frame["service"] = service
    frame[schema.CATEGORY] = category
    return frame


@pytest.fixture
def train() -> pd.DataFrame:
    """http normals with 1-100 connections to the host; pop_3 normals with 1-10; a smurf
    flood with 500 (it widens the feature's training range, not the normal envelope)."""
    http = _rows("http", "normal", 100)
    http["dst_host_srv_count"] = np.arange(1, 101)
    pop = _rows("pop_3", "normal", 10)
    pop["dst_host_srv_count"] = np.arange(1, 11)
    return pd.concat(
        [
            http,
            pop,
            _rows("ecr_i", "dos", 50, dst_host_srv_count=500),
            _rows("tftp_u", "normal", 2),
        ],
        ignore_index=True,
    )


def test_envelope_per_service(train: pd.DataFrame) -> None:
    envelope = ServiceEnvelope.fit(train, margin=0.1, min_rows=5)
    span = 500 - 0  # the feature's range over all training rows
    test = pd.concat(
        [
            _rows("http", "normal", 1, dst_host_srv_count=100),  # inside
            _rows("pop_3", "normal", 1, dst_host_srv_count=10 + 0.1 * span),  # at the margin
            _rows("pop_3", "r2l", 1, dst_host_srv_count=250),  # a password-guessing flood
            _rows("tftp_u", "normal", 1),  # too few normal rows: no envelope
            _rows("ecr_i", "dos", 1, dst_host_srv_count=500),  # no normal rows at all
            _rows("never_seen", "normal", 1),
        ],
        ignore_index=True,
    )
    excess = envelope.excess(test)
    assert excess[0] == 0 and excess[1] == pytest.approx(0.1) and excess[2] == pytest.approx(0.48)
    assert np.isinf(excess[3:]).all()
    assert envelope.outside(test).tolist() == [False, False, True, True, True, True]


def test_envelope_is_learned_from_normal_rows_only(train: pd.DataFrame) -> None:
    envelope = ServiceEnvelope.fit(train, margin=0.0, min_rows=1)
    assert set(envelope.services) == {"http", "pop_3", "tftp_u"}
    flood = _rows("http", "dos", 1, dst_host_srv_count=500)
    assert envelope.outside(flood).tolist() == [True]


def test_envelope_round_trips_through_json(tmp_path, train: pd.DataFrame) -> None:
    envelope = ServiceEnvelope.fit(train, margin=0.1, min_rows=5)
    envelope.save(tmp_path / "envelope.json")
    again = load_envelope(tmp_path)
    probe = train.sample(40, random_state=0).assign(dst_host_srv_count=np.arange(0, 400, 10))
    assert np.array_equal(again.excess(probe), envelope.excess(probe))
    assert load_envelope(tmp_path / "missing") is None


def test_envelope_rejects_bad_settings(train: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="margin"):
        ServiceEnvelope.fit(train, margin=-0.1, min_rows=5)
    with pytest.raises(ValueError, match="min_rows"):
        ServiceEnvelope.fit(train, margin=0.1, min_rows=0)


class _Forest:
    classes_ = np.arange(5)

    def predict_proba(self, X):
        return np.tile([1.0, 0.0, 0.0, 0.0, 0.0], (len(X), 1))  # always normal


def test_ensemble_envelope_layer() -> None:
    knn = np.array([0, 0, 1, 0, 0])
    cnn_proba = np.array(
        [
            [0.9, 0.0, 0.0, 0.1, 0.0],  # agree normal, inside
            [0.6, 0.1, 0.3, 0.0, 0.0],  # agree normal, outside: probe is its likeliest attack
            [0.0, 1.0, 0.0, 0.0, 0.0],  # agree dos, outside: stays dos
            [0.2, 0.0, 0.0, 0.8, 0.0],  # conflict, forest says normal, outside: r2l
            [0.1, 0.0, 0.0, 0.0, 0.9],  # conflict, forest says normal, inside: normal
        ]
    )
    outside = np.array([False, True, True, True, False])
    decision = ens.combine(knn, cnn_proba, _Forest(), np.zeros((5, 3)), outside)
    assert decision.category.tolist() == [0, 2, 1, 3, 0]
    assert decision.layer.tolist() == [ens.AGREE, ens.ENVELOPE, ens.AGREE, ens.ENVELOPE, ens.FOREST]
    assert decision.forest.tolist() == [-1, -1, -1, 0, 0]
    three = ens.three_layer_answer(decision.category, decision.layer)
    without = ens.combine(knn, cnn_proba, _Forest(), np.zeros((5, 3)))
    assert three.tolist() == without.category.tolist() == [0, 0, 1, 0, 0]
