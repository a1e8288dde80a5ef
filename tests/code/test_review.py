"""The review site's pure parts: figure cells, the timeline, pages from hand-made inputs."""

from __future__ import annotations

from iot_anomaly.review import pages
from iot_anomaly.review.inputs import Batch, SiteInputs
from iot_anomaly.review.timeline import TimelinePoint, event_position, timeline_svg

METRICS = {
    "paper": {
        "rf": {
            "binary": {"accuracy": 0.987654, "precision": 0.9, "recall": 0.8, "f1": 0.85},
            "multiclass": {"accuracy": 0.98, "macro_f1": 0.7},
            "flagged_as_attack_by_category": {"normal": 0.01, "dos": 1.0},
        }
    }
}


def _inputs(batches: list[Batch], decisions: list[dict]) -> SiteInputs:
    return SiteInputs(
        metrics=METRICS, details={}, seed_studies={}, validation_summary={},
        validation_results=[], registered=None, champion=None, batches=batches,
        decisions=decisions, drift_share=0.25,
    )  # fmt: skip


def _batch(name: str, when: str, scored: bool, fired: bool = False) -> Batch:
    drift = {"drifted_share": 0.5, "accuracy": None, "fired": fired, "drifted_columns": 20,
             "columns": 41} if scored else None  # fmt: skip
    status = {"batch": name, "status": "scored" if scored else "rejected", "received_at": when,
              "rows": 10, "quarantined": 0, "attack_share": 0.3 if scored else None,
              "drift": drift}  # fmt: skip
    return Batch(status, None, None, None, None)


def test_a_figure_cell_carries_its_source_key_and_exact_value() -> None:
    cell = pages.figure(METRICS, "metrics", "paper/rf/binary/accuracy", "pct3")
    html = cell.render()
    assert ">98.765%<" in html
    assert 'data-key="paper/rf/binary/accuracy"' in html and 'data-value="0.987654"' in html
    assert pages.figure(METRICS, "metrics", "paper/rf/kdd_cost", "f4").render() == (
        '<td class="num"></td>'
    )
    assert pages.lookup({"m": [[1, 2], [3, 4]]}, "m/1/0") == 3
    assert pages.lookup({"m": [1]}, "m/5") is None


def test_events_sit_after_the_last_batch_received_before_them() -> None:
    received = ["2026-01-01T10:00", "2026-01-01T11:00", "2026-01-01T12:00"]
    assert event_position("2026-01-01T09:00", received) == -0.5
    assert event_position("2026-01-01T11:30", received) == 1.5
    assert event_position("2026-01-02T00:00", received) == 2.5


def test_every_batch_on_the_timeline_is_a_link() -> None:
    points = [
        TimelinePoint("a", "t1", "evidently/a.html", True, 0.1, 0.2, 0.9),
        TimelinePoint("b", "t2", "data.html", False),
        TimelinePoint("c", "t3", "evidently/c.html", True, 0.6, 0.4, None, fired=True),
    ]
    svg = timeline_svg(points, [], 0.25, 600, 300)
    assert svg.count('class="point"') == 3
    assert 'href="evidently/a.html"' in svg and 'href="evidently/c.html"' in svg
    assert "rejected" in svg and "DRIFT" in svg
    assert "<script" not in svg and "http" not in svg.replace("http://www.w3.org/2000/svg", "")


def test_pages_say_what_is_missing_instead_of_failing() -> None:
    empty = _inputs([], [])
    layout = pages.Layout()
    assert "No seed study has been run" in pages.model_page(empty, layout)
    assert "No model registered yet" in pages.model_page(empty, layout)
    assert "No batch has been monitored yet" in pages.drift_page(empty, layout, 600, 300)
    assert "No decision recorded yet" in pages.decisions_page(empty, layout)
    assert "No validation results yet" in pages.data_page(empty, layout, 10)


def test_the_drift_page_marks_promotions_and_rejections() -> None:
    batches = [_batch("b1", "2026-01-01T10:00", True), _batch("b2", "2026-01-01T11:00", False),
               _batch("b3", "2026-01-01T12:00", True, fired=True)]  # fmt: skip
    log = [{"time": "2026-01-01T12:30", "kind": "promotion", "verdict": "promoted",
            "reason": "better", "now_serving": "abc"}]  # fmt: skip
    html = pages.drift_page(_inputs(batches, log), pages.Layout(), 600, 300)
    assert html.count('class="point"') == 3 and html.count('class="event"') == 1
    assert "promotion promoted (abc)" in html
    for page in (html, pages.index_page(_inputs(batches, log))):
        assert "<script" not in page and 'src="http' not in page and 'href="http' not in page
