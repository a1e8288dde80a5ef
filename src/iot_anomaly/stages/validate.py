"""Stage `validate`: parse both raw files and any confirmed batches (bad lines to
quarantine) and gate them with the expectation suites; on success write the clean rows for
the stages after it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from iot_anomaly.config import CONFIRMED, DATASETS, Paths
from iot_anomaly.data import validation
from iot_anomaly.data.reader import ParseResult, parse_kdd, write_quarantine
from iot_anomaly.io import write_json, write_parquet, write_text
from iot_anomaly.params import DataParams, Params, ValidateParams


def run(
    params: Params, paths: Paths, progress: Callable[[str], None] = lambda _: None
) -> list[validation.DataSetValidation]:
    """The `validate` stage: `validate_data` with its params groups."""
    return validate_data(params.data, params.validation, paths, progress)


def validate_data(
    data: DataParams,
    checks: ValidateParams,
    paths: Paths,
    progress: Callable[[str], None] = lambda _: None,
) -> list[validation.DataSetValidation]:
    """Validate every data set; raise DataValidationError if a critical expectation fails.

    The HTML and JSON reports are written either way, so that a failure can be read; the
    clean parquet files are written only when every data set passed.
    """
    sources = {dataset: data.raw_file(dataset) for dataset in DATASETS}
    if confirmed_files(paths.root / data.confirmed_dir):
        sources[CONFIRMED] = data.confirmed_dir
    suites = {
        dataset: [validation.load_suite(paths.root / p) for p in checks.suites.of(dataset)]
        for dataset in sources
    }
    results, frames = [], {}
    for dataset, source in sources.items():
        progress(f"parsing {source}")
        parsed = (
            parse_confirmed(paths.root / source)
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


def parse_confirmed(folder: Path) -> ParseResult:
    """Parse every confirmed batch as one data set; each must carry the label column."""
    parts = [parse_kdd(path) for path in confirmed_files(folder)]
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
