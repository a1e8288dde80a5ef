"""The monitoring flow: the next inbox batches → validate → score with the champion →
Evidently drift report → drift decision → (if it fired for any batch of the run) start the
training deployment once, with the reason and the confirmed batches, without waiting for it.

Not waiting matters: a parent flow that waits on a child which the work pool cannot start
yet would deadlock; the training run is queued and its own concurrency limit keeps training
runs one at a time. Run it from the project root: `python -m flows.monitoring`, or as the
`monitoring` deployment of prefect.yaml.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from flows.common import project
from iot_anomaly.monitoring import decisions, runs
from iot_anomaly.stages import monitor

TRAINING_DEPLOYMENT = "training/training"


@task(name="process-batch")
def process_batch(params_file: str, root: str) -> dict[str, Any] | None:
    params, paths = project(root, params_file)
    outcome = monitor.run(params, paths)
    return None if outcome is None else outcome.__dict__


@task(name="start-retraining", retries=2, retry_delay_seconds=5)
def start_retraining(
    reason: str, batches: list[str], params_file: str, root: str, deployment: str
) -> str:
    """Queue a run of the training deployment and return its id (fire and forget)."""
    from prefect.deployments import run_deployment

    run = run_deployment(
        deployment,
        parameters={"reason": reason, "batches": batches, "params_file": params_file},
        timeout=0,
        tags=["retraining"],
    )
    return str(run.id)


@flow(name="monitoring", log_prints=True)
def monitoring_flow(
    params_file: str = "params.yaml",
    root: str = ".",
    max_batches: int = 1,
    retrain: bool = True,
    training_deployment: str = TRAINING_DEPLOYMENT,
) -> list[dict[str, Any]]:
    """Process up to `max_batches` inbox batches; start retraining when drift fires."""
    from prefect.runtime import flow_run

    params, paths = project(root, params_file)
    log = paths.root / params.promotion.decision_log
    runs_dir = paths.root / params.orchestration.runs_dir
    with runs.recorded_run(runs_dir, log, "monitoring", flow_run.id):
        return _monitor(params_file, paths.root, max_batches, retrain, training_deployment)


def _monitor(
    params_file: str, root: Path, max_batches: int, retrain: bool, training_deployment: str
) -> list[dict[str, Any]]:
    params, paths = project(str(root), params_file)
    log = paths.root / params.promotion.decision_log
    outcomes, fired = [], []
    for _ in range(max_batches):
        outcome = process_batch(params_file, str(paths.root))
        if outcome is None:
            print("inbox empty: nothing to do")
            break
        outcomes.append(outcome)
        if outcome["status"] != "scored":
            print(f"batch {outcome['batch']} rejected: {outcome['reason']}")
            continue
        summary = outcome["drift"]
        quality = (
            f"- accuracy {summary['accuracy']:.4f} (interval {summary['accuracy_interval'][0]:.4f}"
            f"-{summary['accuracy_interval'][1]:.4f}) vs the champion's "
            f"{summary['reference_accuracy']:.4f} on {summary['reference']}\n"
            if summary.get("accuracy_interval")
            else ""
        )
        create_markdown_artifact(
            key=re.sub(r"[^a-z0-9-]+", "-", f"drift-{outcome['batch']}".lower()),
            markdown=(
                f"## Batch {outcome['batch']}: {'DRIFT' if summary['fired'] else 'no drift'}\n\n"
                f"- {outcome['kind']} batch: rows {outcome['rows']:,}, "
                f"quarantined {outcome['quarantined']:,}\n"
                f"- drifted features {summary['drifted_columns']} of {summary['columns']}\n"
                f"- predicted attack share {outcome['attack_share']:.3f}\n"
                + quality
                + "".join(f"- fired: {r}\n" for r in summary["reasons"])
                + f"- report: `{outcome['report']}`\n"
            ),
        )
        if summary["fired"]:
            fired.append(outcome)
    if not fired:
        return outcomes
    # One retraining for the run, however many of its batches fired.
    first = fired[0]
    reason = f"drift in batch {first['batch']}: " + "; ".join(first["drift"]["reasons"])
    if len(fired) > 1:
        reason += f" (and {len(fired) - 1} more batch(es) of this run)"
    names = [o["batch"] for o in fired]
    batches = monitor.pending_confirmed(params.data.confirmed_dir, params.monitor, paths)
    if not retrain:
        decisions.record(
            log, "retrain", "not started", "retraining is switched off", batch=first["batch"],
            fired=names,
        )  # fmt: skip
        return outcomes
    run_id = start_retraining(reason, batches, params_file, str(paths.root), training_deployment)
    decisions.record(
        log,
        "retrain",
        "started",
        reason,
        batch=first["batch"],
        fired=names,
        batches=batches,
        training_run=run_id,
    )
    print(f"retraining started (flow run {run_id}): {reason}")
    return outcomes


if __name__ == "__main__":
    monitoring_flow()
