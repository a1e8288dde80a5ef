"""Verdicts per device (`iot-anomaly hosts`; `iot-anomaly report` before it builds the site):
the host table of `evaluation.hosts` from predictions files of ingested traffic, or from
every scored batch of ingested traffic the monitoring state holds, written as `hosts.json`
and `hosts.csv`.

KDD-format batches (the corrected.gz replay) carry no addresses, so they have no host; a
batch counts as ingested traffic when its predictions carry the provenance columns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pandas as pd

from iot_anomaly import schema
from iot_anomaly.config import Paths
from iot_anomaly.evaluation import hosts
from iot_anomaly.io import atomic_write, write_json
from iot_anomaly.params import Params
from iot_anomaly.stages.monitor import PREDICTIONS, batches_dir, processed
from iot_anomaly.traffic.records import PROVENANCE_DTYPES

JSON: Final = "hosts.json"
CSV: Final = "hosts.csv"
#: What `hosts` reads of a predictions file: the provenance columns it uses and the verdict.
_DTYPES = {c: PROVENANCE_DTYPES[c] for c in hosts.REQUIRED if c in PROVENANCE_DTYPES} | {
    schema.CATEGORY: "object",
    hosts.ATTACK: "bool",
}


@dataclass(frozen=True)
class Written:
    """Where a host report went, and the report."""

    json: Path
    csv: Path
    report: hosts.HostReport


def read_predictions(path: Path) -> pd.DataFrame:
    """The columns `hosts` needs of a predictions CSV of ingested traffic (from
    `iot-anomaly predict` or a monitored batch); ValueError naming the file and the missing
    columns for any other file, FileNotFoundError for none."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such predictions file")
    header = pd.read_csv(path, nrows=0).columns
    hosts.check_columns(pd.DataFrame(columns=header), str(path))
    try:
        return pd.read_csv(path, usecols=list(_DTYPES), dtype=_DTYPES, keep_default_na=False)
    except ValueError as err:  # a value of the wrong type, e.g. a port that is no number
        raise ValueError(f"{path}: {err}") from err


def batch_predictions(folder: Path) -> pd.DataFrame | None:
    """A scored batch's predictions when they carry the provenance columns (ingested
    traffic), None for a batch of KDD records or a folder without predictions."""
    predictions = folder / PREDICTIONS
    if not predictions.is_file():
        return None
    if not set(hosts.REQUIRED) <= set(pd.read_csv(predictions, nrows=0).columns):
        return None
    return read_predictions(predictions)


def monitored(params: Params, paths: Paths) -> pd.DataFrame:
    """Every scored batch of ingested traffic in the monitoring state, oldest first, with
    the batch's name in column `batch` (no rows when there is none)."""
    root = batches_dir(params.monitor, paths)
    frames = []
    for status in processed(params.monitor, paths):
        if status["status"] != "scored":
            continue
        found = batch_predictions(root / status["batch"])
        if found is not None:
            frames.append(found.assign(**{hosts.BATCH: status["batch"]}))
    if not frames:
        return pd.DataFrame(columns=[*hosts.REQUIRED, hosts.BATCH])
    return pd.concat(frames, ignore_index=True)


def write(report: hosts.HostReport, out: Path) -> Written:
    """hosts.json and hosts.csv in folder `out`."""
    frame = hosts.host_frame(report)
    csv = atomic_write(out / CSV, lambda tmp: frame.to_csv(tmp, index=False))
    return Written(write_json(hosts.report_record(report), out / JSON), csv, report)


def from_files(predictions: Iterable[Path], out: Path, top_ports: int, top_hosts: int) -> Written:
    """The host report of predictions files (`iot-anomaly predict` on ingested traffic)."""
    frames = [read_predictions(p) for p in predictions]
    if not frames:
        raise ValueError("no predictions file given")
    report = hosts.host_report(pd.concat(frames, ignore_index=True), top_ports, top_hosts)
    return write(report, out)


def report_dir(params: Params, paths: Paths) -> Path:
    return paths.root / params.report.hosts.dir


def from_monitoring(params: Params, paths: Paths, out: Path | None = None) -> Written:
    """The host report of every scored batch of ingested traffic (params `report.hosts`),
    rewritten in full, so it always matches the monitoring state; written to `out`
    (default: `report.hosts.dir`)."""
    cfg = params.report.hosts
    report = hosts.host_report(monitored(params, paths), cfg.top_ports, cfg.top_hosts)
    return write(report, out or report_dir(params, paths))
