"""Cross-dataset evaluation on IoT-23: the scenario files, the leave-one-scenario-out fold
plan (no fold scores a scenario it learned from), and the figures, on hand-built cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from iot_anomaly import schema
from iot_anomaly.evaluation import crossdata as cd
from iot_anomaly.stages import crossdata as stage
from tests.helpers import blank_row

FLOW = schema.FLOW_FEATURES


def test_one_file_per_scenario_preferring_the_chosen_format() -> None:
    files = [
        Path("d/CTU-Malware-Capture-8-1.conn.log.labeled"),
        Path("d/CTU-Malware-Capture-8-1-labeled.csv"),
        Path("d/CTU-Honeypot-Capture-4-1-labeled.csv"),
        Path("d/CTU-Malware-Capture-44-1.conn.log.labeled"),
        Path("d/README.md"),
        Path("d/-labeled.csv"),
    ]
    csv = cd.scenario_files(files, "csv")
    assert csv == {
        "CTU-Honeypot-Capture-4-1": files[2],
        "CTU-Malware-Capture-44-1": files[3],  # only its conn.log exists
        "CTU-Malware-Capture-8-1": files[1],
    }
    assert cd.scenario_files(files, "conn.log")["CTU-Malware-Capture-8-1"] == files[0]
    with pytest.raises(ValueError, match="unknown format"):
        cd.scenario_files(files, "pcap")


def test_the_fold_plan_never_scores_a_scenario_a_model_learned_from() -> None:
    scenarios = ["a", "b", "c", "d"]
    plan = cd.fold_plan(scenarios)
    assert [f.test for f in plan] == scenarios  # every scenario scored exactly once
    for fold in plan:
        assert fold.test not in fold.train
        assert set(fold.train) | {fold.test} == set(scenarios)
    with pytest.raises(ValueError, match="twice"):
        cd.fold_plan(["a", "a"])


def records(label: str, category: str, n: int, **values: object) -> pd.DataFrame:
    """n identical records of one label."""
    return pd.DataFrame([blank_row(**values, label=label, category=category)] * n)


def scenario(name: str, frame: pd.DataFrame) -> stage.Scenario:
    return stage.Scenario(name, f"{name}-labeled.csv", frame.reset_index(drop=True), 0)


def test_a_fold_learns_from_the_other_scenarios_and_never_from_the_left_out_one() -> None:
    kdd = pd.concat(
        [
            records("normal.", "normal", 3, src_bytes=100),
            records("Benign", "normal", 2, src_bytes=7),  # a confirmed row equal to one of "a"
        ],
        ignore_index=True,
    ).astype({"src_bytes": "Int64"})
    scenarios = {
        "a": scenario("a", records("Benign", "normal", 4, src_bytes=7.0)),
        "b": scenario("b", records("C&C", "r2l", 5, src_bytes=9.0)),
        "c": scenario("c", records("DDoS", "dos", 6, src_bytes=11.0)),
    }
    plan = cd.fold_plan(list(scenarios))
    learned = {f.test: stage.fold_rows(kdd, scenarios, f, FLOW) for f in plan}
    # The rows identical to the left-out scenario's leave the KDD part (dtype aside).
    assert len(learned["a"]) == 3 + 5 + 6
    assert not stage.rows_seen(learned["a"], scenarios["a"].records, FLOW).any()
    assert len(learned["b"]) == 5 + 4 + 6
    assert set(learned["b"][schema.LABEL]) == {"normal.", "Benign", "DDoS"}
    assert set(learned["c"][schema.LABEL]) == {"normal.", "Benign", "C&C"}


def test_the_figures_of_a_hand_built_case() -> None:
    attack = np.array([1, 1, 1, 0, 0, 0, 0])
    flagged = np.array([1, 0, 1, 1, 0, 0, 0])
    labels = pd.Series(["C&C", "C&C", "DDoS", "Benign", "benign", "Benign", "Benign"])
    f = cd.verdict_figures(attack, flagged, labels)
    assert (f["tp"], f["fn"], f["fp"], f["tn"]) == (2, 1, 1, 3)
    assert f["accuracy"] == pytest.approx(5 / 7)
    assert f["attack_recall"] == pytest.approx(2 / 3)
    assert f["false_alarm_rate"] == pytest.approx(1 / 4)
    assert (f["rows"], f["attack_rows"], f["benign_rows"]) == (7, 3, 4)
    # `benign` and `Benign` are one label, under its most frequent spelling.
    assert f["by_label"] == {
        "Benign": {"rows": 4, "flagged": 0.25},
        "C&C": {"rows": 2, "flagged": 0.5},
        "DDoS": {"rows": 1, "flagged": 1.0},
    }


def test_undefined_rates_are_none_not_zero() -> None:
    benign = cd.verdict_figures(np.zeros(3), np.array([0, 1, 0]), pd.Series(["benign"] * 3))
    assert benign["attack_recall"] is None
    assert benign["false_alarm_rate"] == pytest.approx(1 / 3)
    attacks = cd.verdict_figures(np.ones(2), np.ones(2), pd.Series(["C&C"] * 2))
    assert attacks["false_alarm_rate"] is None
    assert attacks["attack_recall"] == 1.0


def test_overall_pools_every_scenario_row() -> None:
    scored = {
        "x": (np.array([1, 0]), np.array([1, 1]), pd.Series(["C&C", "Benign"])),
        "y": (np.array([0, 0, 0]), np.array([0, 0, 0]), pd.Series(["benign"] * 3)),
    }
    out = cd.model_figures(scored)
    assert set(out["scenarios"]) == {"x", "y"}
    assert out["scenarios"]["y"]["attack_recall"] is None
    overall = out["overall"]
    assert (overall["rows"], overall["tp"], overall["fp"], overall["tn"]) == (5, 1, 1, 3)
    assert overall["false_alarm_rate"] == pytest.approx(1 / 4)
    assert overall["by_label"]["benign"] == {"rows": 4, "flagged": 0.25}  # the commoner spelling


def test_a_fold_forest_scores_only_the_left_out_scenario(params) -> None:
    """The fold's two forests learn the other scenarios' labels: the left-out scenario's
    rows look like a training scenario's attack rows, so both flag them."""
    kdd = pd.concat(
        [records("normal.", "normal", 20, src_bytes=100), records("smurf.", "dos", 20, count=500)],
        ignore_index=True,
    )
    scenarios = {
        "a": scenario("a", records("C&C", "r2l", 4, src_bytes=7)),
        "b": scenario("b", records("C&C", "r2l", 5, src_bytes=7)),
        "c": scenario("c", records("Benign", "normal", 6, src_bytes=50)),
    }
    fold = cd.fold_plan(list(scenarios))[0]
    small = params.model_copy(
        update={"train_rf": params.train_rf.model_copy(update={"forest": {"n_estimators": 5}})}
    )
    ours, peer = stage.loso_verdicts(small, kdd, scenarios, fold, FLOW, threads=1)
    assert len(ours) == len(peer) == 4
    assert ours.all() and peer.all()


def iot23_report() -> dict:
    """A crossdata report as the stage writes it, from hand-built verdicts."""
    scored = {
        "CTU-x": (np.array([1, 0]), np.array([1, 1]), pd.Series(["C&C", "Benign"])),
        "CTU-y": (np.array([0, 0]), np.array([0, 0]), pd.Series(["benign"] * 2)),
    }
    return {
        "protocol": "corrected_flow",
        "prefer": "csv",
        "scenarios": {
            n: {
                "file": f"data/iot23/{n}-labeled.csv",
                "records": 2,
                "quarantined": 0,
                "attack_rows": int(a.sum()),
                "rows_in_kdd_training": 0,
            }
            for n, (a, _, _) in scored.items()
        },
        "folds": [{"test": f.test, "train": list(f.train)} for f in cd.fold_plan(list(scored))],
        "models": {
            m: {"learned_from": text, **cd.model_figures(scored)}
            for m, text in stage.MODELS.items()
        },
    }


def test_evaluate_copies_the_report_into_the_metrics_under_its_key(tmp_path: Path) -> None:
    from iot_anomaly.config import Paths
    from iot_anomaly.io import write_json
    from iot_anomaly.stages.evaluate import with_crossdata

    paths = Paths(tmp_path)
    results = {"corrected_flow": {"ensemble": {}}}
    assert with_crossdata(results, paths) == results  # the stage has not run: nothing added
    write_json(iot23_report(), cd.report_file(paths.reports))
    merged = with_crossdata(results, paths)
    assert merged == {**results, cd.METRICS_KEY: iot23_report()}


def test_the_site_page_shows_the_report_figures_with_their_keys() -> None:
    from iot_anomaly.review import site
    from iot_anomaly.review.inputs import SiteInputs

    metrics = {cd.METRICS_KEY: iot23_report()}
    inputs = SiteInputs(
        metrics=metrics, details={}, seed_studies={}, validation_summary={},
        validation_results=[], registered=None, champion=None, batches=[], decisions=[],
        drift_share=0.25,
    )  # fmt: skip
    html = site.iot23_page(inputs, seed=42)
    key = "iot23/models/rf_loso/overall/false_alarm_rate"
    assert f'data-key="{key}" data-value="0.3333333333333333">33.33%</td>' in html
    assert 'data-key="iot23/models/ensemble/scenarios/CTU-x/attack_recall"' in html
    assert 'data-key="iot23/models/peer_rf/overall/by_label/C&amp;C/flagged"' in html
    # The model page lists protocols only, never the IoT-23 figures.
    assert site.model_page(inputs, site.Layout(), seed=42).count("Protocol iot23") == 0


def test_the_results_page_has_the_iot23_section() -> None:
    from iot_anomaly.review import docs

    reports = {k: None for k in ("metrics", "comparison", "details", "splits", "validation",
                                  "peers")} | {"studies": {}}  # fmt: skip
    reports["metrics"] = {cd.METRICS_KEY: iot23_report()}
    page = docs.render(reports, seed=42)
    assert "## IoT-23: the flow models on real IoT traffic" in page
    one_run = page.split("## One run")[1].split("## IoT-23")[0]
    assert "### `iot23`" not in one_run  # not a protocol
    row = next(line for line in page.splitlines() if line.startswith("| rf_loso |"))
    assert "75.000%" in row and "100.000%" in row  # accuracy 3/4 over both scenarios; recall 1


def test_the_ensembles_flags_are_told_apart_by_the_deciding_layer() -> None:
    layer = np.array(["agree", "envelope", "envelope", "forest", "agree"])
    attack = np.array([1, 0, 1, 0, 0])
    flagged = np.array([1, 1, 1, 0, 0])
    out = cd.flagged_by_layer(layer, attack, flagged, ("agree", "forest", "envelope"))
    assert out == {
        "agree": {"attack_rows_flagged": 1, "benign_rows_flagged": 0},
        "forest": {"attack_rows_flagged": 0, "benign_rows_flagged": 0},
        "envelope": {"attack_rows_flagged": 1, "benign_rows_flagged": 1},
    }
