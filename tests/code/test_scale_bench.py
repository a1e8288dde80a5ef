"""bench/scale.py: the generated conn.log (its size, records that do not repeat, a seeded
perturbation, a log that ingests cleanly), the inputs built from it, and the target checks."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from bench import scale
from bench.traffic import LOG_PATTERN, build_conn_log
from iot_anomaly import schema
from iot_anomaly.config import load_params
from iot_anomaly.traffic.ingest import ingest

ROOT = Path(__file__).resolve().parents[2]
PARAMS = load_params(ROOT / "params.yaml")


@pytest.fixture(scope="module")
def sources() -> list[Path]:
    found = sorted((ROOT / PARAMS.data.iot23_dir).glob(LOG_PATTERN))
    if not found:
        pytest.skip(f"no IoT-23 conn.log in {PARAMS.data.iot23_dir}: run `dvc pull data.dvc`")
    return found


def _data_lines(path: Path) -> list[str]:
    return [t for t in path.read_text().splitlines() if not t.startswith("#")]


def test_the_log_has_the_rows_asked_and_no_record_repeats(sources, tmp_path: Path) -> None:
    source_rows = len(scale.read_sources(sources))
    rows = 2 * source_rows + 123  # two copies and part of a third
    log = tmp_path / "scale.conn.log"
    assert scale.generate_conn_log(sources, log, rows, seed=42) == rows
    lines = _data_lines(log)
    assert len(lines) == rows
    fields = [t.split("\t") for t in lines]
    assert len({f[1] for f in fields}) == rows  # uids
    assert len({(f[0], *f[2:]) for f in fields}) == rows  # everything but the uid too
    ts = [float(f[0]) for f in fields]
    copy = source_rows
    assert min(ts[copy:]) > max(ts[:copy])  # each copy after the one before


def test_the_perturbation_is_seeded(sources, tmp_path: Path) -> None:
    made = {}
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        path = tmp_path / f"{name}.conn.log"
        scale.generate_conn_log(sources, path, 3000, seed)
        made[name] = path.read_bytes()
    assert made["a"] == made["b"] and made["a"] != made["c"]


def test_the_log_ingests_cleanly_and_its_records_do_not_repeat(sources, tmp_path: Path) -> None:
    rows = 25_000
    perturbed, shifted = tmp_path / "perturbed.conn.log", tmp_path / "shifted.conn.log"
    scale.generate_conn_log(sources, perturbed, rows, seed=42)
    build_conn_log(sources, shifted, rows)  # times shifted only
    distinct = {}
    for path in (perturbed, shifted):
        read = ingest([path], PARAMS.ingest)
        assert len(read.records) == rows and len(read.quarantine) == 0
        source = read.summary["sources"][0]
        assert source["read"] == source["records"] == rows
        distinct[path] = len(read.records[list(schema.FLOW_FEATURES)].drop_duplicates())
    # Deduplication must not flatter predict: the copies bring vectors of their own.
    assert distinct[perturbed] > 3 * distinct[shifted]


def test_sources_must_share_their_fields(sources, tmp_path: Path) -> None:
    other = tmp_path / "other.conn.log"
    text = sources[0].read_text().replace("\tuid\t", "\tuid2\t", 1)
    other.write_text(text)
    with pytest.raises(ValueError, match=r"other\.conn\.log"):
        scale.read_sources([sources[0], other])


def test_kdd_files_concatenate_line_by_line(tmp_path: Path) -> None:
    first, second = tmp_path / "a.gz", tmp_path / "b.gz"
    first.write_bytes(gzip.compress(b"1,a\n2,b\n"))
    second.write_bytes(gzip.compress(b"3,c\n4,d"))  # no final newline
    out = tmp_path / "both.gz"
    assert scale.concat_gzip([first, second], out, block=3) == 4
    assert gzip.decompress(out.read_bytes()) == b"1,a\n2,b\n3,c\n4,d\n"


def test_the_log_splits_into_logs_in_order(sources, tmp_path: Path) -> None:
    log = tmp_path / "scale.conn.log"
    scale.generate_conn_log(sources, log, 1001, seed=42)
    parts = scale.split_conn_log(log, tmp_path / "split", 4)
    assert [p.name for p in parts] == [f"part-{i:02d}.conn.log" for i in range(4)]
    header = [t for t in log.read_text().splitlines() if t.startswith("#")]
    for part in parts:
        assert part.read_text().splitlines()[: len(header)] == header
    assert [len(_data_lines(p)) for p in parts] == [250, 250, 250, 251]
    assert [t for p in parts for t in _data_lines(p)] == _data_lines(log)


def test_peak_memory_samples_the_processes_named() -> None:
    import psutil

    with scale.PeakMemory(lambda: [psutil.Process()]) as memory:
        now = memory.sample()
    assert memory.peak >= now > 0
    assert scale.PeakMemory(list).sample() == 0


def test_target_checks() -> None:
    targets = PARAMS.targets.model_copy(
        update={"scale_records_per_s": 20_000, "scale_memory_gib": 1.5, "scale_memory_spread": 1.1}
    )
    log = scale.Run(rows=10_000_000, seconds=400.0, peak_gib=1.2)  # 25,000 records/s
    small = scale.Run(rows=805_050, seconds=30.0, peak_gib=1.0)
    kdd = scale.Run(rows=805_050, seconds=20.0, peak_gib=0.9)
    checks = scale.target_checks(log, small, kdd, targets)
    # One check per target, named as in params.yaml.
    assert [c.name for c in checks] == [
        "scale_records_per_s",
        "scale_memory_gib",
        "scale_memory_spread",
    ]
    assert [c.figure.value for c in checks if c.figure] == pytest.approx([25_000, 1.2, 1.2])
    assert [c.verdict for c in checks] == ["met", "met", "not met"]  # 1.2 / 1.0 > 1.1
    assert checks[0].line() == (
        "scale_records_per_s: 25,000 records/s (one run); target ≥ 20,000 records/s: met"
    )
    assert checks[2].figure.basis == "10,000,000 connections over 805,050"
    slow = scale.Run(rows=10_000_000, seconds=600.0, peak_gib=1.05)
    heavy = scale.Run(rows=805_050, seconds=20.0, peak_gib=1.6)  # every run's peak counts
    assert [c.verdict for c in scale.target_checks(slow, small, heavy, targets)] == [
        "not met",
        "not met",
        "met",
    ]
