"""Benchmark: preprocessing of the whole 10% file (parse, fit every encoding, transform).

Holds the wall time and the peak memory against `targets.preprocess_s` and
`targets.preprocess_memory_gib` (params.yaml). Writes nothing. Run from the project root
after `dvc pull data.dvc`:  python -m bench.preprocess
"""

from __future__ import annotations

import argparse
import resource
import time

from bench.targets import Check, Figure, add_project_options, at_most, project
from iot_anomaly.data.preprocess import EncodingSpec, fit_preprocessor, transform
from iot_anomaly.data.reader import parse_kdd
from iot_anomaly.params import TargetsParams


def target_checks(seconds: float, peak_gib: float, targets: TargetsParams) -> list[Check]:
    """Wall time and peak memory (one run each) against their targets."""
    return [
        Check("preprocess_s", Figure(seconds), at_most(targets.preprocess_s), "s"),
        Check(
            "preprocess_memory_gib",
            Figure(peak_gib),
            at_most(targets.preprocess_memory_gib),
            "GiB",
        ),
    ]


def peak_memory_gib() -> float:
    """This process's peak resident memory so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.preprocess", description=__doc__.splitlines()[0]
    )
    add_project_options(parser)
    args = parser.parse_args(argv)
    params, paths = project(args)

    start = time.perf_counter()
    frame = parse_kdd(paths.root / params.data.train_file).frame
    parsed = time.perf_counter()
    shapes = {}
    for name, encoding in params.preprocess.encodings.items():
        spec = EncodingSpec.from_params(name, encoding)
        matrix = transform(fit_preprocessor(frame, spec), frame)
        shapes[name] = matrix.shape
        del matrix
    wall = time.perf_counter() - start

    print(f"rows: {len(frame):,}   encodings: {shapes}")
    print(f"parse: {parsed - start:.1f} s   fit+transform: {wall - (parsed - start):.1f} s")
    for check in target_checks(wall, peak_memory_gib(), params.targets):
        print(check.line())


if __name__ == "__main__":
    main()
