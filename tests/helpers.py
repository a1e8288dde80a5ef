"""Helpers shared by test modules."""

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from iot_anomaly.config import Params, Paths, load_params, parse_params
from iot_anomaly.params import dump_params


def small_project(dest: Path, root: Path, train: list[str], test: list[str]) -> Path:
    """A small project folder: two raw slices, the suites, the pipeline (dvc.yaml) and params
    without the size suite."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(root / "expectations", dest / "expectations")
    for name in ("params.yaml", "dvc.yaml"):
        shutil.copy2(root / name, dest / name)
    small_project_data(dest, train, test)
    return dest


def blank_row(**values: object) -> dict[str, object]:
    """A syntactically valid KDD row (all counts zero, a tcp/http/SF connection), with the
    given fields set: for building tiny frames by hand."""
    from iot_anomaly import schema

    row: dict[str, object] = {c: 0 for c in schema.FEATURES}
    row |= {"protocol_type": "tcp", "service": "http", "flag": "SF"}
    return row | values


def edit_params(path: Path, change: Callable[[dict[str, Any]], None]) -> Params:
    """Apply `change` to the params file at `path` (as plain values, keyed as in the file),
    check the result and write it back; return it."""
    values = dump_params(load_params(path))
    change(values)
    params = parse_params(values, path)
    path.write_text(yaml.safe_dump(dump_params(params), sort_keys=False))
    return params


def fast_params(project: Path, protocols: list[str] | None = None) -> Params:
    """Params for a quick run on slices: few epochs, small forests."""

    def quick(p: dict[str, Any]) -> None:
        if protocols is not None:
            p["preprocess"]["protocols"] = protocols
        p["train_ae"]["epochs"] = 4
        p["train_gan"]["profiles"]["ours"]["epochs"] = 4
        p["train_cnn_lstm"]["epochs"] = 4
        p["train_cnn_lstm"]["batch_size"] = 32  # enough SGD steps on a slice
        # A 99.5th percentile of ~900 normal rows is set by a handful of outliers.
        p["train_ae"]["threshold_percentile"] = 95
        p["train_gan"]["threshold_percentile"] = 95
        p["train_rf"]["forest"]["n_estimators"] = 30
        p["ensemble"]["forest"]["n_estimators"] = 30
        p["ensemble"]["min_conflicts"] = 5
        p["evaluate"]["permutation_rows"] = 500
        p["evaluate"]["permutation_repeats"] = 1
        p["monitor"]["reference_rows"] = 2000

    return edit_params(project / "params.yaml", quick)


def tool_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a command of the project's environment: this interpreter's bin
    folder first on PATH (dvc, prefect, iot-anomaly), no telemetry, a git identity for
    commits; `extra` on top (a PREFECT_HOME, a server URL, run-time settings)."""
    return os.environ | {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DO_NOT_TRACK": "1",
        "DVC_NO_ANALYTICS": "1",
        "GX_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
    } | dict(extra or {})  # fmt: skip


def run_tool(args: list[str], cwd: Path, env: Mapping[str, str] | None = None) -> str:
    """Run a command in `tool_env(env)` (dvc, git, prefect, this interpreter); fail with its
    output unless it succeeds; return what it printed."""
    done = subprocess.run(
        args, cwd=cwd, env=tool_env(env), capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def copy_tracked(root: Path, dest: Path, skip: tuple[str, ...] = ()) -> None:
    """Copy what a fresh clone of `root` would hold (the files git tracks or would track),
    leaving out paths that start with one of `skip`."""
    listed = run_tool(["git", "ls-files", "--cached", "--others", "--exclude-standard"], root)
    for name in listed.split():
        if not name.startswith(skip) and (root / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / name, dest / name)


def dvc_project(dest: Path, root: Path, train: list[str], test: list[str]) -> Path:
    """A git + DVC repository like a fresh clone (code, dvc.yaml, prefect.yaml, suites), with
    two raw slices as its data, fast params and its own empty DVC remote."""
    skip = ("dvc-remote/", "data.dvc", "dvc.lock", "tests/", "bench/", "artifacts/", "reports/")
    copy_tracked(root, dest, skip)
    # The reports a person refreshes by hand (seed studies, the peer benchmark) are in every
    # clone and the docs stage reads them; the pipeline writes the rest anew.
    (dest / "reports").mkdir(exist_ok=True)
    for report in [*root.glob("reports/seed_study_*.json"), root / "reports" / "bench"]:
        copy = shutil.copytree if report.is_dir() else shutil.copy2
        copy(report, dest / report.relative_to(root))
    (dest / "dvc-remote").mkdir()
    small_project_data(dest, train, test)
    fast_params(dest)
    run_tool(["git", "init", "-q", "-b", "main"], dest)
    run_tool(["dvc", "add", "-q", "data"], dest)
    run_tool(["dvc", "push", "-q", "data.dvc"], dest)
    run_tool(["git", "add", "-A"], dest)
    run_tool(["git", "commit", "-qm", "snapshot"], dest)
    return dest


def small_project_data(dest: Path, train: list[str], test: list[str]) -> None:
    """Raw slices as the project's data files, and params pointing at them."""
    (dest / "data").mkdir(parents=True, exist_ok=True)
    (dest / "data" / "train.csv").write_text("\n".join(train) + "\n")
    (dest / "data" / "test.csv").write_text("\n".join(test) + "\n")

    def slices(p: dict[str, Any]) -> None:
        p["data"] |= {"train_file": "data/train.csv", "test_file": "data/test.csv"}
        # Row-count and class-share bounds are for the whole 10% file, not a slice.
        suites = p["validate"]["suites"]
        suites["train"] = [s for s in suites["train"] if "training" not in s]

    edit_params(dest / "params.yaml", slices)


def registered_copy(source: Paths, dest: Path) -> tuple[Params, Paths]:
    """A copy of a trained project at `dest`, its model registered; returns its params and
    paths (tests that write monitoring state work on a copy of the shared project)."""
    from iot_anomaly.registry import register

    shutil.copytree(source.root, dest)
    paths = Paths(dest)
    params = load_params(dest / "params.yaml")
    register(params, paths)
    return params, paths
