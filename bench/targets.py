"""Figures against targets: what every benchmark prints, and the options they share.

The targets are params.yaml's `targets` group. A quality target names a figure of
reports/metrics.json (`protocol.model.figure`); the figure it is held against is the seed
study's mean with its 95% interval (reports/seed_study_<protocol>.json) where the study has
it, and otherwise the last pipeline run's figure, labelled as one run.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iot_anomaly.config import Paths
from iot_anomaly.evaluation.metrics import figure_at
from iot_anomaly.params import Bound, Params, TargetsParams, load_params

ONE_RUN = "one run"


@dataclass(frozen=True)
class Figure:
    """A measured figure and what it rests on (`basis`): one run, a median of runs, or the
    mean of a seed study with its 95% interval (`low`, `high`)."""

    value: float
    basis: str = ONE_RUN
    low: float | None = None
    high: float | None = None

    @classmethod
    def from_study(cls, entry: dict[str, Any]) -> Figure:
        """A seed study's summary entry (`mean`, `low`, `high`, `n`)."""
        n = int(entry["n"])
        low, high = float(entry["low"]), float(entry["high"])
        return cls(float(entry["mean"]), f"seed study, mean of {n}", low, high)

    @property
    def interval(self) -> str:
        """The 95% interval as printed, or empty for a figure without one."""
        return "" if self.low is None else f"[{fmt(self.low)}, {fmt(self.high)}]"

    def text(self, unit: str = "") -> str:
        """The figure as printed, with its unit, interval and basis."""
        parts = [fmt(self.value), unit, self.interval, f"({self.basis})"]
        return " ".join(p for p in parts if p)


@dataclass(frozen=True)
class Check:
    """One figure against its target. `figure` is None when it has not been measured."""

    name: str
    figure: Figure | None
    bound: Bound
    unit: str = ""

    @property
    def met(self) -> bool:
        """The figure (a seed study's mean, where there is one) meets the target."""
        return self.figure is not None and self.bound.met(self.figure.value)

    @property
    def verdict(self) -> str:
        """met, not met, or not measured; a mean that meets the target while its interval
        crosses it says so."""
        if self.figure is None:
            return "not measured"
        if not self.met:
            return "not met"
        ends = (self.figure.low, self.figure.high)
        if not all(self.bound.met(end) for end in ends if end is not None):
            return "met by the mean; its interval crosses the target"
        return "met"

    @property
    def needed(self) -> str:
        """The target as printed, e.g. `≥ 50,000 records/s`."""
        return f"{self.bound} {self.unit}".strip()

    def line(self) -> str:
        """One printed line: the figure, the target, the verdict."""
        figure = "not measured" if self.figure is None else self.figure.text(self.unit)
        return f"{self.name}: {figure}; target {self.needed}: {self.verdict}"


def fmt(value: float | None) -> str:
    """A figure as printed: counts and rates with thousands separators, others to 5 digits."""
    if value is None:
        return ""
    return f"{value:,.0f}" if abs(value) >= 1000 or float(value).is_integer() else f"{value:.5g}"


def at_least(value: float) -> Bound:
    return Bound(min=value)


def at_most(value: float) -> Bound:
    return Bound(max=value)


def study_file(reports: Path, protocol: str) -> Path:
    """The seed study over the models' seeds, as `iot-anomaly study --protocol` writes it."""
    return reports / f"seed_study_{protocol}.json"


def read_studies(reports: Path, protocols: set[str]) -> dict[str, dict[str, Any]]:
    """The seed studies of these protocols that have been run, by protocol."""
    studies = {}
    for protocol in sorted(protocols):
        path = study_file(reports, protocol)
        if path.is_file():
            studies[protocol] = json.loads(path.read_text())
    return studies


def quality_figure(
    key: str, metrics: dict[str, Any], studies: dict[str, dict[str, Any]]
) -> Figure | None:
    """The figure a quality target (`protocol.model.figure`) is held against: the seed
    study's mean and interval if the study has it, else the pipeline run's, as one run."""
    protocol, figure = key.split(".", 1)
    entry = figure_at(studies, (protocol, "summary", figure))
    if entry is not None:
        return Figure.from_study(entry)
    value = figure_at(metrics, key.split("."))
    return None if value is None else Figure(float(value))


def quality_checks(
    targets: TargetsParams, metrics: dict[str, Any], studies: dict[str, dict[str, Any]]
) -> list[Check]:
    """Every quality target against our figure (see `quality_figure`)."""
    return [
        Check(key, quality_figure(key, metrics, studies), bound)
        for key, bound in targets.quality.items()
    ]


def add_project_options(parser: argparse.ArgumentParser) -> None:
    """--root and --params, as the `iot-anomaly` commands take them."""
    parser.add_argument(
        "--root", type=Path, default=Path(), help="project root (default: the current folder)"
    )
    parser.add_argument(
        "--params", type=Path, default=None, help="parameters file (default: <root>/params.yaml)"
    )


def params_file(args: argparse.Namespace) -> Path:
    """The parameters file the project options name."""
    return args.params or args.root / "params.yaml"


def project(args: argparse.Namespace) -> tuple[Params, Paths]:
    """The params and paths the project options name."""
    return load_params(params_file(args)), Paths(args.root)
