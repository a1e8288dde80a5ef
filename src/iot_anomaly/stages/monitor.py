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
from iot_anomaly.data.preprocess import input_features
from iot_anomaly.data.reader import KddFormatError
from iot_anomaly.io import write_json, write_parquet, write_text
from iot_anomaly.monitoring import decisions, drift
from iot_anomaly.monitoring.batches import KDD, read_batch
from iot_anomaly.monitoring.promotion import evaluation_set
from iot_anomaly.monitoring.store import ChampionStore, ensure_champion
from iot_anomaly.params import MonitorParams, Params
from iot_anomaly.serving import Champion, labelled_metrics

STATUS = "status.json"
CLEAN = "clean.parquet"
RECORDS = "records.csv"  # a records or traffic batch as ingested, provenance included
PREDICTIONS = "predictions.csv"
REFERENCE_PREDICTIONS = "reference_predictions.parquet"
HOLDOUT = "holdout.json"  # the champion's accuracy on the promotion holdout
HOLDOUT_SOURCE = "the holdout of corrected.gz"


@dataclass
class BatchOutcome:
    """What happened to one batch; written as the batch's status.json."""

    batch: str
    source: str
    status: str  # processing | scored | rejected
    received_at: str
    kind: str = KDD  # kdd | records | traffic (monitoring.batches)
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


def _reference(store: ChampionStore, version: str) -> pd.DataFrame:
    """The champion's reference rows with its predictions (cached beside the version)."""
    reference = store.reference(version)
    cached = store.version_root(version) / REFERENCE_PREDICTIONS
    if cached.is_file():
        predicted = pd.read_parquet(cached)
    else:
        predicted = store.load(version).predict(reference)
        write_parquet(predicted, cached)
    return reference.assign(**{drift.PREDICTION: predicted["category"].to_numpy()})


def holdout_accuracy(store: ChampionStore, version: str, params: Params, paths: Paths) -> float:
    """The champion's 5-class accuracy on the promotion holdout of corrected.gz, rows it
    never trained on (cached beside the version: the figure a labelled batch is held
    against)."""
    cached = store.version_root(version) / HOLDOUT
    if cached.is_file():
        return float(json.loads(cached.read_text())["accuracy"])
    frame = evaluation_set(params.monitor, paths)
    accuracy = labelled_metrics(frame, store.load(version).predict(frame))["multiclass"]["accuracy"]
    write_json({"rows": len(frame), "accuracy": accuracy, "source": HOLDOUT_SOURCE}, cached)
    return float(accuracy)


def champion_features(champion: Champion) -> tuple[str, ...]:
    """The features the champion reads (its preprocessors' columns), in file order: the
    drift report compares only these (a flow champion ignores the content features)."""
    read = set(input_features(champion.label_pre)) | set(input_features(champion.onehot_pre))
    return tuple(f for f in schema.FEATURES if f in read)


def _reject(outcome: BatchOutcome, folder: Path, log: Path, reason: str) -> BatchOutcome:
    outcome.status, outcome.reason = "rejected", reason
    write_json(outcome.__dict__, folder / STATUS)
    decisions.record(log, "batch", "rejected", reason, batch=outcome.batch)
    return outcome


def run(
    params: Params, paths: Paths, progress: Callable[[str], None] = lambda _: None
) -> BatchOutcome | None:
    """Process the next inbox batch (params groups `monitor`, `ingest` and `promotion`);
    None when the inbox is empty."""
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

    progress(f"{name}: reading")
    try:
        read = read_batch(claimed, params.ingest)
    except (KddFormatError, ValueError, KeyError, OSError, EOFError, UnicodeDecodeError) as err:
        return _reject(outcome, folder, log, f"{claimed}: unreadable ({err})")
    read.quarantine.to_csv(folder / "quarantine.csv", index=False)
    outcome.kind = read.kind
    outcome.rows, outcome.quarantined = len(read.frame), read.quarantined
    outcome.labelled = read.labelled
    share = read.quarantined / max(read.lines_read, 1)
    if read.frame.empty or share > cfg.max_quarantined_share:
        return _reject(
            outcome,
            folder,
            log,
            f"{claimed}: {read.quarantined:,} of {read.lines_read:,} lines quarantined "
            f"(more than {cfg.max_quarantined_share:.0%}); see {folder / 'quarantine.csv'}",
        )
    outcome.timings["parse"] = time.perf_counter() - started

    progress(f"{name}: validating {len(read.frame):,} rows")
    # A records batch is labelled with its source's labels (not KDD attack names); ingest
    # has already quarantined every record whose label has no category.
    labels_checked = read.labelled and read.kind == KDD
    suites = [validation.load_suite(paths.root / p) for p in cfg.suites.of(labels_checked)]
    features = read.frame[list(schema.FEATURES)] if not labels_checked else read.frame
    result = validation.validate_dataset(name, str(claimed), features, suites, read.quarantined)
    write_text(validation.render_html([result], f"Batch {name}"), folder / "validation.html")
    write_json(result.to_dict(), folder / "validation.json")
    outcome.timings["validate"] = time.perf_counter() - started
    if not result.success:
        failed = "; ".join(f.describe() for f in result.critical_failures)
        return _reject(outcome, folder, log, f"{claimed}: critical expectations failed: {failed}")

    progress(f"{name}: scoring with the champion")
    outcome.champion = version
    frame = read.frame
    champion = store.load(version)
    predictions = champion.predict(frame)
    scored = predictions if read.provenance is None else read.provenance.join(predictions)
    scored.to_csv(folder / PREDICTIONS, index_label="line")
    write_parquet(frame, folder / CLEAN)
    if read.provenance is not None:
        # the records as received: what joins the training data if the batch is confirmed
        write_text(read.provenance.join(frame).to_csv(index=False), folder / RECORDS)
    outcome.attack_share = float(predictions["attack"].mean())
    outcome.timings["score"] = time.perf_counter() - started

    progress(f"{name}: drift report")
    reference = _reference(store, version)
    current = frame.assign(**{drift.PREDICTION: predictions["category"].to_numpy()})
    if not read.labelled:
        reference = reference.drop(columns=[schema.CATEGORY])
    read_features = champion_features(champion)
    snapshot = drift.drift_report(reference, current, cfg.drift_share, read_features)
    quality = None
    if read.labelled:
        quality = drift.QualityReference(
            accuracy=holdout_accuracy(store, version, params, paths),
            source=HOLDOUT_SOURCE,
            allowed_drop=cfg.quality_drop,
            confidence=cfg.quality_confidence,
        )
    summary = drift.decide(drift.summarise(snapshot), cfg.drift_share, quality, len(frame))
    summary.attack_share = outcome.attack_share
    reports = paths.root / cfg.reports_dir
    drift.save(snapshot, reports / f"{name}.html", reports / f"{name}.json")
    drift.add_to_workspace(snapshot, paths.root / cfg.workspace, cfg.project, name)
    outcome.timings["drift"] = time.perf_counter() - started

    outcome.status, outcome.drift = "scored", summary.to_dict()
    outcome.report = str(reports / f"{name}.html")
    outcome.seconds = time.perf_counter() - started
    write_json(outcome.__dict__, folder / STATUS)
    if read.provenance is not None:  # real traffic: the verdicts per device follow each batch
        from iot_anomaly.stages import hosts  # imports this module, so not at the top

        hosts.from_monitoring(params, paths)
    decisions.record(
        log,
        "drift",
        "drift" if summary.fired else "no drift",
        "; ".join(summary.reasons)
        or (
            f"{summary.drifted_columns} of {summary.columns} features drifted "
            f"(share {summary.drifted_share:.2f} <= {cfg.drift_share})"
            + (
                f"; accuracy {summary.accuracy:.4f} on {len(frame):,} labelled rows is within "
                f"the allowed drop below the champion's {summary.reference_accuracy:.4f} on "
                f"{summary.reference}"
                if summary.accuracy is not None and summary.reference_accuracy is not None
                else ""
            )
        ),
        batch=name,
        champion=version,
        labelled=read.labelled,
        kind_of_batch=read.kind,
        rows=len(frame),
        accuracy=summary.accuracy,
        accuracy_interval=summary.accuracy_interval,
        reference_accuracy=summary.reference_accuracy,
        drifted_share=summary.drifted_share,
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
    """Copy each labelled batch into the confirmed data folder (`confirmed_dir`) in its own
    format: KDD lines for a KDD batch, the records (provenance included) for ingested
    traffic; the caller then records the new data version with DVC."""
    from iot_anomaly.data.reader import to_kdd_lines

    folder = paths.root / confirmed_dir
    written = []
    for name in batches:
        source = batches_dir(monitor, paths) / name
        status = read_status(source)
        if status["status"] != "scored" or not status["labelled"]:
            raise ValueError(f"{source}: batch {name} is not a scored, labelled batch")
        target = folder / f"{name}.csv"
        if (source / RECORDS).is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            write_text((source / RECORDS).read_text(), target)
        else:
            frame = pd.read_parquet(source / CLEAN)
            write_text("\n".join(to_kdd_lines(frame)) + "\n", target)
        written.append(target)
    return written
