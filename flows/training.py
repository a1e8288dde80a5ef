"""The training flow: (join confirmed batches as a new data version) → validate →
preprocess → train every model (concurrently) → ensemble → evaluate → register →
challenger vs champion → promote or keep.

Each wave of independent stages runs through the task runner named in params; only the
stages DVC reports as stale run, and `dvc commit` records their outputs, so `dvc.lock`
says which data and params made every artifact. DVC commands go one at a time per
workspace. Run it from the project root: `python -m flows.training`, or as the `training`
deployment of prefect.yaml.
"""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows.common import project, task_runner
from iot_anomaly import pipeline
from iot_anomaly.monitoring import decisions, runs
from iot_anomaly.monitoring.store import ensure_champion
from iot_anomaly.stages import monitor, promote

REPORT = "report"  # the review site's stage kind


@task(name="stage")
def stage_task(name: str, params_file: str, root: str) -> dict[str, Any]:
    params, paths = project(root, params_file)
    return pipeline.run_stage(name, params, paths)


@flow(name="training-wave")
def run_wave(stages: list[str], params_file: str, root: str) -> dict[str, Any]:
    """Run one wave's stages at once on the flow's task runner."""
    futures = {
        s: stage_task.with_options(task_run_name=s).submit(s, params_file, root) for s in stages
    }
    return {s: f.result() for s, f in futures.items()}


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)


def _git_commit(root: Path, message: str) -> str | None:
    """Commit data.dvc, dvc.lock, the metrics and reports git versions and the new objects of
    an in-project DVC remote (so a clone of the commit can pull its data), if they changed;
    return the new commit, or None when nothing changed or the project is not a git repo."""
    files = ["data.dvc", "dvc.lock"] + [
        f for f in pipeline.git_tracked_outputs(root) if (root / f).exists()
    ]
    remote = pipeline.local_remote(root)
    if remote is not None and remote.is_dir():
        files.append(str(remote.relative_to(root.resolve())))
    status = _git(root, "status", "--porcelain", "--", *files)
    if status.returncode or not status.stdout.strip():
        return None
    # A machine account without a git identity still gets its runs recorded.
    who = (
        []
        if _git(root, "config", "user.email").stdout.strip()
        else ["-c", "user.name=iot-anomaly flow", "-c", "user.email=iot-anomaly@localhost"]
    )
    _git(root, "add", "--", *files)
    done = _git(root, *who, "commit", "-q", "-m", message, "--", *files)
    if done.returncode:
        raise RuntimeError(f"git commit failed in {root}: {done.stderr.strip()}")
    return _git(root, "rev-parse", "--short", "HEAD").stdout.strip()


def _publish(decision_log: Path, root: Path, decision: dict[str, Any]) -> None:
    """Prefect artifacts: the ensemble's figures per protocol and where the reports are
    (`decision_log`: params `promotion.decision_log`)."""
    import json

    from iot_anomaly.evaluation import crossdata

    metrics_file = root / "reports" / "metrics.json"
    if metrics_file.is_file():
        metrics = json.loads(metrics_file.read_text())
        rows = [
            {
                "protocol": protocol,
                "model": model,
                "accuracy": round(m["binary"]["accuracy"], 5),
                "binary F1": round(m["binary"]["f1"], 5),
                "5-class macro F1": round(m.get("multiclass", {}).get("macro_f1", float("nan")), 5),
            }
            for protocol, models in metrics.items()
            if protocol != crossdata.METRICS_KEY  # the IoT-23 table is not a protocol
            for model, m in models.items()
            if "binary" in m
        ]
        create_table_artifact(
            rows,
            key="metrics",
            description="Binary (attack = positive) "
            "and 5-class macro figures on each protocol's test rows",
        )
    log = root / decision_log
    create_markdown_artifact(
        key="training-reports",
        markdown=(
            f"## Promotion: {decision['verdict']}\n\n{decision['reason']}\n\n"
            f"- Decision log: `{log.with_suffix('.html')}`\n"
            f"- Metrics: `{metrics_file}`\n"
            f"- Paper comparison: `{root / 'reports' / 'comparison.md'}`\n"
            f"- Data validation: `{root / 'reports' / 'validation' / 'index.html'}`\n"
        ),
    )


def _flow_run_id() -> str | None:
    """This run's id in Prefect (None when run without one)."""
    from prefect.runtime import flow_run

    return flow_run.id


@flow(name="training", log_prints=True)
def training_flow(
    params_file: str = "params.yaml",
    root: str = ".",
    reason: str = "scheduled",
    batches: list[str] | None = None,
    record_in_dvc: bool = True,
) -> dict[str, Any]:
    """Retrain what changed and promote the result if it is not worse than the champion."""
    params, paths = project(root, params_file)
    log = paths.root / params.promotion.decision_log
    runs_dir = paths.root / params.orchestration.runs_dir
    with runs.recorded_run(runs_dir, log, "training", _flow_run_id(), trigger=reason):
        return _train(params_file, paths.root, reason, batches or [], record_in_dvc)


def _train(
    params_file: str, root: Path, reason: str, batches: list[str], record_in_dvc: bool
) -> dict[str, Any]:
    params, paths = project(str(root), params_file)
    log = paths.root / params.promotion.decision_log
    orchestration = params.orchestration
    stage = stage_task.with_options(
        retries=orchestration.retries, retry_delay_seconds=orchestration.retry_delay_s
    )
    site: list[str] = []  # the review site's stage: rebuilt after the promotion decision
    try:
        with contextlib.suppress(FileNotFoundError):  # nothing trained yet: nothing to keep
            # keep the model in use before anything changes
            ensure_champion(params.promotion, params.monitor, paths)
        # validate depends on the folder, which holds nothing (and DVC keeps no empty folder)
        # until the first batch joins
        (paths.root / params.data.confirmed_dir).mkdir(parents=True, exist_ok=True)
        if batches:
            monitor.join_confirmed(params.data.confirmed_dir, params.monitor, paths, batches)
            pipeline.dvc(paths.root, "add", str(params.data.dir))
            pipeline.dvc(paths.root, "push", f"{params.data.dir}.dvc")
            decisions.record(
                log,
                "training",
                "data joined",
                f"{len(batches)} confirmed batch(es) joined the training data",
                batches=batches,
                trigger=reason,
            )
        ran: dict[str, Any] = {}
        runner = task_runner(params.orchestration)
        for wave in pipeline.waves(paths.root):
            site += [s for s in wave if pipeline.stage_kind(s) == REPORT]
            wave = [s for s in wave if pipeline.stage_kind(s) != REPORT]
            todo = pipeline.stale(paths.root, wave) if record_in_dvc and wave else wave
            if not todo:
                continue
            print(f"running {len(todo)} stage(s): {', '.join(todo)}")
            if len(todo) == 1:
                ran[todo[0]] = stage(todo[0], params_file, str(paths.root))
            else:
                ran |= run_wave.with_options(task_runner=runner)(todo, params_file, str(paths.root))
            if record_in_dvc:
                pipeline.dvc(paths.root, "commit", "--force", *todo)
        decision = promote.run(params, paths, reason)
    except Exception as err:
        decisions.record(
            log,
            "training",
            "failed",
            f"{type(err).__name__}: {err}",
            trigger=reason,
            note="the champion was not changed",
        )
        raise
    # The site is built after the decision, so it shows the promotion just decided.
    stale_site = pipeline.stale(paths.root, site) if record_in_dvc and site else []
    for name in site:
        ran[name] = stage(name, params_file, str(paths.root))
    if stale_site:
        pipeline.dvc(paths.root, "commit", "--force", *stale_site)
    commit = None
    if record_in_dvc and orchestration.git_commit:
        commit = _git_commit(
            paths.root,
            f"Training run ({reason}): {decision['verdict']} "
            f"{decision.get('challenger') or decision.get('version')}"
            + (f"; data joined: {', '.join(batches)}" if batches else ""),
        )
    _publish(params.promotion.decision_log, paths.root, decision)
    print(f"{decision['verdict']}: {decision['reason']}")
    return {"stages": sorted(ran), "decision": decision, "git_commit": commit}


if __name__ == "__main__":
    training_flow()
