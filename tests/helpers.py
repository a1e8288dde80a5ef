"""Helpers shared by test modules."""

import shutil
from pathlib import Path

import yaml

from iot_anomaly.config import load_params


def small_project(dest: Path, root: Path, train: list[str], test: list[str]) -> Path:
    """A small project folder: two raw slices, the suites, params without the size suite."""
    (dest / "data").mkdir(parents=True)
    (dest / "data" / "train.csv").write_text("\n".join(train) + "\n")
    (dest / "data" / "test.csv").write_text("\n".join(test) + "\n")
    shutil.copytree(root / "expectations", dest / "expectations")
    params = load_params(root / "params.yaml")
    params["data"] |= {"train_file": "data/train.csv", "test_file": "data/test.csv"}
    # Row-count and class-share bounds are for the whole 10% file, not a slice.
    params["validate"]["suites"]["train"] = [
        s for s in params["validate"]["suites"]["train"] if "training" not in s
    ]
    (dest / "params.yaml").write_text(yaml.safe_dump(params))
    return dest


def blank_row(**values: object) -> dict[str, object]:
    """A syntactically valid KDD row (all counts zero, a tcp/http/SF connection), with the
    given fields set: for building tiny frames by hand."""
    from iot_anomaly import schema

    row: dict[str, object] = {c: 0 for c in schema.FEATURES}
    row |= {"protocol_type": "tcp", "service": "http", "flag": "SF"}
    return row | values
