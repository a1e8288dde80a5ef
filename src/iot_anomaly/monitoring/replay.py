"""Traffic replay: corrected.gz (outside the evaluation holdout) cut into batches that are
dropped into the inbox one by one, so the system meets traffic it has never seen."""

from __future__ import annotations

from collections.abc import Iterator
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
