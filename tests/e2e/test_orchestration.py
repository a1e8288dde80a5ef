"""End to end on a real Prefect server: deploy prefect.yaml to a process work pool, train,
then (a) a batch like the training data: no drift, no retraining; (b) a batch from
corrected.gz rich in unseen attacks: drift, the monitoring run starts the training
deployment, which joins the confirmed batch as a new data version, retrains, and logs the
promotion decision. Every process the test starts is stopped (worker before server). The
loop on real IoT traffic is tests/e2e/test_real_traffic_loop.py."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from iot_anomaly.config import Paths, load_params
from iot_anomaly.monitoring import decisions
from iot_anomaly.monitoring.promotion import replay_rows
from iot_anomaly.monitoring.replay import cut_batches, write_batch
from iot_anomaly.monitoring.store import store_from_params
from tests.conftest import read_lines
from tests.helpers import dvc_project, run_tool, tool_env

# Three flow runs on a real server: about 5 minutes on 2 cores, so a longer limit than the rest.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


IOT23 = Path(__file__).resolve().parents[2] / "data" / "iot23"


def iot23_slices(dest: Path, whole: list[str], cut: dict[str, int] | None = None) -> None:
    """IoT-23 scenarios for a project's data folder (CSV format): those in `whole` entire,
    those in `cut` cut to their first connections (header kept)."""
    if not IOT23.is_dir():
        pytest.skip(f"{IOT23} is missing: run `dvc pull data.dvc`")
    dest.mkdir(parents=True)
    for name in whole:
        shutil.copy2(IOT23 / f"{name}-labeled.csv", dest)
    for name, rows in (cut or {}).items():
        lines = (IOT23 / f"{name}-labeled.csv").read_text().splitlines()[: rows + 1]
        (dest / f"{name}-labeled.csv").write_text("\n".join(lines) + "\n")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen, name: str) -> None:
    """SIGTERM the process group, wait, and only then force it."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextmanager
def deployed(project: Path, base: Path) -> Iterator[dict]:
    """The project deployed on its own Prefect server (own PREFECT_HOME and SQLite under
    `base`), schedules paused (tests start the runs), one worker; stops the worker, then the
    server."""
    url = f"http://127.0.0.1:{_free_port()}/api"
    env = tool_env(
        {
            "PREFECT_HOME": str(base / "prefect"),
            "PREFECT_API_URL": url,
            "IOT_ANOMALY_PROGRESS": "0",  # no progress bars in the worker's log
        }
    )
    started: list[tuple[subprocess.Popen, str]] = []
    logs = base / "logs"
    logs.mkdir()

    def spawn(args: list[str], name: str) -> None:
        out = (logs / f"{name}.log").open("w")
        process = subprocess.Popen(
            args, cwd=project, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        started.append((process, name))

    try:
        port = url.split(":")[2].split("/")[0]
        spawn(["prefect", "server", "start", "--host", "127.0.0.1", "--port", port], "server")
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"server did not start: {(logs / 'server.log').read_text()}")
                time.sleep(0.5)
        for args in (
            ["work-pool", "create", "iot-anomaly", "--type", "process"],
            ["work-pool", "set-concurrency-limit", "iot-anomaly", "2"],
            ["deploy", "--all", "--no-prompt"],
            # The test drives the runs itself; the schedules stay declared but paused.
            ["--no-prompt", "deployment", "schedule", "pause", "--all"],
        ):
            run_tool(["prefect", *args], project, env)
        _delete_scheduled_runs(url)
        spawn(["prefect", "worker", "start", "--pool", "iot-anomaly"], "worker")
        yield {"project": project, "url": url, "logs": logs, "env": env}
    finally:
        for process, name in reversed(started):  # the worker before the server
            _stop(process, name)


@pytest.fixture(scope="module")
def orchestrated(tmp_path_factory, root, train_path, test_path) -> Iterator[dict]:
    """A project copy deployed on its own Prefect server."""
    base = tmp_path_factory.mktemp("orchestration")
    # The held-out IoT-23 scenarios: promotion also compares the models on them.
    held_out = load_params(root / "params.yaml").monitor.holdout_scenarios
    iot23_slices(base / "project" / "data" / "iot23", held_out)
    project = dvc_project(
        base / "project", root, read_lines(train_path, 5000, 97), read_lines(test_path, 3000, 101)
    )
    with deployed(project, base) as deployment:
        yield deployment


def _client(url: str):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: url}):
        return get_client(sync_client=True)


def _delete_scheduled_runs(url: str) -> None:
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateName,
    )

    with _client(url) as client:
        waiting = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(name=FlowRunFilterStateName(any_=["Scheduled"]))
            )
        )
        for run in waiting:
            client.delete_flow_run(run.id)


def _run(url: str, deployment: str, logs: Path, timeout: float = 900, **parameters) -> object:
    """Start a run of a deployment and wait for its final state."""
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: url}):
        run = run_deployment(deployment, parameters=parameters, timeout=timeout)
    assert run.state is not None and run.state.is_completed(), (
        f"{deployment}: {run.state}\n{(logs / 'worker.log').read_text()[-6000:]}"
    )
    return run


def _wait(url: str, run_id: str, logs: Path, timeout: float = 900) -> object:
    deadline = time.monotonic() + timeout
    with _client(url) as client:
        while True:
            run = client.read_flow_run(run_id)
            if run.state is not None and run.state.is_final():
                break
            assert time.monotonic() < deadline, f"run {run_id} still {run.state}"
            time.sleep(2)
    assert run.state.is_completed(), f"{run.state}\n{(logs / 'worker.log').read_text()[-6000:]}"
    return run


def _training_runs(url: str) -> list:
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    with _client(url) as client:
        return client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["training"])))


def test_drift_triggers_retraining_and_a_logged_promotion(
    orchestrated: dict, train_frame: pd.DataFrame, test_frame: pd.DataFrame
) -> None:
    project, url, logs = orchestrated["project"], orchestrated["url"], orchestrated["logs"]
    params = load_params(project / "params.yaml")
    log = project / params.promotion.decision_log
    inbox = project / params.monitor.inbox

    # The scheduled weekly training, run now: trains everything, the first champion.
    _run(url, "training/training", logs, reason="first training")
    store = store_from_params(params.promotion, Paths(project))
    first = store.current()
    assert first is not None
    assert decisions.read(log)[-1]["verdict"] == "promoted"

    # (a) traffic like the training data: no drift, no retraining.
    write_batch(train_frame.sample(2000, random_state=3), inbox, "b1-like-training")
    _run(url, "monitoring/monitoring", logs)
    entries = decisions.read(log)
    assert entries[-1]["kind"] == "drift" and entries[-1]["verdict"] == "no drift", entries[-1]
    assert not any(e["kind"] == "retrain" for e in entries)
    assert len(_training_runs(url)) == 1

    # (b) corrected.gz rich in attacks never seen in training: drift and retraining.
    replayable = replay_rows(params.monitor, test_frame)
    batch = next(cut_batches(replayable, 2000, seed=5, unseen_share=0.7))
    write_batch(batch, inbox, "b2-unseen-attacks")
    _run(url, "monitoring/monitoring", logs)
    entries = decisions.read(log)
    drift, retrain = entries[-2], entries[-1]
    assert drift["kind"] == "drift" and drift["verdict"] == "drift", drift
    assert retrain["kind"] == "retrain" and retrain["verdict"] == "started", retrain
    # Every labelled (analyst-confirmed) batch not yet in the training data joins it.
    assert retrain["batches"] == ["b1-like-training", "b2-unseen-attacks"]
    _wait(url, retrain["training_run"], logs)

    entries = decisions.read(log)
    promotion = entries[-1]
    assert promotion["kind"] == "promotion" and promotion["verdict"] in ("promoted", "rejected")
    assert promotion["trigger"].startswith("drift in batch b2-unseen-attacks")
    assert promotion["champion"] == first and promotion["challenger"] != first
    assert store.current() == (
        promotion["challenger"] if promotion["verdict"] == "promoted" else first
    )
    # The confirmed batch is a new, DVC-tracked data version, committed with the retrain.
    for name in retrain["batches"]:
        assert (project / "data" / "confirmed" / f"{name}.csv").is_file()
    history = run_tool(["git", "log", "--format=%s", "--", "data.dvc"], project)
    assert "data joined: b1-like-training, b2-unseen-attacks" in history.splitlines()[0]
    assert "up to date" in run_tool(["dvc", "status"], project)
    splits = json.loads((project / "reports" / "splits.json").read_text())
    assert splits["confirmed_rows"] == 4000
    assert (project / "reports" / "drift" / "b2-unseen-attacks.html").is_file()
