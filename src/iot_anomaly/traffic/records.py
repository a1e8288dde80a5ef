"""KDD-style records built from connections: where each came from (the provenance
columns), the 41 features, and the source's label and category when it has them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from iot_anomaly import schema
from iot_anomaly.traffic import connections as cx

#: Columns that say where a record came from; predictions carry them.
PROVENANCE: Final[tuple[str, ...]] = (
    cx.TS,
    cx.UID,
    cx.SRC_IP,
    cx.SRC_PORT,
    cx.DST_IP,
    cx.DST_PORT,
    cx.FILE,
    cx.LINE,
)

#: Every column of a records file, in order (label and category only when labelled).
COLUMNS: Final[tuple[str, ...]] = (*PROVENANCE, *schema.FEATURES, schema.LABEL, schema.CATEGORY)

#: Provenance dtypes when a records file is read back.
PROVENANCE_DTYPES: Final[dict[str, str]] = {c: cx.DTYPES[c] for c in PROVENANCE}


def iter_records(path: Path, chunk_rows: int | None = None) -> Iterator[tuple[pd.DataFrame, int]]:
    """Read a records file (`iot-anomaly ingest`'s output) back with its types, in pieces of
    `chunk_rows` rows (None: whole), each with the bytes of the file read so far. Content
    features stay NaN; a count column is int64 where a piece has it whole. Raises
    TrafficFormatError naming the file and the columns it lacks."""
    header = pd.read_csv(path, nrows=0).columns.tolist()
    missing = [c for c in (*PROVENANCE, *schema.FEATURES) if c not in header]
    if missing:
        raise cx.TrafficFormatError(
            f"{path}: not a records file; it lacks the columns {', '.join(missing)}"
        )
    text = [*schema.CATEGORICAL, schema.LABEL, schema.CATEGORY, cx.UID, cx.SRC_IP, cx.DST_IP,
            cx.FILE]  # fmt: skip
    dtypes = {c: PROVENANCE_DTYPES[c] for c in PROVENANCE if c not in text}
    dtypes.update({c: "float64" for c in schema.NUMERIC})
    dtypes.update({c: "str" for c in text if c in header})
    with open(path, "rb") as handle:
        pieces = pd.read_csv(
            handle,
            dtype=dtypes,
            keep_default_na=False,
            na_values={c: [""] for c in schema.NUMERIC},
            chunksize=chunk_rows or 2**62,
        )
        for frame in pieces:
            for col in schema.COUNTS:
                values = frame[col]
                if values.notna().all() and (values == np.floor(values)).all():
                    frame[col] = values.astype("int64")
            yield frame, handle.tell()
