"""The Prefect training flow runs the same stages as DVC, on a small project."""

import json

import pytest

from iot_anomaly.config import Paths
from tests.helpers import small_project

pytestmark = pytest.mark.slow


def test_training_flow_on_slices(tmp_path, root, train_lines, test_lines, monkeypatch) -> None:
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.testing.utilities import prefect_test_harness

    from flows.training import training_flow

    project = small_project(tmp_path / "project", root, train_lines, test_lines)
    with prefect_test_harness(server_startup_timeout=60):
        result = training_flow(root=str(project), record_in_dvc=False)
    assert {"validate", "preprocess", "evaluate", "register", "report"} <= set(result["stages"])
    paths = Paths(project)
    assert json.loads((paths.validation_dir / "summary.json").read_text())["train"]["success"]
    splits = json.loads(paths.splits_report.read_text())
    assert splits["protocols"]["paper"]["train_rows"] == round(0.8 * len(train_lines))
    assert (paths.reports / "site" / "index.html").is_file()
    assert paths.split("corrected", "test").is_file()
    assert paths.preprocessor("paper", "onehot").is_file()
