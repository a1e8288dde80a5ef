"""Protocol splits on small frames: seeded, stratified, deduplicated."""

import pandas as pd
import pytest

from iot_anomaly import schema
from iot_anomaly.data.reader import parse_kdd
from iot_anomaly.data.splits import (
    build_protocols,
    drop_duplicates,
    random_split,
    stratify_key,
)
from tests.helpers import blank_row


@pytest.fixture(scope="module")
def frames(tmp_path_factory, train_lines, test_lines) -> tuple[pd.DataFrame, pd.DataFrame]:
    folder = tmp_path_factory.mktemp("splits")
    (folder / "train.csv").write_text("\n".join(train_lines) + "\n")
    (folder / "test.csv").write_text("\n".join(test_lines) + "\n")
    return parse_kdd(folder / "train.csv").frame, parse_kdd(folder / "test.csv").frame


def test_stratify_key_pools_rare_labels() -> None:
    frame = pd.DataFrame(
        {
            schema.LABEL: ["smurf"] * 4 + ["spy", "phf", "perl", "apache2"],
            schema.CATEGORY: ["dos"] * 4 + ["r2l", "r2l", "u2r", "dos"],
        }
    )
    assert stratify_key(frame).tolist() == ["smurf"] * 4 + ["cat:r2l", "cat:r2l"] + ["pool"] * 2
    # A pool of one could not be split: it joins the largest stratum instead.
    one = frame.iloc[:7]
    assert stratify_key(one).tolist() == ["smurf"] * 4 + ["cat:r2l", "cat:r2l", "smurf"]
    random_split(one, 0.3, 0)  # splits without error


def test_drop_duplicates_counts() -> None:
    frame = pd.DataFrame(
        [blank_row(label="normal")] * 3
        + [blank_row(label="smurf")]
        + [blank_row(src_bytes=5, label="normal")]
    )
    unique, stats = drop_duplicates(frame)
    assert len(unique) == 3
    assert stats == {
        "rows": 5,
        "unique_rows": 3,
        "duplicates_dropped": 2,
        "feature_vectors_with_several_labels": 1,
    }
    assert unique.index.tolist() == [0, 3, 4]  # first occurrence kept


def test_protocols_are_seeded_and_disjoint(frames) -> None:
    train_file, test_file = frames
    names = ["paper", "dedup", "corrected"]
    first, stats = build_protocols(names, train_file, test_file, 0.2, seed=7)
    again, _ = build_protocols(names, train_file, test_file, 0.2, seed=7)
    other, _ = build_protocols(names, train_file, test_file, 0.2, seed=8)
    for name in ("paper", "dedup"):
        split = first[name]
        assert split.train.index.intersection(split.test.index).empty
        assert split.train.index.equals(again[name].train.index)
        assert not split.train.index.equals(other[name].train.index)
    assert len(first["paper"].train) + len(first["paper"].test) == len(train_file)
    assert stats["unique_rows"] == len(first["dedup"].train) + len(first["dedup"].test)
    assert first["corrected"].train is train_file and first["corrected"].test is test_file
    normal = first["paper"].train_normal
    assert (normal[schema.CATEGORY] == "normal").all()
    assert len(normal) == (first["paper"].train[schema.CATEGORY] == "normal").sum()


def test_unknown_protocol(frames) -> None:
    with pytest.raises(ValueError, match="unknown protocols"):
        build_protocols(["kfold"], *frames, 0.2, 1)
