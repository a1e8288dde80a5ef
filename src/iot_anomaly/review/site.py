"""The review site's pages as plain data, built from `SiteInputs` alone (no file access), and
rendered by the templates of `templates/`: `pages` returns every page's HTML.

Quality figures follow one rule: where a seed study exists for a protocol, its mean and 95%
interval come first; every figure of the pipeline's own run (reports/metrics.json and
reports/evaluation_details.json) is labelled as one run with its seed. Links are relative to
the site folder (see `Layout`), so the site opens from a file or any local web server.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Final

from markupsafe import Markup

from iot_anomaly.evaluation import paper
from iot_anomaly.evaluation.crossdata import METRICS_KEY as IOT23
from iot_anomaly.evaluation.hosts import ATTACK_CATEGORIES
from iot_anomaly.monitoring.batches import KDD, RECORDS, TRAFFIC
from iot_anomaly.review import decisions as log_page
from iot_anomaly.review.inputs import Batch, SiteInputs
from iot_anomaly.review.parts import (
    DETAILS,
    HOSTS,
    METRICS,
    PAGES,
    Figure,
    Interval,
    Layout,
    badge,
    cards,
    figure,
    interval,
    lookup,
    models,
    share,
    short,
    site_page,
    when,
)
from iot_anomaly.review.render import render
from iot_anomaly.review.timeline import TimelineEvent, TimelinePoint, timeline_svg
from iot_anomaly.schema import CATEGORIES

EVENT_KINDS: Final = ("retrain", "promotion", "training")
#: What a monitored batch held, by its kind (status.json `kind`; KDD before kinds existed).
BATCH_TRAFFIC: Final = {
    KDD: "KDD records",
    RECORDS: "ingested records",
    TRAFFIC: "capture or Zeek log",
}
#: One run's headline figures per model: (column, key under protocol/model, format).
SUMMARY: Final = (
    ("accuracy (binary)", "binary/accuracy", "pct3"),
    ("precision", "binary/precision", "f5"),
    ("recall", "binary/recall", "f5"),
    ("F1", "binary/f1", "f5"),
    ("false alarms", "binary/false_positive_rate", "f5"),
    ("accuracy (5-class)", "multiclass/accuracy", "pct3"),
    ("macro-F1 (5-class)", "multiclass/macro_f1", "f4"),
    ("ROC-AUC", "scores/roc_auc", "f4"),
    ("PR-AUC", "scores/pr_auc", "f4"),
    ("KDD cost", "kdd_cost", "f4"),
    ("test rows", "test_rows", "int"),
)
#: The seed study's figures per model: (column, name after "model.", format).
STUDIED: Final = (
    ("accuracy (binary)", "binary.accuracy", "pct3"),
    ("precision", "binary.precision", "f5"),
    ("recall", "binary.recall", "f5"),
    ("F1", "binary.f1", "f5"),
    ("accuracy (5-class)", "multiclass.accuracy", "pct3"),
    ("macro-F1 (5-class)", "multiclass.macro_f1", "f4"),
    ("ROC-AUC", "scores.roc_auc", "f4"),
    ("KDD cost", "kdd_cost", "f4"),
)
#: The ensemble's figures on the index: (column, key under protocol/ensemble, format); the
#: seed study names the same figure with "." for "/".
HEADLINE: Final = (
    ("accuracy (binary)", "binary/accuracy", "pct3"),
    ("F1 (binary)", "binary/f1", "f5"),
    ("macro-F1 (5-class)", "multiclass/macro_f1", "f4"),
    ("KDD cost", "kdd_cost", "f4"),
)

Cell = Figure | Interval | str | int | None


@dataclass(frozen=True)
class Table:
    """A table of figures: headers, and rows of cells (label text first)."""

    headers: list[str]
    rows: list[list[Cell]]


def run_label(seed: int) -> str:
    """How a figure of the pipeline's own run is labelled."""
    return f"one run, seed {seed}"


def study_of(inputs: SiteInputs, protocol: str) -> dict[str, Any] | None:
    """The seed study over the models' seeds on `protocol` (not a split-seed study)."""
    study = inputs.seed_studies.get(protocol)
    return study if study and study.get("vary", "models") == "models" else None


def seeds_label(study: dict[str, Any]) -> str:
    """Which seeds a study varied: "model seeds 42, 7, 2024" or "split seeds 1, 2, 3"."""
    varied = "split" if study.get("vary") == "split" else "model"
    return f"{varied} seeds {', '.join(str(s) for s in study.get('seeds', []))}"


# --- index -----------------------------------------------------------------------------


def index_page(inputs: SiteInputs, seed: int) -> str:
    reg, champ = inputs.registered or {}, inputs.champion
    serving = champ or reg
    promoted = inputs.stored.get(champ["version"], {}) if champ else {}
    scored = [b for b in inputs.batches if b.status["status"] == "scored"]
    fired = sum(bool((b.status.get("drift") or {}).get("fired")) for b in scored)
    headline: list[list[Cell]] = []
    for protocol, results in inputs.metrics.items():
        if "ensemble" not in results:
            continue
        study = study_of(inputs, protocol)
        if study is not None:
            source = f"seed_study_{protocol}"
            headline.append(
                [
                    protocol,
                    f"seed study ({seeds_label(study)})",
                    *(
                        interval(study, source, "ensemble." + key.replace("/", "."), fmt)
                        for _, key, fmt in HEADLINE
                    ),
                ]
            )
        headline.append(
            [
                protocol,
                run_label(seed),
                *(
                    figure(inputs.metrics, METRICS, f"{protocol}/ensemble/{key}", fmt)
                    for _, key, fmt in HEADLINE
                ),
            ]
        )
    last = inputs.batches[-1].status if inputs.batches else None
    return render(
        "index.html",
        page=site_page("index.html", "iot-anomaly: review", "Model quality, data quality, drift"),
        cards=cards(
            [
                ("champion version", serving.get("version", "none")),
                ("data version", short(serving.get("data_version"), 12) or "none"),
                ("promoted (UTC)", short(promoted.get("promoted_at"), 10) or "never"),
                ("batches monitored", len(inputs.batches)),
                ("drift fired", fired),
                ("decisions", len(inputs.decisions)),
            ]
        ),
        links=[{"href": name, "label": label, "text": text} for name, label, text in PAGES[1:]],
        headline=Table(["protocol", "figures from", *(c[0] for c in HEADLINE)], headline),
        latest=(
            {
                "batch": last["batch"],
                "status": last["status"],
                "received": when(last.get("received_at")),
            }
            if last
            else None
        ),
    )


# --- model quality ---------------------------------------------------------------------


@dataclass(frozen=True)
class Image:
    """A figure file of the site; `present` False when the pipeline did not draw it."""

    name: str
    src: str
    caption: str
    present: bool


@dataclass(frozen=True)
class HeatCell:
    count: str
    key: str
    value: str
    shade: str  # the share of the true row, as the cell's opacity
    light: bool  # white text on a dark shade
    title: str


@dataclass(frozen=True)
class Confusion:
    """A confusion matrix as a heat table (rows true, columns predicted)."""

    model: str
    rows: list[tuple[str, list[HeatCell]]]


@dataclass(frozen=True)
class Protocol:
    """One protocol's section of the model page."""

    name: str
    study: Table | None
    study_label: str
    summary: Table
    winner_1999: dict[str, str] | None
    comparison: Table | None
    comparison_notes: list[str]
    flagged: Table
    right: Table | None
    confusions: list[Confusion]
    curves: Image
    importance: Image | None
    importances: list[Table]


def image(inputs: SiteInputs, layout: Layout, name: str, caption: str) -> Image:
    return Image(name, layout.figure(name), caption, name in inputs.figures)


def champion_rows(inputs: SiteInputs) -> list[dict[str, Any]]:
    """The registered model and, once promoted, the champion in use; when each entered the
    champion store, at which commit, and when it was promoted come from the store's record."""
    found = []
    for label, record in (
        ("registered model (artifacts/registry/champion.json)", inputs.registered),
        ("champion in use (promoted)", inputs.champion),
    ):
        if record is None:
            continue
        data = str(record.get("data_version") or "")
        stored = inputs.stored.get(record.get("version", ""), {})
        found.append(
            {
                "label": label,
                "model": record.get("model", ""),
                "version": record.get("version", ""),
                "data_version": data,
                "data_short": short(data),
                "stored": when(stored.get("stored_at")),
                "promoted": when(stored.get("promoted_at")),
                "commit": short(stored.get("git_commit")),
                "trained_on": record.get("trained_on", ""),
            }
        )
    return found


def study_table(study: dict[str, Any], source: str) -> Table:
    """Mean and 95% interval per model and figure, the models in the site's order."""
    rows: list[list[Cell]] = []
    for model in models(dict.fromkeys(n.split(".")[0] for n in study.get("summary", {}))):
        cells = [interval(study, source, f"{model}.{name}", fmt) for _, name, fmt in STUDIED]
        if any(cells):
            rows.append([model, *cells])
    return Table(["model", *(c[0] for c in STUDIED)], rows)


def summary_table(metrics: dict[str, Any], protocol: str) -> Table:
    """Every model's headline figures on one protocol's test split."""
    rows: list[list[Cell]] = [
        [m, *(figure(metrics, METRICS, f"{protocol}/{m}/{key}", fmt) for _, key, fmt in SUMMARY)]
        for m in models(metrics.get(protocol, {}))
    ]
    return Table(["model", *(c[0] for c in SUMMARY)], rows)


def comparison_table(metrics: dict[str, Any], protocol: str) -> tuple[Table | None, list[str]]:
    """The paper's Table 3 beside ours under three averagings, and the averaging notes
    the rows refer to by number."""
    rows = paper.comparison_rows({protocol: metrics.get(protocol, {})})
    if not rows:
        return None, []
    body: list[list[Cell]] = []
    notes: list[str] = []
    for row in rows:
        model, metric = row["model"], row["metric"]
        multi = "accuracy" if metric == "accuracy" else None
        keys = (
            f"{protocol}/{model}/binary/{metric}",
            f"{protocol}/{model}/multiclass/{multi or 'macro_' + metric}",
            f"{protocol}/{model}/multiclass/{multi or 'weighted_' + metric}",
        )
        if row["averaging_note"] not in notes:
            notes.append(row["averaging_note"])
        body.append(
            [
                model,
                f"{metric} [{notes.index(row['averaging_note']) + 1}]",
                Figure(f"{100 * row['paper']:.2f}%", source="paper"),
                *(figure(metrics, METRICS, key, "pct2") for key in keys),
            ]
        )
    headers = ["model", "metric", "paper (Table 3)", "ours (binary)", "ours (macro)",
               "ours (weighted)"]  # fmt: skip
    return Table(headers, body), notes


def detection_tables(metrics: dict[str, Any], protocol: str) -> tuple[Table, Table | None]:
    """Per category: the share flagged as attack (every model) and the share given the
    right category (5-class classifiers)."""
    results = metrics.get(protocol, {})
    base = f"{protocol}/{{}}/flagged_as_attack_by_category"
    flagged: list[list[Cell]] = [
        [
            m,
            *(figure(metrics, METRICS, f"{base.format(m)}/{c}", "pct2") for c in CATEGORIES),
            figure(metrics, METRICS, f"{protocol}/{m}/unseen_attacks_detected", "pct2"),
            figure(metrics, METRICS, f"{protocol}/{m}/known_attacks_detected", "pct2"),
        ]
        for m in models(results)
    ]
    right: list[list[Cell]] = [
        [
            m,
            *(
                figure(metrics, METRICS, f"{protocol}/{m}/multiclass/detection_rate/{c}", "pct2")
                for c in CATEGORIES
            ),
        ]
        for m in models(results)
        if "multiclass" in results[m]
    ]
    return (
        Table(["model", "normal", *CATEGORIES[1:], "unseen attacks", "known attacks"], flagged),
        Table(["model", *CATEGORIES], right) if right else None,
    )


def confusion(metrics: dict[str, Any], protocol: str, model: str) -> Confusion | None:
    """A model's confusion matrix, each cell shaded by its share of the true row."""
    key = f"{protocol}/{model}/multiclass/confusion_matrix"
    matrix = lookup(metrics, key)
    if not matrix:
        return None
    rows = []
    for i, row in enumerate(matrix):
        total = sum(row) or 1
        true = CATEGORIES[i]
        cells = [
            HeatCell(
                count=f"{count:,}",
                key=f"{key}/{i}/{j}",
                value=repr(count),
                shade=f"{count / total:.3f}",
                light=count / total > 0.5,
                title=f"{true} predicted as {CATEGORIES[j]}: {count / total:.2%} of the row",
            )
            for j, count in enumerate(row)
        ]
        rows.append((true, cells))
    return Confusion(model, rows)


def importance_tables(inputs: SiteInputs, protocol: str) -> list[Table]:
    """The Random Forest's permutation and impurity importances (none without a forest)."""
    found = lookup(inputs.details, f"{protocol}/feature_importance") or {}
    tables = []
    for kind, label in (("permutation", "permutation (accuracy drop)"), ("impurity", "impurity")):
        key = f"{protocol}/feature_importance/{kind}"
        rows: list[list[Cell]] = [
            [name, figure(inputs.details, DETAILS, f"{key}/{name}", "f4")]
            for name in found.get(kind, {})
        ]
        tables.append(Table(["feature", label], rows))
    return tables if found else []


def protocol_section(inputs: SiteInputs, protocol: str, layout: Layout) -> Protocol:
    m = inputs.metrics
    study = study_of(inputs, protocol)
    winner = lookup(inputs.details, f"{protocol}/winner_1999")
    comparison, notes = comparison_table(m, protocol)
    flagged, right = detection_tables(m, protocol)
    importances = importance_tables(inputs, protocol)
    return Protocol(
        name=protocol,
        study=study_table(study, f"seed_study_{protocol}") if study else None,
        study_label=f"mean and 95% interval over {seeds_label(study)}" if study else "",
        summary=summary_table(m, protocol),
        winner_1999=(
            {"accuracy": f"{100 * winner['accuracy']:.2f}%", "cost": f"{winner['cost']:.4f}"}
            if protocol == "corrected" and winner
            else None
        ),
        comparison=comparison,
        comparison_notes=notes,
        flagged=flagged,
        right=right,
        confusions=[c for c in (confusion(m, protocol, n) for n in models(m[protocol])) if c],
        curves=image(
            inputs, layout, f"roc_pr_{protocol}.png", f"Autoencoder and GAN on {protocol}"
        ),
        importance=(
            image(inputs, layout, f"importance_{protocol}.png", "Permutation importance")
            if importances
            else None
        ),
        importances=importances,
    )


def mcnemar_table(inputs: SiteInputs) -> Table:
    rows: list[list[Cell]] = []
    for protocol in inputs.metrics:
        base = f"{protocol}/mcnemar"
        if lookup(inputs.details, base) is None:
            continue
        rows.append(
            [
                protocol,
                str(lookup(inputs.details, f"{base}/against")),
                figure(inputs.details, DETAILS, f"{base}/b", "int"),
                figure(inputs.details, DETAILS, f"{base}/c", "int"),
                figure(inputs.details, DETAILS, f"{base}/p_value", "g3"),
                str(lookup(inputs.details, f"{base}/method")),
            ]
        )
    return Table(["protocol", "against", "b", "c", "p-value", "method"], rows)


def seed_tables(inputs: SiteInputs) -> list[tuple[str, Table]]:
    """Every seed study (model seeds or split seeds): each figure's mean, 95% interval,
    standard deviation and number of seeds."""
    found = []
    for name, study in inputs.seed_studies.items():
        source = f"seed_study_{name}"
        rows: list[list[Cell]] = []
        for key in study.get("summary", {}):
            model, _, measure = key.partition(".")
            rows.append(
                [
                    model,
                    measure,
                    interval(study, source, key, "f5"),
                    figure(study, source, f"summary/{key}/std", "f5"),
                    figure(study, source, f"summary/{key}/n", "int"),
                ]
            )
        title = f"{study.get('protocol', name)}: {seeds_label(study)}"
        headers = ["model", "figure", "mean [95% interval, Student t]", "std", "n"]
        found.append((title, Table(headers, rows)))
    return found


def model_page(inputs: SiteInputs, layout: Layout, seed: int) -> str:
    return render(
        "model.html",
        page=site_page(
            "model.html",
            "Model quality",
            "Every figure on this page is read from reports/metrics.json, "
            "reports/evaluation_details.json and the seed studies' reports/seed_study_*.json.",
        ),
        run=run_label(seed),
        champions=champion_rows(inputs),
        promoted=inputs.champion is not None,
        protocols=[protocol_section(inputs, p, layout) for p in inputs.metrics if p != IOT23],
        averaging=paper.AVERAGING_EXPLANATION,
        mcnemar=mcnemar_table(inputs),
        studies=seed_tables(inputs),
    )


# --- data quality ----------------------------------------------------------------------


def validation_rows(inputs: SiteInputs, layout: Layout) -> list[dict[str, Any]]:
    """The validate stage's data sets (train, test, ...) with their results."""
    link = layout.training_validation() if inputs.validation_html else None
    return [
        {
            "name": name,
            "source": s.get("source", ""),
            "rows": f"{s.get('rows', 0):,}",
            "quarantined": f"{s.get('quarantined', 0):,}",
            "expectations": s.get("expectations", 0),
            "failed": s.get("failed", 0),
            "critical_failed": s.get("critical_failed", 0),
            "result": badge("passed" if s.get("success") else "FAILED"),
            "report": link,
        }
        for name, s in inputs.validation_summary.items()
    ]


def failure_rows(inputs: SiteInputs) -> list[list[Cell]]:
    """Every failed expectation of the validate stage."""
    return [
        [
            r.get("name", ""),
            f.get("suite", ""),
            f.get("expectation", ""),
            f.get("column", ""),
            f.get("severity", ""),
            f.get("unexpected_count") or "",
            ", ".join(str(e) for e in (f.get("examples") or [])[:5]),
        ]
        for r in inputs.validation_results
        for f in r.get("findings", [])
        if not f.get("success")
    ]


def batch_row(b: Batch, layout: Layout) -> dict[str, Any]:
    s, v = b.status, b.validation or {}
    quarantined = int(s.get("quarantined", 0))
    return {
        "anchor": layout.batch_anchor(b.name),
        "name": b.name,
        "received": when(s.get("received_at")),
        "status": badge(s["status"]),
        "labelled": "yes" if s.get("labelled") else "no",
        "rows": f"{int(s.get('rows', 0)):,}",
        "quarantined": f"{quarantined:,}",
        "quarantine": layout.batch_quarantine(b.name) if b.quarantine_csv and quarantined else None,
        "expectations": v.get("expectations", ""),
        "failed": v.get("failed", ""),
        "critical_failed": v.get("critical_failed", ""),
        "report": layout.batch_validation(b.name) if b.validation_html else None,
        "reason": s.get("reason", ""),
    }


def data_page(inputs: SiteInputs, layout: Layout, max_failures: int) -> str:
    scored = sum(b.status["status"] == "scored" for b in inputs.batches)
    quarantined = sum(int(b.status.get("quarantined", 0)) for b in inputs.batches)
    failures = failure_rows(inputs)
    return render(
        "data.html",
        page=site_page("data.html", "Data quality", "Validation and quarantine, per data set"),
        cards=cards(
            [
                ("batches monitored", len(inputs.batches)),
                ("scored", scored),
                ("rejected", len(inputs.batches) - scored),
                ("lines quarantined in batches", f"{quarantined:,}"),
            ]
        ),
        datasets=validation_rows(inputs, layout),
        failures=Table(
            ["data set", "suite", "expectation", "column", "severity", "unexpected", "examples"],
            failures[:max_failures],
        ),
        more_failures=max(0, len(failures) - max_failures),
        batches=[batch_row(b, layout) for b in inputs.batches],
    )


# --- drift over time -------------------------------------------------------------------


def _event_label(entry: dict[str, Any]) -> str:
    version = entry.get("now_serving") or entry.get("challenger") or entry.get("version") or ""
    return f"{entry['kind']} {entry['verdict']}" + (f" ({version})" if version else "")


def timeline_parts(
    inputs: SiteInputs, layout: Layout
) -> tuple[list[TimelinePoint], list[TimelineEvent]]:
    """The timeline's batches (arrival order) and events (retraining, training, promotion).
    A batch links to its Evidently report, else its validation results, else its row in
    the data page."""
    points = []
    for b in inputs.batches:
        s, d = b.status, b.status.get("drift") or {}
        scored = s["status"] == "scored" and bool(d)
        href = (
            layout.drift_report(b.name)
            if scored and b.drift_html
            else layout.batch_validation(b.name)
            if b.validation_html
            else layout.batch_row(b.name)
        )
        points.append(
            TimelinePoint(
                batch=b.name,
                received_at=str(s.get("received_at", "")),
                href=href,
                scored=scored,
                drifted_share=d.get("drifted_share"),
                attack_share=s.get("attack_share"),
                accuracy=d.get("accuracy"),
                fired=bool(d.get("fired")),
            )
        )
    events = [
        TimelineEvent(time=str(e["time"]), kind=e["kind"], label=_event_label(e))
        for e in inputs.decisions
        if e.get("kind") in EVENT_KINDS
    ]
    return points, events


def drift_rows(inputs: SiteInputs, points: list[TimelinePoint]) -> list[dict[str, Any]]:
    rows = []
    for number, (p, b) in enumerate(zip(points, inputs.batches, strict=True), 1):
        d = b.status.get("drift") or {}
        kind = b.status.get("kind", KDD)
        opens = (
            "Evidently report"
            if p.scored and b.drift_html
            else "validation"
            if b.validation_html
            else "data quality"
        )
        rows.append(
            {
                "number": number,
                "name": b.name,
                "received": when(p.received_at),
                "status": badge(b.status["status"]),
                "labelled": "yes" if b.status.get("labelled") else "no",
                "traffic": BATCH_TRAFFIC.get(kind, kind),
                "drifted": f"{d['drifted_columns']} of {d['columns']}" if d else "",
                "drifted_share": share(p.drifted_share),
                "attack_share": share(p.attack_share),
                "accuracy": share(p.accuracy),
                "decision": badge("drift" if p.fired else "no drift") if p.scored else None,
                "href": p.href,
                "report": opens,
            }
        )
    return rows


def drift_page(inputs: SiteInputs, layout: Layout, width: int, height: int) -> str:
    points, events = timeline_parts(inputs, layout)
    entries = [e for e in inputs.decisions if e.get("kind") in EVENT_KINDS]
    return render(
        "drift.html",
        page=site_page("drift.html", "Drift over time", "Monitored batches in arrival order"),
        # matplotlib's own SVG, its text and links escaped by its XML writer
        timeline=Markup(timeline_svg(points, events, inputs.drift_share, width, height))
        if points
        else None,
        threshold=inputs.drift_share,
        batches=drift_rows(inputs, points),
        events=[
            {
                "number": number,
                "time": when(e.get("time")),
                "event": event.label,
                "verdict": badge(str(e["verdict"])),
                "reason": e.get("reason", ""),
            }
            for number, (e, event) in enumerate(zip(entries, events, strict=True), 1)
        ],
    )


# --- hosts -----------------------------------------------------------------------------


def batch_link(batches: dict[str, Batch], layout: Layout, name: str) -> dict[str, str | None]:
    """A batch named by the host report, linked to its Evidently report, else its row on the
    data page (no link for a batch the monitoring state no longer holds)."""
    found = batches.get(name)
    if found is None:
        return {"name": name, "href": None}
    href = layout.drift_report(name) if found.drift_html else layout.batch_row(name)
    return {"name": name, "href": href}


def host_rows(inputs: SiteInputs, layout: Layout, shown: int) -> list[dict[str, Any]]:
    """The first `shown` hosts of the host report (most attack connections first), with the
    categories they have attack connections of; counts carry their place in hosts.json."""
    report = inputs.hosts or {}
    batches = {b.name: b for b in inputs.batches}
    rows = []
    for i, h in enumerate(report.get("hosts", [])[:shown]):
        key = f"hosts/{i}"
        rows.append(
            {
                "host": h["host"],
                "attacks": figure(report, HOSTS, f"{key}/attack_connections", "int"),
                "categories": [
                    (c, figure(report, HOSTS, f"{key}/by_category/{c}", "int"))
                    for c in ATTACK_CATEGORIES
                    if h["by_category"].get(c)
                ],
                "connections": figure(report, HOSTS, f"{key}/connections", "int"),
                "seen": (h["first_seen"], h["last_seen"]),
                "attacked": (h["first_attack"], h["last_attack"]),
                "ports": [f"{p['port']} ({p['connections']:,})" for p in h["top_dst_ports"]],
                "peers": [f"{p['host']} ({p['connections']:,})" for p in h["top_dst_hosts"]],
                "files": [{"name": PurePath(f).name, "path": f} for f in h["files"]],
                "batches": [batch_link(batches, layout, b) for b in h["batches"]],
            }
        )
    return rows


def hosts_page(inputs: SiteInputs, layout: Layout, shown: int) -> str:
    """The host report's totals and its first `shown` hosts; says so when no report was
    built yet or no connection was flagged."""
    report = inputs.hosts
    listed = len(report["hosts"]) if report else 0
    return render(
        "hosts.html",
        page=site_page(
            "hosts.html",
            "Hosts",
            "Verdicts per device, from every monitored batch of real traffic",
        ),
        report=report is not None,
        cards=cards(
            [
                ("connections scored", f"{report['connections']:,}"),
                ("attack connections", f"{report['attack_connections']:,}"),
                ("source hosts", f"{report['hosts_seen']:,}"),
                ("hosts with attacks", f"{report['hosts_with_attacks']:,}"),
                ("batches", len(report["batches"])),
            ]
        )
        if report
        else [],
        hosts=host_rows(inputs, layout, shown),
        more=max(0, listed - shown),
        top_ports=report["top_ports"] if report else 0,
        top_hosts=report["top_hosts"] if report else 0,
        files={name: layout.host_file(name) for name in inputs.host_files},
    )


# --- IoT-23 ----------------------------------------------------------------------------

#: The IoT-23 figures of a model: (column, key under its figures, format).
IOT23_FIGURES: Final = (
    ("accuracy (binary)", "accuracy", "pct2"),
    ("attack recall", "attack_recall", "pct2"),
    ("false alarms on benign rows", "false_alarm_rate", "pct2"),
    ("attack rows", "attack_rows", "int"),
    ("benign rows", "benign_rows", "int"),
)


def iot23_tables(metrics: dict[str, Any]) -> tuple[Table, Table, Table]:
    """The cross-dataset figures (metrics.json `iot23`): every model over all scenarios,
    each model per scenario, and the share flagged per IoT-23 label."""
    found = metrics.get(IOT23) or {}
    names = list(found.get("models", {}))
    base = f"{IOT23}/models/{{}}"
    overall: list[list[Cell]] = [
        [
            m,
            str(found["models"][m].get("learned_from", "")),
            *(figure(metrics, METRICS, f"{base.format(m)}/overall/{k}", f) for _, k, f in
              IOT23_FIGURES),
        ]
        for m in names
    ]  # fmt: skip
    scenarios: list[list[Cell]] = [
        [
            s,
            m,
            *(
                figure(metrics, METRICS, f"{base.format(m)}/scenarios/{s}/{k}", f)
                for _, k, f in IOT23_FIGURES
            ),
        ]
        for s in found.get("scenarios", {})
        for m in names
    ]
    labels = sorted({label for m in names for label in found["models"][m]["overall"]["by_label"]})
    first = names[0] if names else ""
    by_label: list[list[Cell]] = [
        [
            label,
            figure(metrics, METRICS, f"{base.format(first)}/overall/by_label/{label}/rows", "int"),
            *(
                figure(metrics, METRICS, f"{base.format(m)}/overall/by_label/{label}/flagged",
                       "pct2")
                for m in names
            ),
        ]
        for label in labels
    ]  # fmt: skip
    heads = [c[0] for c in IOT23_FIGURES]
    return (
        Table(["model", "learned from", *heads], overall),
        Table(["scenario", "model", *heads], scenarios),
        Table(["IoT-23 label", "rows", *names], by_label),
    )


def iot23_page(inputs: SiteInputs, seed: int) -> str:
    found = inputs.metrics.get(IOT23)
    overall, per_scenario, by_label = iot23_tables(inputs.metrics)
    scenarios = [
        {
            "name": name,
            "file": s["file"],
            "records": f"{s['records']:,}",
            "quarantined": f"{s['quarantined']:,}",
            "attacks": f"{s['attack_rows']:,}",
            "in_training": f"{s['rows_in_kdd_training']:,}",
        }
        for name, s in (found or {}).get("scenarios", {}).items()
    ]
    return render(
        "iot23.html",
        page=site_page(
            "iot23.html",
            "IoT-23",
            "The flow models trained on KDD Cup 99, scored on real IoT traffic "
            "(reports/metrics.json, iot23)",
        ),
        run=run_label(seed),
        found=found is not None,
        protocol=(found or {}).get("protocol", ""),
        prefer=(found or {}).get("prefer", ""),
        scenarios=scenarios,
        overall=overall,
        per_scenario=per_scenario,
        by_label=by_label,
    )


# --- the site --------------------------------------------------------------------------


def pages(
    inputs: SiteInputs,
    kinds: tuple[str, ...],
    *,
    max_failures: int,
    timeline_width: int,
    timeline_height: int,
    seed: int,
    host_rows: int,
) -> dict[str, str]:
    """Every page of the site: file name → HTML. `kinds`: the decision kinds counted on the
    decision page; `seed`: the seed of the pipeline's run whose figures the pages show;
    `host_rows`: the hosts listed on the Hosts page."""
    layout = Layout()
    reported = {b.name for b in inputs.batches if b.drift_html}
    return {
        "index.html": index_page(inputs, seed),
        "model.html": model_page(inputs, layout, seed),
        "data.html": data_page(inputs, layout, max_failures),
        "drift.html": drift_page(inputs, layout, timeline_width, timeline_height),
        "decisions.html": log_page.site_html(inputs.decisions, kinds, reported, layout),
        "hosts.html": hosts_page(inputs, layout, host_rows),
        "iot23.html": iot23_page(inputs, seed),
    }
