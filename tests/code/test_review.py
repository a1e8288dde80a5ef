"""The review site's pure parts: figure cells, the timeline, pages from hand-made inputs, and
the one layout every HTML page of the project shares."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from iot_anomaly.data.validation import DataSetValidation, Finding, render_html
from iot_anomaly.monitoring import decisions
from iot_anomaly.review import decisions as log_page
from iot_anomaly.review import parts, site
from iot_anomaly.review.inputs import Batch, SiteInputs
from iot_anomaly.review.render import fragment
from iot_anomaly.review.timeline import TimelinePoint, event_position, timeline_svg

METRICS = {
    "paper": {
        "ensemble": {
            "binary": {"accuracy": 0.9996, "precision": 0.99, "recall": 0.98, "f1": 0.985},
            "multiclass": {
                "accuracy": 0.998,
                "macro_precision": 0.93,
                "weighted_precision": 0.99,
                "macro_recall": 0.9,
                "weighted_recall": 0.99,
                "macro_f1": 0.91,
                "weighted_f1": 0.99,
            },
            "kdd_cost": 0.0012,
        },
        "rf": {
            "binary": {"accuracy": 0.987654, "precision": 0.9, "recall": 0.8, "f1": 0.85},
            "multiclass": {"accuracy": 0.98, "macro_f1": 0.7},
            "flagged_as_attack_by_category": {"normal": 0.01, "dos": 1.0},
        },
    }
}
STUDY = {
    "protocol": "paper",
    "seeds": [42, 7, 2024],
    "summary": {
        "rf.binary.accuracy": {"mean": 0.98, "std": 0.002, "low": 0.975, "high": 0.985, "n": 3},
        "ensemble.binary.accuracy": {"mean": 0.9995, "std": 1e-4, "low": 0.9993, "high": 0.9997,
                                     "n": 3},
    },
}  # fmt: skip
SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}href"
NAMESPACES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}


def _inputs(batches: list[Batch], log: list[dict], studies: dict | None = None) -> SiteInputs:
    return SiteInputs(
        metrics=METRICS, details={}, seed_studies=studies or {}, validation_summary={},
        validation_results=[], registered=None, champion=None, batches=batches,
        decisions=log, drift_share=0.25,
    )  # fmt: skip


def _batch(name: str, when: str, scored: bool, fired: bool = False) -> Batch:
    drift = {"drifted_share": 0.5, "accuracy": None, "fired": fired, "drifted_columns": 20,
             "columns": 41} if scored else None  # fmt: skip
    status = {"batch": name, "status": "scored" if scored else "rejected", "received_at": when,
              "rows": 10, "quarantined": 0, "attack_share": 0.3 if scored else None,
              "drift": drift}  # fmt: skip
    return Batch(status, None, None, None, None)


def _svg(html: str) -> ET.Element:
    """The inline SVG of a page (matplotlib writes well-formed XML)."""
    return ET.fromstring(html[html.index("<svg") : html.index("</svg>") + len("</svg>")])


def _links(svg: ET.Element) -> list[str]:
    return [a.attrib[XLINK] for a in svg.iter(f"{SVG}a")]


def _remote(html: str) -> set[str]:
    """Every http(s) address in a page, except the SVG and XLink namespace names."""
    return set(re.findall(r"https?://[^\"'\s)]+", html)) - NAMESPACES


def test_a_figure_cell_carries_its_source_key_and_exact_value() -> None:
    found = parts.figure(METRICS, "metrics", "paper/rf/binary/accuracy", "pct3")
    assert found == parts.Figure("98.765%", "metrics", "paper/rf/binary/accuracy", "0.987654")
    html = fragment("figure", found)
    assert ">98.765%<" in html
    assert 'data-key="paper/rf/binary/accuracy"' in html and 'data-value="0.987654"' in html
    missing = parts.figure(METRICS, "metrics", "paper/rf/kdd_cost", "f4")
    assert fragment("figure", missing) == '<td class="num"></td>'
    assert parts.lookup({"m": [[1, 2], [3, 4]]}, "m/1/0") == 3
    assert parts.lookup({"m": [1]}, "m/5") is None


def test_an_interval_carries_the_provenance_of_its_mean_and_bounds() -> None:
    found = parts.interval(STUDY, "seed_study_paper", "rf.binary.accuracy", "pct3")
    assert found is not None
    html = fragment("interval", found)
    for part, printed in (("mean", "98.000%"), ("low", "97.500%"), ("high", "98.500%")):
        key = f"summary/rf.binary.accuracy/{part}"
        assert f'data-source="seed_study_paper" data-key="{key}"' in html
        assert f">{printed}<" in html
    assert parts.interval(STUDY, "seed_study_paper", "gan.binary.accuracy", "pct3") is None


def test_events_sit_after_the_last_batch_received_before_them() -> None:
    received = ["2026-01-01T10:00", "2026-01-01T11:00", "2026-01-01T12:00"]
    assert event_position("2026-01-01T09:00", received) == -0.5
    assert event_position("2026-01-01T11:30", received) == 1.5
    assert event_position("2026-01-02T00:00", received) == 2.5


def test_every_batch_on_the_timeline_is_a_link() -> None:
    points = [
        TimelinePoint("a", "t1", "evidently/a.html", True, 0.1, 0.2, 0.9),
        TimelinePoint("b", "t2", "data.html#batch-b", False),
        TimelinePoint("c", "t3", "evidently/c.html", True, 0.6, 0.4, None, fired=True),
    ]
    text = timeline_svg(points, [], 0.25, 600, 300)
    svg = _svg(text)
    assert (svg.attrib["width"], svg.attrib["height"]) == ("450pt", "225pt")  # 600 x 300 px
    links = _links(svg)
    # one link per marker: a has three values, b is rejected (one cross), c has two
    assert sorted(links) == sorted(["evidently/a.html"] * 3 + ["data.html#batch-b"]
                                   + ["evidently/c.html"] * 2)  # fmt: skip
    assert "rejected batch" in text and "drift fired" in text and "drift threshold" in text
    assert "<script" not in text and not _remote(text)


def test_pages_say_what_is_missing_instead_of_failing() -> None:
    empty = _inputs([], [])
    layout = parts.Layout()
    model = site.model_page(empty, layout, 42)
    assert "No seed study has been run" in model
    assert "No model registered yet" in model
    assert "No batch has been monitored yet" in site.drift_page(empty, layout, 600, 300)
    assert "No decision recorded yet" in log_page.site_html([], decisions.KINDS, set(), layout)
    assert "No validation results yet" in site.data_page(empty, layout, 10)


def test_the_drift_page_marks_promotions_and_rejections() -> None:
    batches = [_batch("b1", "2026-01-01T10:00", True), _batch("b2", "2026-01-01T11:00", False),
               _batch("b3", "2026-01-01T12:00", True, fired=True)]  # fmt: skip
    log = [{"time": "2026-01-01T12:30", "kind": "promotion", "verdict": "promoted",
            "reason": "better", "now_serving": "abc"}]  # fmt: skip
    html = site.drift_page(_inputs(batches, log), parts.Layout(), 600, 300)
    links = _links(_svg(html))
    # no report files: each batch links to its row on the data page, which carries that id
    assert set(links) == {"data.html#batch-b1", "data.html#batch-b2", "data.html#batch-b3"}
    assert links.count("data.html#batch-b2") == 1  # the rejected batch: one cross
    assert html.count('<g id="event-') == 1
    assert "promotion promoted (abc)" in html
    data = site.data_page(_inputs(batches, log), parts.Layout(), 10)
    assert all(f'<tr id="batch-{b}">' in data for b in ("b1", "b2", "b3"))
    for page in (html, site.index_page(_inputs(batches, log), 42), data):
        assert "<script" not in page and not _remote(page)


def test_the_champion_table_takes_times_and_commit_from_the_store() -> None:
    inputs = _inputs([], [])
    inputs.registered = {"model": "ensemble", "version": "new", "data_version": "d" * 32}
    inputs.champion = {"model": "ensemble", "version": "old", "data_version": "e" * 32}
    inputs.stored = {"old": {"stored_at": "2026-01-02T03:04:05+00:00", "git_commit": "c" * 40,
                             "promoted_at": "2026-01-03T06:07:08+00:00"}}  # fmt: skip
    rows = {r["version"]: r for r in site.champion_rows(inputs)}
    old = rows["old"]
    assert old["stored"] == "2026-01-02 03:04" and old["promoted"] == "2026-01-03 06:07"
    assert old["commit"] == "c" * 12
    assert rows["new"]["stored"] == rows["new"]["commit"] == ""  # registered, not in the store
    assert "2026-01-03 06:07" in site.model_page(inputs, parts.Layout(), 42)
    assert "2026-01-03" in site.index_page(inputs, 42)


def test_quality_figures_are_study_means_or_labelled_as_one_run() -> None:
    without = site.index_page(_inputs([], []), 42)
    assert "one run, seed 42" in without and "seed study (" not in without
    inputs = _inputs([], [], {"paper": STUDY})
    index = site.index_page(inputs, 42)
    key = "summary/ensemble.binary.accuracy"
    assert f'data-source="seed_study_paper" data-key="{key}/mean"' in index
    assert index.index("seed study (model seeds 42, 7, 2024)") < index.index("one run, seed 42")
    assert 'data-key="paper/ensemble/binary/accuracy"' in index  # the run's figure, labelled
    model = site.model_page(inputs, parts.Layout(), 42)
    assert 'data-key="summary/rf.binary.accuracy/low"' in model
    assert "mean and 95% interval over model seeds 42, 7, 2024" in model
    for heading in ("All models", "The paper's Table 3 and ours", "Detection per category"):
        assert f'{heading} <span class="run">one run, seed 42</span>' in model


def test_every_page_shares_one_layout_and_stylesheet(tmp_path: Path) -> None:
    finding = Finding("suite", "expect_x", "count", "critical", False, 2, 1.0, [900], None, {})
    report = render_html([DataSetValidation("train", "data/train.csv", 10, 0, [finding])])
    log = tmp_path / "decisions.jsonl"
    decisions.record(log, "drift", "no drift", "0 of 41 features drifted", batch="b1")
    standalone = log.with_suffix(".html").read_text()
    pages = site.pages(_inputs([], []), decisions.KINDS, max_failures=10, timeline_width=600,
                       timeline_height=300, seed=42, host_rows=10)  # fmt: skip
    styles = {
        re.search(r"<style>(.*?)</style>", page, re.S).group(1)  # type: ignore[union-attr]
        for page in (report, standalone, *pages.values())
    }
    assert len(styles) == 1 and "font-family" in styles.pop()
    assert "FAIL" in report and "expect_x" in report and "<nav" not in report
    assert "no drift" in standalone and "<nav" not in standalone
    assert 'href="evidently/' not in standalone  # no site around it: batches are not links
    assert set(pages) == {name for name, _, _ in parts.PAGES}
    for page in (report, standalone, *pages.values()):
        assert page.startswith("<!DOCTYPE html>") and "<script" not in page and not _remote(page)


def test_values_are_escaped() -> None:
    log = [{"time": "t", "kind": "batch", "verdict": "rejected", "reason": "<b>bad</b> & worse"}]
    html = log_page.site_html(log, decisions.KINDS, set(), parts.Layout())
    assert "&lt;b&gt;bad&lt;/b&gt; &amp; worse" in html and "<b>bad</b>" not in html
