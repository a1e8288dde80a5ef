"""The documentation's results page: rendered from a small reports folder, every figure in
its place, labelled as a seed mean with its interval or as one run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from iot_anomaly.models import catalog
from iot_anomaly.review.docs import collect, render, write_results

SEED = 42
ENSEMBLE, RF, AE = (catalog.spec(m).title for m in ("ensemble", "rf", "ae"))

METRICS = {
    "paper": {
        "ensemble": {
            "test_rows": 98805,
            "binary": {"accuracy": 0.999686, "precision": 0.999748, "recall": 0.999861,
                       "f1": 0.999807},
            "multiclass": {"accuracy": 0.999676, "macro_f1": 0.953541},
            "kdd_cost": 0.000617,
            "decided_by_forest": 0.00081,
            "decided_by_envelope": 0.00013,
            "flagged_as_attack_by_category": {"normal": 0.00103, "u2r": 0.72727},
            "three_layers_only": {"accuracy": 0.999737, "f1": 0.999836,
                                  "multiclass_accuracy": 0.999727, "macro_f1": 0.954217,
                                  "kdd_cost": 0.000557},
        },
        "rf": {
            "test_rows": 98805,
            "binary": {"accuracy": 0.999757, "precision": 0.999975, "recall": 0.999723,
                       "f1": 0.999849},
            "multiclass": {"accuracy": 0.999747, "macro_f1": 0.919849},
            "kdd_cost": 0.000638,
        },
        "ae": {
            "test_rows": 98805,
            "binary": {"accuracy": 0.989211, "precision": 0.998294, "recall": 0.988254,
                       "f1": 0.993249},
            "scores": {"roc_auc": 0.998751},
        },
    },
    "corrected": {
        "ensemble": {
            "test_rows": 311029,
            "binary": {"accuracy": 0.939710, "precision": 0.995270, "recall": 0.929540,
                       "f1": 0.961280},
            "multiclass": {"accuracy": 0.933813, "macro_f1": 0.633800},
            "kdd_cost": 0.202107,
        },
    },
}  # fmt: skip

COMPARISON = [
    {"protocol": "paper", "model": "ensemble", "metric": "f1", "paper": 0.9621,
     "ours_binary": 0.999807, "ours_macro": 0.953541, "ours_weighted": 0.999676,
     "averaging_note": "paper's averaging unstated"},
    {"protocol": "corrected", "model": "ensemble", "metric": "accuracy", "paper": 0.9822,
     "ours_binary": 0.939710, "ours_macro": 0.933813, "ours_weighted": 0.933813,
     "averaging_note": "5-class accuracy in the macro and weighted columns"},
]  # fmt: skip


def _ci(mean: float, low: float, high: float, n: int = 3) -> dict:
    return {"mean": mean, "std": (high - low) / 5, "low": low, "high": high, "n": n}


SEED_STUDY_PAPER = {
    "protocol": "paper",
    "seeds": [42, 7, 2024],
    "summary": {
        "ensemble.binary.f1": _ci(0.999801, 0.999792, 0.999810),
        "ensemble.multiclass.macro_f1": _ci(0.944901, 0.925164, 0.964638),
        "rf.multiclass.macro_f1": _ci(0.917132, 0.906141, 0.928112),
        "ae.scores.roc_auc": _ci(0.998676, 0.998351, 0.999001),
        "ensemble.kdd_cost": _ci(0.000666, 0.000551, 0.000781),
    },
    "mcnemar": {
        "42": {"against": "rf", "b": 18, "c": 25, "p_value": 0.3602, "method": "chi2"},
        "7": {"against": "rf", "b": 18, "c": 26, "p_value": 0.2913, "method": "chi2"},
    },
}
SEED_STUDY_CORRECTED = {
    "protocol": "corrected",
    "seeds": [42, 7, 2024],
    "summary": {
        "ensemble.multiclass.accuracy": _ci(0.934010, 0.933110, 0.934910),
        "ensemble.kdd_cost": _ci(0.201430, 0.198860, 0.203990),
    },
    "mcnemar": {"42": {"against": "rf", "b": 4790, "c": 1685, "p_value": 0.0, "method": "chi2"}},
}
SPLIT_STUDY_PAPER = {
    "protocol": "paper",
    "vary": "split",
    "seeds": [1, 2, 3, 4, 5],
    "summary": {"ensemble.multiclass.macro_f1": _ci(0.937880, 0.930700, 0.945060, n=5)},
    "mcnemar": {},
}
SPLITS = {
    "protocols": {
        "paper": {"train_rows": 395216, "test_rows": 98805, "train_normal_rows": 77822,
                  "unseen_attack_rows_in_test": 0},
        "corrected": {"train_rows": 494021, "test_rows": 311029, "train_normal_rows": 97278,
                      "unseen_attack_rows_in_test": 18729},
    },
    "dedup": {"rows": 494021, "unique_rows": 145586, "duplicates_dropped": 348435,
              "feature_vectors_with_several_labels": 2},
    "paper_table2": [{"category": "u2r", "paper_train": 43, "ours_train": 41, "paper_test": 9,
                      "ours_test": 11}],
}  # fmt: skip
VALIDATION = {
    "train": {"source": "data/train.gz", "rows": 494021, "quarantined": 3, "expectations": 141,
              "failed": 1, "critical_failed": 0, "success": True},
}  # fmt: skip
PEERS = {
    "targets": [
        {"target": "paper.ensemble.multiclass.macro_f1", "ours": 0.944915, "ours_low": 0.925208,
         "ours_high": 0.964622, "ours_basis": "seed study, mean of 3", "peer": 0.913656,
         "peer_basis": "one run", "needed": "≥ 0.95", "met": False, "verdict": "not met"},
        {"target": "predict_records_per_s", "ours": 57766.2, "ours_low": None,
         "ours_high": None, "ours_basis": "median of 3 runs", "peer": 571.5,
         "peer_basis": "one run", "needed": "≥ 50,000", "met": True, "verdict": "met"},
        {"target": "corrected.ensemble.multiclass.accuracy", "ours": 0.933813, "ours_low": None,
         "ours_high": None, "ours_basis": "one run", "peer": None, "peer_basis": None,
         "needed": "≥ 0.935", "met": False, "verdict": "not met"},
    ],
}  # fmt: skip


def _write(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    """A reports folder as the pipeline, the studies and the peer benchmark leave it."""
    folder = tmp_path / "reports"
    _write(folder / "metrics.json", METRICS)
    _write(folder / "comparison.json", COMPARISON)
    _write(folder / "evaluation_details.json", {"paper": {"mcnemar": SEED_STUDY_PAPER[
        "mcnemar"]["42"]}})  # fmt: skip
    _write(folder / "seed_study_paper.json", SEED_STUDY_PAPER)
    _write(folder / "seed_study_corrected.json", SEED_STUDY_CORRECTED)
    _write(folder / "seed_study_paper_split.json", SPLIT_STUDY_PAPER)
    _write(folder / "splits.json", SPLITS)
    _write(folder / "validation" / "summary.json", VALIDATION)
    _write(folder / "bench" / "peers.json", PEERS)
    return folder


def tables_under(page: str, heading: str) -> list[list[dict[str, str]]]:
    """The Markdown tables of the section that starts with `heading`, as rows of
    {column header: cell text}."""
    lines = page.split(heading, 1)[1].splitlines()[1:]
    section = []
    for line in lines:
        if line.startswith(("## ", "### ")):
            break
        section.append(line)
    tables: list[list[dict[str, str]]] = []
    block: list[list[str]] = []
    for line in [*section, ""]:
        if line.startswith("|"):
            block.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif block:
            header, rows = block[0], block[2:]
            tables.append([dict(zip(header, row, strict=True)) for row in rows])
            block = []
    return tables


def row(table: list[dict[str, str]], column: str, value: str) -> dict[str, str]:
    matches = [r for r in table if r[column] == value]
    assert len(matches) == 1, f"one row with {column} = {value!r} expected, found {matches}"
    return matches[0]


def test_seed_studies_show_each_mean_with_its_interval_under_its_model(reports: Path) -> None:
    page = render(collect(reports), SEED)
    [study, mcnemar] = tables_under(page, "### `paper`, the models' seed varies")
    assert row(study, "figure", "macro-F1 (5-class)") == {
        "figure": "macro-F1 (5-class)",
        ENSEMBLE: "0.9449 [0.9252, 0.9646]",
        RF: "0.9171 [0.9061, 0.9281]",
        AE: "",
    }
    assert row(study, "figure", "F1 (binary)")[ENSEMBLE] == "0.99980 [0.99979, 0.99981]"
    assert row(study, "figure", "ROC-AUC")[AE] == "0.99868 [0.99835, 0.99900]"
    assert row(study, "figure", "KDD cost")[ENSEMBLE] == "0.00067 [0.00055, 0.00078]"
    assert "Every model retrained under seeds 42, 7, 2024" in page
    assert row(mcnemar, "seed", "7") == {
        "seed": "7", "against": RF, "b": "18", "c": "26", "p": "0.29",
        "test": "chi2",
    }  # fmt: skip
    [split] = tables_under(page, "### `paper`, the test split varies")
    assert split == [{"figure": "macro-F1 (5-class)", ENSEMBLE: "0.9379 [0.9307, 0.9451]"}]
    assert "split seeds 1, 2, 3, 4, 5" in page and "every model trained at seed 42" in page
    assert "over 5 runs" in page
    # The paper protocol's studies come before corrected's, the models' seed before the split.
    assert page.index("### `paper`, the models") < page.index("### `paper`, the test split")
    assert page.index("### `paper`, the test split") < page.index("### `corrected`, the models")


def test_the_paper_comparison_puts_the_seed_mean_beside_the_one_run_figures(
    reports: Path,
) -> None:
    page = render(collect(reports), SEED)
    [comparison] = tables_under(page, "## The paper's Table 3 beside ours")
    assert comparison[0] == {
        "protocol": "`paper`",
        "model": ENSEMBLE,
        "figure": "F1",
        "paper": "96.21%",
        "ours, seed mean [95% interval] (binary)": "99.980% [99.979%, 99.981%]",
        "ours, one run (binary)": "99.981%",
        "one run (macro)": "95.354%",
        "one run (weighted)": "99.968%",
    }
    # No seed study of the binary accuracy on corrected: that cell stays empty.
    assert comparison[1]["ours, seed mean [95% interval] (binary)"] == ""
    assert comparison[1]["ours, one run (binary)"] == "93.971%"
    [winner] = tables_under(page, "## `corrected.gz` beside the 1999 contest winner")
    assert [r[""] for r in winner] == [
        "1999 contest winner",
        "our ensemble, seed mean [95% interval]",
        "our ensemble, one run (seed 42)",
    ]
    assert winner[0] == {"": "1999 contest winner", "accuracy (5-class)": "92.71%",
                         "KDD cost": "0.2331"}  # fmt: skip
    assert winner[1]["accuracy (5-class)"] == "93.401% [93.311%, 93.491%]"
    assert winner[1]["KDD cost"] == "0.20143 [0.19886, 0.20399]"
    assert winner[2]["KDD cost"] == "0.20211"


def test_single_run_figures_are_labelled_as_one_run(reports: Path) -> None:
    page = render(collect(reports), 7)
    heading = "### `paper`, one run (seed 7), 98,805 test rows"
    [table] = tables_under(page, heading)
    assert [r["model"] for r in table] == [ENSEMBLE, RF, AE]
    assert row(table, "model", ENSEMBLE) == {
        "model": ENSEMBLE,
        "accuracy (binary)": "99.969%",
        "precision (binary)": "0.99975",
        "recall (binary)": "0.99986",
        "F1 (binary)": "0.99981",
        "accuracy (5-class)": "99.968%",
        "macro-F1 (5-class)": "0.9535",
        "ROC-AUC": "",
        "KDD cost": "0.00062",
    }
    assert row(table, "model", AE)["ROC-AUC"] == "0.99875"
    section = page.split(heading, 1)[1].split("###", 1)[0]
    assert "macro-F1 (5-class) 0.9542" in section  # the three layers alone
    assert "the service envelope: 0.013%" in " ".join(section.split())
    assert "u2r 72.727%" in section
    assert f"({RF}): b = 18, c = 25, p = 0.36 (chi2)" in " ".join(section.split())
    # Every single-run figure carries the one-run label in its heading.
    for h in [
        line for line in page.splitlines() if line.startswith("### `") and "test rows" in line
    ]:
        assert "one run (seed 7)" in h
    assert "p < 1e-300" not in section


def test_targets_splits_and_validation_come_from_their_reports(reports: Path) -> None:
    page = render(collect(reports), SEED)
    [targets] = tables_under(page, "## Targets, beside off-the-shelf peers")
    assert targets == [
        {"target": "paper.ensemble.multiclass.macro_f1", "ours": "0.94491 [0.92521, 0.96462]",
         "ours: from": "seed study, mean of 3", "peer, one run": "0.91366", "needed": "≥ 0.95",
         "verdict": "not met"},
        {"target": "predict_records_per_s", "ours": "57,766", "ours: from": "median of 3 runs",
         "peer, one run": "572", "needed": "≥ 50,000", "verdict": "met"},
        {"target": "corrected.ensemble.multiclass.accuracy", "ours": "0.93381",
         "ours: from": "one run", "peer, one run": "", "needed": "≥ 0.935",
         "verdict": "not met"},
    ]  # fmt: skip
    [protocols, table2] = tables_under(page, "### Protocols")
    assert row(protocols, "protocol", "`corrected`")[
        "test rows of attack types absent from training"] == "18,729"  # fmt: skip
    assert table2 == [{"category": "u2r", "paper, train": "43", "ours, train": "41",
                       "paper, test": "9", "ours, test": "11"}]  # fmt: skip
    assert "145,586 unique rows of 494,021" in " ".join(page.split())
    [validation] = tables_under(page, "### Validation")
    assert validation == [{"data set": "train", "file": "`data/train.gz`", "rows": "494,021",
                           "lines quarantined": "3", "expectations": "141", "failed": "1",
                           "critical failed": "0", "passed": "yes"}]  # fmt: skip


def test_reports_not_written_yet_name_the_command_that_writes_them(tmp_path: Path) -> None:
    page = render(collect(tmp_path), SEED)
    assert "No seed study has been run yet: `iot-anomaly study --protocol paper`" in page
    assert "Not evaluated yet: `dvc repro evaluate` writes `reports/comparison.json`" in page
    assert "`python -m bench.peers` writes `reports/bench/peers.json`" in page
    assert "1999 contest winner" not in page
    assert "|" not in page


def test_a_project_without_the_dedup_protocol_renders_its_splits(reports: Path) -> None:
    """A project may run fewer protocols (params `preprocess.protocols`)."""
    splits = {"protocols": {"corrected": SPLITS["protocols"]["corrected"]}}
    _write(reports / "splits.json", splits)
    page = render(collect(reports), SEED)
    [protocols, *_] = tables_under(page, "### Protocols")
    assert [r["protocol"] for r in protocols] == ["`corrected`"]
    assert "unique rows of" not in page and "Table 2" not in page


def test_the_page_is_written_where_asked_and_only_changes_with_the_reports(
    reports: Path, tmp_path: Path
) -> None:
    out = write_results(reports, tmp_path / "docs" / "results.md", SEED)
    first = out.read_text(encoding="utf-8")
    assert first == render(collect(reports), SEED)
    assert write_results(reports, out, SEED).read_text(encoding="utf-8") == first
    study = json.loads((reports / "seed_study_paper.json").read_text())
    study["summary"]["ensemble.multiclass.macro_f1"]["mean"] = 0.95
    _write(reports / "seed_study_paper.json", study)
    assert "0.9500 [0.9252, 0.9646]" in write_results(reports, out, SEED).read_text()


def test_the_docs_command_writes_the_page_with_the_seed_of_params(
    reports: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from iot_anomaly.cli import app

    settings = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())
    settings["models"]["seed"] = 5
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(settings))
    done = CliRunner().invoke(app, ["docs", "--root", str(tmp_path), "--params", str(params)])
    assert done.exit_code == 0, done.output
    page = (tmp_path / "docs" / "results.md").read_text(encoding="utf-8")
    assert page == render(collect(reports), 5)
    assert "### `paper`, one run (seed 5), 98,805 test rows" in page
