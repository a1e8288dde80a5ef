"""Streaming ingestion: any chunk size gives the records, quarantine and summary of reading
every file whole (the reference below is that whole-file ingestion, written out)."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import pandas as pd
import pytest

from iot_anomaly import schema
from iot_anomaly.config import load_params
from iot_anomaly.traffic import connections as cx
from iot_anomaly.traffic import zeek
from iot_anomaly.traffic.features import to_records
from iot_anomaly.traffic.ingest import (
    Ingested,
    expand,
    ingest,
    read_source,
    summarise,
    write_ingested,
    write_stream,
)
from iot_anomaly.traffic.stream import Stream

ROOT = Path(__file__).resolve().parents[2]
IOT23 = ROOT / "data" / "iot23"
LOG = IOT23 / "CTU-Malware-Capture-8-1.conn.log.labeled"
CSV = IOT23 / "CTU-Malware-Capture-20-1-labeled.csv"
SETTINGS = load_params(ROOT / "params.yaml").ingest


def whole(sources: list[Path]) -> Ingested:
    """Ingestion as it reads every file whole: all connections, then the records."""
    files, skipped = expand(sources)
    reads = [read_source(path, SETTINGS.labels) for path in files]
    connections = pd.concat([r.connections for r in reads], ignore_index=True)
    quarantine = pd.concat(
        [cx.empty_quarantine(), *(r.quarantine for r in reads if len(r.quarantine))],
        ignore_index=True,
    )
    records = to_records(connections, SETTINGS)
    if schema.LABEL in records.columns:
        labels = records[schema.LABEL].fillna("").astype(str)
        records[schema.LABEL] = labels
        records[schema.CATEGORY] = cx.categories(labels, SETTINGS.labels).fillna("")
    return Ingested(records, quarantine, summarise(reads, records, skipped))


def streamed(sources: list[Path], chunk_rows: int, **kwargs) -> tuple[list[Ingested], Stream]:
    stream = Stream(sources, SETTINGS, chunk_rows, **kwargs)
    return list(stream), stream


def joined(chunks: list[Ingested]) -> tuple[pd.DataFrame, pd.DataFrame]:
    records = pd.concat([c.records for c in chunks], ignore_index=True)
    quarantine = pd.concat([c.quarantine for c in chunks], ignore_index=True)
    return records, quarantine


def head(path: Path, out: Path, lines: int, shuffle: bool = False) -> Path:
    """The first `lines` lines of a log (header lines kept first), shuffled if asked."""
    text = path.read_text().splitlines(keepends=True)[:lines]
    if shuffle:
        body_at = next(i for i, t in enumerate(text) if not t.startswith("#"))
        body_at += 0 if text[0].startswith("#") else 1  # a CSV's header row
        body = text[body_at:]
        random.Random(7).shuffle(body)
        text = text[:body_at] + body
    out.write_text("".join(text))
    return out


def crafted(tmp_path: Path) -> Path:
    """A conn.log with every kind of bad line, gzipped, CRLF line ends."""
    lines = LOG.read_text().splitlines()[:400]
    header = [t for t in lines if t.startswith("#")]
    body = [t for t in lines if not t.startswith("#")]
    body[5] = body[5].replace("\t", "\t\x00", 1)  # NUL byte
    body[17] = "\t".join(body[17].split("\t")[:5])  # too few fields
    fields = body[30].split("\t")
    body[30] = "\t".join([*fields[:6], "sctp", *fields[7:]])  # unknown proto
    body[44] = body[44].replace("\t", "\r", 1)  # lone CR
    body[60] = body[60].rsplit("   ", 2)[0] + "   Strange   Odd"  # unknown label
    body[61] = "1547150822.835187x" + body[61][body[61].index("\t") :]  # text in ts
    body[62] = "nan" + body[62][body[62].index("\t") :]  # nan: unset ts
    body[90:90] = ["", "#comment inside", "   "]
    random.Random(3).shuffle(body)
    path = tmp_path / "bad.conn.log.gz"
    path.write_bytes(gzip.compress(("\r\n".join([*header, *body, "#close\tx"]) + "\r\n").encode()))
    return path


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    tmp = tmp_path_factory.mktemp("stream")
    return {
        "log": [head(LOG, tmp / "a.conn.log.labeled", 3000)],
        "csv": [head(CSV, tmp / "b-labeled.csv", 2000)],
        "shuffled": [head(LOG, tmp / "c.conn.log.labeled", 3000, shuffle=True)],
        "mixed": [
            crafted(tmp),
            head(CSV, tmp / "d-labeled.csv", 300, shuffle=True),
            head(LOG, tmp / "e.conn.log.labeled", 300),
        ],
    }


@pytest.mark.parametrize("name", ["log", "csv", "shuffled", "mixed"])
@pytest.mark.parametrize(
    ("chunk_rows", "block_rows"), [(1, 300), (5, 40), (64, 200), (10**9, None)]
)
def test_stream_equals_whole_ingestion(
    sources: dict[str, list[Path]], name: str, chunk_rows: int, block_rows: int | None
) -> None:
    paths = sources[name]
    if chunk_rows == 1 and name != "mixed":
        paths = paths[:1]
    expected = whole(paths)
    chunks, stream = streamed(paths, chunk_rows, block_rows=block_rows)
    records, quarantine = joined(chunks)
    assert all(len(c.records) <= chunk_rows for c in chunks)
    pd.testing.assert_frame_equal(records, expected.records, check_exact=True)
    assert list(records.dtypes) == list(expected.records.dtypes)
    pd.testing.assert_frame_equal(quarantine, expected.quarantine, check_exact=True)
    assert stream.summary == expected.summary
    summary = stream.summary
    assert (
        summary["read"]
        == summary["records"] + summary["quarantined"]
        == (len(records) + len(quarantine))
    )


def test_crafted_log_quarantines_every_bad_line(sources: dict[str, list[Path]]) -> None:
    chunks, stream = streamed(sources["mixed"][:1], 5, block_rows=16)
    _, quarantine = joined(chunks)
    reasons = " | ".join(quarantine["reason"])
    for reason in ("NUL byte", "expected 23 fields", "unknown proto", "CR byte", "label not in",
                   "text in numeric field", "unset value"):  # fmt: skip
        assert reason in reasons
    assert stream.summary["sources"][0]["quarantined"] == 7 == len(quarantine)
    assert quarantine["line"].is_monotonic_increasing


def test_sorted_log_is_not_spilled(sources: dict[str, list[Path]], tmp_path: Path) -> None:
    ordered = tmp_path / "sorted.conn.log.labeled"
    lines = sources["log"][0].read_text().splitlines(keepends=True)
    body = [t for t in lines if not t.startswith("#")]
    body.sort(key=lambda t: float(t.split("\t", 1)[0]))
    ordered.write_text("".join([t for t in lines if t.startswith("#")] + body))
    spilled: list[Path] = []

    def watch(done: int, total: int | None) -> None:
        spilled.extend(tmp_path.glob("ingest-*/*/*.parquet"))

    chunks, _ = streamed([ordered], 100, block_rows=100, workdir=tmp_path, progress=watch)
    assert not spilled
    pd.testing.assert_frame_equal(joined(chunks)[0], whole([ordered]).records)
    shuffled: list[Path] = []

    def watch_shuffled(done: int, total: int | None) -> None:
        shuffled.extend(tmp_path.glob("ingest-*/*/*.parquet"))

    streamed(sources["shuffled"], 100, block_rows=100, workdir=tmp_path, progress=watch_shuffled)
    assert shuffled  # the shuffled log did spill
    assert not list(tmp_path.glob("ingest-*"))  # and the runs are gone


def test_progress_reaches_the_total(sources: dict[str, list[Path]]) -> None:
    seen: list[tuple[int, int | None]] = []
    streamed(sources["mixed"], 64, block_rows=100, progress=lambda d, t: seen.append((d, t)))
    total = sum(p.stat().st_size for p in sources["mixed"])
    assert seen[-1] == (total, total)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


@pytest.mark.parametrize("chunk_rows", [7, 10**9])
def test_write_stream_writes_what_write_ingested_writes(
    sources: dict[str, list[Path]], tmp_path: Path, chunk_rows: int
) -> None:
    paths = sources["mixed"]
    expected = write_ingested(whole(paths), tmp_path / "whole" / "records.csv")
    stream = Stream(paths, SETTINGS, chunk_rows, block_rows=40)
    written = write_stream(stream, tmp_path / "stream" / "records.csv")
    for a, b in zip(expected, written, strict=True):
        assert a.name == b.name and a.read_bytes() == b.read_bytes()


def test_ingest_is_the_whole_file_ingestion(sources: dict[str, list[Path]]) -> None:
    paths = sources["mixed"]
    got, expected = ingest(paths, SETTINGS), whole(paths)
    pd.testing.assert_frame_equal(got.records, expected.records, check_exact=True)
    pd.testing.assert_frame_equal(got.quarantine, expected.quarantine)
    assert got.summary == expected.summary


def test_a_failing_stream_leaves_no_output(sources: dict[str, list[Path]], tmp_path: Path) -> None:
    broken = tmp_path / "broken.conn.log.gz"
    broken.write_bytes(gzip.compress(sources["log"][0].read_bytes())[:-40])
    out = tmp_path / "out" / "records.csv"
    with pytest.raises(ValueError, match=r"broken\.conn\.log\.gz"):
        write_stream(Stream([sources["log"][0], broken], SETTINGS, 50, block_rows=100), out)
    assert not out.parent.exists() or not list(out.parent.iterdir())


def test_blocks_are_whole_lines_numbered_from_one(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_bytes(b"a\nb\r\nc\nd")
    got = [(first, raw) for first, raw, _ in zeek.blocks(path, 2)]
    assert got == [(1, b"a\nb\n"), (3, b"c\nd")]


def test_quarantine_only_input_streams_empty_records(tmp_path: Path) -> None:
    lines = LOG.read_text().splitlines()
    header = [t for t in lines if t.startswith("#")]
    body = [t.replace("tcp", "sctp").replace("udp", "sctp") for t in lines[8:60]]
    path = tmp_path / "none.conn.log"
    path.write_text("\n".join([*header, *body]) + "\n")
    expected = whole([path])
    chunks, stream = streamed([path], 5, block_rows=10)
    assert len(chunks) > 1
    records, quarantine = joined(chunks)
    pd.testing.assert_frame_equal(records, expected.records)
    pd.testing.assert_frame_equal(quarantine, expected.quarantine)
    assert stream.summary == expected.summary
