"""The drift timeline, drawn by matplotlib as a static SVG for the drift page: one column per
monitored batch (in arrival order) with the share of drifted features, the predicted attack
share and, for labelled batches, the accuracy; rejected batches, the drift threshold and
retraining, training and promotion decisions are marked.

Every point is a link to its batch's report (`set_urls` on the scatter collections, which the
SVG backend writes as `<a>` elements), so the chart, inlined in the page, needs no script and
opens from a file. Each event line is an SVG group with the id `event-<n>`, its number on the
chart and in the page's table of events.
"""

from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass
from typing import Final

import matplotlib as mpl
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

#: Series drawn per scored batch: (field of TimelinePoint, label, colour, marker).
SERIES: Final = (
    ("drifted_share", "share of drifted features", "#2271b1", "o"),
    ("attack_share", "predicted attack share", "#d98500", "s"),
    ("accuracy", "accuracy (labelled batches)", "#008a20", "^"),
)
EVENT_COLOURS: Final = {"retrain": "#b32d2e", "promotion": "#7b3fb0", "training": "#50575e"}
REJECTED_COLOUR: Final = "#b32d2e"
FIRED_COLOUR: Final = "#b32d2e"
GRID_COLOUR: Final = "#dcdcde"
TEXT_COLOUR: Final = "#50575e"
#: CSS pixels per inch: a figure of width/96 inches is `width` CSS pixels wide in the page.
CSS_DPI: Final = 96
REJECTED_AT: Final = -0.07  # rejected batches sit just below the axis: they have no shares
MAX_TICKS: Final = 24
#: Fixed ids and no metadata (no date, no creator), so the same data draws the same bytes.
SVG_STYLE: Final = {"svg.fonttype": "none", "svg.hashsalt": "iot-anomaly-timeline"}
NO_METADATA: Final = {"Creator": None, "Date": None, "Format": None, "Type": None}


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
    """x position (in batch slots, the first batch at 0) of an event: just after the last
    batch received at or before it; before the first batch when it came earlier than all."""
    before = sum(1 for t in received if t <= event_time)
    return before - 0.5 if before else -0.5


def timeline_svg(
    points: list[TimelinePoint],
    events: list[TimelineEvent],
    threshold: float,
    width: int,
    height: int,
) -> str:
    """The chart as an `<svg>` element (no XML prolog), `width` x `height` CSS pixels;
    `points` in arrival order, shares in [0, 1]."""
    with mpl.rc_context({**SVG_STYLE, "font.size": 8}):
        fig = Figure(figsize=(width / CSS_DPI, height / CSS_DPI), layout="constrained")
        FigureCanvasSVG(fig)
        ax = fig.add_subplot()
        n = len(points)
        handles = _draw(ax, points, events, threshold)
        ax.set_xlim(0.2, max(n, 1) + 0.8)  # room for an event before the first batch
        ax.set_ylim(REJECTED_AT * 2, 1.08)
        ax.set_yticks([0.0, 0.25, 0.5, 0.75, 1.0])
        every = max(1, n // MAX_TICKS)
        ax.set_xticks(range(1, n + 1, every))
        ax.set_xlabel("monitored batch (arrival order; see the table)", color=TEXT_COLOUR)
        ax.set_ylabel("share", color=TEXT_COLOUR)
        ax.tick_params(colors=TEXT_COLOUR)
        ax.grid(axis="y", color=GRID_COLOUR, linewidth=0.8)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        fig.legend(handles=handles, loc="outside right upper", frameon=False)
        out = io.StringIO()
        fig.savefig(out, format="svg", metadata=NO_METADATA)
    svg = out.getvalue()
    return svg[svg.index("<svg") :]


def _draw(ax, points: list[TimelinePoint], events: list[TimelineEvent], threshold: float):
    """Everything on the axes; returns the legend's entries (one per kind of mark)."""
    handles = []
    for key, label, colour, marker in SERIES:
        shown = [
            (i, p, getattr(p, key))
            for i, p in enumerate(points, 1)
            if p.scored and getattr(p, key) is not None
        ]
        if not shown:
            continue
        xs, ys = [i for i, _, _ in shown], [v for _, _, v in shown]
        ax.plot(xs, ys, color=colour, linewidth=1.5, alpha=0.7)
        fired = [key == "drifted_share" and p.fired for _, p, _ in shown]
        dots = ax.scatter(
            xs, ys, s=40, color=colour, marker=marker, zorder=3,
            edgecolors=[FIRED_COLOUR if f else "white" for f in fired],
            linewidths=[2.5 if f else 0.5 for f in fired],
        )  # fmt: skip
        dots.set_urls([p.href for _, p, _ in shown])
        handles.append(
            Line2D([], [], color=colour, marker=marker, markersize=6, alpha=0.9, label=label)
        )
    if any(p.fired for p in points if p.scored):
        handles.append(
            Line2D(
                [], [], linestyle="none", marker="o", markersize=7, color=SERIES[0][2],
                markeredgecolor=FIRED_COLOUR, markeredgewidth=2.5, label="drift fired",
            )
        )  # fmt: skip
    rejected = [(i, p) for i, p in enumerate(points, 1) if not p.scored]
    if rejected:
        crosses = ax.scatter(
            [i for i, _ in rejected], [REJECTED_AT] * len(rejected), s=42, marker="x",
            color=REJECTED_COLOUR, linewidths=2, zorder=3, label="rejected batch",
        )  # fmt: skip
        crosses.set_urls([p.href for _, p in rejected])
        handles.append(crosses)
    handles.append(
        ax.axhline(
            threshold, color=SERIES[0][2], linestyle=(0, (6, 4)), linewidth=1,
            label=f"drift threshold ({threshold})",
        )
    )  # fmt: skip
    received = [p.received_at for p in points]
    at: dict[float, list[int]] = defaultdict(list)
    kinds: dict[str, Line2D] = {}
    for number, event in enumerate(events, 1):
        x = event_position(event.time, received) + 1
        line = ax.axvline(
            x, color=EVENT_COLOURS.get(event.kind, TEXT_COLOUR), linestyle=(0, (2, 3)),
            linewidth=2, gid=f"event-{number}", label=f"{event.kind} (decision)",
        )  # fmt: skip
        kinds.setdefault(event.kind, line)
        at[x].append(number)
    for x, numbers in at.items():
        ax.annotate(
            ",".join(str(n) for n in numbers), (x, 1.08), xytext=(3, -2),
            textcoords="offset points", ha="left", va="top", color=TEXT_COLOUR,
            fontweight="bold",
        )  # fmt: skip
    return [*handles, *kinds.values()]
