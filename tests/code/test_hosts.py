"""Verdicts per device: the host table from hand-built predictions, its files, the monitored
batches it reads, the Hosts page with and without hosts, and `iot-anomaly hosts`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from iot_anomaly.cli import app
from iot_anomaly.config import Paths, load_params
from iot_anomaly.evaluation import hosts
from iot_anomaly.review import parts, site
from iot_anomaly.review.inputs import Batch, SiteInputs
from iot_anomaly.stages import hosts as stage
from iot_anomaly.stages import report

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_547_150_789.0  # 2019-01-10 20:06:29 UTC

#: (src_ip, dst_ip, dst_port, category, seconds after T0, file)
CONNECTIONS = [
    ("192.168.1.199", "46.101.251.172", 80, "dos", 10, "mirai.csv"),
    ("192.168.1.199", "46.101.251.172", 80, "dos", 20, "mirai.csv"),
    ("192.168.1.199", "46.101.251.172", 23, "probe", 30, "mirai.csv"),
    ("192.168.1.199", "8.8.8.8", 53, "normal", 0, "mirai.csv"),  # first seen, no attack
    ("192.168.1.199", "1.1.1.1", 2323, "probe", 40, "torii.log"),
    ("192.168.1.199", "1.1.1.1", 443, "normal", 99, "torii.log"),  # last seen, no attack
    ("192.168.1.5", "10.0.0.9", 22, "r2l", 5, "torii.log"),
    ("192.168.1.5", "10.0.0.9", 22, "r2l", 6, "torii.log"),
    ("192.168.1.5", "10.0.0.7", 21, "u2r", 7, "torii.log"),
    ("192.168.1.5", "10.0.0.7", 21, "normal", 8, "torii.log"),
    ("10.0.0.200", "10.0.0.9", 443, "normal", 1, "benign.csv"),  # no attack at all
]


def predictions(rows: list[tuple] = CONNECTIONS, batches: list[str] | None = None) -> pd.DataFrame:
    """Predictions of ingested traffic as `predict` writes them (provenance and verdicts)."""
    frame = pd.DataFrame(
        {
            "ts": [T0 + r[4] for r in rows],
            "uid": [f"C{i}" for i in range(len(rows))],
            "src_ip": [r[0] for r in rows],
            "src_port": 40000,
            "dst_ip": [r[1] for r in rows],
            "dst_port": [r[2] for r in rows],
            "file": [r[5] for r in rows],
            "line": range(1, len(rows) + 1),
            "category": [r[3] for r in rows],
            "attack": [r[3] != "normal" for r in rows],
            "knn": [r[3] for r in rows],
        }
    )
    return frame if batches is None else frame.assign(batch=batches)


def test_the_host_table_counts_attacks_per_source_host() -> None:
    found = hosts.host_report(predictions(), top_ports=2, top_hosts=1)
    assert (found.connections, found.attack_connections) == (11, 7)
    # hosts without an attack connection are counted, not listed
    assert found.hosts_seen == 3 and [h.host for h in found.hosts] == ["192.168.1.199",
                                                                       "192.168.1.5"]  # fmt: skip
    infected, other = found.hosts
    assert infected.attack_connections == 4 and infected.connections == 6
    assert infected.by_category == {"dos": 2, "probe": 2, "r2l": 0, "u2r": 0}
    assert (infected.first_seen, infected.last_seen) == (T0, T0 + 99)
    assert (infected.first_attack, infected.last_attack) == (T0 + 10, T0 + 40)
    # ports of attack connections only, busiest first, ties by port; at most top_ports
    assert infected.top_dst_ports == [(80, 2), (23, 1)]
    assert infected.top_dst_hosts == [("46.101.251.172", 3)]
    assert infected.files == ["mirai.csv", "torii.log"]
    assert other.by_category == {"dos": 0, "probe": 0, "r2l": 2, "u2r": 1}
    assert other.top_dst_ports == [(22, 2), (21, 1)] and other.files == ["torii.log"]
    assert other.batches == [] and found.batches == []


def test_files_and_batches_are_those_of_the_attack_connections() -> None:
    batches = ["b2", "b2", "b2", "b1", "b3", "b3", "b1", "b1", "b1", "b1", "b1"]
    found = hosts.host_report(predictions(batches=batches), top_ports=5, top_hosts=5)
    assert found.batches == ["b2", "b1", "b3"]  # in order of first appearance
    assert found.hosts[0].batches == ["b2", "b3"]  # b1 held only its benign connection
    assert found.hosts[1].batches == ["b1"]


def test_the_host_files_hold_the_table() -> None:
    found = hosts.host_report(predictions(), top_ports=2, top_hosts=2)
    record = hosts.report_record(found)
    assert record["hosts_with_attacks"] == 2 and record["hosts_seen"] == 3
    first = record["hosts"][0]
    assert first["first_seen"] == "2019-01-10 20:06:29" and first["first_seen_ts"] == T0
    assert first["last_attack"] == "2019-01-10 20:07:09"
    assert first["top_dst_ports"] == [{"port": 80, "connections": 2},
                                      {"port": 23, "connections": 1}]  # fmt: skip
    json.dumps(record)  # plain JSON types only
    frame = hosts.host_frame(found)
    assert list(frame.columns) == list(hosts.COLUMNS) and len(frame) == 2
    assert frame.loc[0, "top_dst_ports"] == "80 (2); 23 (1)"
    assert frame.loc[0, "files"] == "mirai.csv; torii.log"
    assert frame.loc[1, "r2l"] == 2


def test_no_attack_means_no_host_and_missing_columns_are_named() -> None:
    benign = [r for r in CONNECTIONS if r[3] == "normal"]
    found = hosts.host_report(predictions(benign), top_ports=3, top_hosts=3)
    assert found.hosts == [] and found.hosts_seen == 3 and found.connections == len(benign)
    assert hosts.host_frame(found).empty
    empty = hosts.host_report(predictions([]), top_ports=3, top_hosts=3)
    assert (empty.connections, empty.hosts_seen, empty.hosts) == (0, 0, [])
    with pytest.raises(ValueError, match=r"kdd\.csv: .*no column ts, src_ip"):
        hosts.check_columns(pd.DataFrame(columns=["duration", "category", "attack"]), "kdd.csv")


def _write_batch(root: Path, name: str, received: str, frame: pd.DataFrame, kind: str) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    status = {"batch": name, "status": "scored", "received_at": received, "kind": kind}
    (folder / "status.json").write_text(json.dumps(status))
    # as the monitoring writes it: the row number first, then provenance and verdicts
    frame.to_csv(folder / "predictions.csv", index_label="line")


def test_the_monitored_host_table_reads_every_scored_batch_of_real_traffic(tmp_path) -> None:
    params, paths = load_params(ROOT / "params.yaml"), Paths(tmp_path)
    batches = tmp_path / params.monitor.batches_dir
    frame = predictions()
    _write_batch(batches, "iot-2", "2026-01-01T11:00", frame.iloc[6:], "records")
    _write_batch(batches, "iot-1", "2026-01-01T10:00", frame.iloc[:6], "traffic")
    kdd = pd.DataFrame({"category": ["dos"], "attack": [True], "knn": ["dos"]})
    _write_batch(batches, "kdd-1", "2026-01-01T09:00", kdd, "kdd")  # no addresses: no host
    rejected = batches / "bad"
    rejected.mkdir()
    (rejected / "status.json").write_text(
        json.dumps({"batch": "bad", "status": "rejected", "received_at": "2026-01-01T12:00"})
    )
    written = stage.from_monitoring(params, paths)
    assert written.json == tmp_path / params.report.hosts.dir / "hosts.json"
    record = json.loads(written.json.read_text())
    assert record["batches"] == ["iot-1", "iot-2"] and record["connections"] == 11
    assert [h["batches"] for h in record["hosts"]] == [["iot-1"], ["iot-2"]]
    assert pd.read_csv(written.csv)["host"].tolist() == ["192.168.1.199", "192.168.1.5"]
    empty = stage.from_monitoring(params, Paths(tmp_path / "none"))  # nothing monitored yet
    assert json.loads(empty.json.read_text())["hosts"] == []


def _inputs(host_report: dict | None, batches: list[Batch]) -> SiteInputs:
    return SiteInputs(
        metrics={}, details={}, seed_studies={}, validation_summary={}, validation_results=[],
        registered=None, champion=None, batches=batches, decisions=[], drift_share=0.25,
        hosts=host_report,
        host_files={"hosts.csv": Path("reports/hosts/hosts.csv")} if host_report else {},
    )  # fmt: skip


def _batch(name: str, kind: str, report: Path | None) -> Batch:
    status = {"batch": name, "status": "scored", "received_at": "2026-01-01T10:00", "rows": 6,
              "quarantined": 0, "attack_share": 0.5, "kind": kind, "labelled": True,
              "drift": {"drifted_share": 0.1, "accuracy": 0.9, "fired": False,
                        "drifted_columns": 2, "columns": 26}}  # fmt: skip
    return Batch(status, None, None, None, report)


def test_the_hosts_page_lists_hosts_with_links_to_their_batches() -> None:
    batches = ["b2", "b2", "b2", "b1", "b3", "b3", "b1", "b1", "b1", "b1", "b1"]
    record = hosts.report_record(hosts.host_report(predictions(batches=batches), 5, 5))
    record["hosts"][0]["files"] = ["<script>x</script>.csv"]  # a file name is text
    monitored = [_batch("b1", "records", Path("b1.html")), _batch("b2", "traffic", None)]
    inputs = _inputs(record, monitored)
    html = site.hosts_page(inputs, parts.Layout(), shown=1)
    assert "192.168.1.199" in html and "192.168.1.5" not in html  # one host shown
    assert "1 more hosts with attack connections" in html
    # the Evidently report where there is one, else the batch's row on the data page; a
    # batch no longer monitored is named without a link
    assert '<a href="data.html#batch-b2">b2</a>' in html and ">b3</" in html
    assert 'href="evidently/b3.html"' not in html and 'href="hosts/hosts.csv"' in html
    for key, value in (("hosts/0/attack_connections", 4), ("hosts/0/by_category/probe", 2),
                       ("hosts/0/connections", 6)):  # fmt: skip
        assert f'data-source="hosts" data-key="{key}" data-value="{value}"' in html
    assert 'data-key="hosts/0/by_category/r2l"' not in html  # only the categories it has
    assert "2019-01-10 20:06:39<br>2019-01-10 20:07:09" in html  # first and last attack
    assert "&lt;script&gt;" in html and "<script" not in html
    assert not re.findall(r"https?://", html)
    everything = site.hosts_page(inputs, parts.Layout(), shown=10)
    assert '<a href="evidently/b1.html">b1</a>' in everything and "more hosts" not in everything


def test_the_hosts_page_says_when_there_is_nothing_to_show() -> None:
    none = site.hosts_page(_inputs(None, []), parts.Layout(), shown=10)
    assert "No host report yet" in none and "<table" not in none
    benign = hosts.host_report(predictions([CONNECTIONS[3]]), 5, 5)
    quiet = site.hosts_page(_inputs(hosts.report_record(benign), []), parts.Layout(), 10)
    assert "No connection of the monitored real traffic was flagged" in quiet
    assert "<table" not in quiet and ">1<" in quiet  # one source host seen


def test_the_site_holds_the_hosts_page_and_the_drift_page_names_the_traffic() -> None:
    record = hosts.report_record(hosts.host_report(predictions(batches=["b1"] * 11), 5, 5))
    kdd = _batch("replay-1", "kdd", None)
    del kdd.status["kind"]  # a batch monitored before batches had kinds
    inputs = _inputs(record, [kdd, _batch("b1", "traffic", None)])
    pages = site.pages(inputs, (), max_failures=5, timeline_width=600, timeline_height=300,
                       seed=42, host_rows=5)  # fmt: skip
    assert set(pages) == {name for name, _, _ in parts.PAGES} and "hosts.html" in pages
    assert '<a href="hosts.html">Hosts</a>' in pages["index.html"]
    drift = pages["drift.html"]
    assert "<td>KDD records</td>" in drift and "<td>capture or Zeek log</td>" in drift
    assert "2 of 26" in drift  # the flow features the champion reads
    assert report.copies(inputs)["hosts/hosts.csv"] == Path("reports/hosts/hosts.csv")


def _predictions_file(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


def test_the_hosts_command_on_predictions_files(tmp_path) -> None:
    frame = predictions()
    first = _predictions_file(tmp_path / "a.csv", frame.iloc[:5])
    second = _predictions_file(tmp_path / "b.csv", frame.iloc[5:])
    out = tmp_path / "out"
    params = ["--params", str(ROOT / "params.yaml"), "--root", str(tmp_path)]
    result = CliRunner(env={"COLUMNS": "200"}).invoke(
        app, ["hosts", str(first), str(second), "-o", str(out), *params]
    )
    assert result.exit_code == 0, result.output
    assert "192.168.1.199" in result.output and "7 attack connections of 11" in result.output
    table = pd.read_csv(out / "hosts.csv")
    assert table["attack_connections"].tolist() == [4, 3]
    assert json.loads((out / "hosts.json").read_text())["files"] == ["benign.csv", "mirai.csv",
                                                                    "torii.log"]  # fmt: skip
    kdd = _predictions_file(tmp_path / "kdd.csv", frame[["category", "attack"]])
    bad = CliRunner().invoke(app, ["hosts", str(kdd), "-o", str(out), *params])
    assert bad.exit_code == 1 and "kdd.csv" in bad.output and "no column ts" in bad.output
    no_dir = CliRunner().invoke(app, ["hosts", str(first), *params])
    assert no_dir.exit_code == 1 and "-o DIR" in no_dir.output
