"""The site's pages as HTML strings, built from `SiteInputs` alone (no file access).

Every figure taken from reports/metrics.json sits in a cell that carries where it came
from (`data-source`, `data-key`: the path into the JSON, joined by "/") and its exact value
(`data-value`), so a test can compare each printed figure with the file it claims to show.
Links are relative to the site folder (see `Layout`), so the site opens from a file or
any local web server.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from iot_anomaly import reporting as rp
from iot_anomaly.evaluation import paper
from iot_anomaly.review.inputs import SiteInputs
from iot_anomaly.review.timeline import (
    EVENT_COLOURS,
    REJECTED_COLOUR,
    SERIES,
    TimelineEvent,
    TimelinePoint,
    timeline_svg,
)
from iot_anomaly.schema import CATEGORIES

#: The site's pages: file name, navigation label, what the index says about it.
PAGES: Final = (
    ("index.html", "Overview", ""),
    (
        "model.html",
        "Model quality",
        "Table 3 beside ours per protocol, confusion matrices, ROC and PR curves, detection per "
        "category, seed intervals, feature importance, and the champion's versions.",
    ),
    (
        "data.html",
        "Data quality",
        "Great Expectations results for the training data and for every monitored batch, with "
        "quarantined lines.",
    ),
    (
        "drift.html",
        "Drift over time",
        "Monitored batches: drifted features, predicted attack share and accuracy, with "
        "retraining and promotions marked; each point opens its Evidently report.",
    ),
    (
        "decisions.html",
        "Decisions",
        "The decision log: drift checks, retraining, data joined, promotions and rejections.",
    ),
)
METRICS: Final = "metrics"  # data-source of figures from reports/metrics.json
DETAILS: Final = "details"  # ... from reports/evaluation_details.json
CLASSIFIER_ORDER: Final = ("ensemble", "knn", "cnn_lstm", "rf", "ae", "gan")
EVENT_KINDS: Final = ("retrain", "promotion", "training")


@dataclass(frozen=True)
class Layout:
    """Where the site keeps what it copies, relative to its folder."""

    figures: str = "figures"
    validation: str = "validation"
    quarantine: str = "quarantine"
    evidently: str = "evidently"

    def figure(self, name: str) -> str:
        return f"{self.figures}/{name}"

    def training_validation(self) -> str:
        return f"{self.validation}/training.html"

    def batch_validation(self, batch: str) -> str:
        return f"{self.validation}/{batch}.html"

    def batch_quarantine(self, batch: str) -> str:
        return f"{self.quarantine}/{batch}.csv"

    def drift_report(self, batch: str) -> str:
        return f"{self.evidently}/{batch}.html"


FORMATS: Final = {
    "pct3": lambda v: f"{100 * v:.3f}%",
    "pct2": lambda v: f"{100 * v:.2f}%",
    "pct1": lambda v: f"{100 * v:.1f}%",
    "f5": lambda v: f"{v:.5f}",
    "f4": lambda v: f"{v:.4f}",
    "f3": lambda v: f"{v:.3f}",
    "g3": lambda v: f"{v:.3g}",
    "int": lambda v: f"{int(v):,}",
}


def lookup(data: Any, key: str) -> Any:
    """The value at a "/"-joined path in nested dicts and lists (None if absent)."""
    for part in key.split("/"):
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def figure(data: Any, source: str, key: str, fmt: str) -> rp.Cell:
    """A cell showing the figure at `key` of `data` (a file's JSON) with its provenance."""
    value = lookup(data, key)
    if value is None:
        return rp.Cell("")
    return rp.Cell(
        rp.esc(FORMATS[fmt](value)),
        {"data-source": source, "data-key": key, "data-value": repr(value)},
    )


def nav(current: str) -> str:
    links = []
    for name, label, _ in PAGES:
        mark = ' aria-current="page"' if name == current else ""
        links.append(f'<a href="{name}"{mark}>{rp.esc(label)}</a>')
    return f'<nav class="site">{"".join(links)}</nav>'


def _page(name: str, title: str, body: str, subtitle: str = "") -> str:
    return rp.page(title, body, subtitle, nav=nav(name))


def _models(models: dict[str, Any]) -> list[str]:
    return sorted(models, key=lambda m: ((*CLASSIFIER_ORDER, m)).index(m))


def _short(value: Any, n: int = 12) -> str:
    return "" if value is None else str(value)[:n]


def _when(value: Any) -> str:
    """An ISO time as `YYYY-MM-DD HH:MM` (UTC, as the pipeline records it)."""
    return _short(value, 16).replace("T", " ")


def _badge(verdict: str) -> str:
    good = {"passed", "no drift", "promoted", "scored", "unchanged", "data joined"}
    bad = {"failed", "rejected", "drift", "FAILED", "started"}
    cls = "ok" if verdict in good else "fail" if verdict in bad else "warn"
    return f'<span class="badge {cls}">{rp.esc(verdict)}</span>'


# --- model quality ---------------------------------------------------------------------


def champion_section(inputs: SiteInputs) -> str:
    """The registered model and the promoted champion: versions, data and training date."""
    reg = inputs.registered
    if reg is None:
        return "<p>No model registered yet: run <code>dvc repro</code> (stage register).</p>"

    def row(label: str, record: dict[str, Any]) -> list[Any]:
        data = str(record.get("data_version") or "")
        return [
            label,
            record.get("model", ""),
            record.get("version", ""),
            rp.Cell(f'<span title="{rp.esc(data)}">{rp.esc(_short(data))}</span>', numeric=False),
            _when(record.get("registered_at")),
            _short(record.get("git_commit")),
            record.get("trained_on", ""),
        ]

    rows = [row("registered model (artifacts/registry/champion.json)", reg)]
    champ = inputs.champion
    if champ is not None:
        rows.append(row("champion in use (promoted)", champ))
        note = (
            "The champion is the model that <code>predict</code> and the monitoring serve; "
            "a newly registered model replaces it only when promoted."
        )
    else:
        note = (
            "No champion has been promoted yet (the store fills on the first monitoring or "
            "training run): <code>predict</code> serves the registered model."
        )
    headers = [
        "",
        "model",
        "version",
        "data version",
        "trained (registered, UTC)",
        "git commit",
        "trained on",
    ]
    return rp.table(headers, rows) + f'<p class="note">{note}</p>'


def summary_table(metrics: dict[str, Any], protocol: str) -> str:
    """Every model's headline figures on one protocol's test split."""
    columns = (
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
    models = _models(metrics.get(protocol, {}))
    rows = [
        [m, *(figure(metrics, METRICS, f"{protocol}/{m}/{key}", fmt) for _, key, fmt in columns)]
        for m in models
    ]
    return rp.table(["model", *(c[0] for c in columns)], rows)


def comparison_table(metrics: dict[str, Any], protocol: str) -> str:
    """The paper's Table 3 beside ours under three averagings (paper.comparison_rows)."""
    rows = paper.comparison_rows({protocol: metrics.get(protocol, {})})
    if not rows:
        return "<p>None of the paper's Table 3 models was evaluated on this protocol.</p>"
    body = []
    notes: list[str] = []
    for row in rows:
        model, metric = row["model"], row["metric"]
        multi = "accuracy" if metric == "accuracy" else None
        keys = {
            "ours_binary": f"{protocol}/{model}/binary/{metric}",
            "ours_macro": f"{protocol}/{model}/multiclass/{multi or 'macro_' + metric}",
            "ours_weighted": f"{protocol}/{model}/multiclass/{multi or 'weighted_' + metric}",
        }
        if row["averaging_note"] not in notes:
            notes.append(row["averaging_note"])
        mark = notes.index(row["averaging_note"]) + 1
        body.append(
            [
                model,
                f"{metric} [{mark}]",
                rp.Cell(rp.esc(f"{100 * row['paper']:.2f}%"), {"data-source": "paper"}),
                *(figure(metrics, METRICS, keys[k], "pct2") for k in keys),
            ]
        )
    foot = "".join(f"<li>[{i}] {rp.esc(n)}</li>" for i, n in enumerate(notes, 1))
    return (
        rp.table(
            [
                "model",
                "metric",
                "paper (Table 3)",
                "ours (binary)",
                "ours (macro)",
                "ours (weighted)",
            ],
            body,
        )
        + f'<ul class="note">{foot}</ul>'
    )


def detection_tables(metrics: dict[str, Any], protocol: str) -> str:
    """Per category: the share flagged as attack (every model) and the share given the
    right category (5-class classifiers)."""
    models = _models(metrics.get(protocol, {}))
    flagged = [
        [
            m,
            *(
                figure(
                    metrics, METRICS, f"{protocol}/{m}/flagged_as_attack_by_category/{c}", "pct2"
                )
                for c in CATEGORIES
            ),
            figure(metrics, METRICS, f"{protocol}/{m}/unseen_attacks_detected", "pct2"),
            figure(metrics, METRICS, f"{protocol}/{m}/known_attacks_detected", "pct2"),
        ]
        for m in models
    ]
    right = [
        [
            m,
            *(
                figure(metrics, METRICS, f"{protocol}/{m}/multiclass/detection_rate/{c}", "pct2")
                for c in CATEGORIES
            ),
        ]
        for m in models
        if "multiclass" in metrics[protocol][m]
    ]
    out = (
        "<h4>Flagged as attack, per true category</h4>"
        '<p class="note">For normal rows this is the false-alarm rate. Unseen: the attack '
        "types that never occur in training (only in corrected.gz).</p>"
        + rp.table(["model", "normal", *CATEGORIES[1:], "unseen attacks", "known attacks"], flagged)
    )
    if right:
        out += "<h4>Right category (5-class recall)</h4>" + rp.table(["model", *CATEGORIES], right)
    return out


def confusion_table(metrics: dict[str, Any], protocol: str, model: str) -> str:
    """A confusion matrix as a heat table (rows true, columns predicted; shade = row share)."""
    key = f"{protocol}/{model}/multiclass/confusion_matrix"
    matrix = lookup(metrics, key)
    if not matrix:
        return ""
    head = "".join(f"<th>{rp.esc(c)}</th>" for c in CATEGORIES)
    rows = []
    for i, row in enumerate(matrix):
        total = sum(row) or 1
        cells = []
        for j, count in enumerate(row):
            share = count / total
            colour = "#fff" if share > 0.5 else "#1d2327"
            cells.append(
                f'<td style="background:rgba(34,113,177,{share:.3f});color:{colour}" '
                f'data-source="{METRICS}" data-key="{key}/{i}/{j}" data-value="{count!r}" '
                f'title="{rp.esc(CATEGORIES[i])} predicted as {rp.esc(CATEGORIES[j])}: '
                f'{share:.2%} of the row">{count:,}</td>'
            )
        rows.append(f"<tr><th>{rp.esc(CATEGORIES[i])}</th>{''.join(cells)}</tr>")
    return (
        f'<figure><table class="heat"><caption>{rp.esc(model)}</caption><thead><tr>'
        f"<th>true \\ predicted</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        "</figure>"
    )


def importance_section(inputs: SiteInputs, protocol: str, layout: Layout) -> str:
    """The Random Forest's permutation and impurity importances: chart and figures."""
    found = lookup(inputs.details, f"{protocol}/feature_importance")
    if not found:
        return "<p>No feature importances for this protocol (no Random Forest evaluated).</p>"
    out = _image(inputs, layout, f"importance_{protocol}.png", "Permutation importance")
    tables = []
    for kind, label in (("permutation", "permutation (accuracy drop)"), ("impurity", "impurity")):
        rows = [
            [
                name,
                figure(
                    inputs.details, DETAILS, f"{protocol}/feature_importance/{kind}/{name}", "f4"
                ),
            ]
            for name in found.get(kind, {})
        ]
        tables.append(f"<div>{rp.table(['feature', label], rows)}</div>")
    return out + f'<div class="grid">{"".join(tables)}</div>'


def _image(inputs: SiteInputs, layout: Layout, name: str, caption: str) -> str:
    if name not in inputs.figures:
        return f'<p class="note">{rp.esc(caption)}: no figure ({rp.esc(name)} is missing).</p>'
    return (
        f'<figure><img src="{layout.figure(name)}" alt="{rp.esc(caption)}">'
        f"<figcaption>{rp.esc(caption)}</figcaption></figure>"
    )


def mcnemar_table(inputs: SiteInputs) -> str:
    rows = []
    for protocol in inputs.metrics:
        if lookup(inputs.details, f"{protocol}/mcnemar") is None:
            continue
        base = f"{protocol}/mcnemar"
        rows.append(
            [
                protocol,
                lookup(inputs.details, f"{base}/against"),
                figure(inputs.details, DETAILS, f"{base}/b", "int"),
                figure(inputs.details, DETAILS, f"{base}/c", "int"),
                figure(inputs.details, DETAILS, f"{base}/p_value", "g3"),
                lookup(inputs.details, f"{base}/method"),
            ]
        )
    if not rows:
        return ""
    return (
        '<h2 id="mcnemar">McNemar\'s test: the ensemble against the best single model</h2>'
        '<p class="note">b: rows only the ensemble gets right; c: rows only the other model '
        "gets right.</p>" + rp.table(["protocol", "against", "b", "c", "p-value", "method"], rows)
    )


def seed_section(inputs: SiteInputs) -> str:
    """Mean and 95% interval of every figure over the seed study's seeds, per protocol."""
    if not inputs.seed_studies:
        return (
            "<p>No seed study has been run in this workspace, so there are no seed intervals "
            "yet. <code>iot-anomaly study --protocol paper</code> writes "
            "<code>reports/seed_study_paper.json</code> (about 3 minutes per seed).</p>"
        )
    out = []
    for protocol, study in inputs.seed_studies.items():
        source = f"seed_study_{protocol}"
        rows = []
        for name, ci in study.get("summary", {}).items():
            model, _, measure = name.partition(".")
            rows.append(
                [
                    model,
                    measure,
                    figure(study, source, f"summary/{name}/mean", "f5"),
                    rp.Cell(rp.esc(f"[{ci['low']:.5f}, {ci['high']:.5f}]")),
                    figure(study, source, f"summary/{name}/std", "f5"),
                    figure(study, source, f"summary/{name}/n", "int"),
                ]
            )
        seeds = ", ".join(str(s) for s in study.get("seeds", []))
        varied = "split" if study.get("vary") == "split" else "model"
        out.append(
            f"<h3>{rp.esc(study.get('protocol', protocol))}: {varied} seeds {rp.esc(seeds)}</h3>"
            + rp.table(["model", "figure", "mean", "95% interval (Student t)", "std", "n"], rows)
        )
    return "".join(out)


def model_page(inputs: SiteInputs, layout: Layout) -> str:
    m = inputs.metrics
    protocols = list(m)
    toc = " · ".join(f'<a href="#{p}">{rp.esc(p)}</a>' for p in protocols)
    parts = [
        f'<p>Protocols: {toc} · <a href="#seeds">seed intervals</a> · '
        '<a href="#mcnemar">McNemar</a></p>',
        '<h2 id="champion">The champion</h2>',
        champion_section(inputs),
    ]
    for protocol in protocols:
        parts.append(f'<h2 id="{rp.esc(protocol)}">Protocol {rp.esc(protocol)}</h2>')
        parts.append("<h3>All models</h3>" + summary_table(m, protocol))
        if protocol == "corrected" and lookup(inputs.details, "corrected/winner_1999"):
            parts.append(
                '<p class="note">The 1999 contest winner on corrected.gz: 5-class accuracy '
                f"{100 * inputs.details['corrected']['winner_1999']['accuracy']:.2f}%, "
                f"cost {inputs.details['corrected']['winner_1999']['cost']:.4f}.</p>"
            )
        parts.append(
            "<h3>The paper's Table 3 and ours</h3>"
            f'<p class="note">{rp.esc(paper.AVERAGING_EXPLANATION)}</p>'
            + comparison_table(m, protocol)
        )
        parts.append("<h3>Detection per category</h3>" + detection_tables(m, protocol))
        grids = "".join(confusion_table(m, protocol, model) for model in _models(m[protocol]))
        if grids:
            parts.append(
                '<h3>Confusion matrices</h3><p class="note">Rows: true category; columns: '
                "predicted; the shade is the share of the true row.</p>"
                f'<div class="grid">{grids}</div>'
            )
        parts.append(
            "<h3>ROC and precision-recall curves of the anomaly scores</h3>"
            + _image(inputs, layout, f"roc_pr_{protocol}.png", f"Autoencoder and GAN on {protocol}")
        )
        parts.append("<h3>Feature importance</h3>" + importance_section(inputs, protocol, layout))
    parts.append(mcnemar_table(inputs))
    parts.append('<h2 id="seeds">Seed intervals</h2>' + seed_section(inputs))
    return _page(
        "model.html",
        "Model quality",
        "".join(parts),
        "Every figure on this page is read from reports/metrics.json and "
        "reports/evaluation_details.json.",
    )


# --- data quality ----------------------------------------------------------------------


def _validation_row(name: str, s: dict[str, Any], link: str | None) -> list[Any]:
    result = "passed" if s.get("success") else "FAILED"
    return [
        name,
        s.get("source", ""),
        rp.Cell(f"{s.get('rows', 0):,}"),
        rp.Cell(f"{s.get('quarantined', 0):,}"),
        s.get("expectations", 0),
        s.get("failed", 0),
        s.get("critical_failed", 0),
        rp.Cell(_badge(result), numeric=False),
        rp.Cell(f'<a href="{link}">results</a>' if link else "", numeric=False),
    ]


def _failures(results: Iterable[dict[str, Any]], limit: int) -> str:
    rows = []
    for r in results:
        for f in r.get("findings", []):
            if not f.get("success"):
                rows.append(
                    [
                        r.get("name", ""),
                        f.get("suite", ""),
                        f.get("expectation", ""),
                        f.get("column", ""),
                        f.get("severity", ""),
                        f.get("unexpected_count") or "",
                        ", ".join(str(e) for e in (f.get("examples") or [])[:5]),
                    ]
                )
    if not rows:
        return "<p>No expectation failed.</p>"
    shown = rows[:limit]
    more = (
        f'<p class="note">{len(rows) - limit} more in the full results.</p>'
        if len(rows) > limit
        else ""
    )
    return (
        rp.table(
            ["data set", "suite", "expectation", "column", "severity", "unexpected", "examples"],
            shown,
        )
        + more
    )


def data_page(inputs: SiteInputs, layout: Layout, max_failures: int) -> str:
    headers = [
        "data set",
        "source",
        "rows",
        "quarantined",
        "expectations",
        "failed",
        "critical failed",
        "result",
        "report",
    ]
    training = (
        rp.table(
            headers,
            [
                _validation_row(
                    n, s, layout.training_validation() if inputs.validation_html else None
                )
                for n, s in inputs.validation_summary.items()
            ],
        )
        if inputs.validation_summary
        else "<p>No validation results yet: run <code>dvc repro validate</code>.</p>"
    )
    batch_rows = []
    for b in inputs.batches:
        s = b.status
        v = b.validation or {}
        quarantined = int(s.get("quarantined", 0))
        q_link = (
            f'<a href="{layout.batch_quarantine(b.name)}">{quarantined:,}</a>'
            if b.quarantine_csv and quarantined
            else f"{quarantined:,}"
        )
        batch_rows.append(
            [
                b.name,
                _when(s.get("received_at")),
                rp.Cell(_badge(s["status"]), numeric=False),
                "yes" if s.get("labelled") else "no",
                rp.Cell(f"{int(s.get('rows', 0)):,}"),
                rp.Cell(q_link),
                v.get("expectations", ""),
                v.get("failed", ""),
                v.get("critical_failed", ""),
                rp.Cell(
                    f'<a href="{layout.batch_validation(b.name)}">results</a>'
                    if b.validation_html
                    else "",
                    numeric=False,
                ),
                s.get("reason", ""),
            ]
        )
    batches = (
        rp.table(
            [
                "batch",
                "received (UTC)",
                "status",
                "labelled",
                "rows",
                "quarantined",
                "expectations",
                "failed",
                "critical failed",
                "report",
                "reason",
            ],
            batch_rows,
        )
        if batch_rows
        else "<p>No batch has been monitored yet (<code>iot-anomaly replay</code> then "
        "<code>iot-anomaly monitor</code>).</p>"
    )
    scored = sum(b.status["status"] == "scored" for b in inputs.batches)
    quarantined = sum(int(b.status.get("quarantined", 0)) for b in inputs.batches)
    body = (
        rp.cards(
            [
                ("batches monitored", len(inputs.batches)),
                ("scored", scored),
                ("rejected", len(inputs.batches) - scored),
                ("lines quarantined in batches", f"{quarantined:,}"),
            ]
        )
        + "<h2>Training and test data</h2>"
        + '<p class="note">Great Expectations suites of <code>expectations/</code>, as the '
        "validate stage ran them; a failed critical expectation stops the pipeline.</p>"
        + training
        + "<h3>Failed expectations</h3>"
        + _failures(inputs.validation_results, max_failures)
        + "<h2>Monitored batches</h2>"
        + '<p class="note">A batch with too many quarantined lines or a failed critical '
        "expectation is rejected and never scored. Quarantined lines are listed per batch "
        "(file, line, field, reason).</p>" + batches
    )
    return _page("data.html", "Data quality", body, "Validation and quarantine, per data set")


# --- drift over time -------------------------------------------------------------------


def _event_label(entry: dict[str, Any]) -> str:
    version = entry.get("now_serving") or entry.get("challenger") or entry.get("version") or ""
    return f"{entry['kind']} {entry['verdict']}" + (f" ({version})" if version else "")


def timeline_parts(
    inputs: SiteInputs, layout: Layout
) -> tuple[list[TimelinePoint], list[TimelineEvent]]:
    """The timeline's batches (arrival order) and events (retraining, training, promotion)."""
    points = []
    for b in inputs.batches:
        s, d = b.status, b.status.get("drift") or {}
        scored = s["status"] == "scored" and bool(d)
        href = (
            layout.drift_report(b.name)
            if scored and b.drift_html
            else layout.batch_validation(b.name)
            if b.validation_html
            else "data.html"
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


def drift_page(inputs: SiteInputs, layout: Layout, width: int, height: int) -> str:
    points, events = timeline_parts(inputs, layout)
    if not points:
        return _page(
            "drift.html",
            "Drift over time",
            "<p>No batch has been monitored yet. <code>iot-anomaly replay --batches 2</code> "
            "puts traffic in the inbox; <code>iot-anomaly monitor -n 2</code> scores it and "
            "writes the Evidently reports this page links to.</p>",
        )
    legend = "".join(
        f'<span><span style="color:{c}">&#9679;</span> {rp.esc(label)}</span> '
        for _, label, c in SERIES
    )
    legend += (
        f'<span><span style="color:{REJECTED_COLOUR}">&#10005;</span> rejected batch</span> '
        + "".join(
            f'<span><span style="color:{c}">&#9474;</span> {k}</span> '
            for k, c in EVENT_COLOURS.items()
        )
        + f"(decisions); dashed blue: the drift threshold ({inputs.drift_share}); "
        "a red ring: drift fired."
    )
    rows = []
    for i, (p, b) in enumerate(zip(points, inputs.batches, strict=True), 1):
        d = b.status.get("drift") or {}
        link = (
            f'<a href="{p.href}">Evidently report</a>'
            if p.scored and b.drift_html
            else f'<a href="{p.href}">validation</a>'
            if b.validation_html
            else ""
        )
        drifted = f"{d['drifted_columns']} of {d['columns']}" if d else ""
        rows.append(
            [
                i,
                b.name,
                _when(p.received_at),
                rp.Cell(_badge(b.status["status"]), numeric=False),
                "yes" if b.status.get("labelled") else "no",
                rp.Cell(drifted),
                _num(p.drifted_share),
                _num(p.attack_share),
                _num(p.accuracy),
                rp.Cell(
                    _badge("drift" if p.fired else "no drift") if p.scored else "", numeric=False
                ),
                rp.Cell(link, numeric=False),
            ]
        )
    event_rows = [
        [
            _when(e.get("time")),
            e["kind"],
            rp.Cell(_badge(e["verdict"]), numeric=False),
            e.get("reason", ""),
        ]
        for e in inputs.decisions
        if e.get("kind") in EVENT_KINDS
    ]
    body = (
        timeline_svg(points, events, inputs.drift_share, width, height)
        + f'<p class="note">{legend}</p>'
        + '<p class="note">Each point opens the batch\'s Evidently report (drift per feature, '
        "drift of the predicted category, and accuracy, precision, recall and F1 for labelled "
        "batches). The same runs are in the Evidently workspace: "
        "<code>evidently ui --workspace artifacts/monitor/evidently</code>.</p>"
        + "<h2>Batches</h2>"
        + rp.table(
            [
                "#",
                "batch",
                "received (UTC)",
                "status",
                "labelled",
                "drifted features",
                "drifted share",
                "attack share",
                "accuracy",
                "decision",
                "report",
            ],
            rows,
        )
        + "<h2>Retraining and promotions</h2>"
        + (
            rp.table(["time (UTC)", "kind", "verdict", "reason"], event_rows)
            if event_rows
            else "<p>No retraining or promotion yet.</p>"
        )
    )
    return _page("drift.html", "Drift over time", body, "Monitored batches in arrival order")


def _num(value: float | None) -> rp.Cell:
    return rp.Cell("" if value is None else f"{value:.3f}")


# --- decisions -------------------------------------------------------------------------


def _detail(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_detail(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_detail(v) for v in value) or "none"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def decisions_page(inputs: SiteInputs, layout: Layout) -> str:
    entries = list(reversed(inputs.decisions))
    reported = {b.name for b in inputs.batches if b.drift_html}
    core = ("time", "kind", "verdict", "reason", "batch", "report")
    rows = []
    for e in entries:
        batch = str(e.get("batch", ""))
        batch_cell = (
            f'<a href="{layout.drift_report(batch)}">{rp.esc(batch)}</a>'
            if batch in reported
            else rp.esc(batch)
        )
        details = "<br>".join(
            f"{rp.esc(k)}: {rp.esc(_detail(v))}" for k, v in e.items() if k not in core
        )
        rows.append(
            [
                rp.esc(_when(e.get("time"))),
                rp.esc(e.get("kind", "")),
                _badge(str(e.get("verdict", ""))),
                rp.esc(e.get("reason", "")),
                batch_cell,
                details,
            ]
        )
    counts = [
        (k, sum(e.get("kind") == k for e in entries))
        for k in ("batch", "drift", "retrain", "training", "promotion")
    ]
    body = rp.cards(counts) + (
        rp.table(["time (UTC)", "kind", "verdict", "reason", "batch", "details"], rows, raw=True)
        if rows
        else "<p>No decision recorded yet: the monitoring and training runs write them to "
        "<code>reports/decisions.jsonl</code>.</p>"
    )
    return _page(
        "decisions.html",
        "Decisions",
        body,
        "Drift checks, rejected batches, retraining, data joined and promotions, newest first",
    )


# --- index -----------------------------------------------------------------------------


def index_page(inputs: SiteInputs) -> str:
    reg, champ = inputs.registered or {}, inputs.champion
    serving = champ or reg
    scored = [b for b in inputs.batches if b.status["status"] == "scored"]
    fired = sum(bool((b.status.get("drift") or {}).get("fired")) for b in scored)
    cards = rp.cards(
        [
            ("champion version", serving.get("version", "none")),
            ("data version", _short(serving.get("data_version"), 12) or "none"),
            ("trained (UTC)", _short(serving.get("registered_at"), 10) or "never"),
            ("batches monitored", len(inputs.batches)),
            ("drift fired", fired),
            ("decisions", len(inputs.decisions)),
        ]
    )
    headline = []
    for protocol, models in inputs.metrics.items():
        if "ensemble" not in models:
            continue
        headline.append(
            [
                protocol,
                figure(inputs.metrics, METRICS, f"{protocol}/ensemble/binary/accuracy", "pct3"),
                figure(inputs.metrics, METRICS, f"{protocol}/ensemble/binary/f1", "f5"),
                figure(inputs.metrics, METRICS, f"{protocol}/ensemble/multiclass/macro_f1", "f4"),
                figure(inputs.metrics, METRICS, f"{protocol}/ensemble/kdd_cost", "f4"),
            ]
        )
    links = "".join(
        f'<li><a href="{name}">{rp.esc(label)}</a>: {rp.esc(text)}</li>'
        for name, label, text in PAGES[1:]
    )
    last = inputs.batches[-1].status if inputs.batches else None
    latest = (
        f"<p>Latest batch: <b>{rp.esc(last['batch'])}</b> ({rp.esc(last['status'])}, "
        f"received {rp.esc(_when(last.get('received_at')))} UTC).</p>"
        if last
        else ""
    )
    body = (
        cards
        + f"<h2>Pages</h2><ul>{links}</ul>"
        + "<h2>The ensemble at a glance</h2>"
        + (
            rp.table(
                ["protocol", "accuracy (binary)", "F1 (binary)", "macro-F1 (5-class)", "KDD cost"],
                headline,
            )
            if headline
            else "<p>No ensemble evaluated yet.</p>"
        )
        + latest
        + '<p class="note">Built by <code>iot-anomaly report</code> (the last DVC stage) from '
        "<code>reports/</code> and the monitoring state; it opens from the file system, loads "
        "nothing from the network. Live runs: <code>evidently ui --workspace "
        "artifacts/monitor/evidently</code>; changes between commits: <code>dvc metrics "
        "diff</code>, <code>dvc plots diff</code>.</p>"
    )
    return _page("index.html", "iot-anomaly: review", body, "Model quality, data quality, drift")
