"""Benchmark: end-to-end scoring through `iot-anomaly predict` with the champion.

Bar (issue 3): the whole ensemble scores >= 50,000 records/s end to end on 2 cores.
Times the full command (process start, imports, parsing, every model, writing the CSV)
and, separately, the in-process predict step. Run from the project root after `dvc repro`:
    python bench/predict.py [--input data/corrected.gz]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from iot_anomaly.champion import Champion
from iot_anomaly.config import Paths
from iot_anomaly.data.reader import parse_kdd

BAR = 50_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=Path("data/corrected.gz"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "predictions.csv"
        cli = Path(sys.executable).with_name("iot-anomaly")
        started = time.perf_counter()
        subprocess.run([str(cli), "predict", "-i", str(args.input), "-o", str(out)], check=True)
        wall = time.perf_counter() - started

    rows = len(parse_kdd(args.input).frame)
    champion = Champion.load(Paths())
    frame = parse_kdd(args.input).frame
    started = time.perf_counter()
    champion.predict(frame)
    inner = time.perf_counter() - started

    print(f"rows: {rows:,}")
    print(f"end to end (`iot-anomaly predict`): {wall:.1f} s = {rows / wall:,.0f} records/s")
    print(
        f"predict step alone (parsed rows in memory): {inner:.1f} s = {rows / inner:,.0f} records/s"
    )
    print(f"bar: {BAR:,} records/s end to end: {'OK' if rows / wall >= BAR else 'NOT MET'}")


if __name__ == "__main__":
    main()
