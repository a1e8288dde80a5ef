"""Ingest traffic sources (captures, Zeek conn.log files, their CSV conversions) into
KDD-style records, their quarantine and a summary whose counts add up: for every source,
units read (log lines, capture flows) = records + quarantined.

Sources are recognised by content, never by name alone: pcap/pcapng magic bytes, a Zeek
`#separator` line, or a CSV header naming `id.orig_h`. A folder stands for the traffic files
inside it (others are listed as skipped). A file that ends in .pcap/.pcapng/.cap is read as
a capture, so a damaged one is an error naming it rather than a skipped file.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from iot_anomaly import schema
from iot_anomaly.io import atomic_files, atomic_write, json_text, write_json
from iot_anomaly.params import IngestParams
from iot_anomaly.traffic import connections as cx
from iot_anomaly.traffic import pcap, zeek
from iot_anomaly.traffic.records import iter_records
from iot_anomaly.traffic.sniff import (
    CAPTURE,
    CAPTURE_SUFFIXES,
    CONN_LOG,
    RECORDS,
    ZEEK_CSV,
    is_traffic_file,
    traffic_kind,
)

if TYPE_CHECKING:
    from iot_anomaly.traffic.stream import Stream


@dataclass(frozen=True)
class Ingested:
    """Records (PROVENANCE + the 41 features [+ label, category]), quarantine rows
    (data.reader.QUARANTINE_COLUMNS) and the summary (`summary["sources"]` per source)."""

    records: pd.DataFrame
    quarantine: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def labelled(self) -> bool:
        return schema.CATEGORY in self.records.columns and bool(
            (self.records[schema.CATEGORY] != "").all()
        )


def expand(sources: Iterable[Path]) -> tuple[list[Path], list[Path]]:
    """The files to read (a folder: the traffic files inside it, recursively, in name
    order) and the files of those folders that were skipped as not traffic."""
    files: list[Path] = []
    skipped: list[Path] = []
    for source in sources:
        if source.is_dir():
            for path in sorted(p for p in source.rglob("*") if p.is_file()):
                if path.name.startswith("."):
                    continue
                (files if _readable(path) else skipped).append(path)
        elif source.exists():
            files.append(source)
        else:
            raise FileNotFoundError(f"{source}: no such file or folder")
    unique = list(dict.fromkeys(files))  # a file named twice is read once
    return unique, skipped


def _readable(path: Path) -> bool:
    return path.suffix.lower() in CAPTURE_SUFFIXES or is_traffic_file(path)


def source_kind(path: Path) -> str:
    """CAPTURE, CONN_LOG or ZEEK_CSV: how `path` is read. Raises TrafficFormatError naming
    the file when it is none of them (a file named as a capture is one)."""
    kind = traffic_kind(path)
    if kind == CAPTURE or (kind is None and path.suffix.lower() in CAPTURE_SUFFIXES):
        return CAPTURE
    if kind in (CONN_LOG, ZEEK_CSV):
        return kind
    what = "a records file written by `iot-anomaly ingest`" if kind == RECORDS else "not traffic"
    raise cx.TrafficFormatError(
        f"{path}: {what}; ingest reads packet captures (pcap, pcapng), Zeek conn.log files "
        "(a '#separator' header) and their CSV conversions (a header naming id.orig_h)"
    )


def read_source(path: Path, labels: dict[str, str]) -> cx.Read:
    """Read one traffic file into connections; raises TrafficFormatError naming the file
    when it is none of the accepted kinds (or is damaged as a whole)."""
    kind = source_kind(path)
    if kind == CAPTURE:
        return pcap.read_capture(path)
    if kind == CONN_LOG:
        return zeek.read_conn_log(path, labels)
    return zeek.read_zeek_csv(path, labels)


def ingest(
    sources: list[Path],
    settings: IngestParams,
    progress: Callable[[str], None] | None = None,
) -> Ingested:
    """Read every source, quarantine what cannot be trusted, and build the records of the
    rest (traffic.features.to_records). `progress` is told each step as it starts. The
    stream of traffic.stream.Stream in one chunk per file."""
    from iot_anomaly.traffic.stream import Stream

    stream = Stream(sources, settings, chunk_rows=sys.maxsize, steps=progress)
    chunks = list(stream)
    records = [c.records for c in chunks if len(c.records)] or [chunks[-1].records]
    quarantine = pd.concat(
        [cx.empty_quarantine(), *(c.quarantine for c in chunks if len(c.quarantine))],
        ignore_index=True,
    )
    whole = records[0] if len(records) == 1 else pd.concat(records, ignore_index=True)
    return Ingested(whole, quarantine, stream.summary)


def write_stream(stream: Stream, out: Path) -> list[Path]:
    """Write a stream's records (CSV with header) to `out` chunk by chunk, its quarantine and
    its summary beside it, as `write_ingested` writes them whole; all three appear together
    at the end, none when the stream fails. Returns the three paths."""
    paths = [out, quarantine_path(out), summary_path(out)]
    with atomic_files(*paths) as (records, quarantine, summary):
        first = True
        for chunk in stream:
            chunk.records.to_csv(records, index=False, header=first)
            chunk.quarantine.to_csv(quarantine, index=False, header=first)
            first = False
        summary.write(json_text(stream.summary))
    return paths


def summarise(
    reads: list[cx.Read], records: pd.DataFrame, skipped: list[Path] | None = None
) -> dict[str, Any]:
    """Per source: format, units read, records, quarantined (units = records + quarantined),
    the features measured and not, notes; and the totals."""
    per_file = records[cx.FILE].value_counts() if len(records) else pd.Series(dtype="int64")
    sources = []
    for read in reads:
        n_records = int(per_file.get(read.file, 0))
        if read.units != n_records + len(read.quarantine):
            raise RuntimeError(
                f"{read.file}: {read.units} units read but {n_records} records and "
                f"{len(read.quarantine)} quarantined"
            )
        mine = records[records[cx.FILE] == read.file] if n_records else records.iloc[:0]
        unmeasured = [f for f in schema.FEATURES if mine[f].isna().all()] if n_records else []
        reasons = (
            read.quarantine["reason"].str.split(": ", n=1).str[0].value_counts().to_dict()
            if len(read.quarantine)
            else {}
        )
        labels = (
            mine[schema.LABEL].replace("", "(none)").value_counts().to_dict()
            if schema.LABEL in mine.columns and n_records
            else {}
        )
        sources.append(
            {
                "file": read.file,
                "format": read.format,
                "unit": "flows" if read.format in ("pcap", "pcapng") else "lines",
                "read": read.units,
                "records": n_records,
                "quarantined": len(read.quarantine),
                "quarantine_reasons": {str(k): int(v) for k, v in reasons.items()},
                "labels": {str(k): int(v) for k, v in labels.items()},
                "measured": [f for f in schema.FEATURES if f not in unmeasured]
                if n_records
                else [],
                "unmeasured": unmeasured,
                "notes": list(read.notes),
                **{k: v for k, v in read.facts.items()},
            }
        )
    unmeasured_all = [f for f in schema.FEATURES if records[f].isna().all()] if len(records) else []
    return {
        "sources": sources,
        "skipped": [str(p) for p in skipped or []],
        "read": sum(s["read"] for s in sources),
        "records": len(records),
        "quarantined": sum(s["quarantined"] for s in sources),
        "unmeasured": unmeasured_all,
    }


def quarantine_path(out: Path) -> Path:
    return out.with_name(out.stem + ".quarantine.csv")


def summary_path(out: Path) -> Path:
    return out.with_name(out.stem + ".summary.json")


def write_ingested(ingested: Ingested, out: Path) -> list[Path]:
    """Write the records (CSV with header) to `out`, the quarantine and the summary beside
    it; return the three paths."""
    records = atomic_write(out, lambda tmp: ingested.records.to_csv(tmp, index=False))
    quarantine = atomic_write(
        quarantine_path(out), lambda tmp: ingested.quarantine.to_csv(tmp, index=False)
    )
    return [records, quarantine, write_json(ingested.summary, summary_path(out))]


def read_records(path: Path) -> pd.DataFrame:
    """Read a records file written by `write_ingested` back with its types (content
    features stay NaN), whole (traffic.records.iter_records reads it in pieces). Raises
    TrafficFormatError naming the file and the missing columns."""
    ((frame, _),) = iter_records(path)
    return frame


def read_records_summary(path: Path) -> dict[str, Any] | None:
    """The summary written beside a records file, if it is there."""
    summary = summary_path(path)
    return json.loads(summary.read_text()) if summary.is_file() else None
