"""The schema: columns, domains, label map, and a parse → write → parse round trip."""

from pathlib import Path

import pandas as pd
import pytest

from iot_anomaly import schema
from iot_anomaly.data.reader import parse_kdd, to_kdd_lines


def test_columns_partition_the_features() -> None:
    assert len(schema.FEATURES) == 41
    assert (*schema.FEATURES, "label") == schema.COLUMNS
    groups = [schema.CATEGORICAL, schema.BINARY, schema.RATES, schema.COUNTS]
    flat = [c for group in groups for c in group]
    assert sorted(flat) == sorted(schema.FEATURES)
    assert len(flat) == len(set(flat))
    assert len(schema.RATES) == 15
    assert schema.BINARY == ("land", "logged_in", "is_host_login", "is_guest_login")


def test_label_map_covers_every_attack_once() -> None:
    assert len(schema.KNOWN_LABELS) == 23
    assert len(schema.UNSEEN_LABELS) == 17
    assert not schema.KNOWN_LABELS & schema.UNSEEN_LABELS
    assert set(schema.LABEL_TO_CATEGORY) == schema.KNOWN_LABELS | schema.UNSEEN_LABELS
    assert set(schema.LABEL_TO_CATEGORY.values()) == set(schema.CATEGORIES)


@pytest.mark.parametrize(
    ("raw", "category"),
    [
        ("normal.", "normal"),
        ("smurf.", "dos"),
        ("satan", "probe"),
        ("warezclient.", "r2l"),
        ("httptunnel.", "u2r"),  # as the 1999 contest scored it
        ("snmpgetattack.", "r2l"),
        ("mailbomb", "dos"),
    ],
)
def test_category_of(raw: str, category: str) -> None:
    assert schema.category_of(raw) == category


def test_unknown_label_is_an_error() -> None:
    with pytest.raises(KeyError):
        schema.category_of("not_an_attack.")


def test_round_trip_through_kdd_lines(tmp_path: Path, train_lines: list[str]) -> None:
    source = tmp_path / "slice.csv"
    source.write_text("\n".join(train_lines) + "\n")
    first = parse_kdd(source).frame
    again = tmp_path / "again.csv"
    again.write_text("\n".join(to_kdd_lines(first)) + "\n")
    second = parse_kdd(again).frame
    pd.testing.assert_frame_equal(first, second)
    assert to_kdd_lines(first) == train_lines
    assert list(first.columns) == [*schema.COLUMNS, schema.CATEGORY]
    for col in schema.COUNTS + schema.BINARY:
        assert first[col].dtype == "int64", col
    for col in schema.RATES:
        assert first[col].dtype == "float64", col
