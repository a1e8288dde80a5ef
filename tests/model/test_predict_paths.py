"""The champion scores the same whichever way its work is spread: networks in this process
or in the helper process, any number of workers, any chunk and batch size."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from iot_anomaly import schema
from iot_anomaly.cli import app
from iot_anomaly.data.reader import parse_kdd
from iot_anomaly.models.runner import LocalNetworks, NetworkProcess, start_networks
from iot_anomaly.registry import register
from iot_anomaly.runtime import Runtime
from iot_anomaly.serving import Champion, search_order


@pytest.fixture(scope="module")
def champion_input(trained, tmp_path_factory, test_lines) -> tuple:
    params, paths = trained
    register(params, paths)
    source = tmp_path_factory.mktemp("traffic") / "traffic.csv"
    source.write_text("\n".join([*test_lines[:600], *test_lines[:300]]) + "\n")  # repeats
    return paths, parse_kdd(source).frame


def test_every_way_of_spreading_the_work_gives_the_same_predictions(champion_input) -> None:
    paths, frame = champion_input
    reference = Champion.load(paths, Runtime(predict_workers=1, predict_batch_size=65536))
    assert isinstance(reference.networks, LocalNetworks)
    try:
        expected = reference.predict(frame)
    finally:
        reference.close()
    assert len(expected) == 900 and expected.index.equals(frame.index)
    for settings in (
        Runtime(predict_workers=2),
        Runtime(predict_workers=3, predict_threads=2, predict_batch_size=64, knn_chunk=50),
        Runtime(predict_workers=2, predict_batch_size=100_000),
    ):
        networks = start_networks(paths, settings)
        assert isinstance(networks, NetworkProcess)
        champion = Champion.load(paths, settings, networks)
        try:
            scored = champion.score(frame)
        finally:
            champion.close()
        assert len(scored.distinct) < len(frame)  # each distinct row scored once
        pd.testing.assert_frame_equal(scored.frame(), expected)
        assert scored.csv_text() == expected.to_csv(index_label="line")


def test_a_file_of_bad_lines_gives_an_empty_table(champion_input, tmp_path, test_lines) -> None:
    paths, _ = champion_input
    source = tmp_path / "bad.csv"
    rate = schema.COLUMNS.index("serror_rate")
    lines = [line.split(",") for line in test_lines[:5]]
    source.write_text("\n".join(",".join([*f[:rate], "7", *f[rate + 1 :]]) for f in lines) + "\n")
    output = tmp_path / "predictions.csv"
    result = CliRunner().invoke(
        app, ["predict", "-i", str(source), "-o", str(output), "--root", str(paths.root)]
    )
    assert result.exit_code == 0, result.output
    assert "5 lines quarantined" in result.output
    assert len(pd.read_csv(output)) == 0
    assert list(pd.read_csv(output).columns)[:3] == ["line", "category", "attack"]
    assert len(pd.read_csv(tmp_path / "predictions.quarantine.csv")) == 5


def test_a_helper_that_gets_no_input_exits(champion_input) -> None:
    paths, _ = champion_input
    networks = start_networks(paths, Runtime(predict_workers=2))
    networks.close()  # before any input: the helper must not hang
    assert not networks._process.is_alive()


def test_predict_imports_neither_lightning_nor_torch_in_the_parent(champion_input) -> None:
    code = (
        "import sys; import iot_anomaly.serving, iot_anomaly.data.reader, "
        "iot_anomaly.models.runner, iot_anomaly.stages.predict, iot_anomaly.cli; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'pytorch_lightning', 'lightning', 'prefect', 'great_expectations', "
        "'evidently', 'dvc', 'matplotlib')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_search_order_is_a_permutation() -> None:
    X = np.random.default_rng(0).random((100, 5), dtype=np.float32)
    assert sorted(search_order(X).tolist()) == list(range(100))
    assert search_order(X[:1]).tolist() == [0]
    assert search_order(X[:0]).tolist() == []
