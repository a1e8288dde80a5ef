"""Everything the review site shows, read from the files the pipeline and the monitoring
wrote. Files that may legitimately be missing (no seed study, no monitored batch, no
champion promoted yet) become empty values, so the site says so instead of failing."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iot_anomaly.config import Paths
from iot_anomaly.monitoring import decisions
from iot_anomaly.monitoring.store import store_from_params
from iot_anomaly.params import Params
from iot_anomaly.registry import registry_file
from iot_anomaly.stages import hosts as host_report
from iot_anomaly.stages.monitor import batches_dir, processed


@dataclass
class Batch:
    """One monitored batch: its status.json, its validation summary and where its files are
    (None where the batch has no such file, e.g. a rejected batch has no drift report)."""

    status: dict[str, Any]
    validation: dict[str, Any] | None
    validation_html: Path | None
    quarantine_csv: Path | None
    drift_html: Path | None

    @property
    def name(self) -> str:
        return str(self.status["batch"])


@dataclass
class SiteInputs:
    """The figures and records behind every page of the site."""

    metrics: dict[str, dict[str, Any]]
    details: dict[str, Any]
    seed_studies: dict[str, dict[str, Any]]
    validation_summary: dict[str, dict[str, Any]]
    validation_results: list[dict[str, Any]]
    registered: dict[str, Any] | None
    champion: dict[str, Any] | None
    batches: list[Batch]
    decisions: list[dict[str, Any]]
    drift_share: float
    figures: dict[str, Path] = field(default_factory=dict)
    validation_html: Path | None = None
    stored: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The champion store's record of the registered and the promoted version, by version
    (when and at which commit each entered the store, when it was promoted)."""
    hosts: dict[str, Any] | None = None
    """The host report (reports/hosts/hosts.json), None before one was built."""
    host_files: dict[str, Path] = field(default_factory=dict)
    """The host report's files by name (hosts.json, hosts.csv), for the site to copy."""


def _json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def _file(path: Path) -> Path | None:
    return path if path.is_file() else None


def read_batches(params: Params, paths: Paths) -> list[Batch]:
    """Every processed batch (scored or rejected), oldest first."""
    root = batches_dir(params.monitor, paths)
    reports = paths.root / params.monitor.reports_dir
    found = []
    for status in processed(params.monitor, paths):
        folder = root / status["batch"]
        found.append(
            Batch(
                status=status,
                validation=_json(folder / "validation.json"),
                validation_html=_file(folder / "validation.html"),
                quarantine_csv=_file(folder / "quarantine.csv"),
                drift_html=_file(reports / f"{status['batch']}.html")
                if status.get("status") == "scored"
                else None,
            )
        )
    return found


def read_champion(params: Params, paths: Paths) -> dict[str, Any] | None:
    """The promoted champion's registry record, or None before the first promotion."""
    store = store_from_params(params.promotion, paths)
    version = store.current()
    if version is None:
        return None
    try:
        return store.record(version)
    except FileNotFoundError:
        return {"version": version}


def read_stored(
    params: Params, paths: Paths, *records: dict[str, Any] | None
) -> dict[str, dict[str, Any]]:
    """The champion store's record of each named version that is in the store."""
    store = store_from_params(params.promotion, paths)
    versions = {r["version"] for r in records if r and r.get("version")}
    return {v: found for v in sorted(versions) if (found := store.stored(v))}


def gather(params: Params, paths: Paths) -> SiteInputs:
    """Read every input of the site; metrics.json is the one that must exist."""
    metrics_file = paths.reports / "metrics.json"
    if not metrics_file.is_file():
        raise FileNotFoundError(f"{metrics_file}: no metrics yet; run `dvc repro evaluate` first")
    studies = {
        p.stem.removeprefix("seed_study_"): json.loads(p.read_text())
        for p in sorted(paths.reports.glob("seed_study_*.json"))
    }
    figures_dir = paths.reports / "figures"
    figures = {p.name: p for p in sorted(figures_dir.glob("*.png"))} if figures_dir.is_dir() else {}
    registered = _json(registry_file(paths))
    champion = read_champion(params, paths)
    host_dir = host_report.report_dir(params, paths)
    host_files = {n: host_dir / n for n in (host_report.JSON, host_report.CSV)}
    return SiteInputs(
        metrics=json.loads(metrics_file.read_text()),
        details=_json(paths.reports / "evaluation_details.json") or {},
        seed_studies=studies,
        validation_summary=_json(paths.validation_dir / "summary.json") or {},
        validation_results=_json(paths.validation_dir / "results.json") or [],
        registered=registered,
        champion=champion,
        batches=read_batches(params, paths),
        decisions=decisions.read(paths.root / params.promotion.decision_log),
        drift_share=params.monitor.drift_share,
        figures=figures,
        validation_html=_file(paths.validation_dir / "index.html"),
        stored=read_stored(params, paths, registered, champion),
        hosts=_json(host_files[host_report.JSON]),
        host_files={n: p for n, p in host_files.items() if p.is_file()},
    )
