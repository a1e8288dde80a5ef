"""`iot-anomaly predict` on traffic: captures, Zeek logs and ingest outputs are ingested in
process and scored by the flow champion; predictions carry where each record came from."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from typer.testing import CliRunner

from iot_anomaly import schema
from iot_anomaly.cli import app
from iot_anomaly.registry import register
from iot_anomaly.stages.predict import _unmeasured_message, unmeasured
from iot_anomaly.traffic.ingest import ingest, write_ingested
from iot_anomaly.traffic.records import PROVENANCE
from tests.code.test_traffic_readers import conn_log, sample_frames, write_pcap, zeek_row

ROOT = Path(__file__).resolve().parents[2]
IOT23_LOG = ROOT / "data" / "iot23" / "CTU-Malware-Capture-44-1.conn.log.labeled"


def _predict(source: Path, output: Path, root: Path) -> str:
    result = CliRunner().invoke(
        app, ["predict", "-i", str(source), "-o", str(output), "--root", str(root)]
    )
    text = " ".join(result.output.split())
    assert result.exit_code == 0, text
    return text


@pytest.fixture(scope="module")
def champion(trained):
    params, paths = trained
    register(params, paths)
    return params, paths


def test_predict_a_capture(champion, tmp_path: Path) -> None:
    _, paths = champion
    capture = write_pcap(tmp_path / "sample.pcap", sample_frames())
    output = tmp_path / "out" / "predictions.csv"
    text = _predict(capture, output, paths.root)
    assert "Scored 5 rows" in text and "accuracy" not in text
    predictions = pd.read_csv(output)
    assert list(predictions.columns[: len(PROVENANCE)]) == list(PROVENANCE)
    assert len(predictions) == 5 and (predictions["file"] == str(capture)).all()
    assert set(predictions["category"]) <= set(schema.CATEGORIES)
    assert sorted(predictions["line"]) == [1, 2, 3, 4, 5]  # flow numbers; 6 (IGMP) quarantined
    quarantine = pd.read_csv(output.with_name("predictions.quarantine.csv"))
    assert quarantine["line"].tolist() == [6]
    summary = json.loads(output.with_name("predictions.summary.json").read_text())
    source = summary["sources"][0]
    assert source["read"] == source["records"] + source["quarantined"] == 6

    # A folder: its captures and logs together, each record traced to its file.
    folder = tmp_path / "traffic"
    folder.mkdir()
    write_pcap(folder / "a.pcap", sample_frames())
    (folder / "b.conn.log").write_text(conn_log([zeek_row(uid=f"C{i}") for i in range(3)]))
    both = tmp_path / "both.csv"
    text = _predict(folder, both, paths.root)
    assert "Scored 8 rows" in text
    files = pd.read_csv(both)["file"].map(lambda f: Path(f).name).value_counts().to_dict()
    assert files == {"a.pcap": 5, "b.conn.log": 3}


def test_predict_a_labelled_conn_log_and_its_ingest_output(champion, tmp_path: Path) -> None:
    params, paths = champion
    if not IOT23_LOG.is_file():
        pytest.skip(f"{IOT23_LOG} is missing: run `dvc pull data.dvc`")
    direct = tmp_path / "direct.csv"
    text = _predict(IOT23_LOG, direct, paths.root)
    assert "Scored 237 rows" in text and "accuracy" in text  # labelled: metrics
    records = tmp_path / "records.csv"
    write_ingested(ingest([IOT23_LOG], params.ingest), records)
    again = tmp_path / "again.csv"
    _predict(records, again, paths.root)
    first, second = pd.read_csv(direct), pd.read_csv(again)
    pd.testing.assert_frame_equal(first, second)
    assert first["uid"].str.startswith("C").all()


def test_predict_truncated_gzip_names_the_file(champion, tmp_path: Path, test_lines) -> None:
    _, paths = champion
    whole = gzip.compress(("\n".join(test_lines) + "\n").encode())
    cut = tmp_path / "cut.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    result = CliRunner().invoke(
        app, ["predict", "-i", str(cut), "-o", str(tmp_path / "p.csv"), "--root", str(paths.root)]
    )
    text = " ".join(result.output.split())
    assert result.exit_code == 1
    assert "Aborted" not in text and "cut.gz: gzip data is truncated or damaged" in text


def test_a_champion_that_reads_unmeasured_features_is_refused() -> None:
    records = pd.DataFrame({f: [1.0, 2.0] for f in schema.FEATURES})
    for feature in schema.CONTENT_FEATURES:
        records[feature] = float("nan")
    records.loc[0, "urgent"] = float("nan")
    flow = SimpleNamespace(features=list(schema.FLOW_FEATURES))
    every = SimpleNamespace(features=list(schema.FEATURES))
    assert unmeasured(flow, records) == {}
    lacking = unmeasured(every, records)
    assert lacking["hot"] == 2 and lacking["urgent"] == 1 and len(lacking) == 14
    message = _unmeasured_message(
        Path("x.pcap"), {"version": "v1", "protocol": "corrected"}, lacking, 2
    )
    assert message.startswith("x.pcap: the champion (version v1, protocol corrected) reads 14")
    assert "urgent (1 of 2 records lack it)" in message
