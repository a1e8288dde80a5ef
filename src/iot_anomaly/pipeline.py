"""The pipeline of `dvc.yaml` as waves of independent stages, each stage name mapped to the
function its DVC command runs, and DVC commands serialised per workspace.

`dvc.yaml` is the one description of the pipeline's shape: the waves come from DVC's own
stage graph, so a stage added there is run by the training flow too. The training flow runs
a wave's stale stages concurrently, then records their outputs with `dvc commit`, so a flow
run and `dvc repro` leave the same artifacts and `dvc.lock`.
"""

from __future__ import annotations

import fcntl
import json
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from iot_anomaly.config import Paths

STAGE_FUNCTIONS: dict[str, str] = {
    "validate": "iot_anomaly.stages.validate:run",
    "preprocess": "iot_anomaly.stages.preprocess:run",
    "train": "iot_anomaly.stages.train:run",
    "crossdata": "iot_anomaly.stages.crossdata:run",
    "evaluate": "iot_anomaly.stages.evaluate:run",
    "register": "iot_anomaly.registry:register",
    "report": "iot_anomaly.stages.report:run",
    "docs": "iot_anomaly.review.docs:run",
}
"""The function (`module:name`) each kind of stage runs (every `train_<model>` and `ensemble`
stage runs `stages.train`); a test checks each stage's `dvc.yaml` deps against the code these
modules import."""


def stage_module(kind: str) -> str:
    """The module of the function a kind of stage runs."""
    if kind not in STAGE_FUNCTIONS:
        raise ValueError(f"unknown stage kind {kind!r}; expected one of {sorted(STAGE_FUNCTIONS)}")
    return STAGE_FUNCTIONS[kind].partition(":")[0]


def stage_kind(name: str) -> str:
    """`train` for a model's stage (`train_ae@paper`, `ensemble@corrected`), else the name
    without its matrix item."""
    from iot_anomaly.models import catalog

    base = name.partition("@")[0]
    return "train" if base in {m.stage for m in catalog.MODELS} else base


@contextmanager
def _repo(root: Path) -> Iterator[Any]:
    """DVC's view of root's dvc.yaml (no git or DVC cache needed), under the workspace lock."""
    from dvc.repo import Repo

    if not (root / "dvc.yaml").is_file():
        raise FileNotFoundError(f"{root / 'dvc.yaml'}: no pipeline to run")
    with workspace_lock(root), Repo(str(root), uninitialized=True) as repo:
        yield repo


def waves(root: Path) -> list[list[str]]:
    """The stages of `root`'s dvc.yaml in dependency order, as DVC's stage graph gives them;
    the stages within a wave do not depend on each other and may run at the same time."""
    import networkx as nx

    with _repo(root) as repo:
        graph = repo.index.graph  # edges run from a stage to the stages it depends on
        return [
            sorted(s.name for s in generation if s.cmd)
            for generation in nx.topological_generations(graph.reverse())
            if any(s.cmd for s in generation)
        ]


def _runner(kind: str) -> Callable[..., Any]:
    from importlib import import_module

    module = import_module(stage_module(kind))
    return getattr(module, STAGE_FUNCTIONS[kind].partition(":")[2])


def run_stage(name: str, params: Any, paths: Paths) -> Any:
    """Run one stage's function, as its `iot-anomaly` command would."""
    from iot_anomaly.models import catalog

    kind = stage_kind(name)
    if kind != "train":
        return _runner(kind)(params, paths)
    base, _, protocol = name.partition("@")
    model = next(m.name for m in catalog.MODELS if m.stage == base)
    if not protocol:
        raise ValueError(f"stage {name!r} names no protocol (train_<model>@<protocol>)")
    return _runner(kind)(params, paths, model, protocol)


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
    """Run one DVC command in the workspace under its lock; return its output. (Its errors are
    only printed without `--quiet`: the message of a failure carries them.)"""
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
    with _repo(root) as repo:
        return [
            str(out.def_path) for stage in repo.index.stages for out in stage.outs
            if stage.cmd and not out.use_cache
        ]  # fmt: skip


def local_remote(root: Path) -> Path | None:
    """The default DVC remote's folder when it lies inside the project (`dvc-remote/`, which
    git versions beside `data.dvc`, so that a clone of a commit can pull every data version
    it names); None for a remote elsewhere or none."""
    from dvc.repo import Repo

    with workspace_lock(root), Repo(str(root), uninitialized=True) as repo:
        name = repo.config["core"].get("remote")
        url = repo.config["remote"].get(name, {}).get("url") if name else None
    if not url or "://" in str(url):
        return None
    folder = Path(url).resolve()
    return folder if folder.is_relative_to(root.resolve()) else None
