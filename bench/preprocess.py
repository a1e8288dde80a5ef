"""Benchmark: preprocessing of the whole 10% file (parse, fit both encodings, transform).

Bar (issue 2): under 30 s wall and under 2 GiB peak memory on a 2-core machine.
Run from the project root after `dvc pull data.dvc`:  python bench/preprocess.py
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

from iot_anomaly.config import load_params
from iot_anomaly.data.preprocess import EncodingSpec, fit_preprocessor, transform
from iot_anomaly.data.reader import parse_kdd

WALL_BAR_S = 30.0
MEMORY_BAR_GIB = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args()
    params = load_params(args.params)

    start = time.perf_counter()
    frame = parse_kdd(params.data.train_file).frame
    parsed = time.perf_counter()
    shapes = {}
    for name, encoding in params.preprocess.encodings.items():
        spec = EncodingSpec.from_params(name, encoding)
        matrix = transform(fit_preprocessor(frame, spec), frame)
        shapes[name] = matrix.shape
        del matrix
    wall = time.perf_counter() - start
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux

    print(f"rows: {len(frame):,}   encodings: {shapes}")
    print(f"parse: {parsed - start:.1f} s   fit+transform: {wall - (parsed - start):.1f} s")
    print(f"wall: {wall:.1f} s (bar {WALL_BAR_S:.0f} s)   {'OK' if wall < WALL_BAR_S else 'OVER'}")
    print(
        f"peak memory: {peak_gib:.2f} GiB (bar {MEMORY_BAR_GIB:.0f} GiB)   "
        f"{'OK' if peak_gib < MEMORY_BAR_GIB else 'OVER'}"
    )


if __name__ == "__main__":
    main()
