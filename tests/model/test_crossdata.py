"""The `crossdata` stage end to end on the small trained project: three IoT-23 scenarios (cut
to their first lines), one of them in both formats; the KDD-trained flow ensemble's verdicts
are the registered champion's, and every fold leaves its scenario out."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from iot_anomaly.config import Paths, load_params
from iot_anomaly.data.preprocess import feature_columns
from iot_anomaly.data.splits import CHAMPION_PROTOCOL
from iot_anomaly.evaluation import crossdata as cd
from iot_anomaly.registry import register
from iot_anomaly.runtime import Runtime
from iot_anomaly.serving import Champion
from iot_anomaly.stages import crossdata as stage

#: Scenario file → lines kept (header included): a benign device, Hakai's C&C (both
#: formats: the CSV is read), Torii (a few C&C rows).
SCENARIOS = {
    "CTU-Honeypot-Capture-7-1-labeled.csv": 131,
    "CTU-Malware-Capture-44-1-labeled.csv": 238,
    "CTU-Malware-Capture-44-1.conn.log.labeled": 246,
    "CTU-Malware-Capture-20-1-labeled.csv": 401,
}


@pytest.fixture(scope="module")
def project(trained, root, tmp_path_factory) -> tuple[Paths, dict]:
    params, paths = trained
    if CHAMPION_PROTOCOL not in params.preprocess.protocols:
        pytest.fail(f"the trained project has no {CHAMPION_PROTOCOL} models")
    dest = tmp_path_factory.mktemp("crossdata") / "project"
    shutil.copytree(paths.root, dest)
    folder = dest / params.data.iot23_dir
    folder.mkdir(parents=True)
    for name, lines in SCENARIOS.items():
        text = (root / "data" / "iot23" / name).read_text().splitlines(keepends=True)
        (folder / name).write_text("".join(text[:lines]))
    copied = Paths(dest)
    report = stage.run(load_params(dest / "params.yaml"), copied, Runtime(progress=False))
    return copied, report


def test_the_report_is_written_and_every_scenario_scored_once(project) -> None:
    paths, report = project
    written = json.loads(cd.report_file(paths.reports).read_text())
    assert written == {k: v for k, v in report.items() if k != "seconds"}
    scenarios = written["scenarios"]
    assert list(scenarios) == [
        "CTU-Honeypot-Capture-7-1", "CTU-Malware-Capture-20-1", "CTU-Malware-Capture-44-1",
    ]  # fmt: skip
    assert scenarios["CTU-Malware-Capture-44-1"]["file"].endswith("-labeled.csv")
    assert scenarios["CTU-Honeypot-Capture-7-1"]["records"] == 130
    assert scenarios["CTU-Malware-Capture-44-1"]["attack_rows"] == 26
    for fold in written["folds"]:
        assert fold["test"] not in fold["train"]
        assert sorted([fold["test"], *fold["train"]]) == sorted(scenarios)
    for model, figures in written["models"].items():
        assert model in stage.MODELS
        for name, s in scenarios.items():
            f = figures["scenarios"][name]
            assert f["rows"] == s["records"] and f["attack_rows"] == s["attack_rows"]
            assert f["accuracy"] == pytest.approx((f["tp"] + f["tn"]) / f["rows"])
        overall = figures["overall"]
        assert overall["rows"] == sum(s["records"] for s in scenarios.values())
        assert figures["scenarios"]["CTU-Honeypot-Capture-7-1"]["attack_recall"] is None


def test_the_kdd_ensemble_gives_the_registered_champions_verdicts(project) -> None:
    paths, report = project
    params = load_params(paths.root / "params.yaml")
    register(params, paths)
    champion = Champion.load(paths, Runtime(progress=False))
    try:
        for s in stage.read_scenarios(params, paths):
            flagged = champion.predict(s.records)["attack"].to_numpy()
            f = report["models"]["ensemble"]["scenarios"][s.name]
            assert f["tp"] + f["fp"] == int(flagged.sum())
            assert f["tp"] == int((flagged & s.attack).sum())
    finally:
        champion.close()


def test_the_loso_forests_learn_the_scenarios_they_are_given(project) -> None:
    """Given the scored scenario too (not a leave-one-out fold), the fold's forests find its
    attacks: its rows carry what a forest can learn from, so a miss when the scenario is left
    out is the data's shift, not a fault of the fold's wiring."""
    paths, _ = project
    params = load_params(paths.root / "params.yaml")
    scenarios = {s.name: s for s in stage.read_scenarios(params, paths)}
    kdd = pd.read_parquet(paths.split(CHAMPION_PROTOCOL, "train"))
    features = feature_columns(params.preprocess.definition(CHAMPION_PROTOCOL).features)
    everything = cd.Fold("CTU-Malware-Capture-44-1", tuple(scenarios))  # not a LOSO fold
    ours, peer = stage.loso_verdicts(params, kdd, scenarios, everything, features, threads=1)
    attack = scenarios["CTU-Malware-Capture-44-1"].attack
    assert np.mean(ours[attack]) > 0.9 and np.mean(peer[attack]) > 0.9
