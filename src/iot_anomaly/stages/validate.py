"""Stage `validate`: parse both raw files and any confirmed batches (bad lines to
quarantine) and gate them with the expectation suites; on success write the clean rows for
the stages after it.

Confirmed batches come in two formats: KDD lines (replayed KDD traffic) and records (ingested
real traffic, provenance included, labelled with their source's labels). Records are checked
with the features suites of an unlabelled batch (their labels are no KDD attack names; ingest
already sent every record whose label has no category to quarantine) and their unmeasured
features are 0 in the clean rows: only the champion's flow protocol trains on them, and it
never reads those features."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from iot_anomaly import schema
from iot_anomaly.config import CONFIRMED, DATASETS, Paths
from iot_anomaly.data import validation
from iot_anomaly.data.reader import ParseResult, parse_kdd, write_quarantine
from iot_anomaly.io import write_json, write_parquet, write_text
from iot_anomaly.params import DataParams, Params, ValidateParams

#: The name of the confirmed records (ingested traffic) in the validation reports.
CONFIRMED_TRAFFIC = f"{CONFIRMED} traffic"


def run(
    params: Params, paths: Paths, progress: Callable[[str], None] = lambda _: None
) -> list[validation.DataSetValidation]:
    """The `validate` stage: `validate_data` with its params groups (the suites of confirmed
    records: those of an unlabelled monitoring batch, params `monitor.suites.unlabelled`)."""
    return validate_data(
        params.data, params.validation, paths, progress, params.monitor.suites.unlabelled
    )


def validate_data(
    data: DataParams,
    checks: ValidateParams,
    paths: Paths,
    progress: Callable[[str], None] = lambda _: None,
    traffic_suites: list[Path] | None = None,
) -> list[validation.DataSetValidation]:
    """Validate every data set; raise DataValidationError if a critical expectation fails.

    The HTML and JSON reports are written either way, so that a failure can be read; the
    clean parquet files are written only when every data set passed.
    """
    sources = {dataset: data.raw_file(dataset) for dataset in DATASETS}
    confirmed_dir = paths.root / data.confirmed_dir
    kdd_batches, traffic_batches = split_confirmed(confirmed_files(confirmed_dir))
    if kdd_batches:
        sources[CONFIRMED] = data.confirmed_dir
    suites = {
        dataset: [validation.load_suite(paths.root / p) for p in checks.suites.of(dataset)]
        for dataset in sources
    }
    results, frames = [], {}
    for dataset, source in sources.items():
        progress(f"parsing {source}")
        parsed = (
            parse_confirmed(kdd_batches, paths.root / source)
            if dataset == CONFIRMED
            else parse_kdd(paths.root / source)
        )
        write_quarantine(parsed, paths.quarantine(dataset))
        progress(f"validating {source} ({len(parsed.frame):,} rows)")
        results.append(
            validation.validate_dataset(
                dataset, str(source), parsed.frame, suites[dataset], parsed.n_quarantined
            )
        )
        frames[dataset] = parsed.frame
    if traffic_batches:
        if not traffic_suites:
            raise ValueError(f"{confirmed_dir}: confirmed records found but no suites given")
        progress(f"reading {len(traffic_batches)} confirmed records file(s)")
        traffic = parse_confirmed_records(traffic_batches)
        results.append(
            validation.validate_dataset(
                CONFIRMED_TRAFFIC,
                str(data.confirmed_dir),
                traffic[list(schema.FEATURES)],
                [validation.load_suite(paths.root / p) for p in traffic_suites],
                0,
            )
        )
        frames[CONFIRMED] = pd.concat([frames.get(CONFIRMED), traffic], ignore_index=True)

    report = paths.validation_dir / "index.html"
    write_text(validation.render_html(results), report)
    write_json([r.to_dict() for r in results], paths.validation_dir / "results.json")
    write_json({r.name: r.summary() for r in results}, paths.validation_dir / "summary.json")
    validation.raise_on_critical(results, report)
    paths.clean(CONFIRMED).unlink(missing_ok=True)  # none left when the folder was emptied
    for dataset, frame in frames.items():
        write_parquet(frame, paths.clean(dataset))
    return results


def confirmed_files(folder: Path) -> list[Path]:
    """The confirmed batch files (KDD format with labels), in name order."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def split_confirmed(files: list[Path]) -> tuple[list[Path], list[Path]]:
    """The confirmed batches in KDD format and those of records (ingested traffic)."""
    from iot_anomaly.monitoring.batches import is_records_file

    records = [p for p in files if is_records_file(p)]
    return [p for p in files if p not in records], records


def parse_confirmed(files: list[Path], folder: Path) -> ParseResult:
    """Parse the confirmed KDD-format batches as one data set; each must carry the label."""
    parts = [parse_kdd(path) for path in files]
    for part in parts:
        if not part.has_label:
            raise ValueError(
                f"{part.source}: a confirmed batch must carry the label column "
                "(its rows join the training data)"
            )
    return ParseResult(
        source=str(folder),
        frame=pd.concat([p.frame for p in parts], ignore_index=True),
        quarantine=pd.concat([p.quarantine for p in parts], ignore_index=True),
        has_label=True,
        lines_read=sum(p.lines_read for p in parts),
    )


def parse_confirmed_records(files: list[Path]) -> pd.DataFrame:
    """The confirmed records files as clean rows: the 41 features (unmeasured ones 0), the
    source's label and the category; every record must carry a known category."""
    from iot_anomaly.monitoring.batches import records_frame
    from iot_anomaly.traffic.ingest import read_records

    frames = []
    for path in files:
        records = read_records(path)
        category = records.get(schema.CATEGORY)
        known = category.isin(schema.CATEGORIES) if category is not None else None
        if known is None or not known.all():
            line = 2 + int(np.flatnonzero(~known.to_numpy())[0]) if known is not None else 1
            raise ValueError(
                f"{path}, line {line}, field {schema.CATEGORY}: a confirmed record needs one "
                f"of the categories {schema.CATEGORIES} (its row joins the training data)"
            )
        frame, _, _ = records_frame(records)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
