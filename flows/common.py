"""What both flows share: the project's params and paths, the task runner from params."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from iot_anomaly.config import Params, Paths, load_params
from iot_anomaly.params import OrchestrationParams


def project(root: str, params_file: str) -> tuple[Params, Paths]:
    """Params and paths of the project at `root` (the flow's working directory)."""
    root_path = Path(root).resolve()
    return load_params(root_path / params_file), Paths(root_path)


def task_runner(cfg: OrchestrationParams) -> Any:
    """The task runner named in params `orchestration`: process (default), thread or dask."""
    from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner

    kind = cfg.task_runner
    if kind == "process":
        return ProcessPoolTaskRunner(max_workers=cfg.max_workers)
    if kind == "thread":
        return ThreadPoolTaskRunner(max_workers=cfg.max_workers)
    if kind == "dask":
        from prefect_dask import DaskTaskRunner

        dask = cfg.dask
        if dask.address:
            return DaskTaskRunner(address=dask.address)
        return DaskTaskRunner(
            cluster_kwargs={
                "n_workers": dask.n_workers,
                "threads_per_worker": dask.threads_per_worker,
                "processes": True,
                "dashboard_address": None,
            }
        )
    raise ValueError(f"orchestration.task_runner: unknown runner {kind!r}")
