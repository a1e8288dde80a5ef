"""Pure logic of monitoring and orchestration: promotion rule, holdout and replay, the drift
decision, the decision log, the store's version record, the outputs git versions, confirmed
rows in splits."""

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from iot_anomaly import pipeline, schema
from iot_anomaly.data.splits import build_protocols, row_keys
from iot_anomaly.monitoring import decisions
from iot_anomaly.monitoring.drift import DriftSummary, QualityReference, decide, wilson_interval
from iot_anomaly.monitoring.promotion import compare, holdout_mask, replay_rows
from iot_anomaly.monitoring.replay import cut_batches, planned_batches, replay
from iot_anomaly.monitoring.store import ChampionStore
from iot_anomaly.params import Params, PromotionRule
from tests.helpers import blank_row

RULES = {
    "kdd_cost": PromotionRule(better="lower", tolerance=0.0),
    "accuracy": PromotionRule(better="higher", tolerance=0.001),
}


def _frame(labels: list[str], **values: object) -> pd.DataFrame:
    rows = [blank_row(**values) | {schema.LABEL: lab} for lab in labels]
    frame = pd.DataFrame(rows)
    frame[schema.CATEGORY] = frame[schema.LABEL].map(schema.LABEL_TO_CATEGORY)
    return frame


def test_promotion_rule_uses_direction_and_tolerance() -> None:
    champion = {"kdd_cost": 0.25, "accuracy": 0.92}
    ok, lines = compare(champion, {"kdd_cost": 0.20, "accuracy": 0.9195}, RULES)
    assert ok and all(line.endswith("ok") for line in lines)
    worse_cost, lines = compare(champion, {"kdd_cost": 0.2501, "accuracy": 0.95}, RULES)
    assert not worse_cost and lines[0].endswith("worse")
    worse_acc, _ = compare(champion, {"kdd_cost": 0.1, "accuracy": 0.918}, RULES)
    assert not worse_acc


def test_holdout_is_fixed_and_replay_never_sends_it(params: Params) -> None:
    a, b = holdout_mask(10_000, 0.2, 42), holdout_mask(10_000, 0.2, 42)
    assert np.array_equal(a, b) and 0.18 < a.mean() < 0.22
    assert not np.array_equal(a, holdout_mask(10_000, 0.2, 7))
    with pytest.raises(ValueError, match="holdout_fraction"):
        holdout_mask(10, 1.5, 42)
    frame = pd.DataFrame({"x": range(10_000)})
    replayed = replay_rows(params.monitor, frame)
    mask = holdout_mask(10_000, params.monitor.holdout_fraction, params.monitor.seed)
    assert set(replayed["x"]).isdisjoint(set(frame["x"][mask]))
    assert len(replayed) + mask.sum() == 10_000


def test_cut_batches_covers_rows_once_and_mixes_unseen_attacks() -> None:
    labels = ["normal"] * 600 + ["smurf"] * 200 + ["mailbomb"] * 200  # mailbomb is unseen
    frame = _frame(labels)
    batches = list(cut_batches(frame, 300, seed=1))
    assert [len(b) for b in batches] == [300, 300, 300, 100]
    assert sorted(np.concatenate([b.index for b in batches])) == list(frame.index)
    first = next(cut_batches(frame, 100, seed=1, unseen_share=0.5))
    assert (first[schema.LABEL] == "mailbomb").sum() == 50
    with pytest.raises(ValueError):
        next(cut_batches(frame, 0, seed=1))


def test_replay_writes_the_planned_batches_into_the_inbox(tmp_path: Path) -> None:
    frame = _frame(["normal"] * 250)
    seen: list[tuple[int, int, str, int]] = []
    written = replay(frame, tmp_path / "inbox", "r", 100, seed=1, limit=2,
                     on_batch=lambda i, n, f, rows: seen.append((i, n, f.name, rows)))  # fmt: skip
    assert [f.name for f in written] == ["r-0001.csv", "r-0002.csv"]
    assert seen == [(1, 2, "r-0001.csv", 100), (2, 2, "r-0002.csv", 100)]
    assert sorted(p.name for p in (tmp_path / "inbox").iterdir()) == ["r-0001.csv", "r-0002.csv"]
    assert len(replay(frame, tmp_path / "all", "r", 100, seed=1)) == planned_batches(250, 100) == 3
    with pytest.raises(ValueError, match="at least 1"):
        planned_batches(250, 0)


def test_the_store_records_when_a_version_was_promoted(tmp_path: Path) -> None:
    store = ChampionStore(tmp_path / "champion")
    with pytest.raises(FileNotFoundError):
        store.promote("v1")
    store.version_root("v1").mkdir(parents=True)
    assert store.stored("v1") == {} and store.current() is None
    store.promote("v1")
    assert store.current() == "v1"
    record = store.stored("v1")
    assert record["version"] == "v1" and record["promoted_at"].endswith("+00:00")


def _summary(share: float, accuracy: float | None = None) -> DriftSummary:
    return DriftSummary(
        drifted_columns=round(share * 40), columns=40, drifted_share=share, column_drift={},
        drifted=[], prediction_drift=None, prediction_drifted=False, accuracy=accuracy,
    )  # fmt: skip


def _quality(accuracy: float, drop: float = 0.05) -> QualityReference:
    return QualityReference(accuracy, "the holdout", allowed_drop=drop, confidence=0.95)


def test_drift_decision_fires_on_feature_share_or_quality_drop() -> None:
    assert not decide(_summary(0.25), 0.25).fired  # at the threshold: no
    fired = decide(_summary(0.3), 0.25)
    assert fired.fired and "12 of 40 features drifted" in fired.reasons[0]
    quality = decide(_summary(0.0, accuracy=0.80), 0.25, _quality(0.92), rows=2000)
    assert quality.fired and "accuracy 0.8000 on 2,000 labelled rows" in quality.reasons[0]
    assert "0.8000" in quality.reasons[0] and "0.92" in quality.reasons[0]
    low, high = quality.accuracy_interval
    assert low < 0.80 < high < 0.87 and quality.reference_accuracy == 0.92
    assert not decide(_summary(0.0, accuracy=0.90), 0.25, _quality(0.92), rows=2000).fired


def test_the_quality_alarm_holds_the_batch_interval_against_unseen_data() -> None:
    # A batch a little below the holdout figure but within its sampling error stays quiet,
    # though it is far below the champion's 0.9999 on its own training rows.
    small = decide(_summary(0.0, accuracy=0.85), 0.25, _quality(0.92), rows=40)
    assert not small.fired and small.accuracy_interval[1] > 0.87
    # The same accuracy over many rows is a real drop.
    assert decide(_summary(0.0, accuracy=0.85), 0.25, _quality(0.92), rows=5000).fired
    # No labels, no quality test.
    assert not decide(_summary(0.0), 0.25, _quality(0.92), rows=5000).fired


def test_wilson_interval_matches_the_textbook_figures() -> None:
    low, high = wilson_interval(81, 263, 0.95)  # Wilson (1927) / Newcombe (1998) example
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    assert wilson_interval(0, 10, 0.95)[0] == 0.0
    assert wilson_interval(10, 10, 0.95)[1] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least one"):
        wilson_interval(0, 0, 0.95)


def test_decision_log_appends_and_renders(tmp_path: Path) -> None:
    log = tmp_path / "reports" / "decisions.jsonl"
    decisions.record(log, "drift", "no drift", "0 of 41 features drifted", batch="b1")
    decisions.record(log, "promotion", "rejected", "kdd_cost: worse", challenger="abc")
    entries = decisions.read(log)
    assert [e["verdict"] for e in entries] == ["no drift", "rejected"]
    html = log.with_suffix(".html").read_text()
    assert "kdd_cost: worse" in html and html.index("rejected") < html.index("no drift")
    assert "<script" not in html
    with pytest.raises(ValueError, match="unknown decision kind"):
        decisions.record(log, "coffee", "x", "y")


def test_git_tracked_outputs_are_the_uncached_outputs(root: Path) -> None:
    tracked = pipeline.git_tracked_outputs(root)
    assert "reports/metrics.json" in tracked and "artifacts/registry/champion.json" in tracked
    assert not any(p.startswith("artifacts/models") for p in tracked)


def test_confirmed_rows_train_the_corrected_protocol_and_leave_its_test_set() -> None:
    train = _frame(["normal"] * 6 + ["smurf"] * 4)
    test = pd.concat([_frame(["mailbomb"] * 3, src_bytes=7), _frame(["normal"] * 2)])
    test.index = pd.RangeIndex(100, 105)
    confirmed = _frame(["mailbomb"], src_bytes=7)
    splits, _ = build_protocols(
        ["paper", "corrected"], train, test, 0.2, 0, confirmed, confirmed_into="corrected"
    )
    corrected = splits["corrected"]
    assert len(corrected.train) == 11 and corrected.train.index.is_unique
    assert len(corrected.test) == 2  # the three rows identical to the confirmed one left
    assert set(row_keys(corrected.test)).isdisjoint(set(row_keys(confirmed)))
    assert len(splits["paper"].train) + len(splits["paper"].test) == 10  # untouched


def test_a_batch_waits_in_the_inbox_while_there_is_no_model(tmp_path: Path, params: Params) -> None:
    from iot_anomaly.config import Paths
    from iot_anomaly.stages import monitor

    inbox = tmp_path / params.monitor.inbox
    inbox.mkdir()
    (inbox / "b1.csv").write_text("\n".join(",".join(["0"] * 41) for _ in range(3)) + "\n")
    with pytest.raises(FileNotFoundError, match="no model registered"):
        monitor.run(params, Paths(tmp_path))
    assert (inbox / "b1.csv").is_file()


def test_a_killed_run_is_logged_as_crashed_once(tmp_path: Path) -> None:
    import subprocess
    import sys

    from iot_anomaly.monitoring import runs

    folder, log = tmp_path / "runs", tmp_path / "decisions.jsonl"
    with runs.recorded_run(folder, log, "training", "r1", trigger="scheduled") as record:
        assert record.is_file() and runs.crashed(folder) == []  # this process is alive
    assert not record.exists() and decisions.read(log) == []  # ended: nothing to log
    # A run whose process was killed leaves its record behind.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    killed = runs.open_run(folder, "training", "r2", trigger="drift")
    killed.write_text(killed.read_text().replace(f'"pid": {os.getpid()}', f'"pid": {child.pid}'))
    child.kill()
    child.wait()
    with runs.recorded_run(folder, log, "monitoring", "r3"):
        entries = decisions.read(log)
        assert [(e["kind"], e["verdict"], e["run_id"]) for e in entries] == [
            ("run", "crashed", "r2")
        ]
        assert f"process {child.pid} is gone" in entries[0]["reason"]
        assert entries[0]["trigger"] == "drift"
    runs.log_crashed(folder, log)
    assert len(decisions.read(log)) == 1 and list(folder.iterdir()) == []


def test_the_held_out_scenarios_are_found_once_each(tmp_path: Path, params: Params) -> None:
    from iot_anomaly.monitoring.promotion import heldout_scenarios, scenario_files

    for name in ("A-1-labeled.csv", "A-1.conn.log.labeled", "B-2-labeled.csv", "notes.md"):
        (tmp_path / name).write_text("x\n")
    assert scenario_files(tmp_path, "csv") == {"A-1": tmp_path / "A-1-labeled.csv",
                                               "B-2": tmp_path / "B-2-labeled.csv"}  # fmt: skip
    assert scenario_files(tmp_path / "none", "csv") == {}
    monitor = params.monitor.model_copy(update={"holdout_scenarios": ["A-1"]})
    found = heldout_scenarios(tmp_path, monitor, "conn.log")
    assert found == {"A-1": tmp_path / "A-1.conn.log.labeled"}
    with pytest.raises(FileNotFoundError, match="C-3"):
        heldout_scenarios(
            tmp_path, monitor.model_copy(update={"holdout_scenarios": ["C-3"]}), "csv"
        )


def _records(n: int, labelled: bool = True) -> pd.DataFrame:
    from iot_anomaly.traffic.records import PROVENANCE

    rows = pd.DataFrame([blank_row(src_bytes=i) for i in range(n)])
    for column in schema.CONTENT_FEATURES:
        rows[column] = np.nan  # a flow source never measures them
    provenance = pd.DataFrame({c: [f"{c}{i}" for i in range(n)] for c in PROVENANCE})
    provenance["ts"] = np.arange(n, 0, -1, dtype=float)  # newest first
    frame = pd.concat([provenance, rows], axis=1)
    if labelled:
        frame[schema.LABEL] = "Malicious"
        frame[schema.CATEGORY] = "r2l"
    return frame


def test_records_become_feature_rows_with_unmeasured_features_zero() -> None:
    from iot_anomaly.monitoring.batches import records_frame

    frame, provenance, labelled = records_frame(_records(3))
    assert labelled and list(frame.columns) == [*schema.COLUMNS, schema.CATEGORY]
    assert (frame[list(schema.CONTENT_FEATURES)] == 0).all().all()
    assert list(frame["src_bytes"]) == [0, 1, 2]
    assert list(provenance["uid"]) == ["uid0", "uid1", "uid2"]
    unlabelled, _, flag = records_frame(_records(2, labelled=False))
    assert not flag and list(unlabelled.columns) == list(schema.FEATURES)
    with pytest.raises(ValueError, match="lack the columns"):
        records_frame(_records(2).drop(columns=["uid"]))


def test_real_traffic_is_replayed_in_time_order(tmp_path: Path) -> None:
    from iot_anomaly.monitoring.batches import is_records_file
    from iot_anomaly.monitoring.replay import cut_in_order, write_records_batch

    records = _records(5)
    batches = list(cut_in_order(records, 2))
    assert [list(b["ts"]) for b in batches] == [[1.0, 2.0], [3.0, 4.0], [5.0]]
    path = write_records_batch(batches[0], tmp_path, "b1", labels=False)
    assert is_records_file(path) and not is_records_file(tmp_path / "missing.csv")
    assert "category" not in pd.read_csv(path).columns
    (tmp_path / "kdd.csv").write_text(",".join(["0"] * 41) + "\n")
    assert not is_records_file(tmp_path / "kdd.csv")


def test_the_in_project_dvc_remote_is_found_for_git_to_version(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / ".dvc").mkdir(parents=True)
    config = project / ".dvc" / "config"
    config.write_text("")
    assert pipeline.local_remote(project) is None  # no remote
    remote = "[core]\n    remote = storage\n['remote \"storage\"']\n    url = {}\n"
    config.write_text(remote.format("../dvc-remote"))  # relative to .dvc/, as DVC writes it
    assert pipeline.local_remote(project) == (project / "dvc-remote").resolve()
    config.write_text(remote.format(tmp_path / "elsewhere"))
    assert pipeline.local_remote(project) is None  # outside the project: not git's
