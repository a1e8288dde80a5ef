"""What a monitoring batch can be, read into one shape: a KDD-format file (label optional), a
records file (`iot-anomaly ingest` output, or a replayed slice of it), or raw traffic (a
packet capture or a Zeek conn.log) that is ingested first.

Every batch becomes a frame of the 41 features (plus label and category when labelled) that
validation, the champion and the drift report read, typed as the KDD files type them (counts,
flags and duration in whole seconds as int64). Features a flow source never measures (the
content features, and the packet features a Zeek log lacks) are 0 there, as the KDD files
have them for most connections; only flow models (which ignore them) are served on such
traffic, and the drift report compares only the features the champion reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from iot_anomaly import schema
from iot_anomaly.data.reader import parse_kdd
from iot_anomaly.params import IngestParams
from iot_anomaly.traffic import sniff
from iot_anomaly.traffic.sniff import traffic_kind

KDD, RECORDS, TRAFFIC = "kdd", "records", "traffic"  # the kinds of batch file


@dataclass(frozen=True)
class Batch:
    """One batch read: the frame (features, label and category when labelled), where each
    row came from (records and traffic only), the quarantined lines, and the lines read."""

    kind: str
    frame: pd.DataFrame
    provenance: pd.DataFrame | None
    quarantine: pd.DataFrame
    lines_read: int
    labelled: bool

    @property
    def quarantined(self) -> int:
        return len(self.quarantine)


def is_records_file(path: Path) -> bool:
    """A records file (written by `iot-anomaly ingest`), told as ingest tells it."""
    return traffic_kind(path) == sniff.RECORDS


def kind_of(path: Path) -> str:
    """Which reader a batch file needs."""
    kind = traffic_kind(path)
    if kind == sniff.RECORDS:
        return RECORDS
    return KDD if kind is None else TRAFFIC


def is_labelled(records: pd.DataFrame) -> bool:
    """Records carry labels when every one has a category (IoT-23 logs; captures have none)."""
    return (
        len(records) > 0
        and schema.CATEGORY in records.columns
        and bool(records[schema.CATEGORY].notna().all())
        and bool((records[schema.CATEGORY].astype(str) != "").all())
    )


def records_frame(records: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, bool]:
    """Split records into the features frame (unmeasured features 0; label and category
    kept when labelled) and the provenance frame; say whether they are labelled."""
    from iot_anomaly.traffic.records import PROVENANCE

    missing = [c for c in (*PROVENANCE, *schema.FEATURES) if c not in records.columns]
    if missing:
        raise ValueError(f"records lack the columns {missing}")
    labelled = is_labelled(records)
    columns = [*schema.COLUMNS, schema.CATEGORY] if labelled else list(schema.FEATURES)
    frame = records[columns].copy()
    numeric = list(schema.NUMERIC)
    frame[numeric] = frame[numeric].fillna(0)
    # Counts (duration in whole seconds among them) and flags are whole numbers, as in the
    # KDD files; filled, they are typed so.
    whole = [*schema.COUNTS, *schema.BINARY]
    frame[whole] = np.floor(frame[whole].astype("float64")).astype("int64")
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="line")
    provenance = records[list(PROVENANCE)].copy()
    provenance.index = frame.index
    return frame, provenance, labelled


def read_batch(path: Path, ingest: IngestParams) -> Batch:
    """Read one batch file of any kind (see the module docstring)."""
    kind = kind_of(path)
    if kind == KDD:
        parsed = parse_kdd(path)
        return Batch(KDD, parsed.frame, None, parsed.quarantine, parsed.lines_read,
                     parsed.has_label)  # fmt: skip
    if kind == RECORDS:
        from iot_anomaly.traffic.ingest import read_records

        records = read_records(path)
        quarantine = pd.DataFrame(columns=["file", "line", "field", "reason", "raw"])
        read = len(records)
    else:
        from iot_anomaly.traffic.ingest import ingest as ingest_sources

        ingested = ingest_sources([path], ingest)
        records, quarantine = ingested.records, ingested.quarantine
        read = len(records) + len(quarantine)
    frame, provenance, labelled = records_frame(records)
    return Batch(kind, frame, provenance, quarantine, read, labelled)
