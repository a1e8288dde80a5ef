"""Data tests on the shipped traffic: every IoT-23 log and every capture is ingested, the
counts add up, the labels are those the dataset's README lists, and nfstream's flows are
as many as the captures' README says."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from iot_anomaly import schema
from iot_anomaly.traffic.ingest import Ingested, ingest

ROOT = Path(__file__).resolve().parents[2]

#: Per IoT-23 scenario, the README's label counts (label / detailed-label), as categories
#: under params `ingest.labels`: Benign -> normal, C&C* and FileDownload -> r2l, DDoS -> dos.
IOT23_CATEGORIES = {
    "CTU-Honeypot-Capture-4-1": {"normal": 452},
    "CTU-Honeypot-Capture-5-1": {"normal": 1_374},
    "CTU-Honeypot-Capture-7-1": {"normal": 130},
    "CTU-Malware-Capture-8-1": {"normal": 2_181, "r2l": 8_222},
    "CTU-Malware-Capture-20-1": {"normal": 3_193, "r2l": 16},
    "CTU-Malware-Capture-21-1": {"normal": 3_272, "r2l": 14},
    "CTU-Malware-Capture-42-1": {"normal": 4_420, "r2l": 6},
    "CTU-Malware-Capture-44-1": {"normal": 211, "r2l": 25, "dos": 1},
}
IOT23_LABELS = {
    "CTU-Malware-Capture-42-1": {"Benign": 4_420, "C&C-FileDownload": 3, "FileDownload": 3},
    "CTU-Malware-Capture-44-1": {"Benign": 211, "C&C": 14, "C&C-FileDownload": 11, "DDoS": 1},
}
#: nfstream's flows per capture (captures README: 37,669 and 1,994).
FLOWS = {"stopddos_pkt.TCP.synflood.spoofed.pcap": 37_669, "ndpi_synscan.pcap": 1_994}


def _folder(params, name: str) -> Path:
    folder = ROOT / getattr(params.data, name)
    if not folder.is_dir() or not any(folder.iterdir()):
        message = f"{folder} is missing: run `dvc pull data.dvc` (scripts/test.sh does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return folder


@pytest.fixture(scope="module")
def iot23(params) -> Ingested:
    return ingest([_folder(params, "iot23_dir")], params.ingest)


@pytest.fixture(scope="module")
def captures(params) -> Ingested:
    return ingest([_folder(params, "captures_dir")], params.ingest)


def _by_source(done: Ingested) -> dict[str, dict]:
    return {Path(s["file"]).name: s for s in done.summary["sources"]}


@pytest.mark.parametrize("which", ["iot23", "captures"])
def test_every_file_is_read_and_counts_add_up(which: str, request) -> None:
    done: Ingested = request.getfixturevalue(which)
    summary = done.summary
    assert summary["skipped"] == [] and summary["sources"]
    for source in summary["sources"]:
        assert source["read"] == source["records"] + source["quarantined"], source["file"]
        assert source["records"] > 0
    assert summary["records"] == len(done.records)
    assert summary["quarantined"] == len(done.quarantine) == 0  # the shipped files are clean
    assert set(schema.CONTENT_FEATURES) <= set(summary["unmeasured"])
    assert done.records[list(schema.FLOW_FEATURES)].notna().all().all()


def test_iot23_label_counts_match_the_readme(iot23: Ingested) -> None:
    sources = _by_source(iot23)
    assert len(sources) == 10
    records = iot23.records.assign(name=iot23.records["file"].map(lambda f: Path(f).name))
    for scenario, expected in IOT23_CATEGORIES.items():
        files = [n for n in sources if n.startswith(scenario + "-") or n.startswith(scenario + ".")]
        assert files, scenario
        for name in files:
            mine = records[records["name"] == name]
            assert mine[schema.CATEGORY].value_counts().to_dict() == expected, name
            assert sources[name]["read"] == sum(expected.values())
            if scenario in IOT23_LABELS:
                assert sources[name]["labels"] == IOT23_LABELS[scenario], name


def test_conn_log_and_csv_of_a_scenario_give_the_same_records(iot23: Ingested) -> None:
    records = iot23.records
    features = [*schema.FLOW_FEATURES, schema.CATEGORY]
    for scenario in ("CTU-Malware-Capture-8-1", "CTU-Malware-Capture-44-1"):
        log = records[records["file"].str.endswith(f"{scenario}.conn.log.labeled")]
        csv = records[records["file"].str.endswith(f"{scenario}-labeled.csv")]
        pd.testing.assert_frame_equal(
            log.sort_values("uid")[features].reset_index(drop=True),
            csv.sort_values("uid")[features].reset_index(drop=True),
        )


def test_captures_give_the_flows_nfstream_reports(captures: Ingested) -> None:
    sources = _by_source(captures)
    assert len(sources) == 9
    for name, flows in FLOWS.items():
        assert sources[name]["read"] == flows
    flood = captures.records[captures.records["file"].str.endswith(next(iter(FLOWS)))]
    assert (flood["flag"] == "S0").mean() > 0.99  # a SYN flood: attempts never answered
    assert (flood["protocol_type"] == "tcp").all()
    assert "urgent" in sources["ndpi_synscan.pcap"]["measured"]
    scan = captures.records[captures.records["file"].str.endswith("ndpi_synscan.pcap")]
    assert scan["dst_port"].nunique() > 900  # one target, many ports
