"""The decision log as a page, from its entries alone: the site's decision page, and the
stand-alone `reports/decisions.html` that the monitoring refreshes after every decision
(the same template, without the site's navigation and links)."""

from __future__ import annotations

from dataclasses import dataclass

from iot_anomaly.review.parts import (
    Badge,
    Card,
    Layout,
    Page,
    badge,
    cards,
    detail,
    site_page,
    when,
)
from iot_anomaly.review.render import render

#: Fields every entry has; the others are its details.
CORE = ("time", "kind", "verdict", "reason", "batch", "report")


@dataclass(frozen=True)
class Decision:
    """One entry, newest first on the page; `report` links the batch when the site has its
    Evidently report."""

    time: str
    kind: str
    verdict: Badge
    reason: str
    batch: str
    report: str | None
    details: list[str]


@dataclass(frozen=True)
class DecisionLog:
    counts: list[Card]
    entries: list[Decision]
    in_site: bool


def decision_log(
    entries: list[dict], kinds: tuple[str, ...], reported: set[str], layout: Layout | None
) -> DecisionLog:
    """The log newest first, with how many decisions of each kind; batches in `reported`
    link to their report in the site (`layout`; None: a page outside the site)."""
    rows = []
    for e in reversed(entries):
        batch = str(e.get("batch", ""))
        rows.append(
            Decision(
                time=when(e.get("time")),
                kind=str(e.get("kind", "")),
                verdict=badge(str(e.get("verdict", ""))),
                reason=str(e.get("reason", "")),
                batch=batch,
                report=layout.drift_report(batch) if layout and batch in reported else None,
                details=[f"{k}: {detail(v)}" for k, v in e.items() if k not in CORE],
            )
        )
    counts = cards([(k, sum(e.get("kind") == k for e in entries)) for k in kinds])
    return DecisionLog(counts, rows, in_site=layout is not None)


SITE_SUBTITLE = (
    "Drift checks, rejected batches, retraining, data joined and promotions, newest first"
)
STANDALONE_SUBTITLE = "Drift checks, retraining and promotions, newest first"


def site_html(
    entries: list[dict], kinds: tuple[str, ...], reported: set[str], layout: Layout
) -> str:
    """The site's decision page."""
    return render(
        "decisions.html",
        page=site_page("decisions.html", "Decisions", SITE_SUBTITLE),
        log=decision_log(entries, kinds, reported, layout),
    )


def standalone_html(entries: list[dict], kinds: tuple[str, ...]) -> str:
    """The same log as a page of its own, beside the log file."""
    return render(
        "decisions.html",
        page=Page("Decision log", STANDALONE_SUBTITLE),
        log=decision_log(entries, kinds, set(), None),
    )
