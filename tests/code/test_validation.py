"""The validation gate: suites load, good data passes, a broken expectation stops the stage."""

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from iot_anomaly import schema
from iot_anomaly.cli import app
from iot_anomaly.config import Paths, load_params
from iot_anomaly.data.reader import parse_kdd
from iot_anomaly.data.validation import DataValidationError, load_suite, run_suites
from iot_anomaly.stages import validate as validate_stage
from tests.helpers import small_project

SUITES = ("kddcup_records", "kddcup_labels", "kddcup_training")


def _suite(root: Path, name: str) -> dict:
    return load_suite(root / "expectations" / f"{name}.json")


def test_suites_match_the_schema(root: Path) -> None:
    records = _suite(root, "kddcup_records")
    [ordered] = [
        e
        for e in records["expectations"]
        if e["type"] == "expect_table_columns_to_match_ordered_list"
    ]
    assert ordered["kwargs"]["column_list"] == list(schema.FEATURES)
    checked = {e["kwargs"].get("column") for e in records["expectations"]}
    assert checked >= set(schema.FEATURES)
    for name in SUITES:
        suite = _suite(root, name)
        assert suite["name"] == name
        assert {e["severity"] for e in suite["expectations"]} <= {"critical", "warning"}


def test_load_suite_rejects_bad_json(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match=r"broken\.json: not valid JSON"):
        load_suite(broken)
    (tmp_path / "shape.json").write_text(json.dumps({"expectations": []}))
    with pytest.raises(ValueError, match="needs 'name'"):
        load_suite(tmp_path / "shape.json")


def test_stage_passes_good_data_and_writes_reports(tmp_path, root, train_lines, test_lines) -> None:
    project = small_project(tmp_path, root, train_lines, test_lines)
    paths = Paths(project)
    results = validate_stage.run(load_params(project / "params.yaml"), paths)
    assert [r.name for r in results] == ["train", "test"]
    assert all(r.success for r in results)
    assert len(pd.read_parquet(paths.clean("train"))) == len(train_lines)
    html = (paths.validation_dir / "index.html").read_text()
    assert "passed" in html and "<script" not in html and "http" not in html.split("</style>")[0]
    summary = json.loads((paths.validation_dir / "summary.json").read_text())
    assert summary["train"]["rows"] == len(train_lines) and summary["train"]["quarantined"] == 0


def _with(line: str, column: str, value: str) -> str:
    fields = line.split(",")
    fields[schema.COLUMNS.index(column)] = value
    return ",".join(fields)


def test_broken_expectation_stops_the_stage(tmp_path, root, train_lines, test_lines) -> None:
    train = list(train_lines)
    train[5] = _with(train[5], "dst_host_count", "300")  # parses, but above the cap of 255
    train[6] = _with(train[6], "count", "900")  # above KDD's cap of 511
    train[7] = train[7] + ",junk"  # quarantined, not a validation failure
    train[8] = _with(train[8], "protocol_type", "sctp")  # an unknown protocol: quarantined
    project = small_project(tmp_path, root, train, test_lines)
    paths = Paths(project)
    paths.clean("train").parent.mkdir(parents=True)
    paths.clean("train").write_bytes(b"last good version")

    with pytest.raises(DataValidationError) as caught:
        validate_stage.run(load_params(project / "params.yaml"), paths)
    message = str(caught.value)
    assert "kddcup_records.expect_column_values_to_be_between on column 'dst_host_count'" in message
    assert "kddcup_records.expect_column_values_to_be_between on column 'count'" in message
    assert "data/train.csv" in message and "data/test.csv" not in message
    assert paths.clean("train").read_bytes() == b"last good version"  # nothing overwritten
    html = (paths.validation_dir / "index.html").read_text()
    assert "FAILED" in html and "dst_host_count" in html
    quarantine = pd.read_csv(paths.quarantine("train"))
    assert quarantine["line"].tolist() == [8, 9]

    # The CLI says the same and exits non-zero.
    result = CliRunner().invoke(
        app, ["validate", "--params", str(project / "params.yaml"), "--root", str(project)]
    )
    assert result.exit_code == 1
    assert "dst_host_count" in result.output
    assert "expect_column_values_to_be_between" in result.output


def test_training_suite_rejects_unseen_attack_names(root, tmp_path, train_lines) -> None:
    path = tmp_path / "train.csv"
    path.write_text("\n".join([*train_lines, _with(train_lines[0], "label", "mailbomb.")]) + "\n")
    frame = parse_kdd(path).frame
    findings = run_suites(frame, [_suite(root, "kddcup_training")])
    failed = {(f.expectation, f.column) for f in findings if not f.success}
    assert ("expect_column_values_to_be_in_set", "label") in failed
    assert ("expect_table_row_count_to_be_between", "") in failed  # a slice is too small


def test_training_suite_bounds_class_shares(root, train_frame) -> None:
    is_dos = train_frame[schema.CATEGORY] == "dos"
    # All normal rows, every rare attack, and a twentieth of the DoS flood.
    skewed = pd.concat([train_frame[~is_dos], train_frame[is_dos].iloc[::20]])
    findings = run_suites(skewed, [_suite(root, "kddcup_training")])
    failed = {f.notes for f in findings if not f.success}
    assert failed == {"share of normal rows <= 0.5", "share of dos rows >= 0.5"}
    on_the_real_file = run_suites(train_frame, [_suite(root, "kddcup_training")])
    assert all(f.success for f in on_the_real_file)
