"""Traffic replay: corrected.gz (outside the evaluation holdout) cut into batches that are
dropped into the inbox one by one, so the system meets traffic it has never seen."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from iot_anomaly import schema
from iot_anomaly.data.reader import to_kdd_lines
from iot_anomaly.io import write_text


def cut_batches(
    rows: pd.DataFrame, batch_rows: int, seed: int, unseen_share: float | None = None
) -> Iterator[pd.DataFrame]:
    """Shuffled batches of `batch_rows` rows. With `unseen_share`, each batch holds that
    share of rows from attack types absent from the training data (while they last)."""
    if batch_rows < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_rows}")
    rng = np.random.default_rng(seed)
    if unseen_share is None:
        order = rows.index.to_numpy()[rng.permutation(len(rows))]
        for start in range(0, len(order), batch_rows):
            yield rows.loc[order[start : start + batch_rows]]
        return
    if not 0.0 <= unseen_share <= 1.0:
        raise ValueError(f"unseen share must lie in [0, 1], got {unseen_share}")
    unseen = rows[schema.LABEL].isin(schema.UNSEEN_LABELS).to_numpy()
    pools = [rows.index[unseen].to_numpy(), rows.index[~unseen].to_numpy()]
    pools = [p[rng.permutation(len(p))] for p in pools]
    take = [round(batch_rows * unseen_share), batch_rows - round(batch_rows * unseen_share)]
    position = [0, 0]
    while position[0] < len(pools[0]) or position[1] < len(pools[1]):
        parts = []
        for i in (0, 1):
            parts.append(pools[i][position[i] : position[i] + take[i]])
            position[i] += take[i]
        index = np.concatenate(parts)
        if len(index) == 0:
            return
        yield rows.loc[index[rng.permutation(len(index))]]


def write_batch(frame: pd.DataFrame, inbox: Path, name: str, labels: bool = True) -> Path:
    """Write one batch into the inbox as a KDD-format file (atomically: the monitoring flow
    never sees half a file)."""
    columns = list(schema.COLUMNS if labels else schema.FEATURES)
    return write_text("\n".join(to_kdd_lines(frame[columns])) + "\n", inbox / f"{name}.csv")


def planned_batches(rows: int, batch_rows: int, limit: int | None = None) -> int:
    """How many batches a replay writes: as many as `rows` fill, at most `limit` (if given)."""
    if batch_rows < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_rows}")
    total = -(-rows // batch_rows)
    return min(total, limit) if limit else total


def replay(
    rows: pd.DataFrame,
    inbox: Path,
    prefix: str,
    batch_rows: int,
    seed: int,
    every_s: float = 0.0,
    limit: int | None = None,
    unseen_share: float | None = None,
    labels: bool = True,
    on_batch: Callable[[int, int, Path, int], None] = lambda *_: None,
) -> list[Path]:
    """Write `rows` into the inbox as batches `<prefix>-0001.csv`, ... (`cut_batches`), one
    every `every_s` seconds, at most `limit`; `on_batch(done, planned, file, rows)` after
    each. Returns the files written."""
    planned = planned_batches(len(rows), batch_rows, limit)
    written: list[Path] = []
    for i, batch in enumerate(cut_batches(rows, batch_rows, seed, unseen_share), 1):
        if i > planned:
            break
        written.append(write_batch(batch, inbox, f"{prefix}-{i:04d}", labels))
        on_batch(i, planned, written[-1], len(batch))
        if i < planned:
            time.sleep(every_s)
    return written


def cut_in_order(
    records: pd.DataFrame, batch_rows: int, time: str = "ts"
) -> Iterator[pd.DataFrame]:
    """Consecutive batches of `batch_rows` records in time order (column `time`; ties keep
    their order): real traffic is replayed as it happened, not shuffled."""
    if batch_rows < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_rows}")
    ordered = records.sort_values(time, kind="stable")
    for start in range(0, len(ordered), batch_rows):
        yield ordered.iloc[start : start + batch_rows]


def write_records_batch(frame: pd.DataFrame, inbox: Path, name: str, labels: bool = True) -> Path:
    """Write one batch of records (provenance and features; the source's label and category
    too with `labels`) into the inbox as CSV with a header, atomically."""
    unlabelled = [c for c in (schema.LABEL, schema.CATEGORY) if c in frame.columns]
    out = frame if labels else frame.drop(columns=unlabelled)
    return write_text(out.to_csv(index=False), inbox / f"{name}.csv")
