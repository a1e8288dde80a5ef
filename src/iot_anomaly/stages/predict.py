"""`iot-anomaly predict`: score a traffic file with the champion (the promoted one, or the
registered model before the first promotion). Writes one row per input line and the bad
lines to a quarantine file beside the output; figures against the labels when the file has
them, and a summary of the verdicts.

The input is a KDD-format file, or traffic (a packet capture, a Zeek conn.log, its CSV
conversion, records written by `iot-anomaly ingest`, or a folder of such files), told apart
by content. Traffic is ingested in this process (traffic.stream) and its predictions carry
the provenance columns (where each record came from); the ingestion summary is written
beside them. A champion that reads a feature the input did not measure (a content feature,
from flows) is an error saying which, never a guess.

The input streams through in chunks of `stream.chunk_rows` rows (params): read, scored and
appended to the output, so peak memory is set by the chunk size, not the input's size. A
`VerdictCache` of `stream.cache_rows` distinct feature vectors carries verdicts across
chunks, and the traffic features carry their windows across chunk borders, so the output is
the same, byte for byte, whatever the chunk size. The outputs are written to temporary files
moved into place at the end: a run that fails leaves the last good outputs.

Start-up is a large share of a short run, so the networks' helper process is forked first
(it imports PyTorch while this process goes on), and pandas and scikit-learn are imported
only after the fork (see models/runner.py).
"""

from __future__ import annotations

import dataclasses
import gc
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from iot_anomaly.config import Paths, serving_paths
from iot_anomaly.models.runner import start_networks
from iot_anomaly.runtime import Runtime, steady_memory
from iot_anomaly.traffic.sniff import CAPTURE, RECORDS, traffic_kind

#: A folder as input: the traffic files inside it, ingested together.
FOLDER: Final = "folder"
#: Hosts listed in the summary: those with the most attack connections.
TOP_OFFENDERS: Final = 10
#: The key of the verdicts' summary in the ingestion summary written beside the output.
VERDICTS: Final = "verdicts"

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from iot_anomaly.params import IngestParams, StreamParams
    from iot_anomaly.serving import Champion

#: Told after each chunk: rows scored so far, work done and the whole work (bytes of input
#: read; the whole None when unknown).
Progress = Callable[[int, int, int | None], None]


@dataclass(frozen=True)
class Prediction:
    """What one `predict` run did, for the command to print."""

    rows: int
    attacks: int
    seconds: float
    version: str
    output: Path
    quarantine: Path
    quarantined: int
    metrics: dict[str, Any] | None  # against the file's labels; None without labels or rows
    ingest: dict[str, Any] | None = None  # traffic input: the ingestion summary
    summary: dict[str, Any] = field(default_factory=dict)  # see `Tally.summary`
    tally: Tally | None = None  # what the summary and the metrics were made from


def quarantine_file(output: Path) -> Path:
    """Where the bad lines of a run go: <output>.quarantine.csv beside the predictions."""
    return output.with_name(output.stem + ".quarantine.csv")


@dataclass(frozen=True)
class Chunk:
    """A piece of the input: the rows to score (indexed by line for a KDD file), their
    provenance columns (traffic) and the quarantine rows read with them."""

    frame: pd.DataFrame
    quarantine: pd.DataFrame
    provenance: pd.DataFrame | None
    labelled: bool


@dataclass
class Tally:
    """What the run has seen so far, kept small whatever the input's size: counts, attack
    connections per source host and category, and the confusion counts of a labelled
    input (for its metrics). Tallies of parts scored apart add up to the whole's."""

    rows: int = 0
    quarantined: int = 0
    categories: dict[str, int] = field(default_factory=dict)
    hosts: pd.DataFrame | None = None  # per source host and category: attack connections
    labelled: bool = True
    confusion: np.ndarray | None = None  # labelled input: true x predicted category counts

    def add(self, chunk: Chunk, verdicts: pd.DataFrame) -> None:
        from iot_anomaly.serving import confusion
        from iot_anomaly.traffic.connections import SRC_IP, TS

        self.rows += len(verdicts)
        self.quarantined += len(chunk.quarantine)
        for name, n in verdicts["category"].value_counts().items():
            self.categories[str(name)] = self.categories.get(str(name), 0) + int(n)
        if chunk.provenance is not None and len(verdicts):
            attacks = verdicts["attack"].to_numpy()
            seen = chunk.provenance.loc[attacks, [SRC_IP, TS]].assign(
                category=verdicts["category"].to_numpy()[attacks]
            )
            part = seen.groupby([SRC_IP, "category"]).agg(
                attacks=(TS, "size"), first=(TS, "min"), last=(TS, "max")
            )
            self.hosts = part if self.hosts is None else _merge_hosts(self.hosts, part)
        self.labelled = self.labelled and chunk.labelled
        if self.labelled and len(verdicts):
            counts = confusion(chunk.frame, verdicts)
            self.confusion = counts if self.confusion is None else self.confusion + counts

    def __add__(self, other: Tally) -> Tally:
        categories = dict(self.categories)
        for name, n in other.categories.items():
            categories[name] = categories.get(name, 0) + n
        hosts = [h for h in (self.hosts, other.hosts) if h is not None]
        confusion = [c for c in (self.confusion, other.confusion) if c is not None]
        return Tally(
            rows=self.rows + other.rows,
            quarantined=self.quarantined + other.quarantined,
            categories=categories,
            hosts=_merge_hosts(*hosts) if len(hosts) == 2 else next(iter(hosts), None),
            labelled=self.labelled and other.labelled,
            confusion=sum(confusion[1:], confusion[0]) if confusion else None,
        )

    @property
    def attacks(self) -> int:
        from iot_anomaly import schema

        return sum(n for c, n in self.categories.items() if c != schema.NORMAL)

    def metrics(self) -> dict[str, Any] | None:
        """Figures against the labels; None without labels or rows."""
        from iot_anomaly.serving import metrics_from_confusion

        if not self.labelled or self.confusion is None:
            return None
        return metrics_from_confusion(self.confusion)

    def summary(self) -> dict[str, Any]:
        """Rows, quarantined, attacks and their share, rows per predicted category and, for
        traffic, the hosts with the most attack connections (first and last seen in the
        source's time, seconds since 1970)."""
        from iot_anomaly.traffic.connections import SRC_IP

        offenders: list[dict[str, Any]] = []
        hosts = None if self.hosts is None else self.hosts.index.get_level_values(SRC_IP)
        if self.hosts is not None and len(self.hosts):
            per_host = self.hosts.groupby(level=SRC_IP)
            total = per_host["attacks"].sum().sort_values(ascending=False, kind="stable")
            for host in total.index[:TOP_OFFENDERS]:
                rows = self.hosts.xs(host, level=SRC_IP)
                offenders.append(
                    {
                        "host": str(host),
                        "attacks": int(total[host]),
                        "categories": {str(c): int(n) for c, n in rows["attacks"].items()},
                        "first_seen": float(rows["first"].min()),
                        "last_seen": float(rows["last"].max()),
                    }
                )
        return {
            "rows": self.rows,
            "quarantined": self.quarantined,
            "attacks": self.attacks,
            "attack_share": self.attacks / self.rows if self.rows else 0.0,
            "categories": dict(sorted(self.categories.items())),
            "hosts_with_attacks": 0 if hosts is None else int(hosts.nunique()),
            "top_offenders": offenders,
        }


def _merge_hosts(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Per-host, per-category tallies of two chunks as one."""
    import pandas as pd

    both = pd.concat([a, b]).groupby(level=[0, 1])
    return both.agg(attacks=("attacks", "sum"), first=("first", "min"), last=("last", "max"))


def run(
    input: Path,
    output: Path,
    champion_dir: Path,
    paths: Paths,
    settings: Runtime | None = None,
    ingest: IngestParams | None = None,
    stream: StreamParams | None = None,
    progress: Progress | None = None,
) -> Prediction:
    """Score `input` with the model in use (the champion store `champion_dir`, or the model
    `paths` registered) and write the predictions to `output`. `settings` (how the work is
    spread) defaults to the environment's; `ingest` (params group `ingest`) is needed for
    traffic input; `stream` (params group `stream`) sets the chunks, None reads the input
    as one chunk. Raises FileNotFoundError without a registered model or input file,
    ValueError for a file that is neither KDD format nor readable traffic, or for traffic
    whose records lack a feature the champion reads."""
    if not input.exists():
        raise FileNotFoundError(f"{input}: no such file or folder")
    kind = FOLDER if input.is_dir() else traffic_kind(input)
    if kind is not None and ingest is None:
        raise ValueError(f"{input} is traffic ({kind}): reading it needs the ingest params")
    tally = Tally()
    source = _Source(input, kind, ingest, stream.chunk_rows if stream else None, progress, tally)
    # nfstream forks its meter processes: a capture is not read while another thread imports.
    done = score_chunks(
        source,
        input,
        output,
        champion_dir,
        paths,
        settings,
        stream,
        tally,
        kind in (CAPTURE, FOLDER),
    )
    if source.ingest_summary is not None:
        from iot_anomaly.io import write_json
        from iot_anomaly.traffic.ingest import summary_path

        ingested = {**source.ingest_summary, VERDICTS: done.summary}
        write_json(ingested, summary_path(output))
        done = dataclasses.replace(done, ingest=ingested)
    return done


def score_chunks(
    chunks: Iterable[Chunk],
    input: Path,
    output: Path,
    champion_dir: Path,
    paths: Paths,
    settings: Runtime | None = None,
    stream: StreamParams | None = None,
    tally: Tally | None = None,
    traffic: bool = True,
    imports_first: bool = False,
) -> Prediction:
    """Score `chunks` (of `input`; `traffic`: records with provenance, else KDD rows) into
    `output` and its quarantine, each distinct vector once (a `VerdictCache` of
    `stream.cache_rows`), and add them up in `tally`. The next chunk is read in a thread
    while one is scored, and the first while scikit-learn imports, unless `imports_first`.
    The outputs are moved into place at the end, or left as they were on an error."""
    started = time.perf_counter()
    steady_memory()
    paths = serving_paths(champion_dir, paths)
    settings = settings or Runtime.from_env()
    tally = tally if tally is not None else Tally()
    quarantine = quarantine_file(output)
    networks = start_networks(paths, settings)  # first thing: the helper imports PyTorch
    chunks = iter(chunks)
    try:
        with ThreadPoolExecutor(max_workers=1) as reader:
            ahead = None if imports_first else reader.submit(next, chunks, None)
            from iot_anomaly.io import atomic_files
            from iot_anomaly.serving import Champion, VerdictCache

            gc.freeze()  # what is imported lives until exit: keep the collector off it
            champion = Champion.load(paths, settings, networks)
            cache = VerdictCache(champion, stream.cache_rows if stream else 1)
            ahead = ahead or reader.submit(next, chunks, None)
            with atomic_files(output, quarantine) as (out, bad):
                first = True
                while (chunk := ahead.result()) is not None:
                    ahead = reader.submit(next, chunks, None)
                    if chunk.provenance is not None:
                        _check_measured(input, champion, chunk.frame)
                    scored = cache.score(chunk.frame)
                    _write(out, scored, chunk, header=first)
                    chunk.quarantine.to_csv(bad, index=False, header=first, lineterminator="\n")
                    tally.add(chunk, scored.frame(["category", "attack"]))
                    first = False
                if first:  # no chunk at all: the headers of empty outputs
                    _write_headers(
                        out, bad, champion, traffic=input.is_dir() or bool(traffic_kind(input))
                    )
    finally:
        networks.close()
    return Prediction(
        rows=tally.rows,
        attacks=tally.attacks,
        seconds=time.perf_counter() - started,
        version=champion.record["version"],
        output=output,
        quarantine=quarantine,
        quarantined=tally.quarantined,
        metrics=tally.metrics(),
        summary=tally.summary(),
        tally=tally,
    )


class _Source:
    """The input as chunks: a KDD file through data.reader.iter_kdd, a records file in
    pieces, other traffic through traffic.stream.Stream (whose summary is kept)."""

    def __init__(
        self,
        input: Path,
        kind: str | None,
        ingest: IngestParams | None,
        chunk_rows: int | None,
        progress: Progress | None,
        tally: Tally,
    ) -> None:
        self.input, self.kind, self.ingest, self.chunk_rows = input, kind, ingest, chunk_rows
        self.progress, self.tally = progress, tally
        self.done, self.total = 0, None if input.is_dir() else input.stat().st_size
        self.ingest_summary: dict[str, Any] | None = None

    def _bytes(self, done: int, total: int | None) -> None:
        self.done, self.total = done, total

    def __iter__(self) -> Iterator[Chunk]:
        """The chunks; before reading each next one, progress is told the rows scored."""
        if self.kind is None:
            chunks = self._kdd()
        elif self.kind == RECORDS:
            chunks = self._records()
        else:
            chunks = self._traffic()
        for chunk in chunks:
            yield chunk
            if self.progress is not None:
                self.progress(self.tally.rows, self.done, self.total)

    def _kdd(self) -> Iterator[Chunk]:
        from iot_anomaly.data.reader import iter_kdd

        for parsed in iter_kdd(self.input, self.chunk_rows or 2**62, progress=self._bytes):
            yield Chunk(parsed.frame, parsed.quarantine, None, parsed.has_label)

    def _records(self) -> Iterator[Chunk]:
        from iot_anomaly.traffic import ingest as traffic
        from iot_anomaly.traffic.connections import empty_quarantine
        from iot_anomaly.traffic.records import PROVENANCE, iter_records

        for records, done in iter_records(self.input, self.chunk_rows):
            self.done = done
            yield Chunk(records, empty_quarantine(), records[list(PROVENANCE)], _labelled(records))
        self.ingest_summary = traffic.read_records_summary(self.input) or {
            "records": self.tally.rows
        }

    def _traffic(self) -> Iterator[Chunk]:
        from iot_anomaly.traffic.records import PROVENANCE
        from iot_anomaly.traffic.stream import Stream

        assert self.ingest is not None
        chunks = Stream([self.input], self.ingest, self.chunk_rows or 2**62, self._bytes)
        for part in chunks:
            records = part.records
            yield Chunk(records, part.quarantine, records[list(PROVENANCE)], part.labelled)
        self.ingest_summary = chunks.summary


def _labelled(records: pd.DataFrame) -> bool:
    from iot_anomaly import schema

    return schema.CATEGORY in records.columns and bool((records[schema.CATEGORY] != "").all())


def _write(out: Any, scored: Any, chunk: Chunk, header: bool) -> None:
    """Append a chunk's predictions: KDD input as `Scored.csv_text` (indexed by line),
    traffic with its provenance columns first."""
    import pandas as pd

    if chunk.provenance is None:
        out.write(scored.csv_text(header=header))
        return
    table = pd.concat(
        [chunk.provenance.reset_index(drop=True), scored.frame().reset_index(drop=True)], axis=1
    )
    table.to_csv(out, index=False, header=header, lineterminator="\n")


def _write_headers(out: Any, bad: Any, champion: Champion, traffic: bool) -> None:
    """The header lines of outputs with no row (an input with no data line at all)."""
    import pandas as pd

    from iot_anomaly.data.reader import QUARANTINE_COLUMNS
    from iot_anomaly.traffic.records import PROVENANCE

    columns = list(champion.score(pd.DataFrame(columns=champion.features)).distinct.columns)
    first = list(PROVENANCE) if traffic else ["line"]
    out.write(",".join([*first, *columns]) + "\n")
    bad.write(",".join(QUARANTINE_COLUMNS) + "\n")


def unmeasured(champion: Champion, records: pd.DataFrame) -> dict[str, int]:
    """The features the champion reads that some records lack (NaN: the source did not
    measure them), with how many records lack each."""
    missing = records.reindex(columns=champion.features).isna().sum()
    return {str(f): int(n) for f, n in missing.items() if n}


def _check_measured(input: Path, champion: Champion, records: pd.DataFrame) -> None:
    lacking = unmeasured(champion, records)
    if lacking:
        raise ValueError(_unmeasured_message(input, champion.record, lacking, len(records)))


def _unmeasured_message(
    input: Path, record: dict[str, Any], lacking: dict[str, int], n: int
) -> str:
    if set(lacking.values()) == {n}:
        what = f"{', '.join(lacking)} (none of its {n:,} records has them)"
    else:
        what = ", ".join(f"{f} ({k:,} of {n:,} records lack it)" for f, k in lacking.items())
    return (
        f"{input}: the champion (version {record['version']}, protocol {record['protocol']}) "
        f"reads {len(lacking)} features this input does not measure: {what}. Traffic "
        "sources measure the flow features only; serve a flow model (a protocol of feature "
        "set `flow`) to score them."
    )
