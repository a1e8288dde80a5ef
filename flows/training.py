"""The training flow: validate → preprocess, then record the outputs with DVC.

Tasks call the same stage functions as the DVC stages (`iot_anomaly.stages`), so a flow run
and `dvc repro` produce the same artifacts; `dvc commit` then records what the flow made in
`dvc.lock`, one DVC command per workspace at a time. Run it from the project root:

    python -m flows.training
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from prefect import flow, task

from iot_anomaly.config import Paths, load_params
from iot_anomaly.stages import preprocess, validate


@task(name="validate")
def validate_task(params_file: Path, root: Path) -> dict[str, Any]:
    results = validate.run(load_params(params_file), Paths(root))
    return {r.name: r.summary() for r in results}


@task(name="preprocess")
def preprocess_task(params_file: Path, root: Path) -> dict[str, Any]:
    return preprocess.run(load_params(params_file), Paths(root))


@task(name="dvc-commit", retries=2, retry_delay_seconds=5)
def dvc_commit_task(root: Path) -> str:
    """Record the stage outputs the flow wrote in dvc.lock and the DVC cache."""
    done = subprocess.run(
        ["dvc", "commit", "--force", "--quiet"], cwd=root, capture_output=True, text=True
    )
    if done.returncode:
        raise RuntimeError(f"dvc commit failed in {root}: {done.stderr.strip()}")
    return "committed"


@flow(name="training", log_prints=True)
def training_flow(
    params_file: str = "params.yaml", root: str = ".", record_in_dvc: bool = True
) -> dict[str, Any]:
    """Validate and preprocess the data; a failed validation stops the flow before training."""
    root_path = Path(root)
    params_path = root_path / params_file
    validation = validate_task(params_path, root_path)
    splits = preprocess_task(params_path, root_path, wait_for=[validation])
    if record_in_dvc:
        dvc_commit_task(root_path, wait_for=[splits])
    return {"validation": validation, "splits": splits}


if __name__ == "__main__":
    training_flow()
