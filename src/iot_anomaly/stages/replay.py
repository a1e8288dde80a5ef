"""`iot-anomaly replay`: the rows of corrected.gz outside the promotion holdout, replayed into
the monitoring inbox batch by batch (params groups `replay` and `monitor`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from iot_anomaly.config import Paths
from iot_anomaly.monitoring.promotion import replay_rows
from iot_anomaly.monitoring.replay import replay
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
) -> Replayed:
    """Replay into the inbox; the pause and batch size default to params `replay`, the batch
    names carry the start time (`replay-<UTC time>-0001`, ...). Raises FileNotFoundError
    before `validate` has parsed corrected.gz."""
    clean = paths.clean("test")
    if not clean.is_file():
        raise FileNotFoundError(f"{clean}: run `dvc repro validate` first")
    cfg = params.replay
    size = batch_rows or cfg.rows
    inbox = paths.root / params.monitor.inbox
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    written = replay(
        replay_rows(params.monitor, pd.read_parquet(clean)),
        inbox,
        f"replay-{stamp}",
        size,
        cfg.seed,
        every_s=cfg.every_s if every_s is None else every_s,
        limit=limit,
        unseen_share=unseen_share,
        labels=labels,
        on_batch=on_batch,
    )
    return Replayed(written, size, inbox)
