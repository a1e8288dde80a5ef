"""Stage `validate`: parse both raw files (bad lines to quarantine) and gate them with the
expectation suites; on success write the clean rows for the stages after it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from iot_anomaly.config import DATASETS, Paths
from iot_anomaly.data import validation
from iot_anomaly.data.reader import parse_kdd, write_quarantine
from iot_anomaly.io import write_json, write_parquet, write_text


def run(
    params: dict[str, Any], paths: Paths, progress: Callable[[str], None] = lambda _: None
) -> list[validation.DataSetValidation]:
    """Validate every data set; raise DataValidationError if a critical expectation fails.

    The HTML and JSON reports are written either way, so that a failure can be read; the
    clean parquet files are written only when every data set passed.
    """
    suites = {
        dataset: [
            validation.load_suite(paths.root / p) for p in params["validate"]["suites"][dataset]
        ]
        for dataset in DATASETS
    }
    results, frames = [], {}
    for dataset in DATASETS:
        source = Path(params["data"][f"{dataset}_file"])
        progress(f"parsing {source}")
        parsed = parse_kdd(paths.root / source)
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
    for dataset, frame in frames.items():
        write_parquet(frame, paths.clean(dataset))
    return results
