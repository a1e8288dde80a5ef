"""Traffic ingested as a stream of chunks in bounded memory, equal to a whole-file run.

A Zeek conn.log or CSV conversion is read in blocks of lines (traffic.zeek.parse_block, the
code that reads a whole file). Zeek writes a connection when it ends, so a log is not in
time order: each block is sorted by (ts, line); while blocks follow one another the file's
sorted prefix stays in the file (it is parsed again, never written), and from the first
block that does not, blocks are written to a temporary folder as sorted runs (parquet),
then merged k-way, block by block. The features of each block are computed on the block
and the rows of its file before it that its windows reach (the last `host_window` and those
within `time_window_s`: `reach_start`), so they are those of a whole-file run exactly. The
sorting is `sorted_log`, also used to cut a log into time slabs scored apart
(iot_anomaly.cluster).

Packet captures are read whole, one file at a time (traffic.pcap.read_capture): flows are
numbered in order of their first packet, which nfstream only knows at the end of a file,
and nfstream holds a capture's flows in memory anyway.

Whether records carry `label` and `category` depends on every source (any connection with
a label), so a short scan before the first chunk looks for one: the first block of a
labelled log answers it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from iot_anomaly import schema
from iot_anomaly.params import IngestParams
from iot_anomaly.traffic import connections as cx
from iot_anomaly.traffic import pcap, zeek
from iot_anomaly.traffic.features import to_records
from iot_anomaly.traffic.ingest import Ingested, expand, source_kind
from iot_anomaly.traffic.sniff import CAPTURE

#: Runs merged at once; more are first merged into longer runs, FAN_IN at a time.
FAN_IN: Final = 16
#: Rows read at least from each run when merging (a floor for tiny blocks).
MERGE_ROWS: Final = 256
#: Lines per block of the scan for labels (only the first block or so of a log is read).
SCAN_LINES: Final = 4096

Run = Callable[[], Iterator[pd.DataFrame]]


def in_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Connections sorted by (ts, line), index reset."""
    order = np.lexsort((frame[cx.LINE].to_numpy(), frame[cx.TS].to_numpy(dtype=float)))
    if (order == np.arange(len(order))).all():
        return frame.reset_index(drop=True)
    return frame.take(order).reset_index(drop=True)


def _first_key(frame: pd.DataFrame) -> tuple[float, int]:
    return float(frame[cx.TS].iat[0]), int(frame[cx.LINE].iat[0])


def _last_key(frame: pd.DataFrame) -> tuple[float, int]:
    return float(frame[cx.TS].iat[-1]), int(frame[cx.LINE].iat[-1])


def _count_upto(frame: pd.DataFrame, key: tuple[float, int]) -> int:
    """How many leading rows of a sorted frame have (ts, line) <= key."""
    ts = frame[cx.TS].to_numpy(dtype=float)
    low = int(np.searchsorted(ts, key[0], side="left"))
    high = int(np.searchsorted(ts, key[0], side="right"))
    line = frame[cx.LINE].to_numpy()[low:high]
    return low + int(np.searchsorted(line, key[1], side="right"))


def _next(run: Iterator[pd.DataFrame]) -> pd.DataFrame | None:
    for frame in run:
        if len(frame):
            return frame
    return None


def merge(runs: list[Iterator[pd.DataFrame]]) -> Iterator[pd.DataFrame]:
    """Merge runs (each an iterator of frames sorted by (ts, line), in order) into frames in
    (ts, line) order: each step emits every loaded row up to the smallest last key loaded
    among the runs, so one loaded frame per run is held."""
    live = [(run, head) for run in runs if (head := _next(run)) is not None]
    while live:
        bound = min(_last_key(head) for _, head in live)
        parts = []
        kept = []
        for run, head in live:
            cut = _count_upto(head, bound)
            parts.append(head.iloc[:cut])
            rest = head.iloc[cut:] if cut < len(head) else _next(run)
            if rest is not None:
                kept.append((run, rest))
        live = kept
        yield in_order(pd.concat(parts, ignore_index=True))


class _Spill:
    """Sorted runs written to parquet files in a folder, each a sequence of frames."""

    def __init__(self, folder: Path, batch_rows: int) -> None:
        self.folder = folder
        self.batch_rows = batch_rows
        self.paths: list[Path] = []
        self._writer: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None
        self._last: tuple[float, int] | None = None

    def add(self, frame: pd.DataFrame) -> None:
        """Append a sorted frame to the open run, or start a run when it does not follow."""
        if self._writer is None or self._last is None or _first_key(frame) < self._last:
            self.close()
            path = self.folder / f"run-{len(self.paths):06d}.parquet"
            table = pa.Table.from_pandas(frame, preserve_index=False)
            self._schema = self._schema or table.schema
            self._writer = pq.ParquetWriter(path, self._schema)
            self.paths.append(path)
        # Row groups of `batch_rows`: a merge decodes one row group per run at a time.
        table = pa.Table.from_pandas(frame, self._schema, preserve_index=False)
        self._writer.write_table(table, row_group_size=self.batch_rows)
        self._last = _last_key(frame)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def reader(self, path: Path) -> Run:
        def read() -> Iterator[pd.DataFrame]:
            # Read as written, a row group at a time: Arrow's default buffering holds about
            # 20 MB per open run, which a merge of many runs multiplies.
            reader = pq.ParquetFile(path, buffer_size=1 << 16, pre_buffer=False)
            for batch in reader.iter_batches(batch_size=self.batch_rows, use_threads=False):
                yield pa.Table.from_batches([batch]).to_pandas()

        return read


def reach_start(frame: pd.DataFrame, settings: IngestParams) -> int:
    """Where the rows of sorted connections that the windows of any later connection reach
    begin: the last `host_window` rows and those within `time_window_s` of the last one
    (the carry of a block, the overlap prefix of a slab)."""
    if not len(frame):
        return 0
    ts = frame[cx.TS].to_numpy(dtype=float)
    reach = int(np.searchsorted(ts, ts[-1] - settings.time_window_s, side="right"))
    return min(reach, max(len(frame) - settings.host_window, 0))


def finish(records: pd.DataFrame, labelled: bool, settings: IngestParams) -> pd.DataFrame:
    """Label and category as ingest adds them (a label column of "" for connections
    without one when any source is `labelled`)."""
    if not labelled:
        return records
    records = records.copy() if schema.LABEL not in records.columns else records
    if schema.LABEL not in records.columns:
        records[schema.LABEL] = np.full(len(records), "", dtype=object)
    labels = records[schema.LABEL].fillna("").astype(str)
    records[schema.LABEL] = labels
    records[schema.CATEGORY] = cx.categories(labels, settings.labels).fillna("")
    return records


def sorted_log(
    path: Path, layout: zeek.Layout, labels: Mapping[str, str], block_rows: int, work: Path
) -> Iterator[tuple[cx.Read, int] | pd.DataFrame]:
    """A Zeek log's blocks as they are parsed, each (its read, bytes of the file read so
    far: its quarantine and counts are the caller's), then the file's connections in
    (ts, line) order as frames. Blocks out of order are spilled as sorted runs to `work`."""
    spill = _Spill(work, max(block_rows // FAN_IN, MERGE_ROWS))
    first_block: pd.DataFrame | None = None
    prefix = 0  # blocks in time order from the start: not written anywhere
    last: tuple[float, int] | None = None
    for n, (first, raw, position) in enumerate(zeek.blocks(path, block_rows)):
        read = zeek.parse_block(path, layout, raw, first, labels)
        yield read, position
        block = in_order(read.connections)
        if n == 0:
            first_block = block
        if prefix == n and (not len(block) or last is None or _first_key(block) >= last):
            prefix = n + 1
            last = _last_key(block) if len(block) else last
        elif len(block):
            spill.add(block)
    spill.close()

    def sorted_prefix() -> Iterator[pd.DataFrame]:
        if prefix and first_block is not None:
            yield first_block
        if prefix <= 1:
            return
        for n, (first, raw, _) in enumerate(zeek.blocks(path, block_rows)):
            if n >= prefix:
                return
            if n:
                yield in_order(zeek.parse_block(path, layout, raw, first, labels).connections)

    runs: list[Run] = [sorted_prefix, *(spill.reader(p) for p in spill.paths)]
    while len(runs) > FAN_IN:  # merge into longer runs until FAN_IN are left
        group, runs = runs[:FAN_IN], runs[FAN_IN:]
        for frame in merge([run() for run in group]):
            spill.add(frame)
        spill.close()
        runs.append(spill.reader(spill.paths[-1]))
    yield from merge([run() for run in runs])


class Stream:
    """Ingested chunks of at most `chunk_rows` records each (with the quarantine rows found
    since the previous chunk); once exhausted, `summary` is ingest's summary. Together the
    chunks are `ingest(sources, settings)`: same records, quarantine and summary.

    `progress(done, total)` is told the bytes of the sources read so far and their total;
    `steps` (optional) each step as it starts. `workdir` holds the sorted runs of a log out
    of time order (a temporary folder when None); `block_rows` (default chunk_rows, at
    least 1024) is the lines read, sorted and featured at once."""

    def __init__(
        self,
        sources: list[Path],
        settings: IngestParams,
        chunk_rows: int,
        progress: Callable[[int, int | None], None] | None = None,
        workdir: Path | None = None,
        *,
        block_rows: int | None = None,
        steps: Callable[[str], None] | None = None,
    ) -> None:
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be at least 1, not {chunk_rows}")
        self.sources = list(sources)
        self.settings = settings
        self.chunk_rows = chunk_rows
        self.block_rows = block_rows or max(chunk_rows, 1024)
        self.progress = progress or (lambda _done, _total: None)
        self.steps = steps or (lambda _: None)
        self.workdir = workdir
        self.summary: dict[str, Any] = {}
        self._labelled = False
        self._cache: dict[Path, cx.Read] = {}

    # -- the whole run ------------------------------------------------------------------
    def __iter__(self) -> Iterator[Ingested]:
        files, skipped = expand(self.sources)
        if not files:
            raise cx.TrafficFormatError(
                f"no traffic file in {', '.join(map(str, self.sources))} "
                f"({len(skipped)} other files skipped)"
            )
        kinds = [source_kind(path) for path in files]
        layouts = {
            p: zeek.read_layout(p, k) for p, k in zip(files, kinds, strict=True) if k != CAPTURE
        }
        self._labelled, probe = self._scan(files, kinds, layouts)
        empty = (
            self._finish(to_records(probe, self.settings)).iloc[:0]
            if probe is not None
            else to_records(cx.empty_connections(), self.settings)
        )
        self._total = sum(p.stat().st_size for p in files)
        self._done = 0
        self._pending: list[pd.DataFrame] = []
        self._yielded = False
        self._measured = np.zeros(len(schema.FEATURES), dtype=bool)
        self._n_records = 0
        sources = []
        self.progress(0, self._total)
        with tempfile.TemporaryDirectory(dir=self.workdir, prefix="ingest-") as folder:
            for i, (path, kind) in enumerate(zip(files, kinds, strict=True), 1):
                self.steps(f"reading {path.name} ({i}/{len(files)})")
                info = SourceCounts(str(path))
                if kind == CAPTURE:
                    pieces = self._capture(path, info)
                else:
                    work = Path(folder) / f"{i:05d}"
                    work.mkdir()
                    pieces = self._log(path, layouts[path], info, work, empty)
                yield from self._features(pieces, info)
                self._done += path.stat().st_size
                self.progress(self._done, self._total)
                sources.append(info.summary())
        if self._pending or not self._yielded:
            yield self._emit(empty)
        self.summary = {
            "sources": sources,
            "skipped": [str(p) for p in skipped],
            "read": sum(s["read"] for s in sources),
            "records": self._n_records,
            "quarantined": sum(s["quarantined"] for s in sources),
            "unmeasured": [f for f, m in zip(schema.FEATURES, self._measured, strict=True) if not m]
            if self._n_records
            else [],
        }

    def _scan(
        self, files: list[Path], kinds: list[str], layouts: dict[Path, zeek.Layout]
    ) -> tuple[bool, pd.DataFrame | None]:
        """Whether any connection has a label, and one connection (a labelled one when
        there is one) to type the empty chunks by; None when there is no connection."""
        probe = None
        labels = self.settings.labels
        for path, kind in zip(files, kinds, strict=True):
            if kind == CAPTURE:
                if probe is None:  # captures carry no labels
                    read = self._cache[path] = pcap.read_capture(path)
                    probe = read.connections.iloc[:1] if len(read.connections) else None
                continue
            layout = layouts[path]
            if probe is not None and not layout.labelled:
                continue
            for first, raw, _ in zeek.blocks(path, SCAN_LINES):
                found = zeek.parse_block(path, layout, raw, first, labels).connections
                marked = found[found[cx.LABEL] != ""]
                if len(marked):
                    return True, marked.iloc[:1].reset_index(drop=True)
                if probe is None and len(found):
                    probe = found.iloc[:1].reset_index(drop=True)
                if probe is not None and not layout.labelled:
                    break
        return False, probe

    # -- reading ------------------------------------------------------------------------
    def _capture(self, path: Path, info: SourceCounts) -> Iterator[pd.DataFrame | Ingested]:
        read = self._cache.pop(path, None) or pcap.read_capture(path)
        info.read(read)
        self._pending.append(read.quarantine)
        yield in_order(read.connections)

    def _log(
        self, path: Path, layout: zeek.Layout, info: SourceCounts, work: Path, empty: pd.DataFrame
    ) -> Iterator[pd.DataFrame | Ingested]:
        """The file's connections in (ts, line) order, as frames; its quarantine rows go to
        the pending ones (and out in chunks without records when they pile up)."""
        for piece in sorted_log(path, layout, self.settings.labels, self.block_rows, work):
            if isinstance(piece, pd.DataFrame):
                yield piece
                continue
            read, position = piece
            info.read(read)
            self._pending.append(read.quarantine)
            if sum(len(q) for q in self._pending) > self.chunk_rows:
                yield self._emit(empty)
            self.progress(self._done + position, self._total)

    # -- features -------------------------------------------------------------------------
    def _features(
        self, pieces: Iterator[pd.DataFrame | Ingested], info: SourceCounts
    ) -> Iterator[Ingested]:
        """Records of one file's sorted connections, block by block, each block with the
        rows before it that its windows reach (chunks without records pass through)."""
        carry = cx.empty_connections()
        buffer: list[pd.DataFrame] = []
        held = 0
        settings = self.settings

        def featured(new: pd.DataFrame) -> Iterator[Ingested]:
            nonlocal carry
            frame = pd.concat([carry, new], ignore_index=True) if len(carry) else new
            self.steps(f"building the features of {len(new):,} connections")
            records = self._finish(to_records(frame, settings).iloc[len(carry) :])
            records = records.reset_index(drop=True)
            info.add(records, self._labelled)
            self._count(records)
            for begin in range(0, len(records), self.chunk_rows):
                yield self._emit(records.iloc[begin : begin + self.chunk_rows])
            carry = frame.iloc[reach_start(frame, settings) :].reset_index(drop=True)

        for piece in pieces:
            if isinstance(piece, Ingested):
                yield piece
                continue
            if not len(piece):
                continue
            buffer.append(piece)
            held += len(piece)
            if held >= self.block_rows:
                yield from featured(pd.concat(buffer, ignore_index=True))
                buffer, held = [], 0
        if buffer:
            yield from featured(pd.concat(buffer, ignore_index=True))

    def _finish(self, records: pd.DataFrame) -> pd.DataFrame:
        return finish(records, self._labelled, self.settings)

    def _count(self, records: pd.DataFrame) -> None:
        self._n_records += len(records)
        if len(records):
            self._measured |= records[list(schema.FEATURES)].notna().any().to_numpy()

    def _emit(self, records: pd.DataFrame) -> Ingested:
        """A chunk: these records and every quarantine row not yet given out."""
        pending = [q for q in self._pending if len(q)]
        quarantine = pd.concat([cx.empty_quarantine(), *pending], ignore_index=True)
        self._pending = []
        self._yielded = True
        return Ingested(records.reset_index(drop=True), quarantine)


class SourceCounts:
    """One source's counts for the summary, as traffic.ingest.summarise gives them: those
    of its reads (`read`) and of its records (`add`, or `add_records_of` for records
    counted apart, added in file order)."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.format = ""
        self.units = 0
        self.quarantined = 0
        self.records = 0
        self.reasons: dict[str, int] = {}
        self.labels: dict[str, int] = {}
        self.measured = np.zeros(len(schema.FEATURES), dtype=bool)
        self.notes: list[str] = []
        self.facts: dict[str, Any] = {}

    def read(self, read: cx.Read) -> None:
        self.format = read.format
        self.units += read.units
        self.quarantined += len(read.quarantine)
        self.notes += read.notes
        self.facts.update(read.facts)
        if len(read.quarantine):
            reasons = read.quarantine["reason"].str.split(": ", n=1).str[0]
            _tally(self.reasons, reasons)

    def add(self, records: pd.DataFrame, labelled: bool) -> None:
        self.records += len(records)
        if len(records):
            self.measured |= records[list(schema.FEATURES)].notna().any().to_numpy()
            if labelled:
                _tally(self.labels, records[schema.LABEL].replace("", "(none)"))

    def add_records_of(self, other: SourceCounts) -> None:
        """Add the records counted by `other` (a later part of the same source)."""
        self.records += other.records
        self.measured |= other.measured
        for key, n in other.labels.items():
            self.labels[key] = self.labels.get(key, 0) + n

    def summary(self) -> dict[str, Any]:
        if self.units != self.records + self.quarantined:
            raise RuntimeError(
                f"{self.file}: {self.units} units read but {self.records} records and "
                f"{self.quarantined} quarantined"
            )
        measured = [f for f, m in zip(schema.FEATURES, self.measured, strict=True) if m]
        return {
            "file": self.file,
            "format": self.format,
            "unit": "flows" if self.format in ("pcap", "pcapng") else "lines",
            "read": self.units,
            "records": self.records,
            "quarantined": self.quarantined,
            "quarantine_reasons": _counts(self.reasons),
            "labels": _counts(self.labels),
            "measured": measured if self.records else [],
            "unmeasured": [f for f in schema.FEATURES if f not in measured] if self.records else [],
            "notes": list(self.notes),
            **dict(self.facts.items()),
        }


def _tally(counts: dict[str, int], values: pd.Series) -> None:
    """Add the values' counts, keys in order of first appearance (as value_counts has them
    before it sorts)."""
    for key, n in values.value_counts(sort=False).items():
        counts[key] = counts.get(key, 0) + int(n)


def _counts(counts: dict[str, int]) -> dict[str, int]:
    """The counts sorted as pandas' value_counts sorts them (most first)."""
    if not counts:
        return {}
    ordered = pd.Series(list(counts.values()), index=list(counts.keys())).sort_values(
        ascending=False
    )
    return {str(k): int(v) for k, v in ordered.items()}
