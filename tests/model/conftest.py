"""A small trained project shared by the model tests: slices of both files, every model
trained for a few epochs on the `paper` and `corrected` protocols."""

import pytest

from iot_anomaly.config import Paths
from iot_anomaly.stages import evaluate, preprocess, train, validate
from tests.helpers import fast_params, small_project

PROTOCOLS = ["paper", "corrected"]


@pytest.fixture(scope="session")
def trained(tmp_path_factory, root, train_lines, test_lines) -> tuple[dict, Paths]:
    project = small_project(tmp_path_factory.mktemp("trained"), root, train_lines, test_lines)
    params = fast_params(project, PROTOCOLS)
    paths = Paths(project)
    validate.run(params, paths)
    preprocess.run(params, paths)
    for protocol in PROTOCOLS:
        for model in train.MODELS:
            train.run(params, paths, model, protocol)
    evaluate.run(params, paths)
    return params, paths
