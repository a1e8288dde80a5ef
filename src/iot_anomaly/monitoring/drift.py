"""Drift of new traffic against the champion's training rows, with Evidently: data drift per
feature (the three categorical columns declared as such), drift of the predicted category,
and classification quality (accuracy, macro precision, recall, F1) when the batch carries
labels. Then the drift decision."""

from __future__ import annotations

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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _definition(labelled: bool) -> Any:
    from evidently import DataDefinition, MulticlassClassification

    numerical = [c for c in schema.FEATURES if c not in schema.CATEGORICAL]
    categorical = [*schema.CATEGORICAL, PREDICTION]
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


def drift_report(reference: pd.DataFrame, current: pd.DataFrame, drift_share: float) -> Any:
    """Run the Evidently report; both frames carry the features and `predicted`, and the
    classification part is added when both carry the category."""
    from evidently import Dataset, Report
    from evidently.metrics import Accuracy, F1Score, Precision, Recall, ValueDrift
    from evidently.presets import DataDriftPreset

    labelled = schema.CATEGORY in current.columns and schema.CATEGORY in reference.columns
    columns = [*schema.FEATURES, PREDICTION] + ([schema.CATEGORY] if labelled else [])
    definition = _definition(labelled)
    metrics: list[Any] = [
        DataDriftPreset(columns=list(schema.FEATURES), drift_share=drift_share),
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


def decide(
    summary: DriftSummary,
    drift_share: float,
    quality_drop: float,
    reference_accuracy: float | None,
) -> DriftSummary:
    """Fire when the share of drifted features exceeds `drift_share`, or (labelled batches)
    when accuracy falls more than `quality_drop` below the reference accuracy."""
    reasons = []
    if summary.drifted_share > drift_share:
        reasons.append(
            f"{summary.drifted_columns} of {summary.columns} features drifted "
            f"(share {summary.drifted_share:.2f} > {drift_share})"
        )
    if summary.accuracy is not None and reference_accuracy is not None:
        drop = reference_accuracy - summary.accuracy
        if drop > quality_drop:
            reasons.append(
                f"accuracy {summary.accuracy:.4f} is {drop:.4f} below the reference "
                f"{reference_accuracy:.4f} (allowed drop {quality_drop})"
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
