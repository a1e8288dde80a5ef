"""Benchmark: `iot-anomaly predict` at size, its speed and its peak memory.

Builds, in a temporary folder (or `--workdir`), a Zeek conn.log of `bench.scale.rows`
connections (params; default 10M) from IoT-23's conn.log files, repeated with shifted and
jittered times, addresses and source ports perturbed, and durations and byte counts scaled
(seeded by `bench.scale.seed`), so that no two records repeat and deduplication does not
flatter the figures (see `copy_lines`), one as long as the KDD input, and the 805,050-row
KDD input (the 10% file and corrected.gz in one gzip). Each is scored by `iot-anomaly
predict` in a process of its own while the resident memory of that process and its
children (the networks' helper) is sampled every 0.1 s. Figures: records/s on the large
conn.log against `targets.scale_records_per_s`, the largest peak of the three against
`targets.scale_memory_gib`, and the large conn.log's peak over the short one's against
`targets.scale_memory_spread` (memory must not grow with the input; the KDD input's peak,
of lighter records, is printed beside). Then, unless
`--skip-dask`, the conn.log split into `SPLIT_FILES` files is scored as a folder by one
`predict` process and on a local Dask cluster of `bench.scale.dask_workers` workers
(iot_anomaly.cluster; its peak is the sum over the worker processes). Writes nothing but
its outputs in the work folder. Run from the project root after `dvc repro`:
    python -m bench.scale [--rows N] [--skip-dask] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import filecmp
import gzip
import ipaddress
import itertools
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.targets import Check, Figure, add_project_options, at_least, at_most, params_file
from bench.targets import project as load_project
from bench.traffic import GAP_S, LOG_PATTERN
from iot_anomaly.params import TargetsParams

RATE_TARGET = "scale_records_per_s"
MEMORY_TARGET = "scale_memory_gib"
SPREAD_TARGET = "scale_memory_spread"
SPLIT_FILES = 8  # files of the folder scored on Dask
SAMPLE_S = 0.1  # between two samples of the resident memory
JITTER_S = 1.0  # each connection's time moves by up to this much within its copy
EPHEMERAL = 1024  # source ports from here up are redrawn; lower ones are services, kept
SPREAD = 0.5  # measured durations and byte counts are scaled by a factor within 1 ± this
#: The conn.log fields a copy changes.
TS, UID, ORIG_H, ORIG_P, RESP_H = "ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h"
SCALED = ("duration", "orig_bytes", "resp_bytes")
CHANGED = (TS, UID, ORIG_H, ORIG_P, RESP_H, *SCALED)
GIB = 2**30


@dataclass(frozen=True)
class Source:
    """The connections that are repeated: the header lines of the first log and the fields
    of every data line, column by column (the fields a copy leaves alone as text)."""

    header: list[str]
    columns: list[list[str]]  # every field, as text; the last holds the rest of the line
    where: dict[str, int]  # the column of each CHANGED field
    ts: np.ndarray
    orig_p: np.ndarray  # -1: unset
    scaled: dict[str, np.ndarray]  # SCALED fields as numbers; NaN: unset

    def __len__(self) -> int:
        return len(self.ts)


def _number(text: str) -> float:
    return float("nan") if text == "-" else float(text)


def read_sources(paths: Iterable[Path]) -> Source:
    """The data lines of the conn.log files `paths`, which must have the same fields, and
    the header of the first (its `#close` line dropped). Raises ValueError without data
    lines or when a log's fields differ from the first's or lack one of CHANGED."""
    header: list[str] = []
    names: list[str] = []
    rows: list[list[str]] = []
    starts: list[int] = []  # the first row of each log
    for path in paths:
        lines = path.read_text().splitlines()
        fields = next((t.split("\t")[1:] for t in lines if t.startswith("#fields")), [])
        if not names:
            names = fields
            header = [t for t in lines if t.startswith("#") and not t.startswith("#close")]
        if fields != names or not set(CHANGED) <= set(fields):
            raise ValueError(f"{path}: its #fields differ from the first log's or lack one of "
                             f"{', '.join(CHANGED)}")  # fmt: skip
        starts.append(len(rows))
        rows.extend(t.split("\t", len(names) - 1) for t in lines if t and not t.startswith("#"))
    if not rows:
        raise ValueError("no data lines in the source logs")
    columns = [list(c) for c in zip(*rows, strict=True)]
    where = {name: names.index(name) for name in CHANGED}
    return Source(
        header=header,
        columns=columns,
        where=where,
        ts=_back_to_back(np.array(columns[where[TS]], dtype=float), starts),
        orig_p=np.array([int(p) if p.isdigit() else -1 for p in columns[where[ORIG_P]]]),
        scaled={f: np.array([_number(v) for v in columns[where[f]]]) for f in SCALED},
    )


def _back_to_back(ts: np.ndarray, starts: list[int]) -> np.ndarray:
    """The times of logs concatenated (each from its row of `starts`) moved so that each log
    begins GAP_S after the one before ends: logs of different years make one short copy."""
    moved = ts.copy()
    bounds = [*starts, len(ts)]
    for begin, end in itertools.pairwise(bounds):
        if begin == end or begin == 0:
            continue
        moved[begin:end] += moved[:begin].max() + GAP_S - moved[begin:end].min()
    return moved


def _remap(addresses: list[str], mask: int) -> list[str]:
    """IPv4 addresses with their low 16 bits XOR-ed with `mask` (one copy's renaming: the
    same address always becomes the same one); others as they are."""
    renamed = {}
    for address in set(addresses):
        try:
            ip = ipaddress.IPv4Address(address)
        except ValueError:
            renamed[address] = address
            continue
        renamed[address] = str(ipaddress.IPv4Address(int(ip) ^ mask))
    return [renamed[a] for a in addresses]


def _scaled(values: np.ndarray, factor: np.ndarray, decimals: int) -> list[str]:
    """`values` times `factor` as conn.log text: `decimals` places, '-' where unset (NaN)."""
    return ["-" if v != v else f"{v:.{decimals}f}" for v in (values * factor).tolist()]


def copy_lines(source: Source, copy: int, take: int, seed: int) -> list[str]:
    """The first `take` lines of copy number `copy`: times shifted past the copy before and
    jittered, fresh uids, addresses renamed, ephemeral source ports redrawn, durations and
    byte counts scaled, all drawn from (`seed`, `copy`) alone.

    The last matter most: times, addresses and ports alone leave most records of a copy
    with the feature vectors of the copy before (a conn.log of 100,000 such connections has
    fewer than 2% distinct vectors), and `predict`, which scores each distinct vector once,
    would look faster than it is on traffic that does not repeat."""
    rng = np.random.default_rng([seed, copy])
    span = float(source.ts.max() - source.ts.min()) + JITTER_S + GAP_S
    columns = [c[:take] for c in source.columns]
    where = source.where
    ts = source.ts[:take] + copy * span + rng.uniform(0.0, JITTER_S, take)
    columns[where[TS]] = [f"{t:.6f}" for t in ts.tolist()]
    columns[where[UID]] = [f"C{copy:07x}{i:010x}" for i in range(take)]
    masks = rng.integers(1, 2**16, size=2)
    columns[where[ORIG_H]] = _remap(columns[where[ORIG_H]], int(masks[0]))
    columns[where[RESP_H]] = _remap(columns[where[RESP_H]], int(masks[1]))
    drawn = rng.integers(EPHEMERAL, 2**16, take)
    ports = np.where(source.orig_p[:take] >= EPHEMERAL, drawn, source.orig_p[:take])
    columns[where[ORIG_P]] = [str(p) if p >= 0 else "-" for p in ports.tolist()]
    for field in SCALED:
        factor = rng.uniform(1 - SPREAD, 1 + SPREAD, take)
        values = source.scaled[field][:take]
        if field == "duration":
            columns[where[field]] = _scaled(values, factor, 6)
        else:  # byte counts stay whole
            columns[where[field]] = _scaled(np.round(values * factor), 1.0, 0)
    return ["\t".join(fields) + "\n" for fields in zip(*columns, strict=True)]


def generate_conn_log(sources: Iterable[Path], out: Path, rows: int, seed: int) -> int:
    """Write a Zeek conn.log of `rows` connections built from the conn.log files `sources`
    (see `copy_lines`), one copy at a time (memory bounded by the sources' size). Returns the
    number of data lines written."""
    source = read_sources(sources)
    written, copy = 0, 0
    with out.open("w") as handle:
        handle.write("\n".join(source.header) + "\n")
        while written < rows:
            take = min(len(source), rows - written)
            handle.writelines(copy_lines(source, copy, take, seed))
            written += take
            copy += 1
    return written


def concat_gzip(parts: Iterable[Path], out: Path, block: int = 1 << 22) -> int:
    """The lines of the gzip files `parts`, one after the other, into the gzip `out`.
    Returns the number of lines."""
    lines = 0
    with gzip.open(out, "wb", compresslevel=1) as sink:
        for part in parts:
            last = b"\n"
            with gzip.open(part, "rb") as handle:
                while data := handle.read(block):
                    sink.write(data)
                    lines += data.count(b"\n")
                    last = data[-1:]
            if last != b"\n":
                sink.write(b"\n")
                lines += 1
    return lines


def split_conn_log(log: Path, folder: Path, parts: int) -> list[Path]:
    """The conn.log `log` as `parts` conn.logs in `folder` (each with its header), its data
    lines cut into runs of nearly equal length, in order."""
    with log.open() as handle:
        header = []
        for line in handle:
            if not line.startswith("#"):
                break
            header.append(line)
        data = 1 + sum(1 for _ in handle)
    folder.mkdir(parents=True, exist_ok=True)
    bounds = np.linspace(0, data, parts + 1).astype(int)
    paths = [folder / f"part-{i:02d}.conn.log" for i in range(parts)]
    with log.open() as handle:
        body = (line for line in handle if not line.startswith("#"))
        for path, size in zip(paths, np.diff(bounds).tolist(), strict=True):
            with path.open("w") as sink:
                sink.writelines(header)
                for _ in range(size):
                    sink.write(next(body))
    return paths


class PeakMemory:
    """Samples the summed resident memory of the processes `processes()` names, every
    SAMPLE_S seconds in a thread, and keeps the peak (bytes)."""

    def __init__(self, processes: Callable[[], list]) -> None:
        self.processes = processes
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> int:
        import psutil

        total = 0
        for process in self.processes():
            try:
                total += process.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue  # ended between listing and sampling
        self.peak = max(self.peak, total)
        return total

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self.sample()

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_gib(self) -> float:
        return self.peak / GIB


def process_tree(pid: int) -> Callable[[], list]:
    """The process `pid` and all its descendants, listed anew at each call."""
    import psutil

    def listed() -> list:
        try:
            root = psutil.Process(pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    return listed


@dataclass(frozen=True)
class Run:
    """One scoring run: rows scored, wall seconds, peak resident memory (GiB)."""

    rows: int
    seconds: float
    peak_gib: float

    @property
    def per_s(self) -> float:
        return self.rows / self.seconds


def count_rows(predictions: Path) -> int:
    """Data rows of a predictions CSV (its header aside)."""
    with predictions.open("rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 22), b"")) - 1


def predict_process(input: Path, output: Path, root: Path, params: Path) -> Run:
    """`iot-anomaly predict -i input -o output` in a process of its own, its memory (and
    its children's) sampled while it runs."""
    cli = Path(sys.executable).with_name("iot-anomaly")
    command = [str(cli), "predict", "-i", str(input), "-o", str(output)]
    command += ["--root", str(root), "--params", str(params)]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    with PeakMemory(process_tree(process.pid)) as memory:
        code = process.wait()
    seconds = time.perf_counter() - started
    if code:
        raise subprocess.CalledProcessError(code, command)
    return Run(count_rows(output), seconds, memory.peak_gib)


def dask_run(folder: Path, output: Path, root: Path, params: Path, workers: int) -> Run:
    """The folder scored on a local Dask cluster of `workers` one-thread workers; the peak
    is summed over this process's children (the workers and their helpers)."""
    import psutil

    from iot_anomaly.cluster import score_on_dask
    from iot_anomaly.config import Paths, load_params

    settings = load_params(params)
    me = psutil.Process()
    started = time.perf_counter()
    with PeakMemory(lambda: me.children(recursive=True)) as memory:
        merged = score_on_dask(
            folder,
            output,
            settings.promotion.champion_dir,
            Paths(root),
            settings.ingest,
            settings.stream,
            n_workers=workers,
            threads_per_worker=1,
        )
    return Run(merged.rows, time.perf_counter() - started, memory.peak_gib)


def target_checks(log: Run, small: Run, kdd: Run, targets: TargetsParams) -> list[Check]:
    """Records/s on the large conn.log; the largest peak memory of the three runs (the
    large conn.log, a conn.log as long as the KDD input, the 805,050 KDD lines); and the
    large conn.log's peak over the short one's - the same kind of input at two sizes, so
    the ratio is what the input's size adds (one run each) - against their targets."""
    peaks = [run.peak_gib for run in (log, small, kdd)]
    return [
        Check(RATE_TARGET, Figure(log.per_s), at_least(targets.scale_records_per_s), "records/s"),
        Check(
            MEMORY_TARGET,
            Figure(max(peaks), "the largest peak of the three runs"),
            at_most(targets.scale_memory_gib),
            "GiB",
        ),
        Check(
            SPREAD_TARGET,
            Figure(log.peak_gib / small.peak_gib, f"{log.rows:,} connections over {small.rows:,}"),
            at_most(targets.scale_memory_spread),
        ),
    ]


def describe(name: str, run: Run) -> str:
    return (
        f"{name}: {run.rows:,} rows in {run.seconds:.1f} s = {run.per_s:,.0f} records/s, "
        f"peak {run.peak_gib:.2f} GiB"
    )


@contextmanager
def work_folder(given: Path | None) -> Iterator[Path]:
    """`given` (kept), or a temporary folder removed at the end."""
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        yield given
        return
    folder = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale", description=__doc__.splitlines()[0]
    )
    add_project_options(parser)
    parser.add_argument("--rows", type=int, default=None, help="connections (bench.scale.rows)")
    parser.add_argument("--skip-dask", action="store_true", help="leave out the Dask runs")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the inputs here")
    args = parser.parse_args(argv)
    params, paths = load_project(args)
    scale = params.bench.scale
    rows = args.rows or scale.rows
    root, options = paths.root.resolve(), params_file(args).resolve()

    with work_folder(args.workdir) as work:
        log, small = work / "scale.conn.log", work / "small.conn.log"
        sources = sorted((root / params.data.iot23_dir).glob(LOG_PATTERN))
        started = time.perf_counter()
        written = generate_conn_log(sources, log, rows, scale.seed)
        print(f"conn.log: {written:,} connections ({time.perf_counter() - started:.0f} s)")
        kdd = work / "kdd.gz"
        lines = concat_gzip([root / params.data.train_file, root / params.data.test_file], kdd)
        print(f"KDD input: {lines:,} lines")
        generate_conn_log(sources, small, min(lines, rows), scale.seed)

        log_run = predict_process(log, work / "log.predictions.csv", root, options)
        print(describe("predict, conn.log", log_run))
        small_run = predict_process(small, work / "small.predictions.csv", root, options)
        print(describe("predict, the same kind of conn.log, smaller", small_run))
        kdd_run = predict_process(kdd, work / "kdd.predictions.csv", root, options)
        print(describe("predict, KDD", kdd_run))
        for check in target_checks(log_run, small_run, kdd_run, params.targets):
            print(check.line())
        over_kdd = log_run.peak_gib / kdd_run.peak_gib
        print(f"the large conn.log's peak over the KDD input's: {over_kdd:.2f}")

        if not args.skip_dask:
            folder = work / "split"
            split_conn_log(log, folder, SPLIT_FILES)
            one = predict_process(folder, work / "folder.predictions.csv", root, options)
            print(describe(f"predict, {SPLIT_FILES} files, one process", one))
            workers = scale.dask_workers
            on_dask = dask_run(folder, work / "dask.predictions.csv", root, options, workers)
            print(describe(f"Dask, {SPLIT_FILES} files, {workers} workers", on_dask))
            same = filecmp.cmp(
                work / "dask.predictions.csv", work / "folder.predictions.csv", shallow=False
            )
            print(f"Dask predictions equal the one process's: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
