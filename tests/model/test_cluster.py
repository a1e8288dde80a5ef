"""A folder of traffic scored on a local Dask cluster, one task per file
(iot_anomaly.cluster), and a large log split by time over the workers, give what `predict`
gives in one process: the same predictions file, byte for byte, the same quarantine and the
same summary."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pandas as pd
import pytest

from iot_anomaly.cluster import partitions, score_on_dask
from iot_anomaly.registry import register
from iot_anomaly.stages import predict
from iot_anomaly.stages.predict import quarantine_file
from iot_anomaly.traffic.ingest import summary_path
from tests.helpers import edit_params

ROOT = Path(__file__).resolve().parents[2]
IOT23 = ROOT / "data" / "iot23"
#: A native Zeek log, and how many of its lines the time-split test keeps.
LOG = IOT23 / "CTU-Malware-Capture-8-1.conn.log.labeled"
LOG_LINES = 1500
#: IoT-23 CSVs and how many of their connections each slice keeps.
SLICES = {
    "CTU-Honeypot-Capture-4-1-labeled.csv": 300,
    "CTU-Malware-Capture-44-1-labeled.csv": 200,
    "CTU-Malware-Capture-20-1-labeled.csv": 400,
}


@pytest.fixture(scope="module")
def champion(trained):
    params, paths = trained
    register(params, paths)
    return params, paths


def traffic_folder(folder: Path) -> Path:
    """Slices of three IoT-23 CSVs (one in a subfolder, one with a broken line), and a file
    that is not traffic."""
    missing = [name for name in SLICES if not (IOT23 / name).is_file()]
    if missing:
        pytest.skip(f"{', '.join(missing)} missing in {IOT23}: run `dvc pull data.dvc`")
    for i, (name, rows) in enumerate(SLICES.items()):
        lines = (IOT23 / name).read_text().splitlines(keepends=True)[: rows + 1]
        if i == 1:
            lines.insert(5, "not,a,connection\n")  # quarantined: wrong field count
        target = folder / ("sub" if i == 2 else "") / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join(lines))
    (folder / "README.txt").write_text("notes, not traffic\n")
    return folder


@pytest.fixture(scope="module")
def one_process(champion, tmp_path_factory) -> tuple[Path, Path, predict.Prediction]:
    """The folder, and `predict` of it in one process: its output and what it did."""
    params, paths = champion
    tmp = tmp_path_factory.mktemp("cluster")
    folder = traffic_folder(tmp / "traffic")
    output = tmp / "single" / "predictions.csv"
    done = predict.run(
        input=folder,
        output=output,
        champion_dir=params.promotion.champion_dir,
        paths=paths,
        ingest=params.ingest,
        stream=params.stream,
    )
    return folder, output, done


def assert_same_outputs(out: Path, single: Path) -> None:
    """Predictions byte for byte, the quarantine's rows, the summary; nothing else left."""
    assert out.read_bytes() == single.read_bytes()
    pd.testing.assert_frame_equal(
        pd.read_csv(quarantine_file(out)), pd.read_csv(quarantine_file(single))
    )
    assert json.loads(summary_path(out).read_text()) == json.loads(summary_path(single).read_text())
    assert sorted(p.name for p in out.parent.iterdir()) == sorted(
        p.name for p in single.parent.iterdir()
    )  # the parts are gone


def test_dask_scoring_equals_one_process(champion, one_process, tmp_path: Path) -> None:
    params, paths = champion
    folder, single, alone = one_process
    assert [p.name for p in partitions(folder)] == [
        "CTU-Honeypot-Capture-4-1-labeled.csv",
        "CTU-Malware-Capture-44-1-labeled.csv",
        "CTU-Malware-Capture-20-1-labeled.csv",  # sub/ sorts after the files beside it
    ]
    seen: list[tuple[int, int]] = []
    out = tmp_path / "dask" / "predictions.csv"
    merged = score_on_dask(
        folder,
        out,
        params.promotion.champion_dir,
        paths,
        params.ingest,
        params.stream.model_copy(update={"chunk_rows": 64}),  # chunks never change a result
        n_workers=2,
        threads_per_worker=1,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert_same_outputs(out, single)
    assert alone.rows == merged.rows == 900 and merged.quarantined == alone.quarantined == 1
    assert merged.attacks == alone.attacks and merged.summary == alone.summary
    assert merged.metrics == alone.metrics is not None  # the slices are labelled
    assert merged.ingest is not None and merged.ingest["skipped"] == [str(folder / "README.txt")]
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_the_flow_equals_one_process(champion, one_process, tmp_path: Path) -> None:
    from prefect.testing.utilities import prefect_test_harness

    from flows.score import score_traffic

    _, paths = champion
    folder, single, alone = one_process
    out = tmp_path / "flow" / "predictions.csv"
    with prefect_test_harness(server_startup_timeout=90):
        merged = score_traffic(str(folder), str(out), root=str(paths.root))
    assert_same_outputs(out, single)
    assert merged.rows == alone.rows and merged.attacks == alone.attacks


def test_a_failing_file_leaves_no_output(champion, tmp_path: Path) -> None:
    params, paths = champion
    folder = traffic_folder(tmp_path / "traffic")
    (folder / "damaged.pcap").write_bytes(b"\x00" * 64)
    out = tmp_path / "out" / "predictions.csv"
    with pytest.raises(Exception, match=r"damaged\.pcap"):
        score_on_dask(
            folder, out, params.promotion.champion_dir, paths, params.ingest, params.stream
        )
    assert list(out.parent.iterdir()) == []


def unordered_log(folder: Path) -> Path:
    """The first lines of an IoT-23 conn.log, a stretch of them shuffled (out of time order,
    as Zeek writes connections when they end) and one broken line among them."""
    if not LOG.is_file():
        pytest.skip(f"{LOG} missing in {IOT23}: run `dvc pull data.dvc`")
    lines = LOG.read_text().splitlines(keepends=True)
    head = [line for line in lines[:20] if line.startswith("#")]
    body = [line for line in lines[len(head) :] if not line.startswith("#")][:LOG_LINES]
    stretch = body[600:1300]  # across the first block border: sorted runs spilled
    random.Random(11).shuffle(stretch)
    body[600:1300] = stretch
    body.insert(700, "1533042911.5\tnot a connection\n")
    path = folder / LOG.name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(head + body))
    return path


def test_a_log_split_by_time_equals_one_process(champion, tmp_path: Path) -> None:
    params, paths = champion
    log = unordered_log(tmp_path / "traffic")
    single = tmp_path / "single" / "predictions.csv"
    alone = predict.run(
        input=log,
        output=single,
        champion_dir=params.promotion.champion_dir,
        paths=paths,
        ingest=params.ingest,
        stream=params.stream,
    )
    seen: list[tuple[int, int]] = []
    out = tmp_path / "dask" / "predictions.csv"
    merged = score_on_dask(
        log,
        out,
        params.promotion.champion_dir,
        paths,
        params.ingest,
        params.stream.model_copy(update={"chunk_rows": 128, "partition_rows": 400}),
        n_workers=2,
        threads_per_worker=1,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert_same_outputs(out, single)
    assert quarantine_file(out).read_bytes() == quarantine_file(single).read_bytes()
    assert alone.rows == merged.rows == LOG_LINES and merged.quarantined == alone.quarantined == 1
    assert merged.summary == alone.summary and merged.metrics == alone.metrics is not None
    assert seen == [(n, 4) for n in range(1, 5)]  # 1,500 connections in slabs of 400


def test_the_flow_splits_a_log_by_time_as_the_cli_does(champion, tmp_path: Path) -> None:
    from prefect.testing.utilities import prefect_test_harness

    from flows.score import score_traffic

    params, paths = champion
    log = unordered_log(tmp_path / "traffic")
    single = tmp_path / "single" / "predictions.csv"
    predict.run(
        input=log,
        output=single,
        champion_dir=params.promotion.champion_dir,
        paths=paths,
        ingest=params.ingest,
        stream=params.stream,
    )
    slabs = tmp_path / "slabs.yaml"
    shutil.copy2(paths.root / "params.yaml", slabs)
    edit_params(slabs, lambda p: p["stream"].update(chunk_rows=128, partition_rows=400))
    out = tmp_path / "flow" / "predictions.csv"
    with prefect_test_harness(server_startup_timeout=90):
        merged = score_traffic(str(log), str(out), root=str(paths.root), params_file=str(slabs))
    assert_same_outputs(out, single)
    assert merged.rows == LOG_LINES
