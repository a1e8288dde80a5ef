"""Score a folder of traffic files on a Dask cluster, one task per file or per time slab of
a large file, with the same result as `predict` in one process.

Traffic features are computed per file (time and host windows never cross files), so a
folder splits into its files (`partitions`, in the order `predict` reads them); each file is
scored by `stages.predict.run` on a worker (`score_part`) into a part folder beside the
output; `merge_parts` then concatenates the parts in file order into the predictions, the
quarantine and the ingestion summary that `predict` writes for the whole folder (sources
concatenated, totals summed), all moved into place together or not at all.

A Zeek log (or CSV conversion) of more than `stream.partition_rows` lines is split by time
too: the client reads it once in (ts, line) order (traffic.stream.sorted_log) and cuts its
connections into slabs of that many (`slabs`), each written with the rows before it
that its windows reach, so that a worker (`score_slab`) computes the slab's records exactly
as a whole-file run does. The file's quarantine rows go with its first slab, and its
ingestion summary is the client's counts of the reads plus the slabs' counts of records.

The workers read the input and the champion and write the parts by path: they must share
the client's filesystem. A local cluster does; the workers of an existing scheduler must see
the same paths (absolute ones, or the same working directory), and, to ingest captures or
run the networks in a helper process, must be non-daemonic (`distributed.worker.daemon:
false`), as they start processes of their own.

Nothing here imports Prefect: flows/score.py maps the same functions over the files.
"""

from __future__ import annotations

import dataclasses
import gzip
import itertools
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

from iot_anomaly.config import Paths
from iot_anomaly.io import atomic_files, json_text
from iot_anomaly.params import IngestParams, StreamParams
from iot_anomaly.runtime import Runtime
from iot_anomaly.stages.predict import VERDICTS, Chunk, Prediction, quarantine_file, score_chunks

if TYPE_CHECKING:
    import pandas as pd

    from iot_anomaly.traffic.stream import SourceCounts

#: Summary totals that add up over files.
TOTALS: Final = ("read", "records", "quarantined")
#: Bytes read at once when counting a file's lines.
COUNT_BYTES: Final = 1 << 20


def partitions(input: Path) -> list[Path]:
    """The files `input` is scored as, one task each, in the order `predict` reads them: a
    folder's traffic files (traffic.ingest.expand: recursively, in name order), or the file
    itself. Raises FileNotFoundError for a missing input, ValueError for a folder without a
    traffic file."""
    if not input.exists():
        raise FileNotFoundError(f"{input}: no such file or folder")
    if not input.is_dir():
        return [input]
    from iot_anomaly.traffic.ingest import expand

    files, skipped = expand([input])
    if not files:
        raise ValueError(f"{input}: no traffic file in the folder ({len(skipped)} others skipped)")
    return files


def worker_settings(threads: int, environ: dict[str, str] | None = None) -> Runtime:
    """The run-time settings of a worker running `threads` threads: the environment's,
    with every thread and worker count of `predict` held to `threads` so that the workers
    of a machine do not oversubscribe its cores."""
    base = Runtime.from_env(environ)
    return base.model_copy(
        update={"threads": threads, "predict_workers": threads, "predict_threads": 1}
    )


def worker_environment(threads: int) -> dict[str, str]:
    """The IOT_ANOMALY_* variables (and the native libraries' thread counts) a worker
    process of `threads` threads is started with."""
    settings = {"threads": threads, "predict_workers": threads, "predict_threads": 1}
    env = {Runtime.variable(name): str(value) for name, value in settings.items()}
    env.update({v: "1" for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")})
    return env


def part_output(parts_dir: Path, index: int) -> Path:
    """Where the predictions of the `index`-th file go (its quarantine and summary beside)."""
    return parts_dir / f"part-{index:05d}.csv"


def score_part(
    file: Path,
    output: Path,
    champion_dir: Path,
    paths: Paths,
    ingest: IngestParams,
    stream: StreamParams,
    threads: int = 1,
) -> Prediction:
    """Score one file with the champion (`stages.predict.run`) into `output`, with
    `threads` threads (see `worker_settings`). Runs on a worker."""
    from iot_anomaly.stages import predict

    return predict.run(
        input=file,
        output=output,
        champion_dir=champion_dir,
        paths=paths,
        settings=worker_settings(threads),
        ingest=ingest,
        stream=stream,
    )


@dataclass(frozen=True)
class Slab:
    """A time slab of a file, as the client wrote it for a worker: `connections` (parquet)
    holds the `prefix` rows its windows reach, then its own; `quarantine` (parquet), for the
    first slab of a file, that file's quarantine rows; `labelled`: whether the file has any
    label (its records then carry label and category)."""

    file: Path
    connections: Path
    prefix: int
    quarantine: Path | None
    labelled: bool


@dataclass(frozen=True)
class SlabResult:
    """What a worker did with a slab: the prediction (`ingest` None) and the counts of its
    records for the file's summary."""

    prediction: Prediction
    counts: SourceCounts


def more_lines_than(path: Path, limit: int) -> bool:
    """Whether the file (gzip or plain) has more than `limit` lines; reads no further than
    needed to tell."""
    with path.open("rb") as disk:
        gzipped = disk.read(2) == b"\x1f\x8b"
        disk.seek(0)
        with gzip.GzipFile(fileobj=disk) if gzipped else disk as handle:
            lines = 0
            while block := handle.read(COUNT_BYTES):
                lines += block.count(b"\n")
                if lines > limit:
                    return True
    return False


def split_by_time(file: Path, partition_rows: int) -> bool:
    """Whether `file` is scored in time slabs: a Zeek log or CSV of more lines than
    `partition_rows` (a capture is read whole anyway)."""
    from iot_anomaly.traffic.ingest import source_kind
    from iot_anomaly.traffic.sniff import CAPTURE

    return source_kind(file) != CAPTURE and more_lines_than(file, partition_rows)


def slabs(
    frames: Iterable[pd.DataFrame], rows: int, settings: IngestParams
) -> Iterator[tuple[pd.DataFrame, int]]:
    """Connections in (ts, line) order, as frames, cut into slabs of `rows` connections (the
    last may be shorter), each as (the rows before it that its windows reach followed by
    its own, how many rows come before it): the same rule as the carry between blocks of
    traffic.stream, so that the records of a slab's rows are those of a whole-file run."""
    import pandas as pd

    from iot_anomaly.traffic.stream import reach_start

    if rows < 1:
        raise ValueError(f"partition_rows must be at least 1, not {rows}")
    carry: pd.DataFrame | None = None
    buffer: list[pd.DataFrame] = []
    held = 0

    def cut(slab: pd.DataFrame) -> tuple[pd.DataFrame, int]:
        nonlocal carry
        before = 0 if carry is None else len(carry)
        frame = pd.concat([carry, slab], ignore_index=True) if before else slab
        frame = frame.reset_index(drop=True)
        carry = frame.iloc[reach_start(frame, settings) :]
        return frame, before

    for frame in frames:
        if not len(frame):
            continue
        buffer.append(frame)
        held += len(frame)
        while held >= rows:
            whole = pd.concat(buffer, ignore_index=True) if len(buffer) > 1 else buffer[0]
            yield cut(whole.iloc[:rows])
            rest = whole.iloc[rows:]
            buffer, held = ([rest], len(rest)) if len(rest) else ([], 0)
    if held:
        yield cut(pd.concat(buffer, ignore_index=True))


def cut_file(
    file: Path,
    folder: Path,
    stem: str,
    settings: IngestParams,
    rows: int,
    block_rows: int,
    info: SourceCounts,
) -> Iterator[Slab]:
    """Read a Zeek log or CSV once in (ts, line) order and write its slabs (`slabs`) to
    `folder` as <stem>-<n>.parquet (one slab without rows for a file without connections),
    its quarantine rows beside the first; the reads are counted into `info` (its records
    are the workers'). The sorted runs of a log out of time order are kept in a folder
    inside `folder` until the file is cut."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from iot_anomaly.traffic import connections as cx
    from iot_anomaly.traffic import zeek
    from iot_anomaly.traffic.ingest import source_kind
    from iot_anomaly.traffic.stream import sorted_log

    layout = zeek.read_layout(file, source_kind(file))
    quarantine: list[pd.DataFrame] = []
    labelled = False

    def connections(work: Path) -> Iterator[pd.DataFrame]:
        nonlocal labelled
        for piece in sorted_log(file, layout, settings.labels, block_rows, work):
            if isinstance(piece, pd.DataFrame):
                yield piece
                continue
            read, _ = piece
            info.read(read)
            if len(read.quarantine):
                quarantine.append(read.quarantine)
            labelled = labelled or bool((read.connections[cx.LABEL] != "").any())

    with tempfile.TemporaryDirectory(dir=folder, prefix=f"{stem}-runs-") as work:
        cut = slabs(connections(Path(work)), rows, settings)
        # A file of no connection still has a part: its quarantine rows and summary.
        first = next(cut, None) or (cx.empty_connections(), 0)
        for n, (frame, prefix) in enumerate(itertools.chain([first], cut)):
            path = folder / f"{stem}-{n:05d}.parquet"
            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
            bad = None
            if n == 0:
                bad = folder / f"{stem}-quarantine.parquet"
                rows_out = pd.concat([cx.empty_quarantine(), *quarantine], ignore_index=True)
                pq.write_table(pa.Table.from_pandas(rows_out, preserve_index=False), bad)
            yield Slab(file, path, prefix, bad, labelled)


def slab_chunks(
    slab: Slab, settings: IngestParams, chunk_rows: int
) -> tuple[Iterator[Chunk], SourceCounts]:
    """The chunks `predict` scores for a slab's rows (records in pieces of `chunk_rows`,
    each computed with the rows before it that its windows reach, as traffic.stream does;
    the file's quarantine rows with the first of a first slab), and the counts of its
    records for the file's summary, complete once the chunks are consumed."""
    import pandas as pd

    from iot_anomaly.traffic import connections as cx
    from iot_anomaly.traffic.features import to_records
    from iot_anomaly.traffic.ingest import Ingested
    from iot_anomaly.traffic.records import PROVENANCE
    from iot_anomaly.traffic.stream import SourceCounts, finish, reach_start

    counts = SourceCounts(str(slab.file))

    def chunks() -> Iterator[Chunk]:
        frame = pd.read_parquet(slab.connections)
        quarantine = cx.empty_quarantine()
        if slab.quarantine is not None:
            read = pd.read_parquet(slab.quarantine)
            quarantine = (
                pd.concat([quarantine, read], ignore_index=True) if len(read) else quarantine
            )
        begin = slab.prefix
        while True:
            end = min(begin + chunk_rows, len(frame))
            reach = reach_start(frame.iloc[:begin], settings)
            part = frame.iloc[reach:end].reset_index(drop=True)
            records = to_records(part, settings).iloc[begin - reach :].reset_index(drop=True)
            records = finish(records, slab.labelled, settings)
            counts.add(records, slab.labelled)
            piece = Ingested(records, quarantine if begin == slab.prefix else cx.empty_quarantine())
            yield Chunk(records, piece.quarantine, records[list(PROVENANCE)], piece.labelled)
            if end >= len(frame):
                return
            begin = end

    return chunks(), counts


def score_slab(
    slab: Slab,
    output: Path,
    champion_dir: Path,
    paths: Paths,
    ingest: IngestParams,
    stream: StreamParams,
    threads: int = 1,
) -> SlabResult:
    """Score one slab with the champion into `output` (its records, then `score_chunks`),
    with `threads` threads (see `worker_settings`). Runs on a worker."""
    chunks, counts = slab_chunks(slab, ingest, stream.chunk_rows)
    settings = worker_settings(threads)
    done = score_chunks(chunks, slab.file, output, champion_dir, paths, settings, stream)
    return SlabResult(done, counts)


def file_summary(info: SourceCounts, slabs: list[SourceCounts]) -> dict[str, Any]:
    """The ingestion summary of a file scored in slabs, as traffic.stream.Stream gives it
    for the file alone: the client's counts of its reads (`info`, to which the slabs'
    counts of records are added, in order)."""
    for counts in slabs:
        info.add_records_of(counts)
    source = info.summary()
    return {
        "sources": [source],
        "skipped": [],
        **{key: source[key] for key in TOTALS},
        "unmeasured": source["unmeasured"],
    }


@contextmanager
def parts_folder(output: Path) -> Iterator[Path]:
    """A temporary folder beside `output` for the parts, removed when the block ends."""
    output.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}.parts-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _append_csv(source: Path, sink: IO[str], header: list[str | None]) -> None:
    """Copy the CSV `source` to `sink`, its header only if none was written yet; every
    part must have the same header (`header[0]` holds the first one seen)."""
    with source.open(encoding="utf-8", newline="") as handle:
        first = handle.readline()
        if header[0] is None:
            header[0] = first
            sink.write(first)
        elif first != header[0]:
            raise ValueError(
                f"{source}: its columns ({first.strip()}) differ from the first part's "
                f"({header[0].strip()}); the parts cannot be merged"
            )
        shutil.copyfileobj(handle, sink, 1 << 20)


def merge_summaries(summaries: list[dict[str, Any]], skipped: list[str]) -> dict[str, Any]:
    """One ingestion summary for the files of `summaries` read together, as
    traffic.ingest.summarise writes it: the sources in order, the totals summed, the folder's
    skipped files, and the features no record of any source measured."""
    from iot_anomaly import schema

    sources = [s for summary in summaries for s in summary.get("sources", [])]
    with_records = [s for s in sources if s.get("records")]
    merged: dict[str, Any] = {
        "sources": sources,
        "skipped": skipped,
        **{key: sum(int(s.get(key, 0)) for s in summaries) for key in TOTALS},
        "unmeasured": [
            f
            for f in schema.FEATURES
            if with_records and all(f in s.get("unmeasured", []) for s in with_records)
        ],
    }
    # Fields a summary may carry beyond these: counts add up, the rest must agree.
    for key in dict.fromkeys(k for s in summaries for k in s):
        if key in merged:
            continue
        values = [s[key] for s in summaries if key in s]
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            merged[key] = sum(values)
        elif all(v == values[0] for v in values):
            merged[key] = values[0]
    return merged


def merge_parts(input: Path, parts: list[Prediction], output: Path) -> Prediction:
    """Concatenate the parts (in the order given: that of `partitions(input)`) into
    `output`, its quarantine and, for traffic, its ingestion summary, exactly as `predict`
    writes them for `input` in one process: each header once, rows in file order, the
    parts' tallies added up. A part whose ingestion summary is empty (a later slab of a
    file, whose first slab carries the file's summary) adds rows, not a source. The files
    are moved into place together, or none is. Raises
    ValueError when the parts were scored by different champions."""
    from iot_anomaly.traffic.ingest import expand, summary_path

    versions = sorted({p.version for p in parts})
    if len(versions) != 1:
        raise ValueError(f"the parts were scored by different champions: {', '.join(versions)}")
    tally = sum((p.tally for p in parts[1:] if p.tally), parts[0].tally)
    assert tally is not None  # every part comes from stages.predict.run
    summary = tally.summary()
    ingested = None
    if all(p.ingest is not None for p in parts):
        skipped = [str(p) for p in expand([input])[1]] if input.is_dir() else []
        sources = [{k: v for k, v in p.ingest.items() if k != VERDICTS} for p in parts if p.ingest]
        ingested = {**merge_summaries(sources, skipped), VERDICTS: summary}
    outputs = [p.output for p in parts]
    targets = [output, quarantine_file(output)] + ([summary_path(output)] if ingested else [])
    with atomic_files(*targets) as handles:
        for files, sink in ((outputs, handles[0]), (map(quarantine_file, outputs), handles[1])):
            header: list[str | None] = [None]
            for path in files:
                _append_csv(path, sink, header)
        if ingested:
            handles[2].write(json_text(ingested))
    return Prediction(
        rows=tally.rows,
        attacks=tally.attacks,
        seconds=sum(p.seconds for p in parts),
        version=versions[0],
        output=output,
        quarantine=quarantine_file(output),
        quarantined=tally.quarantined,
        metrics=tally.metrics(),
        ingest=ingested,
        summary=summary,
        tally=tally,
    )


@contextmanager
def _client(address: str | None, n_workers: int, threads_per_worker: int) -> Iterator[Any]:
    """A client of the scheduler at `address`, or of a local cluster of worker processes
    started (non-daemonic, so that they may start the networks' helper) and closed here."""
    import dask
    from distributed import Client, LocalCluster

    if address:
        with Client(address) as client:
            yield client
        return
    with dask.config.set({"distributed.worker.daemon": False}):
        cluster = LocalCluster(
            n_workers=n_workers,
            threads_per_worker=threads_per_worker,
            processes=True,
            dashboard_address=None,
            env=worker_environment(threads_per_worker),
        )
    try:
        with Client(cluster) as client:
            yield client
    finally:
        cluster.close()


def score_parts(
    input: Path,
    folder: Path,
    ingest: IngestParams,
    stream: StreamParams,
    submit: Callable[[Callable[..., Any], Any, Path], Any],
    gather: Callable[[list[Any]], list[Any]],
) -> list[Prediction]:
    """Every part of `input` scored, in order: a task per file (`score_part`), or per time
    slab of a Zeek log of more than `stream.partition_rows` lines (`score_slab`; the file is
    cut here, on the client, into `folder`). `submit(function, file or slab, part output)`
    starts a task and `gather(futures)` waits for them all (a Dask client's, or Prefect's
    task runner's). A file scored in slabs gets its ingestion summary on its first part."""
    from iot_anomaly.traffic.stream import SourceCounts

    block_rows = max(stream.chunk_rows, 1024)  # the blocks traffic.stream reads
    futures: list[Any] = []
    cut: dict[int, SourceCounts] = {}  # first part of a file split in slabs: its reads
    slab_of: list[int] = []  # each part's file (its first part) when split, else -1
    for i, file in enumerate(partitions(input)):
        if not split_by_time(file, stream.partition_rows):
            slab_of.append(-1)
            futures.append(submit(score_part, file, part_output(folder, len(futures))))
            continue
        head = len(futures)
        cut[head] = SourceCounts(str(file))
        stem = f"slab-{i:05d}"
        for slab in cut_file(
            file, folder, stem, ingest, stream.partition_rows, block_rows, cut[head]
        ):
            slab_of.append(head)
            futures.append(submit(score_slab, slab, part_output(folder, len(futures))))
    done = gather(futures)
    summaries = {
        head: file_summary(info, [done[i].counts for i, h in enumerate(slab_of) if h == head])
        for head, info in cut.items()
    }
    return [
        done[i]
        if head < 0
        else dataclasses.replace(done[i].prediction, ingest=summaries.get(i, {}))
        for i, head in enumerate(slab_of)
    ]


def score_on_dask(
    input: Path,
    output: Path,
    champion_dir: Path,
    paths: Paths,
    ingest: IngestParams,
    stream: StreamParams,
    address: str | None = None,
    n_workers: int = 2,
    threads_per_worker: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> Prediction:
    """Score `input` (a file, or a folder of traffic files) on a Dask cluster, one task per
    file or per time slab of a larger Zeek log (`score_parts`), and write the same
    predictions, quarantine and summary as `predict` in one process. The cluster
    is the scheduler at `address`, whose workers must share this filesystem, or a local one
    of `n_workers` processes of `threads_per_worker` threads. `progress(done, total)` is
    told each part scored. Returns what the whole run did (its seconds: from start to
    merged); on failure no output is written."""
    from distributed import as_completed

    started = time.perf_counter()
    report = progress or (lambda _done, _total: None)
    with parts_folder(output) as folder, _client(address, n_workers, threads_per_worker) as client:

        def submit(function: Callable[..., Any], first: Any, part: Path) -> Any:
            return client.submit(
                function,
                first,
                part,
                champion_dir,
                paths,
                ingest,
                stream,
                threads_per_worker,
                key=f"score-{part.stem}-{os.getpid()}-{time.time_ns()}",
                pure=False,
            )

        def gather(futures: list[Any]) -> list[Any]:
            order = {f.key: i for i, f in enumerate(futures)}
            done: list[Any] = [None] * len(futures)
            try:
                for n, future in enumerate(as_completed(futures), 1):
                    done[order[future.key]] = future.result()
                    report(n, len(futures))
            except BaseException:
                client.cancel(futures)
                raise
            return done

        parts = score_parts(input, folder, ingest, stream, submit, gather)
        merged = merge_parts(input, parts, output)
    return dataclasses.replace(merged, seconds=time.perf_counter() - started)
