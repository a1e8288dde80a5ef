"""Verdicts per device from the small trained champion: an IoT-23 batch and a KDD batch go
through the monitoring, and the host table, the Hosts page and the drift page show the real
traffic as scored; `iot-anomaly hosts` on the predictions of `iot-anomaly predict` on a Zeek
log agrees with them."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from iot_anomaly.cli import app
from iot_anomaly.config import Params, Paths
from iot_anomaly.monitoring.replay import write_records_batch
from iot_anomaly.monitoring.store import ensure_champion
from iot_anomaly.stages import hosts, monitor, report
from iot_anomaly.traffic.ingest import ingest
from tests.helpers import registered_copy

pytestmark = pytest.mark.slow

SCENARIO = "CTU-Malware-Capture-44-1"


@pytest.fixture(scope="module")
def champion(trained, tmp_path_factory) -> tuple[Params, Paths]:
    """A copy of the trained project with its model registered and adopted as champion."""
    params, paths = registered_copy(trained[1], tmp_path_factory.mktemp("hosts") / "project")
    ensure_champion(params.promotion, params.monitor, paths)
    return params, paths


def _expected(predictions: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """Per source host with an attack connection: (attack connections, connections)."""
    flagged = predictions[predictions["attack"]]
    return {
        str(h): (int((flagged["src_ip"] == h).sum()), int((predictions["src_ip"] == h).sum()))
        for h in flagged["src_ip"].unique()
    }


def test_monitored_real_traffic_becomes_the_host_table_and_page(champion, root, test_lines) -> None:
    params, paths = champion
    source = root / params.data.iot23_dir / f"{SCENARIO}-labeled.csv"
    if not source.is_file():
        pytest.skip(f"{source} is missing: run `dvc pull data.dvc`")
    inbox = paths.root / params.monitor.inbox
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "a-kdd.csv").write_text("\n".join(test_lines[:200]) + "\n")
    records = ingest([source], params.ingest).records
    write_records_batch(records, inbox, "c-iot23")
    outcomes = [monitor.run(params, paths) for _ in range(2)]
    assert [(o.batch, o.status) for o in outcomes if o] == [("a-kdd", "scored"),
                                                            ("c-iot23", "scored")]  # fmt: skip

    folder = monitor.batches_dir(params.monitor, paths) / "c-iot23"
    predictions = pd.read_csv(folder / monitor.PREDICTIONS)
    expected = _expected(predictions)
    written = hosts.from_monitoring(params, paths)
    record = json.loads(written.json.read_text())
    # the KDD batch has no addresses: only the IoT-23 batch counts
    assert record["batches"] == ["c-iot23"] and record["connections"] == len(records)
    assert record["attack_connections"] == int(predictions["attack"].sum())
    assert record["hosts_seen"] == records["src_ip"].nunique()
    found = {h["host"]: (h["attack_connections"], h["connections"]) for h in record["hosts"]}
    assert found == expected
    assert all(h["files"] == [str(source)] and h["batches"] == ["c-iot23"]
               for h in record["hosts"])  # fmt: skip

    summary = report.run(params, paths)
    assert summary["hosts_with_attacks"] == len(expected)
    site = report.site_dir(params, paths)
    page = (site / "hosts.html").read_text()
    assert (site / "hosts" / "hosts.csv").is_file() and 'href="hosts/hosts.csv"' in page
    if expected:  # each host links to the batch's Evidently report
        assert '<a href="evidently/c-iot23.html">c-iot23</a>' in page
        assert all(f"<code>{h}</code>" in page for h in expected)
    else:
        assert "No connection of the monitored real traffic was flagged" in page
    drift = (site / "drift.html").read_text()
    assert "<td>ingested records</td>" in drift and "<td>KDD records</td>" in drift


def test_the_hosts_command_on_predictions_of_a_zeek_log(champion, root, tmp_path) -> None:
    params, paths = champion
    log = root / params.data.iot23_dir / f"{SCENARIO}.conn.log.labeled"
    if not log.is_file():
        pytest.skip(f"{log} is missing: run `dvc pull data.dvc`")
    out = tmp_path / "predictions.csv"
    options = ["--root", str(paths.root), "--params", str(paths.root / "params.yaml")]
    scored = CliRunner().invoke(app, ["predict", "-i", str(log), "-o", str(out), *options])
    assert scored.exit_code == 0, scored.output
    predictions = pd.read_csv(out)
    result = CliRunner(env={"COLUMNS": "200"}).invoke(
        app, ["hosts", str(out), "-o", str(tmp_path / "hosts"), *options]
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "hosts" / "hosts.csv")
    found = dict(zip(table["host"], zip(table["attack_connections"], table["connections"],
                                        strict=True), strict=True))  # fmt: skip
    assert found == _expected(predictions)
    attacks = int(predictions["attack"].sum())
    assert f"{attacks:,} attack connections of {len(predictions):,}" in result.output
