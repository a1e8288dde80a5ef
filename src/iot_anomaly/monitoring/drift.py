"""Drift of new traffic against the champion's training rows, with Evidently: data drift per
feature (the three categorical columns declared as such), drift of the predicted category,
and classification quality (accuracy, macro precision, recall, F1) when the batch carries
labels. Then the drift decision."""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from iot_anomaly import schema

PREDICTION = "predicted"  # the champion's category, beside the features


@dataclass
class DriftSummary:
    """What the drift decision reads from one Evidently report."""

    drifted_columns: int
    columns: int
    drifted_share: float
    column_drift: dict[str, float]
    drifted: list[str]
    prediction_drift: float | None
    prediction_drifted: bool
    accuracy: float | None = None
    attack_share: float | None = None
    reasons: list[str] = field(default_factory=list)
    fired: bool = False
    #: The quality test of a labelled batch: its rows, the interval of its accuracy, and the
    #: champion's accuracy on rows it never trained on that the interval is held against.
    rows: int | None = None
    accuracy_interval: tuple[float, float] | None = None
    reference_accuracy: float | None = None
    reference: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _definition(labelled: bool, features: tuple[str, ...]) -> Any:
    from evidently import DataDefinition, MulticlassClassification

    numerical = [c for c in features if c not in schema.CATEGORICAL]
    categorical = [*(c for c in schema.CATEGORICAL if c in features), PREDICTION]
    classification = None
    if labelled:
        categorical.append(schema.CATEGORY)
        classification = [
            MulticlassClassification(target=schema.CATEGORY, prediction_labels=PREDICTION)
        ]
    return DataDefinition(
        numerical_columns=numerical,
        categorical_columns=categorical,
        classification=classification,
    )


def drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    drift_share: float,
    features: tuple[str, ...] = schema.FEATURES,
) -> Any:
    """Run the Evidently report on `features` (those the champion reads); both frames carry
    them and `predicted`, and the classification part is added when both carry the category."""
    from evidently import Dataset, Report
    from evidently.metrics import Accuracy, F1Score, Precision, Recall, ValueDrift
    from evidently.presets import DataDriftPreset

    labelled = schema.CATEGORY in current.columns and schema.CATEGORY in reference.columns
    columns = [*features, PREDICTION] + ([schema.CATEGORY] if labelled else [])
    definition = _definition(labelled, features)
    metrics: list[Any] = [
        DataDriftPreset(columns=list(features), drift_share=drift_share),
        ValueDrift(column=PREDICTION),
    ]
    if labelled:
        # Not the per-label metrics: Evidently 0.7.23 fails when a class (say u2r) occurs
        # in the batch but not in the reference sample.
        metrics += [Accuracy(), Precision(), Recall(), F1Score()]
    with warnings.catch_warnings():
        # Constant columns (e.g. num_outbound_cmds) make numpy warn about zero variance.
        warnings.simplefilter("ignore", RuntimeWarning)
        return Report(metrics).run(
            Dataset.from_pandas(
                current[columns].reset_index(drop=True), data_definition=definition
            ),
            Dataset.from_pandas(
                reference[columns].reset_index(drop=True), data_definition=definition
            ),
        )


def _drifted(config: dict[str, Any], value: float) -> bool:
    """Evidently's rule per column: p-value tests drift below, distances at or above."""
    method = str(config.get("method", "")).lower()
    threshold = float(config.get("threshold", 0.0))
    return value < threshold if "p_value" in method else value >= threshold


def summarise(snapshot: Any) -> DriftSummary:
    """The figures of one report that the decision and the timeline need."""
    count = share = None
    column_drift: dict[str, float] = {}
    drifted: list[str] = []
    prediction = None
    prediction_drifted = False
    accuracy = None
    for metric in snapshot.dict()["metrics"]:
        config, value = metric.get("config", {}), metric.get("value")
        kind = str(config.get("type", ""))
        if kind.endswith("DriftedColumnsCount"):
            count, share = int(value["count"]), float(value["share"])
        elif kind.endswith("ValueDrift"):
            column = config["column"]
            if column == PREDICTION:
                prediction, prediction_drifted = float(value), _drifted(config, float(value))
            else:
                column_drift[column] = float(value)
                if _drifted(config, float(value)):
                    drifted.append(column)
        elif kind.endswith(":Accuracy"):
            accuracy = float(value)
    if count is None or share is None:
        raise ValueError("the Evidently report has no DriftedColumnsCount metric")
    return DriftSummary(
        drifted_columns=count,
        columns=len(column_drift),
        drifted_share=share,
        column_drift=column_drift,
        drifted=drifted,
        prediction_drift=prediction,
        prediction_drifted=prediction_drifted,
        accuracy=accuracy,
    )


def wilson_interval(successes: int, trials: int, confidence: float) -> tuple[float, float]:
    """Wilson score interval of a proportion: honest for small batches and for accuracies
    near 0 or 1, where the normal approximation leaves [0, 1]."""
    from scipy.stats import norm

    if trials < 1:
        raise ValueError(f"an interval needs at least one trial, got {trials}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    z = float(norm.ppf(0.5 + confidence / 2))
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class QualityReference:
    """What a labelled batch's accuracy is held against: the champion's 5-class accuracy on
    rows it never trained on (`source` names them), and how far below it is tolerated."""

    accuracy: float
    source: str
    allowed_drop: float
    confidence: float


def decide(
    summary: DriftSummary,
    drift_share: float,
    quality: QualityReference | None = None,
    rows: int | None = None,
) -> DriftSummary:
    """Fire when the share of drifted features exceeds `drift_share`, or (a labelled batch of
    `rows` rows, with `quality`) when even the top of the interval of its accuracy lies more
    than the allowed drop below the champion's accuracy on data it never trained on. A batch
    whose accuracy is low only by chance (a small batch) does not fire."""
    reasons = []
    if summary.drifted_share > drift_share:
        reasons.append(
            f"{summary.drifted_columns} of {summary.columns} features drifted "
            f"(share {summary.drifted_share:.2f} > {drift_share})"
        )
    if summary.accuracy is not None and quality is not None and rows:
        low, high = wilson_interval(round(summary.accuracy * rows), rows, quality.confidence)
        summary.rows, summary.accuracy_interval = rows, (low, high)
        summary.reference_accuracy, summary.reference = quality.accuracy, quality.source
        floor = quality.accuracy - quality.allowed_drop
        if high < floor:
            reasons.append(
                f"accuracy {summary.accuracy:.4f} on {rows:,} labelled rows "
                f"({quality.confidence:.0%} interval {low:.4f}-{high:.4f}) lies below "
                f"{floor:.4f}: the champion's {quality.accuracy:.4f} on {quality.source} "
                f"less the allowed drop {quality.allowed_drop}"
            )
    summary.reasons, summary.fired = reasons, bool(reasons)
    return summary


def save(snapshot: Any, html: Path, json_path: Path) -> None:
    """Write the report as self-contained HTML and as JSON."""
    html.parent.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(html))
    snapshot.save_json(str(json_path))


def add_to_workspace(snapshot: Any, workspace: Path, project_name: str, run_name: str) -> str:
    """Add the run to the local Evidently workspace that `evidently ui` serves; return the
    project id."""
    from evidently.ui.workspace import Workspace

    ws = Workspace.create(str(workspace))
    found = ws.search_project(project_name)
    project = (
        found[0]
        if found
        else ws.create_project(project_name, "iot-anomaly: drift of monitored traffic batches")
    )
    ws.add_run(project.id, snapshot, include_data=False, name=run_name)
    return str(project.id)
