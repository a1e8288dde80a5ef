"""Shared fixtures: the project root, the shipped raw data, small slices of it, and a small
trained project (used by the model tests and the report site's browser test). A test that
needs the trained project, directly or through another fixture, is marked `slow`, so the
fast tier (`pytest -m "not slow"`) never trains."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pandas as pd
import pytest

from iot_anomaly.config import Params, Paths, load_params
from iot_anomaly.data.reader import parse_kdd

ROOT = Path(__file__).resolve().parents[1]
TRAIN_FILE = ROOT / "data" / "kddcup.data_10_percent.gz"
TEST_FILE = ROOT / "data" / "corrected.gz"


def _require(path: Path) -> Path:
    if not path.is_file():
        message = f"{path} is missing: run `dvc pull data.dvc` (scripts/test.sh does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `slow` every test that depends on the trained project: training takes minutes."""
    for item in items:
        if "trained" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def params() -> Params:
    return load_params(ROOT / "params.yaml")


@pytest.fixture(scope="session")
def train_path() -> Path:
    return _require(TRAIN_FILE)


@pytest.fixture(scope="session")
def test_path() -> Path:
    return _require(TEST_FILE)


def read_lines(path: Path, n: int | None = None, step: int = 1) -> list[str]:
    """Lines of a raw file: every `step`-th line, at most n of them."""
    with gzip.open(path, "rt") as handle:
        lines = handle.read().splitlines()
    return lines[::step][:n]


@pytest.fixture(scope="session")
def train_lines(train_path: Path) -> list[str]:
    """A 5,000-line slice of the 10% file spread over the whole file (all categories)."""
    return read_lines(train_path, 5000, step=97)


@pytest.fixture(scope="session")
def test_lines(test_path: Path) -> list[str]:
    """A 3,000-line slice of corrected.gz spread over the whole file."""
    return read_lines(test_path, 3000, step=101)


@pytest.fixture(scope="session")
def train_frame(train_path: Path) -> pd.DataFrame:
    """The whole parsed 10% file."""
    return parse_kdd(train_path).frame


@pytest.fixture(scope="session")
def test_frame(test_path: Path) -> pd.DataFrame:
    """The whole parsed corrected.gz."""
    return parse_kdd(test_path).frame


#: `paper` (all 41 features, a random split) and the served champion's protocol,
#: `corrected_flow` (the flow features, tested on corrected.gz).
TRAINED_PROTOCOLS = ["paper", "corrected_flow"]


@pytest.fixture(scope="session")
def trained(tmp_path_factory, root, train_lines, test_lines) -> tuple[Params, Paths]:
    """A small trained project: slices of both files, every model trained for a few epochs
    on the protocols of TRAINED_PROTOCOLS (no progress bars), then evaluated."""
    from iot_anomaly.models import catalog
    from iot_anomaly.runtime import Runtime
    from iot_anomaly.stages import evaluate, preprocess, train, validate
    from tests.helpers import fast_params, small_project

    project = small_project(tmp_path_factory.mktemp("trained"), root, train_lines, test_lines)
    params = fast_params(project, TRAINED_PROTOCOLS)
    paths = Paths(project)
    validate.run(params, paths)
    preprocess.run(params, paths)
    for protocol in TRAINED_PROTOCOLS:
        for model in catalog.TRAINING_ORDER:
            train.run(params, paths, model, protocol, Runtime(progress=False))
    evaluate.run(params, paths)
    return params, paths
