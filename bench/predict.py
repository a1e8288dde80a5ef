"""Benchmark: end-to-end scoring through `iot-anomaly predict` with the champion.

Bar (issue 3): the whole ensemble scores >= 50,000 records/s end to end on 2 cores.
Times the full command (process start, imports, parsing, every model, writing the CSV)
`--runs` times and reports the median, then, separately, the in-process scoring step.
Run from the project root after `dvc repro`:
    python bench/predict.py [--input data/corrected.gz] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from iot_anomaly.champion import Champion
from iot_anomaly.config import Paths
from iot_anomaly.data.reader import parse_kdd

BAR = 50_000


def end_to_end(path: Path, runs: int) -> list[float]:
    """Seconds per run of the whole `iot-anomaly predict` command on `path`."""
    walls = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "predictions.csv"
        cli = Path(sys.executable).with_name("iot-anomaly")
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run(
                [str(cli), "predict", "-i", str(path), "-o", str(out)],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            walls.append(time.perf_counter() - started)
    return walls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=Path("data/corrected.gz"))
    parser.add_argument("--runs", type=int, default=3, help="end-to-end runs (median reported)")
    args = parser.parse_args()

    walls = end_to_end(args.input, args.runs)
    wall = statistics.median(walls)

    frame = parse_kdd(args.input).frame
    rows = len(frame)
    champion = Champion.load(Paths())
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
    print(f"end to end, median: {wall:.2f} s = {rows / wall:,.0f} records/s")
    print(
        f"predict step alone (parsed rows in memory): {inner:.1f} s = {rows / inner:,.0f} records/s"
    )
    print(f"bar: {BAR:,} records/s end to end: {'OK' if rows / wall >= BAR else 'NOT MET'}")


if __name__ == "__main__":
    main()
