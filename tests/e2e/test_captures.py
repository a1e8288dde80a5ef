"""Every shipped packet capture through `ingest` and `predict`, scored by the champion as the
pipeline trains it: the `corrected_flow` protocol's models, trained here on the whole 10%
file (about 7 minutes on 2 cores). What each capture holds is known from its source
(data/pcaps/README.md), so each is a labelled test on real traffic."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from iot_anomaly.models import catalog
from iot_anomaly.registry import CHAMPION_PROTOCOL
from tests.helpers import edit_params, run_tool

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

CAPTURES = Path(__file__).resolve().parents[2] / "data" / "pcaps"
#: Attack captures, pooled per kind -> the share of their connections that must be attacks.
ATTACKS = {
    "SYN flood": (("stopddos_pkt.TCP.synflood.spoofed.pcap",), 0.95),
    "port scans": (("ndpi_synscan.pcap", "ndpi_tcp_scan.pcapng"), 0.90),
}
BENIGN = (
    "ndpi_mqtt.pcap",
    "ndpi_coap_mqtt.pcap",
    "ndpi_modbus.pcap",
    "ndpi_bacnet.pcap",
    "ndpi_dnp3.pcap",
    "ndpi_telnet.pcap",
)


@pytest.fixture(scope="module")
def champion(tmp_path_factory: pytest.TempPathFactory, root: Path) -> Path:
    """A project whose registered model is the champion protocol's ensemble, trained on the
    whole 10% file with the project's own params (only the champion protocol is built)."""
    project = tmp_path_factory.mktemp("captures")
    shutil.copytree(root / "expectations", project / "expectations")
    shutil.copy2(root / "params.yaml", project / "params.yaml")
    (project / "data").mkdir()
    for name in ("kddcup.data_10_percent.gz", "corrected.gz"):
        shutil.copy2(root / "data" / name, project / "data" / name)

    def champion_only(p: dict) -> None:
        p["preprocess"]["protocols"] = [CHAMPION_PROTOCOL]

    edit_params(project / "params.yaml", champion_only)
    run_tool(["iot-anomaly", "validate"], project)
    run_tool(["iot-anomaly", "preprocess"], project)
    for model in catalog.TRAINING_ORDER:  # the ensemble last: it learns from the others
        run_tool(["iot-anomaly", "train", model, "--protocol", CHAMPION_PROTOCOL], project)
    run_tool(["iot-anomaly", "register"], project)
    return project


def _predict(project: Path, capture: str, out: Path) -> pd.DataFrame:
    """Predictions for one capture; checks that every flow is a record or quarantined."""
    output = out / f"{capture}.csv"
    run_tool(["iot-anomaly", "predict", "-i", str(CAPTURES / capture), "-o", str(output)], project)
    summary = json.loads(output.with_name(f"{capture}.summary.json").read_text())
    (source,) = summary["sources"]
    predictions = pd.read_csv(output)
    assert source["read"] == source["records"] + source["quarantined"]
    assert len(predictions) == source["records"] > 0
    return predictions


@pytest.mark.parametrize("kind", sorted(ATTACKS))
def test_attack_captures_are_called_attacks(champion: Path, kind: str, tmp_path: Path) -> None:
    captures, least = ATTACKS[kind]
    predictions = pd.concat([_predict(champion, c, tmp_path) for c in captures])
    share = predictions["attack"].mean()
    assert share >= least, f"{kind}: {share:.1%} of {len(predictions)} connections called attacks"


@pytest.mark.xfail(
    strict=True,
    reason="the champion trained on 1999 traffic calls most flows of today's IoT protocols "
    "attacks (docs/traffic.md, Findings); a strict xfail, so a fix shows up as a failure here",
)
def test_benign_iot_protocol_captures_are_called_normal(champion: Path, tmp_path: Path) -> None:
    predictions = pd.concat([_predict(champion, c, tmp_path) for c in BENIGN])
    share = 1 - predictions["attack"].mean()
    assert share >= 0.90, f"{share:.1%} of {len(predictions)} benign connections called normal"
