"""The drift timeline as inline SVG: one column per monitored batch (in arrival order) with
the share of drifted features, the predicted attack share and, for labelled batches, the
accuracy; rejected batches and retraining or promotion events are marked. Every point is
a link (SVG `<a>`), so the chart needs no script and opens from a file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from iot_anomaly.reporting import esc

#: Series drawn per scored batch: (key in TimelinePoint, label, colour).
SERIES: Final = (
    ("drifted_share", "share of drifted features", "#2271b1"),
    ("attack_share", "predicted attack share", "#d98500"),
    ("accuracy", "accuracy (labelled batches)", "#008a20"),
)
EVENT_COLOURS: Final = {"retrain": "#b32d2e", "promotion": "#7b3fb0", "training": "#50575e"}
REJECTED_COLOUR: Final = "#b32d2e"
_MARGIN: Final = {"left": 48, "right": 16, "top": 16, "bottom": 40}


@dataclass(frozen=True)
class TimelinePoint:
    """One batch on the timeline; shares and accuracy are None where not measured."""

    batch: str
    received_at: str
    href: str
    scored: bool
    drifted_share: float | None = None
    attack_share: float | None = None
    accuracy: float | None = None
    fired: bool = False


@dataclass(frozen=True)
class TimelineEvent:
    """A decision drawn as a vertical line after the last batch received before it."""

    time: str
    kind: str
    label: str


def event_position(event_time: str, received: list[str]) -> float:
    """x position (in batch slots) of an event: just after the last batch received at or
    before it; before the first batch when it came earlier than all of them."""
    before = sum(1 for t in received if t <= event_time)
    return before - 0.5 if before else -0.5


def timeline_svg(
    points: list[TimelinePoint],
    events: list[TimelineEvent],
    threshold: float,
    width: int,
    height: int,
) -> str:
    """The chart; `points` in arrival order. Values are shares in [0, 1]."""
    n = max(len(points), 1)
    left, right, top, bottom = (_MARGIN[k] for k in ("left", "right", "top", "bottom"))
    plot_w, plot_h = width - left - right, height - top - bottom
    slot = plot_w / n

    def x(i: float) -> float:
        return left + (i + 0.5) * slot

    def y(v: float) -> float:
        return top + (1.0 - min(max(v, 0.0), 1.0)) * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-labelledby="timeline-title" class="timeline">'
        '<title id="timeline-title">Drift over time: one column per monitored batch</title>'
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            'stroke="#dcdcde" stroke-width="1"/>'
            f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" font-size="11" text-anchor="end" '
            f'fill="#50575e">{tick:.2f}</text>'
        )
    parts.append(
        f'<line x1="{left}" x2="{width - right}" y1="{y(threshold):.1f}" '
        f'y2="{y(threshold):.1f}" stroke="#2271b1" stroke-dasharray="6 4" stroke-width="1">'
        f"<title>drift threshold: share of drifted features above {threshold}</title></line>"
    )
    received = [p.received_at for p in points]
    for event in events:
        ex = x(event_position(event.time, received))
        colour = EVENT_COLOURS.get(event.kind, "#50575e")
        parts.append(
            f'<g class="event"><line x1="{ex:.1f}" x2="{ex:.1f}" y1="{top}" '
            f'y2="{top + plot_h}" stroke="{colour}" stroke-width="2" stroke-dasharray="2 3"/>'
            f'<rect x="{ex - 4:.1f}" y="{top - 2}" width="8" height="8" fill="{colour}">'
            f"<title>{esc(event.time)}: {esc(event.label)}</title></rect></g>"
        )
    for key, label, colour in SERIES:
        coords = [
            f"{x(i):.1f},{y(getattr(p, key)):.1f}"
            for i, p in enumerate(points)
            if p.scored and getattr(p, key) is not None
        ]
        if len(coords) > 1:
            parts.append(
                f'<polyline points="{" ".join(coords)}" fill="none" stroke="{colour}" '
                f'stroke-width="1.5" opacity="0.7"><title>{esc(label)}</title></polyline>'
            )
    every = max(1, n // 24)  # at most ~24 axis labels
    for i, p in enumerate(points):
        if i % every == 0:
            parts.append(
                f'<text x="{x(i):.1f}" y="{top + plot_h + 16}" font-size="11" '
                f'text-anchor="middle" fill="#50575e">{i + 1}</text>'
            )
        parts.append(_point(p, i + 1, x(i), y))
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" font-size="11" '
        'text-anchor="middle" fill="#50575e">monitored batch (arrival order; see the table)</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _point(p: TimelinePoint, number: int, px: float, scale: Callable[[float], float]) -> str:
    """One batch's markers (at `px`, heights by the chart's `scale`), in a link to its report."""
    if not p.scored:
        cy = scale(0.0) - 8
        return (
            f'<a href="{esc(p.href)}" class="point" data-batch="{esc(p.batch)}">'
            f"<title>#{number} {esc(p.batch)}: rejected ({esc(p.received_at)})</title>"
            f'<path d="M{px - 5:.1f},{cy - 5:.1f} l10,10 m0,-10 l-10,10" '
            f'stroke="{REJECTED_COLOUR}" stroke-width="2.5"/>'
            f'<rect x="{px - 7:.1f}" y="{cy - 7:.1f}" width="14" height="14" fill="transparent"/>'
            "</a>"
        )
    figures = "; ".join(
        f"{label} {getattr(p, key):.3f}" for key, label, _ in SERIES if getattr(p, key) is not None
    )
    verdict = "DRIFT" if p.fired else "no drift"
    marks = []
    for key, _, colour in SERIES:
        value = getattr(p, key)
        if value is None:
            continue
        ring = ' stroke="#b32d2e" stroke-width="2.5"' if p.fired and key == "drifted_share" else ""
        marks.append(f'<circle cx="{px:.1f}" cy="{scale(value):.1f}" r="5" fill="{colour}"{ring}/>')
    return (
        f'<a href="{esc(p.href)}" class="point" data-batch="{esc(p.batch)}">'
        f"<title>#{number} {esc(p.batch)} ({esc(p.received_at)}): {verdict}; "
        f"{esc(figures)}. Opens the Evidently report.</title>{''.join(marks)}</a>"
    )
