"""The monitoring step: take the next inbox batch, validate it, score it with the champion,
report drift against the champion's training rows, and decide whether to retrain.

Each batch gets a folder of its own (the file, quarantine, validation report, predictions,
status.json); a batch that cannot be read or fails a critical expectation is marked
rejected and never scored. The champion is only read here, never changed.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from iot_anomaly import schema
from iot_anomaly.config import Paths
from iot_anomaly.data import validation
from iot_anomaly.data.reader import KddFormatError, ParseResult, parse_kdd, write_quarantine
from iot_anomaly.io import write_json, write_parquet, write_text
from iot_anomaly.monitoring import decisions, drift
from iot_anomaly.monitoring.store import ChampionStore, ensure_champion
from iot_anomaly.params import MonitorParams, Params
from iot_anomaly.serving import labelled_metrics

STATUS = "status.json"
CLEAN = "clean.parquet"
PREDICTIONS = "predictions.csv"
REFERENCE_PREDICTIONS = "reference_predictions.parquet"


@dataclass
class BatchOutcome:
    """What happened to one batch; written as the batch's status.json."""

    batch: str
    source: str
    status: str  # processing | scored | rejected
    received_at: str
    champion: str | None = None
    rows: int = 0
    quarantined: int = 0
    labelled: bool = False
    reason: str = ""
    attack_share: float | None = None
    drift: dict[str, Any] | None = None
    report: str | None = None
    seconds: float | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def fired(self) -> bool:
        return bool(self.drift and self.drift["fired"])


def next_batch(inbox: Path) -> Path | None:
    """The oldest unprocessed batch: the first file in the inbox in name order."""
    if not inbox.is_dir():
        return None
    files = sorted(p for p in inbox.iterdir() if p.is_file() and not p.name.startswith("."))
    return files[0] if files else None


def batch_id(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".csv", ".txt", ".data"):
        name = name.removesuffix(suffix)
    return name


def batches_dir(monitor: MonitorParams, paths: Paths) -> Path:
    return paths.root / monitor.batches_dir


def read_status(folder: Path) -> dict[str, Any]:
    return json.loads((folder / STATUS).read_text())


def processed(monitor: MonitorParams, paths: Paths) -> list[dict[str, Any]]:
    """Status of every processed batch, oldest first."""
    root = batches_dir(monitor, paths)
    if not root.is_dir():
        return []
    found = [read_status(d) for d in sorted(root.iterdir()) if (d / STATUS).is_file()]
    return sorted(found, key=lambda s: s["received_at"])


def _claim(batch: Path, target: Path) -> Path:
    """Move the batch out of the inbox into its folder, so no other run takes it."""
    target.mkdir(parents=True, exist_ok=True)
    claimed = target / batch.name
    os.replace(batch, claimed)
    return claimed


def _reference(store: ChampionStore, version: str) -> tuple[pd.DataFrame, float]:
    """The champion's reference rows with its predictions (cached beside the version) and
    its 5-class accuracy on them."""
    reference = store.reference(version)
    cached = store.version_root(version) / REFERENCE_PREDICTIONS
    if cached.is_file():
        predicted = pd.read_parquet(cached)
    else:
        predicted = store.load(version).predict(reference)
        write_parquet(predicted, cached)
    accuracy = labelled_metrics(reference, predicted)["multiclass"]["accuracy"]
    return reference.assign(**{drift.PREDICTION: predicted["category"].to_numpy()}), accuracy


def _reject(outcome: BatchOutcome, folder: Path, log: Path, reason: str) -> BatchOutcome:
    outcome.status, outcome.reason = "rejected", reason
    write_json(outcome.__dict__, folder / STATUS)
    decisions.record(log, "batch", "rejected", reason, batch=outcome.batch)
    return outcome


def run(
    params: Params, paths: Paths, progress: Callable[[str], None] = lambda _: None
) -> BatchOutcome | None:
    """Process the next inbox batch (params groups `monitor` and `promotion`); None when the
    inbox is empty."""
    cfg = params.monitor
    log = paths.root / params.promotion.decision_log
    batch = next_batch(paths.root / cfg.inbox)
    if batch is None:
        return None
    # The champion first: without one the batch stays in the inbox for a later run.
    store, adopted = ensure_champion(params.promotion, cfg, paths)
    version = store.current()
    if version is None:  # ensure_champion either promoted one or raised
        raise RuntimeError(f"{store.current_file}: no champion after adoption")
    if adopted:
        decisions.record(
            log,
            "promotion",
            "promoted",
            "no champion yet: the pipeline's registered model becomes the first champion",
            version=version,
        )
    started = time.perf_counter()
    name = batch_id(batch)
    folder = batches_dir(cfg, paths) / name
    outcome = BatchOutcome(
        batch=name, source=batch.name, status="processing", received_at=decisions.now()
    )
    claimed = _claim(batch, folder)
    write_json(outcome.__dict__, folder / STATUS)

    progress(f"{name}: parsing")
    try:
        parsed: ParseResult = parse_kdd(claimed)
    except (KddFormatError, ValueError, OSError, EOFError, UnicodeDecodeError) as err:
        return _reject(outcome, folder, log, f"{claimed}: unreadable ({err})")
    write_quarantine(parsed, folder / "quarantine.csv")
    outcome.rows, outcome.quarantined = len(parsed.frame), parsed.n_quarantined
    outcome.labelled = parsed.has_label
    share = parsed.n_quarantined / max(parsed.lines_read, 1)
    if parsed.frame.empty or share > cfg.max_quarantined_share:
        return _reject(
            outcome,
            folder,
            log,
            f"{claimed}: {parsed.n_quarantined:,} of {parsed.lines_read:,} lines quarantined "
            f"(more than {cfg.max_quarantined_share:.0%}); see {folder / 'quarantine.csv'}",
        )
    outcome.timings["parse"] = time.perf_counter() - started

    progress(f"{name}: validating {len(parsed.frame):,} rows")
    suites = [validation.load_suite(paths.root / p) for p in cfg.suites.of(parsed.has_label)]
    result = validation.validate_dataset(
        name, str(claimed), parsed.frame, suites, parsed.n_quarantined
    )
    write_text(validation.render_html([result], f"Batch {name}"), folder / "validation.html")
    write_json(result.to_dict(), folder / "validation.json")
    outcome.timings["validate"] = time.perf_counter() - started
    if not result.success:
        failed = "; ".join(f.describe() for f in result.critical_failures)
        return _reject(outcome, folder, log, f"{claimed}: critical expectations failed: {failed}")

    progress(f"{name}: scoring with the champion")
    outcome.champion = version
    frame = parsed.frame
    predictions = store.load(version).predict(frame)
    predictions.to_csv(folder / PREDICTIONS, index_label="line")
    write_parquet(frame, folder / CLEAN)
    outcome.attack_share = float(predictions["attack"].mean())
    outcome.timings["score"] = time.perf_counter() - started

    progress(f"{name}: drift report")
    reference, reference_accuracy = _reference(store, version)
    current = frame.assign(**{drift.PREDICTION: predictions["category"].to_numpy()})
    if not parsed.has_label:
        reference = reference.drop(columns=[schema.CATEGORY])
    snapshot = drift.drift_report(reference, current, cfg.drift_share)
    summary = drift.decide(
        drift.summarise(snapshot),
        cfg.drift_share,
        cfg.quality_drop,
        reference_accuracy if parsed.has_label else None,
    )
    summary.attack_share = outcome.attack_share
    reports = paths.root / cfg.reports_dir
    drift.save(snapshot, reports / f"{name}.html", reports / f"{name}.json")
    drift.add_to_workspace(snapshot, paths.root / cfg.workspace, cfg.project, name)
    outcome.timings["drift"] = time.perf_counter() - started

    outcome.status, outcome.drift = "scored", summary.to_dict()
    outcome.report = str(reports / f"{name}.html")
    outcome.seconds = time.perf_counter() - started
    write_json(outcome.__dict__, folder / STATUS)
    decisions.record(
        log,
        "drift",
        "drift" if summary.fired else "no drift",
        "; ".join(summary.reasons)
        or (
            f"{summary.drifted_columns} of {summary.columns} features drifted "
            f"(share {summary.drifted_share:.2f} <= {cfg.drift_share})"
        ),
        batch=name,
        champion=version,
        labelled=parsed.has_label,
        report=outcome.report,
    )
    return outcome


def pending_confirmed(confirmed_dir: Path, monitor: MonitorParams, paths: Paths) -> list[str]:
    """Labelled, scored batches that have not joined the training data (`confirmed_dir`,
    params `data.confirmed_dir`) yet."""
    confirmed = paths.root / confirmed_dir
    return [
        s["batch"]
        for s in processed(monitor, paths)
        if s["status"] == "scored"
        and s["labelled"]
        and not (confirmed / f"{s['batch']}.csv").exists()
    ]


def join_confirmed(
    confirmed_dir: Path, monitor: MonitorParams, paths: Paths, batches: list[str]
) -> list[Path]:
    """Copy each labelled batch's clean rows into the confirmed data folder (`confirmed_dir`,
    KDD format); the caller then records the new data version with DVC."""
    from iot_anomaly.data.reader import to_kdd_lines

    folder = paths.root / confirmed_dir
    written = []
    for name in batches:
        source = batches_dir(monitor, paths) / name
        status = read_status(source)
        if status["status"] != "scored" or not status["labelled"]:
            raise ValueError(f"{source}: batch {name} is not a scored, labelled batch")
        frame = pd.read_parquet(source / CLEAN)
        target = folder / f"{name}.csv"
        write_text("\n".join(to_kdd_lines(frame)) + "\n", target)
        written.append(target)
    return written
