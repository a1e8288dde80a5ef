"""The documentation's results page (`docs/results.md`), rendered from the reports the
pipeline writes, so that no figure in the docs is copied by hand and none goes stale.

`collect` reads whatever exists under `reports/`, `render` is a pure function from those
reports to Markdown (through the Jinja2 template `templates/docs/results.md.j2`), and
`write_results` writes the page; `run` is the `docs` stage (`iot-anomaly docs`, the last stage of
`dvc.yaml`). A quality figure is shown as the seed study's mean with its
95% interval; a figure of the default pipeline run is always labelled as one run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from iot_anomaly.config import Params, Paths
from iot_anomaly.evaluation.crossdata import METRICS_KEY as IOT23
from iot_anomaly.evaluation.metrics import figure_at
from iot_anomaly.evaluation.paper import WINNER_1999
from iot_anomaly.evaluation.study import FEATURE_SET_FIGURES, feature_set_comparison
from iot_anomaly.io import write_text
from iot_anomaly.models import catalog

RESULTS_PAGE: Final = Path("docs") / "results.md"  # relative to the project root
TEMPLATES: Final = Path(__file__).parent / "templates" / "docs"
TEMPLATE: Final = "results.md.j2"

#: Model titles, in the model table's order (`models/catalog.py`).
MODEL_NAMES: Final = {m.name: m.title for m in catalog.MODELS}


@dataclass(frozen=True)
class Figure:
    """One figure: its column label, where it sits in a model's result, how it is printed
    (`pct`: percent, 3 decimals; `f5`, `f4`: a fraction with 5 or 4 decimals)."""

    label: str
    keys: tuple[str, ...]
    kind: str

    @property
    def study_key(self) -> str:
        """The figure's name in a seed study's summary, after the model: `binary.f1`."""
        return ".".join(self.keys)


FIGURES: Final = (
    Figure("accuracy (binary)", ("binary", "accuracy"), "pct"),
    Figure("precision (binary)", ("binary", "precision"), "f5"),
    Figure("recall (binary)", ("binary", "recall"), "f5"),
    Figure("F1 (binary)", ("binary", "f1"), "f5"),
    Figure("accuracy (5-class)", ("multiclass", "accuracy"), "pct"),
    Figure("macro-F1 (5-class)", ("multiclass", "macro_f1"), "f4"),
    Figure("ROC-AUC", ("scores", "roc_auc"), "f5"),
    Figure("KDD cost", ("kdd_cost",), "f5"),
)
#: The paper's three layers without the envelope, as metrics.json names their figures.
THREE_LAYERS: Final = (
    Figure("accuracy (binary)", ("accuracy",), "pct"),
    Figure("F1 (binary)", ("f1",), "f5"),
    Figure("accuracy (5-class)", ("multiclass_accuracy",), "pct"),
    Figure("macro-F1 (5-class)", ("macro_f1",), "f4"),
    Figure("KDD cost", ("kdd_cost",), "f5"),
)
#: The comparison's figure names as the page prints them.
METRIC_NAMES: Final = {"accuracy": "accuracy", "precision": "precision", "recall": "recall",
                       "f1": "F1"}  # fmt: skip


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def collect(reports: Path) -> dict[str, Any]:
    """Every report the results page shows, as loaded JSON; None for a report not written
    yet, and every `seed_study_*.json` found under its file stem."""
    return {
        "metrics": _read(reports / "metrics.json"),
        "comparison": _read(reports / "comparison.json"),
        "details": _read(reports / "evaluation_details.json"),
        "splits": _read(reports / "splits.json"),
        "validation": _read(reports / "validation" / "summary.json"),
        "peers": _read(reports / "bench" / "peers.json"),
        "studies": {p.stem: _read(p) for p in sorted(reports.glob("seed_study_*.json"))},
    }


def _ordered(models: Any) -> list[str]:
    """Known models in the model table's order, then any others in the order given."""
    names = list(models)
    return [m for m in catalog.NAMES if m in names] + [m for m in names if m not in catalog.NAMES]


def _single_run(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """Per protocol, every model's figures of the default run (None where a model has none)."""
    tables = []
    for protocol, models in metrics.items():
        if protocol == IOT23:
            continue
        rows = [
            {"model": m, "values": [figure_at(models[m], f.keys) for f in FIGURES]}
            for m in _ordered(models)
        ]
        ensemble = models.get("ensemble", {})
        three = ensemble.get("three_layers_only")
        tables.append(
            {
                "protocol": protocol,
                "test_rows": next(
                    (r["test_rows"] for r in models.values() if "test_rows" in r), None
                ),
                "rows": rows,
                "three_layers": None
                if three is None
                else [figure_at(three, f.keys) for f in THREE_LAYERS],
                "decided_by_forest": ensemble.get("decided_by_forest"),
                "decided_by_envelope": ensemble.get("decided_by_envelope"),
                "flagged": ensemble.get("flagged_as_attack_by_category"),
            }
        )
    return tables


def _iot23(metrics: dict[str, Any]) -> dict[str, Any] | None:
    """The cross-dataset figures (metrics.json `iot23`, the `crossdata` stage): each model
    over all scenarios, per scenario (attack recall and false alarms), and per IoT-23 label
    (the share flagged as attack); None before the stage has run."""
    found = metrics.get(IOT23)
    if found is None:
        return None
    models = found["models"]
    names = list(models)
    labels = sorted({label for m in models.values() for label in m["overall"]["by_label"]})
    return {
        "protocol": found["protocol"],
        "prefer": found["prefer"],
        "models": [{"name": m, **models[m]} for m in names],
        "names": names,
        "scenarios": [
            {
                "name": name,
                **s,
                "cells": [models[m]["scenarios"][name] for m in names],
            }
            for name, s in found["scenarios"].items()
        ],
        "labels": [
            {
                "label": label,
                "rows": models[names[0]]["overall"]["by_label"][label]["rows"],
                "flagged": [
                    models[m]["overall"]["by_label"].get(label, {}).get("flagged") for m in names
                ],
            }
            for label in labels
        ],
    }


def _study(name: str, study: dict[str, Any]) -> dict[str, Any]:
    """One seed study's table: a row per figure that some model has, a column per model."""
    summary = study["summary"]
    models = _ordered(dict.fromkeys(key.split(".", 1)[0] for key in summary))
    rows = []
    for f in FIGURES:
        cells = [summary.get(f"{m}.{f.study_key}") for m in models]
        if any(cells):
            rows.append({"figure": f, "cells": cells})
    mcnemar = [{"seed": seed, **test} for seed, test in study.get("mcnemar", {}).items()]
    return {
        "name": name,
        "protocol": study["protocol"],
        "vary": study.get("vary", "models"),
        "seeds": study["seeds"],
        "n": max((ci["n"] for ci in summary.values()), default=0),
        "models": models,
        "rows": rows,
        "mcnemar": mcnemar,
    }


def _study_order(studies: dict[str, dict[str, Any]], protocols: list[str]) -> list[str]:
    """Study file stems in the protocols' order, the models' seed before the split's."""

    def key(name: str) -> tuple[int, bool, str]:
        study = studies[name]
        place = protocols.index(study["protocol"]) if study["protocol"] in protocols else 99
        return place, study.get("vary", "models") != "models", name

    return sorted(studies, key=key)


def _comparison(
    rows: list[dict[str, Any]], studies: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """The paper's Table 3 beside ours (one run, three averagings) and, where a seed study of
    that protocol exists, our binary figure's seed mean with its interval."""
    out = []
    for row in rows:
        study = studies.get(f"seed_study_{row['protocol']}")
        key = f"{row['model']}.binary.{row['metric']}"
        out.append({**row, "seed_mean": study["summary"].get(key) if study else None})
    return out


def _winner(metrics: dict[str, Any], studies: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The ensemble on corrected.gz beside the 1999 contest winner (5-class accuracy, cost)."""
    ensemble = metrics.get("corrected", {}).get("ensemble")
    if ensemble is None:
        return None
    study = studies.get("seed_study_corrected")
    summary = study["summary"] if study else {}
    return {
        "winner": WINNER_1999,
        "accuracy": figure_at(ensemble, ("multiclass", "accuracy")),
        "cost": ensemble.get("kdd_cost"),
        "accuracy_ci": summary.get("ensemble.multiclass.accuracy"),
        "cost_ci": summary.get("ensemble.kdd_cost"),
    }


def _targets(peers: dict[str, Any] | None) -> list[dict[str, Any]] | None:
    """The peer benchmark's targets (`python -m bench.peers`), one row each: the target,
    ours and what it rests on, the peer's figure, what is needed and whether it is met."""
    if peers is None:
        return None
    return list(peers["targets"])


def context(reports: dict[str, Any], seed: int) -> dict[str, Any]:
    """What the template needs, from the loaded reports (see `collect`). `seed` is the seed
    of the default run (params `models.seed`), which labels its figures as one run."""
    metrics = reports["metrics"] or {}
    studies = {k: v for k, v in reports["studies"].items() if v is not None}
    by_protocol = {
        f"seed_study_{s['protocol']}": s
        for s in studies.values()
        if s.get("vary", "models") == "models"
    }
    return {
        "seed": seed,
        "figures": FIGURES,
        "three_layers": THREE_LAYERS,
        "feature_set_figures": [
            (label, next(f.kind for f in FIGURES if f.keys == keys))
            for label, keys, _ in FEATURE_SET_FIGURES
        ],
        "names": MODEL_NAMES,
        "single_run": _single_run(metrics),
        "studies": [_study(name, studies[name]) for name in _study_order(studies, list(metrics))],
        "comparison": _comparison(reports["comparison"] or [], by_protocol),
        "metric_names": METRIC_NAMES,
        "winner": _winner(metrics, by_protocol),
        "feature_sets": feature_set_comparison(
            metrics, {s["protocol"]: s for s in by_protocol.values()}, reports["details"] or {}
        ),
        "details": reports["details"] or {},
        "splits": reports["splits"],
        "validation": reports["validation"],
        "targets": _targets(reports["peers"]),
        "iot23": _iot23(metrics),
    }


def fmt(value: float | None, kind: str) -> str:
    """A figure as printed on the page; an empty cell where there is none. Kinds: `pct`
    (percent, 3 decimals), `pct2` (2 decimals, as the paper prints), `f5`, `f4` (a fraction),
    `int` (a count), `p` (a p-value)."""
    if value is None:
        return ""
    if kind == "pct":
        return f"{100 * value:.3f}%"
    if kind == "pct2":
        return f"{100 * value:.2f}%"
    if kind in ("f5", "f4"):
        return f"{value:.{kind[1]}f}"
    if kind == "int":
        return f"{value:,.0f}"
    if kind == "p":
        return f"{value:.2g}"
    raise ValueError(f"unknown figure format {kind!r}")


def fmt_p(value: float) -> str:
    """A p-value in prose: `p = 0.36`, or `p < 1e-300` where it underflows to 0."""
    return "p < 1e-300" if value == 0 else f"p = {value:.2g}"


def fmt_ci(ci: dict[str, float] | None, kind: str) -> str:
    """A seed study's figure: the mean, then its 95% interval."""
    if ci is None:
        return ""
    return f"{fmt(ci['mean'], kind)} [{fmt(ci['low'], kind)}, {fmt(ci['high'], kind)}]"


def fmt_target(value: float | None) -> str:
    """A figure of the peer benchmark: a rate with 5 decimals, a throughput in whole units."""
    if value is None:
        return ""
    return fmt(value, "int") if abs(value) > 1 else fmt(value, "f5")


def environment() -> Environment:
    """Jinja2 for Markdown: no HTML escaping, undefined names are errors, the figure filters."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(fmt=fmt, ci=fmt_ci, target=fmt_target, p=fmt_p)
    return env


def render(reports: dict[str, Any], seed: int) -> str:
    """The results page as Markdown, from the loaded reports (see `collect`)."""
    return environment().get_template(TEMPLATE).render(**context(reports, seed))


def write_results(reports: Path, output: Path, seed: int) -> Path:
    """Render the results page from the reports folder and write it (atomically)."""
    return write_text(render(collect(reports), seed), output)


def run(params: Params, paths: Paths, output: Path = RESULTS_PAGE) -> Path:
    """Stage `docs`: the results page from the project's reports, its one-run figures
    labelled with the pipeline's seed (`models.seed`); `output` is relative to the root."""
    return write_results(paths.reports, paths.root / output, params.models.seed)
