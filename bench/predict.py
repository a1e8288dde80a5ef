"""Benchmark: end-to-end scoring through `iot-anomaly predict` with the champion.

Times the full command (process start, imports, parsing, every model, writing the CSV)
`--runs` times and holds the median's records/s against `targets.predict_records_per_s`
(params.yaml), then times the in-process scoring step alone with the same champion. Run
from the project root after `dvc repro`:  python -m bench.predict [--input FILE] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.targets import Check, Figure, add_project_options, at_least, params_file, project
from iot_anomaly.config import serving_paths
from iot_anomaly.data.reader import parse_kdd
from iot_anomaly.params import Params, TargetsParams
from iot_anomaly.serving import Champion

TARGET = "predict_records_per_s"


def end_to_end(path: Path, runs: int, root: Path, params: Path) -> list[float]:
    """Seconds per run of the whole `iot-anomaly predict` command on `path`, with the project
    at `root` and its parameters file `params`."""
    walls = []
    cli = Path(sys.executable).with_name("iot-anomaly")
    options = ["--root", str(root), "--params", str(params)]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "predictions.csv"
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run(
                [str(cli), "predict", "-i", str(path), "-o", str(out), *options],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            walls.append(time.perf_counter() - started)
    return walls


def target_check(rows: int, walls: list[float], targets: TargetsParams) -> Check:
    """Records per second end to end (the median run) against its target."""
    basis = "one run" if len(walls) == 1 else f"median of {len(walls)} runs"
    figure = Figure(rows / statistics.median(walls), basis)
    return Check(TARGET, figure, at_least(targets.predict_records_per_s), "records/s")


def add_timing_options(parser: argparse.ArgumentParser) -> None:
    """--input and --runs: what `predict` is timed on, and how many times (median)."""
    parser.add_argument(
        "--input", type=Path, default=None, help="traffic file to score (default: data.test_file)"
    )
    parser.add_argument("--runs", type=int, default=3, help="end-to-end runs (median reported)")


def timed_input(args: argparse.Namespace, params: Params) -> Path:
    """The traffic file the timing options name."""
    return args.input or args.root / params.data.test_file


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.predict", description=__doc__.splitlines()[0]
    )
    add_project_options(parser)
    add_timing_options(parser)
    args = parser.parse_args(argv)
    params, paths = project(args)
    source = timed_input(args, params)

    walls = end_to_end(source, args.runs, args.root, params_file(args))
    frame = parse_kdd(source).frame
    rows = len(frame)

    champion = Champion.load(serving_paths(params.promotion.champion_dir, paths))
    try:
        started = time.perf_counter()
        champion.predict(frame)
        inner = time.perf_counter() - started
    finally:
        champion.close()

    print(f"rows: {rows:,}")
    print(
        f"end to end (`iot-anomaly predict`), {args.runs} runs: "
        + ", ".join(f"{w:.2f} s" for w in walls)
    )
    print(
        f"predict step alone (parsed rows in memory): {inner:.1f} s = {rows / inner:,.0f} records/s"
    )
    print(target_check(rows, walls, params.targets).line())


if __name__ == "__main__":
    main()
