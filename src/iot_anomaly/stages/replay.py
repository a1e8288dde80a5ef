"""`iot-anomaly replay`: traffic replayed into the monitoring inbox batch by batch (params
groups `replay`, `monitor`, `data` and `ingest`). Sources: `kdd`, the rows of corrected.gz
outside the promotion holdout (shuffled); `iot23`, the IoT-23 scenarios but the held-out ones,
each ingested and sent in time order; `captures`, the packet captures of `data.captures_dir`,
ingested the same way (unlabelled)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from iot_anomaly.config import Paths
from iot_anomaly.monitoring.promotion import replay_rows, scenario_files
from iot_anomaly.monitoring.replay import (
    cut_in_order,
    planned_batches,
    replay,
    write_records_batch,
)
from iot_anomaly.params import Params


@dataclass(frozen=True)
class Replayed:
    """The batch files one replay wrote, their most rows each, and the inbox."""

    written: list[Path]
    batch_rows: int
    inbox: Path


def run(
    params: Params,
    paths: Paths,
    every_s: float | None = None,
    batch_rows: int | None = None,
    limit: int | None = None,
    unseen_share: float | None = None,
    labels: bool = True,
    on_batch: Callable[[int, int, Path, int], None] = lambda *_: None,
    source: str | None = None,
    scenarios: list[str] | None = None,
) -> Replayed:
    """Replay into the inbox; the source, pause and batch size default to params `replay`,
    the batch names carry the source and start time (`replay-<UTC time>-0001`, ...).
    `scenarios` narrows an iot23 replay to those scenarios; `unseen_share` is for kdd only.
    Raises FileNotFoundError before `validate` has parsed corrected.gz (kdd) or when the
    traffic folder holds nothing to replay."""
    cfg = params.replay
    source = source or cfg.source
    size = batch_rows or cfg.rows
    pause = cfg.every_s if every_s is None else every_s
    inbox = paths.root / params.monitor.inbox
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    if source != "kdd":
        if unseen_share is not None:
            raise ValueError("--unseen-share picks KDD attack types: it needs --source kdd")
        files = traffic_sources(params, paths, source, scenarios)
        written = replay_traffic(
            files, params, paths, inbox, f"{source}-{stamp}", size, pause, limit, labels,
            on_batch,
        )  # fmt: skip
        return Replayed(written, size, inbox)
    if scenarios:
        raise ValueError("--scenario names IoT-23 scenarios: it needs --source iot23")
    clean = paths.clean("test")
    if not clean.is_file():
        raise FileNotFoundError(f"{clean}: run `dvc repro validate` first")
    written = replay(
        replay_rows(params.monitor, pd.read_parquet(clean)),
        inbox,
        f"replay-{stamp}",
        size,
        cfg.seed,
        every_s=pause,
        limit=limit,
        unseen_share=unseen_share,
        labels=labels,
        on_batch=on_batch,
    )
    return Replayed(written, size, inbox)


def traffic_sources(
    params: Params, paths: Paths, source: str, scenarios: list[str] | None = None
) -> dict[str, Path]:
    """The files a traffic replay sends, by name: IoT-23 scenarios (one file each) but the
    held-out ones (params `monitor.holdout_scenarios`), or the captures folder's traffic files."""
    from iot_anomaly.traffic.ingest import is_traffic_file

    if source == "iot23":
        folder = paths.root / params.data.iot23_dir
        files = scenario_files(folder, params.crossdata.prefer)
        held_out = set(params.monitor.holdout_scenarios)
        if scenarios:
            unknown = [s for s in scenarios if s not in files]
            if unknown:
                raise FileNotFoundError(f"{folder}: no IoT-23 scenario {unknown}")
            refused = [s for s in scenarios if s in held_out]
            if refused:
                raise ValueError(
                    f"{refused}: held out (params monitor.holdout_scenarios), never replayed"
                )
        chosen = {n: f for n, f in files.items() if n not in held_out}
        chosen = {n: chosen[n] for n in scenarios} if scenarios else chosen
    elif source == "captures":
        folder = paths.root / params.data.captures_dir
        found = sorted(p for p in folder.iterdir() if is_traffic_file(p)) if folder.is_dir() else []
        chosen = {p.name.partition(".")[0]: p for p in found}
    else:
        raise ValueError(f"unknown replay source {source!r}; expected kdd, iot23 or captures")
    if not chosen:
        raise FileNotFoundError(f"{folder}: no traffic to replay")
    return chosen


def replay_traffic(
    files: dict[str, Path],
    params: Params,
    paths: Paths,
    inbox: Path,
    prefix: str,
    batch_rows: int,
    every_s: float,
    limit: int | None,
    labels: bool,
    on_batch: Callable[[int, int, Path, int], None],
) -> list[Path]:
    """Ingest each file and send its records in time order, `batch_rows` at a time, at most
    `limit` batches in all (`<prefix>-<name>-0001.csv`, ...). What ingest read, quarantined
    and summed up stays in `<monitor.batches_dir>/../replay/` (nothing is lost)."""
    from iot_anomaly.traffic.ingest import ingest, write_ingested

    kept = paths.root / params.monitor.batches_dir.parent / "replay"
    ingested = {}
    for name, path in files.items():
        ingested[name] = ingest([path], params.ingest)
        write_ingested(ingested[name], kept / f"{prefix}-{name}.csv")
    planned = sum(planned_batches(len(i.records), batch_rows) for i in ingested.values())
    planned = min(planned, limit) if limit else planned
    written: list[Path] = []
    for name, done in ingested.items():
        for i, batch in enumerate(cut_in_order(done.records, batch_rows), 1):
            if len(written) == planned:
                return written
            written.append(write_records_batch(batch, inbox, f"{prefix}-{name}-{i:04d}", labels))
            on_batch(len(written), planned, written[-1], len(batch))
            if len(written) < planned:
                time.sleep(every_s)
    return written
