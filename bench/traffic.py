"""Benchmark: real traffic into KDD-style records (iot_anomaly.traffic).

(a) The capture path: the SYN-flood capture (data/pcaps) through to records, in
connections/s, against `targets.traffic_pcap_connections_per_s`. (b) A Zeek conn.log of
`--rows` connections (default 1,000,000) built in a temporary folder from IoT-23's
conn.log files, repeated with shifted times: reading it, and the features alone, whose
connections/s are held against `targets.traffic_connections_per_s` (params.yaml). Each
figure is the median of `--runs` runs. Run from the project root:
    python -m bench.traffic [--rows 1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from bench.targets import Check, Figure, add_project_options, at_least, project
from iot_anomaly.params import IngestParams, TargetsParams
from iot_anomaly.traffic.features import to_records
from iot_anomaly.traffic.zeek import read_conn_log

FEATURES_TARGET = "traffic_connections_per_s"
PCAP_TARGET = "traffic_pcap_connections_per_s"
CAPTURE = "stopddos_pkt.TCP.synflood.spoofed.pcap"
LOG_PATTERN = "*.conn.log.labeled"
GAP_S = 1.0  # between the last connection of one copy and the first of the next


def target_checks(
    features_per_s: float | None, pcap_per_s: float | None, runs: int, targets: TargetsParams
) -> list[Check]:
    """Connections/s of the features (conn.log) and of the capture path (None: not
    measured), each a median of `runs` runs, against their targets."""
    basis = "one run" if runs == 1 else f"median of {runs} runs"

    def figure(value: float | None) -> Figure | None:
        return None if value is None else Figure(value, basis)

    return [
        Check(
            FEATURES_TARGET,
            figure(features_per_s),
            at_least(targets.traffic_connections_per_s),
            "connections/s",
        ),
        Check(
            PCAP_TARGET,
            figure(pcap_per_s),
            at_least(targets.traffic_pcap_connections_per_s),
            "connections/s",
        ),
    ]


def build_conn_log(sources: Iterable[Path], out: Path, rows: int) -> int:
    """Write a Zeek conn.log of `rows` connections: the data lines of `sources` (the header
    lines of the first), repeated until there are enough, each copy shifted in time to
    start `GAP_S` after the previous one ends. Returns the number of data lines written."""
    header: list[str] = []
    data: list[str] = []
    for path in sources:
        lines = path.read_text().splitlines()
        if not header:
            header = [t for t in lines if t.startswith("#") and not t.startswith("#close")]
        data.extend(t for t in lines if t and not t.startswith("#"))
    if not data:
        raise ValueError("no data lines in the source logs")
    split = [t.split("\t", 1) for t in data]
    ts = np.array([float(first) for first, _ in split])
    rest = [r for _, r in split]
    span = float(ts.max() - ts.min()) + GAP_S
    with out.open("w") as handle:
        handle.write("\n".join(header) + "\n")
        written, copy = 0, 0
        while written < rows:
            take = min(len(data), rows - written)
            shifted = ts[:take] + copy * span
            chunk = zip(shifted, rest[:take], strict=True)
            handle.write("".join(f"{t:.6f}\t{r}\n" for t, r in chunk))
            written += take
            copy += 1
    return written


def timed(work: Callable[[], Any], runs: int) -> tuple[list[float], Any]:
    """Wall seconds of each run of `work`, and the last run's result."""
    walls, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        walls.append(time.perf_counter() - started)
    return walls, result


def capture_path(capture: Path, settings: IngestParams) -> Callable[[], int] | None:
    """The capture path as far as it is built: ingest (reading, features, labels) when the
    project has it, else the capture reader and the features; None without a reader."""
    if importlib.util.find_spec("iot_anomaly.traffic.ingest") is not None:
        from iot_anomaly.traffic.ingest import ingest

        return lambda: len(ingest([capture], settings).records)
    if importlib.util.find_spec("iot_anomaly.traffic.pcap") is not None:
        from iot_anomaly.traffic.pcap import read_capture

        return lambda: len(to_records(read_capture(capture).connections, settings))
    return None


def _seconds(walls: list[float]) -> str:
    return ", ".join(f"{w:.2f} s" for w in walls)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.traffic", description=__doc__.splitlines()[0]
    )
    add_project_options(parser)
    parser.add_argument("--rows", type=int, default=1_000_000, help="connections in the log")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (median)")
    args = parser.parse_args(argv)
    params, paths = project(args)
    settings = params.ingest

    pcap_per_s = None
    capture = paths.root / params.data.captures_dir / CAPTURE
    work = capture_path(capture, settings)
    if work is None:
        print(f"capture path: no capture reader in the project; {capture.name} not timed")
    else:
        walls, records = timed(work, args.runs)
        pcap_per_s = records / statistics.median(walls)
        print(f"capture {capture.name}: {records:,} records; {args.runs} runs: {_seconds(walls)}")
        if importlib.util.find_spec("iot_anomaly.traffic.pcap") is not None:
            from iot_anomaly.traffic.pcap import read_capture

            flows = read_capture(capture).connections
            walls, _ = timed(lambda: to_records(flows, settings), args.runs)
            print(f"  of which the features: {args.runs} runs: {_seconds(walls)}")

    sources = sorted((paths.root / params.data.iot23_dir).glob(LOG_PATTERN))
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "bench.conn.log"
        rows = build_conn_log(sources, log, args.rows)
        print(f"conn.log: {rows:,} connections from {', '.join(s.name for s in sources)}")
        read_walls, read = timed(lambda: read_conn_log(log, settings.labels), args.runs)
    connections = read.connections
    feature_walls, records = timed(lambda: to_records(connections, settings), args.runs)
    n = len(connections)
    read_s, feature_s = statistics.median(read_walls), statistics.median(feature_walls)
    print(f"reading: {n:,} connections; {args.runs} runs: {_seconds(read_walls)}")
    print(f"features: {len(records):,} records; {args.runs} runs: {_seconds(feature_walls)}")
    print(f"reading and features: {n / (read_s + feature_s):,.0f} connections/s (medians)")
    for check in target_checks(n / feature_s, pcap_per_s, args.runs, params.targets):
        print(check.line())


if __name__ == "__main__":
    main()
