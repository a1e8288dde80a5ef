"""`predict` streams its input: the outputs are the same, byte for byte, whatever the chunk
size and however few verdicts the cache keeps; a failed run leaves the last good outputs."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from iot_anomaly.config import load_params
from iot_anomaly.params import StreamParams
from iot_anomaly.registry import register
from iot_anomaly.stages import predict as stage
from iot_anomaly.traffic.ingest import ingest, summary_path, write_ingested

ROOT = Path(__file__).resolve().parents[2]
IOT23 = ROOT / "data" / "iot23"
#: A labelled native conn.log and a CSV scenario with one attacking host.
LOG = IOT23 / "CTU-Malware-Capture-44-1.conn.log.labeled"
CSV = IOT23 / "CTU-Honeypot-Capture-7-1-labeled.csv"


@pytest.fixture(scope="module")
def champion(trained):
    params, paths = trained
    register(params, paths)
    return params, paths


def _stream(chunk_rows: int, cache_rows: int) -> StreamParams:
    """The project's stream params with these chunk and cache sizes."""
    stream = load_params(ROOT / "params.yaml").stream
    return stream.model_copy(update={"chunk_rows": chunk_rows, "cache_rows": cache_rows})


def _run(champion, source: Path, out: Path, stream: StreamParams | None):
    params, paths = champion
    return stage.run(
        source, out, params.promotion.champion_dir, paths, ingest=params.ingest, stream=stream
    )


def _outputs(out: Path) -> tuple[bytes, bytes]:
    return out.read_bytes(), stage.quarantine_file(out).read_bytes()


@pytest.mark.parametrize("chunk_rows", [1, 7, 1000])
def test_a_kdd_file_scores_the_same_in_any_chunks(
    champion, tmp_path: Path, test_lines, chunk_rows: int
) -> None:
    lines = [
        *test_lines[:1500],
        "1,tcp,http,SF",
        "",
        "0,udp\x00,private,SF",
        *test_lines[1500:3000],
    ]
    source = tmp_path / "batch.gz"
    source.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    whole = _run(champion, source, tmp_path / "whole.csv", None)
    chunked = _run(
        champion,
        source,
        tmp_path / "chunked.csv",
        _stream(chunk_rows, 50),
    )
    assert _outputs(tmp_path / "whole.csv") == _outputs(tmp_path / "chunked.csv")
    assert whole.rows == chunked.rows == 3000 and whole.quarantined == chunked.quarantined == 2
    assert whole.metrics == chunked.metrics and whole.summary == chunked.summary
    assert whole.summary["rows"] == 3000
    assert sum(whole.summary["categories"].values()) == 3000


@pytest.mark.parametrize("source", [LOG, CSV], ids=["conn.log", "csv"])
def test_traffic_scores_the_same_in_any_chunks(champion, tmp_path: Path, source: Path) -> None:
    if not source.is_file():
        pytest.skip(f"{source} is missing: run `dvc pull data.dvc`")
    whole = _run(champion, source, tmp_path / "whole.csv", None)
    chunked = _run(champion, source, tmp_path / "chunked.csv", _stream(5, 3))
    assert _outputs(tmp_path / "whole.csv") == _outputs(tmp_path / "chunked.csv")
    assert (
        summary_path(tmp_path / "whole.csv").read_text()
        == summary_path(tmp_path / "chunked.csv").read_text()
    )
    assert whole.metrics == chunked.metrics
    summary = whole.summary
    predictions = pd.read_csv(tmp_path / "whole.csv")
    attacks = predictions[predictions["attack"]]
    assert summary["attacks"] == len(attacks) and summary["rows"] == len(predictions)
    if len(attacks):  # the top offender is the host with the most attack connections
        top = summary["top_offenders"][0]
        assert top["attacks"] == attacks["src_ip"].value_counts().max()
        assert top["attacks"] == sum(top["categories"].values())
        mine = attacks[attacks["src_ip"] == top["host"]]
        assert top["first_seen"] == mine["ts"].min() and top["last_seen"] == mine["ts"].max()


def test_a_records_file_scores_as_its_source(champion, tmp_path: Path) -> None:
    params, _ = champion
    if not LOG.is_file():
        pytest.skip(f"{LOG} is missing: run `dvc pull data.dvc`")
    records = tmp_path / "records.csv"
    write_ingested(ingest([LOG], params.ingest), records)
    _run(champion, LOG, tmp_path / "direct.csv", None)
    _run(champion, records, tmp_path / "again.csv", _stream(10, 4))
    assert (tmp_path / "direct.csv").read_bytes() == (tmp_path / "again.csv").read_bytes()
    summary = json.loads(summary_path(tmp_path / "again.csv").read_text())
    assert summary["verdicts"]["rows"] == summary["records"]


def test_a_failed_run_leaves_the_last_good_outputs(champion, tmp_path: Path, test_lines) -> None:
    good = tmp_path / "good.gz"
    good.write_bytes(gzip.compress(("\n".join(test_lines[:500]) + "\n").encode()))
    out = tmp_path / "out.csv"
    _run(champion, good, out, _stream(100, 1000))
    before = _outputs(out)
    whole = gzip.compress(("\n".join(test_lines[:3000]) + "\n").encode())
    cut = tmp_path / "cut.gz"
    cut.write_bytes(whole[: len(whole) // 2])  # damaged after its first chunks
    with pytest.raises(ValueError, match=r"cut\.gz"):
        _run(champion, cut, out, _stream(100, 1000))
    assert _outputs(out) == before
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert leftovers == []
    shutil.rmtree(tmp_path)
