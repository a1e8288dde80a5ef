"""The benchmarks' target checks (bench/): every figure is held against params.yaml's
`targets`; a quality figure is the seed study's mean and interval where the study has it,
and the pipeline run's figure, labelled one run, where not."""

import json
from pathlib import Path

from bench import monitor, predict, preprocess, scale, traffic
from bench.targets import Check, Figure, quality_checks, quality_figure, read_studies
from iot_anomaly.params import Bound, Params, TargetsParams

TARGETS = TargetsParams(
    quality={
        "paper.ensemble.multiclass.macro_f1": {"min": 0.95},
        "paper.gan.scores.roc_auc": {"min": 0.99},
        "corrected.ensemble.kdd_cost": {"max": 0.225},
        "corrected.ensemble.binary.f1": {"min": 0.9},
    },
    predict_records_per_s=40_000,
    monitor_step_s=45,
    preprocess_s=20,
    preprocess_memory_gib=1.5,
    traffic_connections_per_s=200_000,
    traffic_pcap_connections_per_s=5_000,
    scale_records_per_s=20_000,
    scale_memory_gib=1.5,
    scale_memory_spread=1.1,
)
METRICS = {
    "paper": {
        "ensemble": {"multiclass": {"macro_f1": 0.953}},
        "gan": {"scores": {"roc_auc": 0.994}},
    },
    "corrected": {"ensemble": {"kdd_cost": 0.2}},
}
STUDIES = {
    "paper": {
        "protocol": "paper",
        "summary": {
            "ensemble.multiclass.macro_f1": {
                "mean": 0.9449, "std": 0.008, "low": 0.9252, "high": 0.9646, "n": 3
            },
            "gan.scores.roc_auc": {
                "mean": 0.9928, "std": 0.0013, "low": 0.9895, "high": 0.9961, "n": 3
            },
        },
    }
}  # fmt: skip


def test_predict_check_uses_its_target() -> None:
    below = predict.target_check(39_999, [1.0], TARGETS)
    assert below.verdict == "not met" and not below.met
    assert below.needed == "≥ 40,000 records/s"
    assert predict.target_check(40_000, [1.0], TARGETS).met
    median = predict.target_check(120_000, [2.0, 3.0, 9.0], TARGETS)  # median 3 s
    assert median.figure == Figure(40_000.0, "median of 3 runs") and median.met
    assert median.line() == (
        "predict_records_per_s: 40,000 records/s (median of 3 runs); target ≥ 40,000 records/s: met"
    )


def test_monitor_check_uses_its_target() -> None:
    assert monitor.target_check(45.0, TARGETS).verdict == "met"
    over = monitor.target_check(45.01, TARGETS)
    assert over.verdict == "not met"
    assert over.line() == "monitor_step_s: 45.01 s (one run); target ≤ 45 s: not met"


def test_preprocess_checks_use_their_targets() -> None:
    wall, memory = preprocess.target_checks(20.5, 1.0, TARGETS)
    assert (wall.name, wall.verdict, memory.verdict) == ("preprocess_s", "not met", "met")
    wall, memory = preprocess.target_checks(19.0, 1.6, TARGETS)
    assert (wall.verdict, memory.verdict) == ("met", "not met")
    assert memory.needed == "≤ 1.5 GiB"


def test_the_project_targets_are_the_ones_checked(params: Params) -> None:
    """A figure just on the wrong side of each target in params.yaml is not met."""
    t = params.targets
    assert not predict.target_check(int(t.predict_records_per_s) - 1, [1.0], t).met
    assert predict.target_check(int(t.predict_records_per_s) + 1, [1.0], t).met
    assert not monitor.target_check(t.monitor_step_s * 1.001, t).met
    assert not any(c.met for c in preprocess.target_checks(
        t.preprocess_s * 1.001, t.preprocess_memory_gib * 1.001, t))  # fmt: skip
    slow = (t.traffic_connections_per_s * 0.999, t.traffic_pcap_connections_per_s * 0.999)
    assert not any(c.met for c in traffic.target_checks(*slow, 1, t))
    for key, bound in t.quality.items():
        edge = bound.min if bound.min is not None else bound.max
        worse = edge - 1e-6 if bound.min is not None else edge + 1e-6
        protocol, *path = key.split(".")
        metrics: dict = {protocol: {}}
        node = metrics[protocol]
        for name in path[:-1]:
            node = node.setdefault(name, {})
        node[path[-1]] = worse
        [check] = [c for c in quality_checks(t, metrics, {}) if c.name == key]
        assert check.verdict == "not met", key
        assert check.figure == Figure(worse, "one run")


def test_traffic_checks_use_their_targets() -> None:
    features, pcap = traffic.target_checks(199_999.0, 5_000.0, 3, TARGETS)
    assert (features.name, features.verdict, pcap.verdict) == (
        "traffic_connections_per_s", "not met", "met")  # fmt: skip
    assert features.figure == Figure(199_999.0, "median of 3 runs")
    assert pcap.needed == "≥ 5,000 connections/s"
    features, pcap = traffic.target_checks(250_000.0, None, 1, TARGETS)
    assert features.met and features.figure == Figure(250_000.0, "one run")
    assert pcap.verdict == "not measured"


def test_the_traffic_bench_log_repeats_its_sources_shifted_in_time(tmp_path: Path) -> None:
    header = ["#separator \\x09", "#fields\tts\tuid", "#types\ttime\tstring"]
    source = tmp_path / "a.conn.log"
    source.write_text("\n".join([*header, "10.5\tC1", "12.5\tC2", "#close\tx"]) + "\n")
    out = tmp_path / "big.conn.log"
    assert traffic.build_conn_log([source], out, 5) == 5
    lines = out.read_text().splitlines()
    assert lines[:3] == header
    data = [line.split("\t") for line in lines[3:]]
    # Each copy starts GAP_S after the previous one ends (span 2 s + 1 s gap = 3 s).
    assert data == [["10.500000", "C1"], ["12.500000", "C2"], ["13.500000", "C1"],
                    ["15.500000", "C2"], ["16.500000", "C1"]]  # fmt: skip


def test_quality_figures_come_from_the_seed_study_where_it_has_them() -> None:
    checks = {c.name: c for c in quality_checks(TARGETS, METRICS, STUDIES)}
    macro = checks["paper.ensemble.multiclass.macro_f1"]
    # The one run (0.953) would meet 0.95; the study's mean does not.
    assert macro.figure == Figure(0.9449, "seed study, mean of 3", 0.9252, 0.9646)
    assert macro.verdict == "not met"
    assert macro.line() == (
        "paper.ensemble.multiclass.macro_f1: 0.9449 [0.9252, 0.9646] (seed study, mean of 3); "
        "target ≥ 0.95: not met"
    )
    gan = checks["paper.gan.scores.roc_auc"]
    assert gan.met and gan.verdict == "met by the mean; its interval crosses the target"
    cost = checks["corrected.ensemble.kdd_cost"]  # no corrected study: the run's figure
    assert cost.figure == Figure(0.2, "one run") and cost.verdict == "met"
    missing = checks["corrected.ensemble.binary.f1"]
    assert missing.figure is None and missing.verdict == "not measured" and not missing.met
    assert "not measured" in missing.line()


def test_a_study_interval_clear_of_the_target_is_plainly_met() -> None:
    figure = quality_figure("paper.gan.scores.roc_auc", METRICS, STUDIES)
    assert figure is not None
    assert Check("gan", figure, Bound(min=0.98)).verdict == "met"
    assert Check("gan", figure, Bound(max=0.9)).verdict == "not met"


def test_read_studies_reads_the_studies_that_were_run(tmp_path: Path) -> None:
    (tmp_path / "seed_study_paper.json").write_text(json.dumps(STUDIES["paper"]))
    (tmp_path / "seed_study_paper_split.json").write_text("{}")  # the split study: not read
    studies = read_studies(tmp_path, {"paper", "corrected"})
    assert studies == {"paper": STUDIES["paper"]}


def test_every_timing_target_is_checked_by_a_benchmark() -> None:
    """Each target of params.yaml but the quality ones is some benchmark's check."""
    RUN = scale.Run(1, 1.0, 1.0)
    names = [
        monitor.TARGET,
        predict.TARGET,
        *(c.name for c in preprocess.target_checks(1.0, 1.0, TARGETS)),
        *(c.name for c in traffic.target_checks(1.0, 1.0, 1, TARGETS)),
        *(c.name for c in scale.target_checks(RUN, RUN, RUN, TARGETS)),
    ]
    assert sorted(names) == sorted(set(TargetsParams.model_fields) - {"quality"})
