"""The pipeline of `dvc.yaml` as waves of independent stages, each stage name mapped to the
function its DVC command runs, and DVC commands serialised per workspace.

The training flow runs a wave's stale stages concurrently, then records their outputs
with `dvc commit`, so a flow run and `dvc repro` leave the same artifacts and `dvc.lock`.
"""

from __future__ import annotations

import fcntl
import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from iot_anomaly.config import Paths

TRAINED = ("ae", "gan", "cnn_lstm", "knn", "rf")  # one `train_<model>` stage each


def waves(protocols: list[str]) -> list[list[str]]:
    """Stage names in dependency order; the stages within a wave do not depend on each
    other and may run at the same time."""
    return [
        ["validate"],
        ["preprocess"],
        [f"train_{m}@{p}" for p in protocols for m in TRAINED],
        [f"ensemble@{p}" for p in protocols],
        ["evaluate"],
        ["register"],
        ["report"],
    ]


def run_stage(name: str, params: dict[str, Any], paths: Paths) -> dict[str, Any]:
    """Run one stage's function, as its `iot-anomaly` command would."""
    from iot_anomaly import champion
    from iot_anomaly.stages import evaluate, preprocess, report, train, validate

    base, _, protocol = name.partition("@")
    if base == "validate":
        return {r.name: r.summary() for r in validate.run(params, paths)}
    if base == "preprocess":
        return preprocess.run(params, paths)
    if base == "evaluate":
        evaluate.run(params, paths)
        return {"metrics": str(paths.reports / "metrics.json")}
    if base == "register":
        return champion.register(params, paths)
    if base == "report":
        return report.run(params, paths)
    model = base.removeprefix("train_")
    if model not in (*TRAINED, "ensemble") or not protocol:
        raise ValueError(f"unknown stage {name!r}")
    return train.run(params, paths, model, protocol)


class DvcError(RuntimeError):
    """A DVC command failed; the message has the command and DVC's own error."""


@contextmanager
def workspace_lock(root: Path) -> Iterator[None]:
    """Hold the workspace's lock: one DVC command (or data change) at a time, whichever
    process or flow run asks."""
    lock_file = root / ".dvc" / "tmp" / "iot-anomaly.lock"
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def dvc(root: Path, *args: str) -> str:
    """Run one DVC command in the workspace under its lock; return its output."""
    with workspace_lock(root):
        done = subprocess.run(["dvc", *args], cwd=root, capture_output=True, text=True)
    if done.returncode:
        raise DvcError(f"`dvc {' '.join(args)}` failed in {root}: {done.stderr.strip()}")
    return done.stdout


def stale(root: Path, stages: list[str]) -> list[str]:
    """The stages whose deps, params or outputs changed since `dvc.lock` (or never ran)."""
    changed = json.loads(dvc(root, "status", "--json", *stages) or "{}")
    return [s for s in stages if s in changed]


def git_tracked_outputs(root: Path) -> list[str]:
    """Outputs that dvc.yaml keeps out of the DVC cache (`cache: false`): metrics, reports
    and the registry file, which git versions beside dvc.lock."""
    import yaml

    found = []
    for stage in yaml.safe_load((root / "dvc.yaml").read_text())["stages"].values():
        for key in ("outs", "metrics", "plots"):
            for entry in stage.get(key, []):
                if isinstance(entry, dict):
                    found += [path for path, opts in entry.items() if opts.get("cache") is False]
    return found
