"""A small trained project shared by the model tests: slices of both files, every model
trained for a few epochs on the `paper` and `corrected` protocols."""

from pathlib import Path

import pytest
import yaml

from iot_anomaly.config import Paths, load_params
from iot_anomaly.stages import evaluate, preprocess, train, validate
from tests.helpers import small_project

PROTOCOLS = ["paper", "corrected"]


def fast_params(project: Path) -> dict:
    """Params for a quick run: two protocols, few epochs, no progress bars."""
    params = load_params(project / "params.yaml")
    params["preprocess"]["protocols"] = PROTOCOLS
    params["models"]["progress"] = False
    params["train_ae"]["epochs"] = 4
    params["train_gan"]["profiles"]["ours"]["epochs"] = 4
    params["train_cnn_lstm"]["epochs"] = 4
    params["train_cnn_lstm"]["batch_size"] = 32  # enough SGD steps on a slice
    # A 99.5th percentile of ~900 normal rows is set by a handful of outliers.
    params["train_ae"]["threshold_percentile"] = 95
    params["train_gan"]["threshold_percentile"] = 95
    params["train_rf"]["forest"]["n_estimators"] = 30
    params["ensemble"]["forest"]["n_estimators"] = 30
    params["ensemble"]["min_conflicts"] = 5
    params["evaluate"]["permutation_rows"] = 500
    params["evaluate"]["permutation_repeats"] = 1
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    return params


@pytest.fixture(scope="session")
def trained(tmp_path_factory, root, train_lines, test_lines) -> tuple[dict, Paths]:
    project = small_project(tmp_path_factory.mktemp("trained"), root, train_lines, test_lines)
    params = fast_params(project)
    paths = Paths(project)
    validate.run(params, paths)
    preprocess.run(params, paths)
    for protocol in PROTOCOLS:
        for model in train.MODELS:
            train.run(params, paths, model, protocol)
    evaluate.run(params, paths)
    return params, paths
