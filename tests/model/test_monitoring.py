"""Monitoring and retraining on the small trained project: batches are scored and reported,
a corrupt batch is rejected without stopping the next, a training run that fails half-way
leaves the champion untouched, and the Dask task runner runs a wave."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pandas as pd
import pytest

from iot_anomaly import pipeline, registry, schema
from iot_anomaly.config import Params, Paths
from iot_anomaly.data.reader import to_kdd_lines
from iot_anomaly.monitoring import decisions
from iot_anomaly.monitoring.replay import write_batch
from iot_anomaly.monitoring.store import ensure_champion, store_from_params
from iot_anomaly.stages import monitor, promote
from tests.helpers import edit_params, registered_copy

pytestmark = pytest.mark.slow


def _digest(folder: Path) -> str:
    digest = hashlib.md5()
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(file.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def monitored(trained, tmp_path_factory, root) -> tuple[Params, Paths]:
    """A copy of the trained project with its model registered and adopted as champion."""
    params, paths = registered_copy(trained[1], tmp_path_factory.mktemp("monitored") / "project")
    # The held-out IoT-23 scenarios: a training run's crossdata stage and promotion read them.
    source, held_out = root / params.data.iot23_dir, params.monitor.holdout_scenarios
    if all((source / f"{name}-labeled.csv").is_file() for name in held_out):
        (paths.root / params.data.iot23_dir).mkdir(parents=True, exist_ok=True)
        for name in held_out:
            shutil.copy2(source / f"{name}-labeled.csv", paths.root / params.data.iot23_dir)
    ensure_champion(params.promotion, params.monitor, paths)
    return params, paths


def _inbox(params: Params, paths: Paths) -> Path:
    return paths.root / params.monitor.inbox


def test_a_batch_is_validated_scored_and_reported(monitored, train_frame) -> None:
    params, paths = monitored
    batch = train_frame.sample(1500, random_state=11)
    lines = to_kdd_lines(batch)
    fields = lines[10].split(",")
    lines[10] = ",".join([fields[0], "tcpx", *fields[2:]])  # a protocol that does not exist
    lines[20] = ",".join(lines[20].split(",")[:-3])  # too few fields
    (_inbox(params, paths)).mkdir(parents=True, exist_ok=True)
    (_inbox(params, paths) / "a-like-training.csv").write_text("\n".join(lines) + "\n")

    outcome = monitor.run(params, paths)
    assert outcome is not None and outcome.status == "scored", outcome.reason
    assert (outcome.rows, outcome.quarantined) == (1498, 2)
    folder = monitor.batches_dir(params.monitor, paths) / "a-like-training"
    quarantine = pd.read_csv(folder / "quarantine.csv")
    assert list(quarantine["line"]) == [11, 21]
    assert quarantine["field"].tolist()[0] == "protocol_type"
    assert "unknown value: 'tcpx'" in quarantine["reason"].tolist()[0]
    predictions = pd.read_csv(folder / "predictions.csv")
    assert len(predictions) == 1498 and {"category", "attack", "decided_by"} <= set(predictions)
    assert not outcome.fired, outcome.drift["reasons"]
    assert outcome.drift["accuracy"] > 0.9
    report = Path(outcome.report)
    assert report.is_file() and report.with_suffix(".json").is_file()
    workspace = paths.root / params.monitor.workspace
    assert any(workspace.rglob("*.json")), "the run was not added to the Evidently workspace"
    last = decisions.read(paths.root / params.promotion.decision_log)[-1]
    assert (last["kind"], last["verdict"], last["batch"]) == (
        "drift",
        "no drift",
        "a-like-training",
    )
    confirmed = params.data.confirmed_dir
    assert monitor.pending_confirmed(confirmed, params.monitor, paths) == ["a-like-training"]


def test_a_corrupt_batch_is_rejected_and_the_next_one_proceeds(monitored, test_frame) -> None:
    params, paths = monitored
    store = store_from_params(params.promotion, paths)
    version, before = store.current(), _digest(store.version_root(store.current()))
    (_inbox(params, paths) / "b1-corrupt.csv").write_bytes(b"\x00\x01 not a kdd file\n" * 50)
    write_batch(test_frame.sample(800, random_state=2), _inbox(params, paths), "b2-next", False)

    rejected = monitor.run(params, paths)
    assert rejected is not None and rejected.status == "rejected"
    assert "b1-corrupt" in rejected.reason
    corrupt = monitor.batches_dir(params.monitor, paths) / "b1-corrupt"
    assert monitor.read_status(corrupt)["status"] == "rejected"
    following = monitor.run(params, paths)
    assert following is not None and following.status == "scored" and not following.labelled
    assert following.drift["accuracy"] is None
    assert store.current() == version and _digest(store.version_root(version)) == before
    assert monitor.run(params, paths) is None  # inbox empty


def test_failed_training_leaves_the_champion_and_the_next_run_promotes_or_keeps(
    monitored, monkeypatch, tmp_path
) -> None:
    params, paths = monitored
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    monkeypatch.setenv("IOT_ANOMALY_PROGRESS", "0")
    from prefect.testing.utilities import prefect_test_harness

    from flows.training import training_flow

    def challenger(p: dict) -> None:
        p["orchestration"] |= {"task_runner": "thread", "retries": 0}
        p["train_rf"]["forest"]["n_estimators"] = 20  # a different challenger

    params = edit_params(paths.root / "params.yaml", challenger)
    store = store_from_params(params.promotion, paths)
    version = store.current()
    before = _digest(store.version_root(version))
    log = paths.root / params.promotion.decision_log
    real = pipeline.run_stage

    def killed(name: str, p: Params, where: Paths) -> dict:
        if name == "ensemble@corrected_flow":
            raise RuntimeError("training process killed")
        return real(name, p, where)

    with prefect_test_harness(server_startup_timeout=90):
        monkeypatch.setattr(pipeline, "run_stage", killed)
        with pytest.raises(RuntimeError, match="killed"):
            training_flow(root=str(paths.root), record_in_dvc=False, reason="test")
        assert store.current() == version and _digest(store.version_root(version)) == before
        failed = decisions.read(log)[-1]
        assert (failed["kind"], failed["verdict"]) == ("training", "failed")

        monkeypatch.setattr(pipeline, "run_stage", real)
        result = training_flow(root=str(paths.root), record_in_dvc=False, reason="retry")
    decision = result["decision"]
    assert decision["kind"] == "promotion" and decision["verdict"] in ("promoted", "rejected")
    assert decision["champion"] == version and decision["challenger"] != version
    assert store.current() == decision["now_serving"]
    assert decision["evaluation_rows"] > 0
    assert set(decision["champion_figures"]) == {
        "accuracy",
        "binary_f1",
        "attack_recall",
        "macro_f1",
        "kdd_cost",
    }


def test_promote_without_a_new_model_changes_nothing(monitored) -> None:
    params, paths = monitored
    registry.register(params, paths)
    store = store_from_params(params.promotion, paths)
    entry = promote.run(params, paths, "manual")
    assert entry["verdict"] in ("unchanged", "promoted", "rejected")
    assert store.current() is not None
    # When and from which commit the champion came: the store's record, not the registry's.
    assert {"stored_at", "git_commit", "promoted_at"} <= set(store.stored(store.current()))


def test_the_dask_task_runner_runs_a_wave(monitored, monkeypatch, tmp_path) -> None:
    params, paths = monitored
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.testing.utilities import prefect_test_harness

    from flows.common import task_runner
    from flows.training import run_wave

    runner = task_runner(params.orchestration.model_copy(update={"task_runner": "dask"}))
    assert type(runner).__name__ == "DaskTaskRunner"
    with prefect_test_harness(server_startup_timeout=90):
        results = run_wave.with_options(task_runner=runner)(
            ["train_knn@paper", "train_rf@paper"], "params.yaml", str(paths.root)
        )
    assert set(results) == {"train_knn@paper", "train_rf@paper"}
    assert (paths.model_dir("paper", "rf") / "model.joblib").is_file()


def test_predict_serves_the_promoted_champion(monitored, test_lines, tmp_path) -> None:
    from typer.testing import CliRunner

    from iot_anomaly.cli import app

    params, paths = monitored
    store = store_from_params(params.promotion, paths)
    traffic = tmp_path / "traffic.csv"
    traffic.write_text("\n".join(test_lines[:300]) + "\n")
    out = tmp_path / "predictions.csv"
    result = CliRunner().invoke(
        app,
        ["predict", "-i", str(traffic), "-o", str(out), "--root", str(paths.root),
         "--params", str(paths.root / "params.yaml")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"champion {store.current()}" in " ".join(result.output.split())
    assert len(pd.read_csv(out)) == 300


def test_ingested_traffic_is_scored_on_the_flow_features_and_joins_as_records(
    monitored, root, tmp_path
) -> None:
    from iot_anomaly.config import CONFIRMED
    from iot_anomaly.monitoring.replay import cut_in_order, write_records_batch
    from iot_anomaly.stages.validate import CONFIRMED_TRAFFIC, validate_data
    from iot_anomaly.traffic.ingest import ingest

    params, paths = monitored
    source = root / params.data.iot23_dir / "CTU-Malware-Capture-44-1-labeled.csv"
    if not source.is_file():
        pytest.skip(f"{source} is missing: run `dvc pull data.dvc`")
    records = ingest([source], params.ingest).records
    batch = next(cut_in_order(records, 200))
    write_records_batch(batch, _inbox(params, paths), "c-iot23")

    outcome = monitor.run(params, paths)
    assert outcome is not None and outcome.status == "scored", outcome.reason
    assert (outcome.kind, outcome.rows, outcome.labelled) == ("records", 200, True)
    folder = monitor.batches_dir(params.monitor, paths) / "c-iot23"
    predictions = pd.read_csv(folder / "predictions.csv")
    assert list(predictions["uid"]) == list(batch["uid"])  # provenance kept, in order
    summary = outcome.drift
    # Only the features the flow champion reads are compared with its training rows.
    assert summary["columns"] == len(monitor.champion_features(
        store_from_params(params.promotion, paths).load()))  # fmt: skip
    low, high = summary["accuracy_interval"]
    assert low <= summary["accuracy"] <= high and summary["rows"] == 200
    holdout = store_from_params(params.promotion, paths).version_root(outcome.champion)
    assert summary["reference_accuracy"] == pytest.approx(
        __import__("json").loads((holdout / monitor.HOLDOUT).read_text())["accuracy"]
    )
    entry = decisions.read(paths.root / params.promotion.decision_log)[-1]
    assert entry["batch"] == "c-iot23" and entry["accuracy_interval"] == [low, high]

    # Confirmed, the batch joins the training data as records; validate reads them back.
    confirmed = params.data.confirmed_dir
    assert "c-iot23" in monitor.pending_confirmed(confirmed, params.monitor, paths)
    (written,) = monitor.join_confirmed(confirmed, params.monitor, paths, ["c-iot23"])
    assert written.read_text().startswith("ts,uid,")
    results = validate_data(
        params.data, params.validation, paths, traffic_suites=params.monitor.suites.unlabelled
    )
    assert [r.name for r in results][-1] == CONFIRMED_TRAFFIC and results[-1].success
    clean = pd.read_parquet(paths.clean(CONFIRMED))
    assert len(clean) == 200 and set(clean["category"]) <= {"normal", "r2l", "dos"}
    assert (clean[list(schema.CONTENT_FEATURES)] == 0).all().all()
    written.unlink()


def test_a_capture_dropped_in_the_inbox_is_ingested_and_scored(monitored, root) -> None:
    params, paths = monitored
    capture = root / params.data.captures_dir / "ndpi_mqtt.pcap"
    if not capture.is_file():
        pytest.skip(f"{capture} is missing: run `dvc pull data.dvc`")
    _inbox(params, paths).mkdir(parents=True, exist_ok=True)
    shutil.copy2(capture, _inbox(params, paths) / capture.name)
    outcome = monitor.run(params, paths)
    assert outcome is not None and outcome.status == "scored", outcome.reason
    assert (outcome.kind, outcome.labelled) == ("traffic", False) and outcome.rows > 0
    folder = monitor.batches_dir(params.monitor, paths) / outcome.batch
    predictions = pd.read_csv(folder / "predictions.csv")
    assert len(predictions) == outcome.rows and {"src_ip", "dst_port"} <= set(predictions)
    assert outcome.drift["accuracy"] is None and outcome.drift["accuracy_interval"] is None
