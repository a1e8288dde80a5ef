"""Time slabs of a file (iot_anomaly.cluster.slabs, cut_file): each slab, with the rows
before it that its windows reach, gives the records of a whole-file run for its rows."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from iot_anomaly.cluster import more_lines_than, slabs
from iot_anomaly.config import load_params
from iot_anomaly.traffic import connections as cx
from iot_anomaly.traffic.features import to_records
from iot_anomaly.traffic.stream import SourceCounts, Stream

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = load_params(ROOT / "params.yaml").ingest
LOG = ROOT / "data" / "iot23" / "CTU-Malware-Capture-44-1.conn.log.labeled"


def connections(n: int, seed: int = 7) -> pd.DataFrame:
    """`n` connections in (ts, line) order among a few hosts, bursts and gaps in time (some
    ties), so that both the time and the host windows reach across slab borders."""
    rng = np.random.default_rng(seed)
    gaps = rng.choice([0.0, 0.01, 0.4, 3.0, 30.0], size=n, p=[0.1, 0.4, 0.3, 0.15, 0.05])
    frame = pd.DataFrame(
        {
            cx.TS: 1.5e9 + np.cumsum(gaps),
            cx.UID: [f"C{i}" for i in range(n)],
            cx.SRC_IP: rng.choice(["10.0.0.1", "10.0.0.2", "10.0.0.3"], size=n),
            cx.SRC_PORT: rng.integers(1024, 65535, size=n),
            cx.DST_IP: rng.choice(["192.168.1.1", "192.168.1.2", "8.8.8.8"], size=n),
            cx.DST_PORT: rng.choice([22, 53, 80, 443, 8080], size=n),
            cx.PROTO: rng.choice(["tcp", "udp", "icmp"], size=n),
            cx.SERVICE: rng.choice(["-", "http", "dns"], size=n),
            cx.DURATION: rng.random(n),
            cx.ORIG_BYTES: rng.integers(0, 1000, size=n),
            cx.RESP_BYTES: rng.integers(0, 1000, size=n),
            cx.CONN_STATE: rng.choice(["S0", "SF", "REJ", "RSTO"], size=n),
            cx.URGENT: np.zeros(n),
            cx.WRONG_FRAGMENT: np.zeros(n),
            cx.LABEL: rng.choice(["", "Malicious"], size=n),
            cx.FILE: "synthetic.log",
            cx.LINE: np.arange(1, n + 1),
        }
    )
    return frame.astype(cx.DTYPES)


def pieces(frame: pd.DataFrame, sizes: list[int]) -> list[pd.DataFrame]:
    """The frame as consecutive pieces of these sizes (then the rest)."""
    bounds = np.cumsum([0, *sizes, len(frame)]).clip(max=len(frame))
    return [frame.iloc[a:b] for a, b in itertools.pairwise(bounds)]


@pytest.mark.parametrize(("rows", "sizes"), [(50, [500]), (37, [10, 0, 90, 3]), (600, [200])])
def test_records_per_slab_with_its_prefix_are_those_of_the_whole(
    rows: int, sizes: list[int]
) -> None:
    frame = connections(500)
    whole = to_records(frame, SETTINGS)
    settings = SETTINGS.model_copy(update={"host_window": 20, "time_window_s": 2.0})
    whole_small = to_records(frame, settings)
    for ingest, expected in ((SETTINGS, whole), (settings, whole_small)):
        cut = list(slabs(pieces(frame, sizes), rows, ingest))
        assert [len(s) - p for s, p in cut] == [rows] * (500 // rows) + (
            [500 % rows] if 500 % rows else []
        )
        parts = [to_records(s, ingest).iloc[p:] for s, p in cut]
        pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), expected)


def test_the_prefix_is_what_the_windows_reach_and_no_more() -> None:
    frame = connections(300)
    settings = SETTINGS.model_copy(update={"host_window": 10, "time_window_s": 2.0})
    cut = list(slabs([frame], 100, settings))
    assert cut[0][1] == 0
    for k, (slab, prefix) in enumerate(cut[1:], 1):
        start = k * 100
        before = frame.iloc[:start]
        last = before[cx.TS].iat[-1]
        in_time = int((before[cx.TS] > last - settings.time_window_s).sum())
        assert prefix == max(in_time, settings.host_window)
        pd.testing.assert_frame_equal(
            slab, frame.iloc[start - prefix : start + 100].reset_index(drop=True)
        )


def test_slabs_reject_a_size_below_one() -> None:
    with pytest.raises(ValueError, match="partition_rows"):
        list(slabs([connections(3)], 0, SETTINGS))


def test_more_lines_than(tmp_path: Path) -> None:
    path = tmp_path / "lines.txt"
    path.write_text("a\n" * 10)
    assert more_lines_than(path, 9) and not more_lines_than(path, 10)


def test_a_log_cut_in_slabs_gives_the_stream_records_and_counts(tmp_path: Path) -> None:
    """A Zeek log out of order with a bad line: the slabs of cut_file give Stream's records,
    and its counts (reads by the client, records by slab) Stream's summary of the file."""
    from iot_anomaly.cluster import cut_file, file_summary, slab_chunks

    if not LOG.is_file():
        pytest.skip(f"{LOG} missing: run `dvc pull data.dvc`")
    lines = LOG.read_text().splitlines(keepends=True)
    body = [i for i, line in enumerate(lines) if not line.startswith("#")]
    shuffled = body[20:60]
    random.Random(3).shuffle(shuffled)
    order = [*range(body[0]), *body[:20], *shuffled, *body[60:]]
    log = tmp_path / "conn.log.labeled"
    text = [lines[i] for i in order if i < len(lines)]
    text.insert(body[0] + 30, "not a connection\n")
    log.write_text("".join(text))

    stream = Stream([log], SETTINGS, 64, workdir=tmp_path)
    chunks = list(stream)
    expected = pd.concat([c.records for c in chunks], ignore_index=True)
    bad = pd.concat([c.quarantine for c in chunks], ignore_index=True)

    folder = tmp_path / "parts"
    folder.mkdir()
    info = SourceCounts(str(log))
    cut = list(cut_file(log, folder, "slab", SETTINGS, 40, 1024, info))
    assert len(cut) == -(-len(expected) // 40) and all(s.labelled for s in cut)
    assert cut[0].quarantine is not None and all(s.quarantine is None for s in cut[1:])
    pd.testing.assert_frame_equal(pq.read_table(cut[0].quarantine).to_pandas(), bad)
    pieces = (slab_chunks(s, SETTINGS, 16) for s in cut)
    made = [(list(chunks), counts) for chunks, counts in pieces]
    records = pd.concat([c.frame for chunks, _ in made for c in chunks], ignore_index=True)
    pd.testing.assert_frame_equal(records, expected)
    summary = file_summary(info, [counts for _, counts in made])
    assert summary["sources"] == stream.summary["sources"]
    quarantined = sum(len(c.quarantine) for chunks, _ in made for c in chunks)
    assert summary["quarantined"] == 1 == quarantined


def test_a_log_without_connections_is_one_empty_slab_with_its_quarantine(tmp_path: Path) -> None:
    from iot_anomaly.cluster import cut_file, file_summary, slab_chunks

    if not LOG.is_file():
        pytest.skip(f"{LOG} missing: run `dvc pull data.dvc`")
    head = [line for line in LOG.read_text().splitlines(keepends=True)[:20] if line[0] == "#"]
    log = tmp_path / "conn.log"
    log.write_text("".join(head) + "broken\n" * 5)
    info = SourceCounts(str(log))
    (slab,) = cut_file(log, tmp_path, "slab", SETTINGS, 2, 1024, info)
    assert slab.prefix == 0 and not slab.labelled
    (chunk,), counts = slab_chunks(slab, SETTINGS, 16)
    assert len(chunk.frame) == 0 and len(chunk.quarantine) == 5
    (source,) = file_summary(info, [counts])["sources"]
    assert (source["read"], source["records"], source["quarantined"]) == (5, 0, 5)
