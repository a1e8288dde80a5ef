"""The validation gate: Great Expectations suites from `expectations/`, run on parsed frames.

Suites are plain GX 1.x JSON kept in the repository (not in a `gx/` project folder). Each
expectation carries GX's own `severity`: a failed `critical` expectation stops the pipeline
with a message naming the expectation and column; a failed `warning` is reported only.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from iot_anomaly import schema

CRITICAL = "critical"
_EXAMPLES = 5


class DataValidationError(RuntimeError):
    """A critical expectation failed; the message names every one that did."""


@dataclass(frozen=True)
class Finding:
    """The outcome of one expectation on one data set."""

    suite: str
    expectation: str
    column: str
    severity: str
    success: bool
    unexpected_count: int | None
    unexpected_percent: float | None
    examples: list[Any]
    observed: Any
    kwargs: dict[str, Any]
    notes: str = ""

    def describe(self) -> str:
        where = f"column '{self.column}'" if self.column else "table"
        detail = []
        if self.unexpected_count:
            detail.append(
                f"{self.unexpected_count} unexpected values ({self.unexpected_percent:.4g}%)"
            )
        if self.examples:
            detail.append(f"e.g. {self.examples}")
        if self.observed is not None and not self.unexpected_count:
            detail.append(f"observed {self.observed}")
        return f"{self.suite}.{self.expectation} on {where}: " + ", ".join(detail or ["failed"])


@dataclass
class DataSetValidation:
    """All findings for one data set (one parsed file), plus parse counts."""

    name: str
    source: str
    rows: int
    quarantined: int
    findings: list[Finding] = field(default_factory=list)

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if not f.success]

    @property
    def critical_failures(self) -> list[Finding]:
        return [f for f in self.failures if f.severity == CRITICAL]

    @property
    def success(self) -> bool:
        return not self.critical_failures

    def summary(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "rows": self.rows,
            "quarantined": self.quarantined,
            "expectations": len(self.findings),
            "failed": len(self.failures),
            "critical_failed": len(self.critical_failures),
            "success": self.success,
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary(), "name": self.name, "findings": [asdict(f) for f in self.findings]}


def load_suite(path: Path | str) -> dict[str, Any]:
    """Read one expectation suite (GX 1.x JSON) and check its basic shape."""
    path = Path(path)
    try:
        suite = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(suite, dict) or "name" not in suite or "expectations" not in suite:
        raise ValueError(f"{path}: an expectation suite needs 'name' and 'expectations'")
    return suite


def _quiet_gx() -> None:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    logging.getLogger("great_expectations").setLevel(logging.ERROR)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def run_suites(frame: pd.DataFrame, suites: list[dict[str, Any]]) -> list[Finding]:
    """Validate `frame` against each suite with an ephemeral GX context.

    A suite that checks the ordered column list sees exactly the columns it names (the
    features, for the records suite) so that derived columns do not count against it.
    """
    _quiet_gx()
    import great_expectations as gx
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_definition = (
        context.data_sources.add_pandas("kdd")
        .add_dataframe_asset("frame")
        .add_batch_definition_whole_dataframe("whole")
    )
    # Label columns go to GX as pandas categoricals: set membership is then checked once per
    # distinct value instead of once per row (several times faster on the 10% file).
    frame = frame.astype({c: "category" for c in (schema.LABEL, schema.CATEGORY) if c in frame})
    findings: list[Finding] = []
    for spec in suites:
        view = frame
        for exp in spec["expectations"]:
            if exp["type"] == "expect_table_columns_to_match_ordered_list":
                wanted = [c for c in exp["kwargs"]["column_list"] if c in frame.columns]
                view = frame[wanted]
        suite = context.suites.add(ExpectationSuite(**json.loads(json.dumps(spec))))
        batch = batch_definition.get_batch(batch_parameters={"dataframe": view})
        result = batch.validate(
            suite, result_format={"result_format": "BASIC", "partial_unexpected_count": _EXAMPLES}
        )
        for item in result.results:
            config = item.expectation_config
            kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}
            outcome = item.result or {}
            findings.append(
                Finding(
                    suite=spec["name"],
                    expectation=config.type,
                    column=str(kwargs.get("column", "")),
                    severity=str(getattr(config.severity, "value", config.severity)),
                    success=bool(item.success),
                    unexpected_count=outcome.get("unexpected_count"),
                    unexpected_percent=outcome.get("unexpected_percent"),
                    examples=_jsonable(outcome.get("partial_unexpected_list", [])[:_EXAMPLES]),
                    observed=_jsonable(outcome.get("observed_value")),
                    kwargs=_jsonable(kwargs),
                    notes=str((config.meta or {}).get("notes", "")),
                )
            )
    return findings


def validate_dataset(
    name: str,
    source: str,
    frame: pd.DataFrame,
    suites: list[dict[str, Any]],
    quarantined: int = 0,
) -> DataSetValidation:
    """Run the suites on one parsed data set and collect the findings."""
    if frame.empty:
        raise DataValidationError(f"{source}: no valid rows left to validate")
    result = DataSetValidation(name=name, source=source, rows=len(frame), quarantined=quarantined)
    result.findings = run_suites(frame, suites)
    return result


def raise_on_critical(results: list[DataSetValidation], report: Path | None = None) -> None:
    """Stop with one message naming every failed critical expectation and its column."""
    lines = [
        f"{r.source}: {f.describe()}" for r in results for f in r.critical_failures
    ]
    if lines:
        where = f"\nFull report: {report}" if report else ""
        raise DataValidationError(
            "Data validation failed (critical expectations):\n  " + "\n  ".join(lines) + where
        )


def labelled(frame: pd.DataFrame) -> bool:
    """Whether the frame carries the label (and so the derived category)."""
    return schema.LABEL in frame.columns


def render_html(results: list[DataSetValidation], title: str = "Data validation") -> str:
    """A self-contained HTML page of every finding, failures first, per data set (the
    review package's `validation.html` template)."""
    from iot_anomaly.review.parts import Page, cards
    from iot_anomaly.review.render import render

    datasets = [
        {
            "name": r.name,
            "source": r.source,
            "success": r.success,
            "cards": cards(
                [
                    ("rows validated", f"{r.rows:,}"),
                    ("lines quarantined", f"{r.quarantined:,}"),
                    ("expectations", len(r.findings)),
                    ("failed", len(r.failures)),
                    ("critical failed", len(r.critical_failures)),
                ]
            ),
            "failed": [_row(f) for f in sorted(r.failures, key=lambda f: f.severity != CRITICAL)],
            "passed": [_row(f) for f in r.findings if f.success],
        }
        for r in results
    ]
    subtitle = "Great Expectations results for each data set; critical failures stop the pipeline."
    return render("validation.html", page=Page(title, subtitle), datasets=datasets)


def _row(f: Finding) -> dict[str, str]:
    """One finding as the report's table shows it."""
    if f.success:
        result, tone = "pass", "ok"
    elif f.severity == CRITICAL:
        result, tone = "FAIL", "fail"
    else:
        result, tone = "warn", "warn"
    args = {k: v for k, v in f.kwargs.items() if k != "column"}
    return {
        "result": result,
        "tone": tone,
        "severity": f.severity,
        "suite": f.suite,
        "expectation": f.expectation,
        "column": f.column or "(table)",
        "arguments": _short(args),
        "detail": f.describe().split(": ", 1)[1] if not f.success else "",
        "notes": f.notes,
    }


def _short(args: dict[str, Any], limit: int = 160) -> str:
    text = ", ".join(f"{k}={v}" for k, v in args.items())
    return text if len(text) <= limit else text[: limit - 1] + "…"
