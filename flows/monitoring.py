"""The monitoring flow: the next inbox batch → validate → score with the champion → Evidently
drift report → drift decision → (if it fires) start the training deployment with the reason
and the confirmed batches that caused it, without waiting for it.

Not waiting matters: a parent flow that waits on a child which the work pool cannot start
yet would deadlock; the training run is queued and its own concurrency limit keeps training
runs one at a time. Run it from the project root: `python -m flows.monitoring`, or as the
`monitoring` deployment of prefect.yaml.
"""

from __future__ import annotations

import re
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from flows.common import project
from iot_anomaly.monitoring import decisions
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
    params, paths = project(root, params_file)
    log = paths.root / params.promotion.decision_log
    outcomes = []
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
        create_markdown_artifact(
            key=re.sub(r"[^a-z0-9-]+", "-", f"drift-{outcome['batch']}".lower()),
            markdown=(
                f"## Batch {outcome['batch']}: {'DRIFT' if summary['fired'] else 'no drift'}\n\n"
                f"- rows {outcome['rows']:,}, quarantined {outcome['quarantined']:,}\n"
                f"- drifted features {summary['drifted_columns']} of {summary['columns']}\n"
                f"- predicted attack share {outcome['attack_share']:.3f}\n"
                f"- report: `{outcome['report']}`\n"
            ),
        )
        if not summary["fired"]:
            continue
        reason = f"drift in batch {outcome['batch']}: " + "; ".join(summary["reasons"])
        batches = monitor.pending_confirmed(params.data.confirmed_dir, params.monitor, paths)
        if not retrain:
            decisions.record(
                log, "retrain", "not started", "retraining is switched off", batch=outcome["batch"]
            )
            continue
        run_id = start_retraining(
            reason, batches, params_file, str(paths.root), training_deployment
        )
        decisions.record(
            log,
            "retrain",
            "started",
            reason,
            batch=outcome["batch"],
            batches=batches,
            training_run=run_id,
        )
        print(f"retraining started (flow run {run_id}): {reason}")
    return outcomes


if __name__ == "__main__":
    monitoring_flow()
