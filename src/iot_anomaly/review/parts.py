"""What every page of the site is made of, as plain data for the templates: the page list
and navigation, where copied files sit in the site (`Layout`), figures with their provenance,
verdict badges and headline cards.

A `Figure` read from a file carries where it came from (`source`: which file, `key`: the path
into its JSON, joined by "/") and its exact value, so a test can compare each printed figure
with the file it claims to show.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final
from urllib.parse import quote

from iot_anomaly.models import catalog

#: The site's pages: file name, navigation label, what the index says about it.
PAGES: Final = (
    ("index.html", "Overview", ""),
    (
        "model.html",
        "Model quality",
        "Seed-study intervals and one run's figures per protocol: Table 3 beside ours, "
        "confusion matrices, ROC and PR curves, detection per category, feature importance, "
        "and the champion's versions.",
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
    (
        "hosts.html",
        "Hosts",
        "Verdicts per device: every source host of the monitored real traffic with attack "
        "connections, by category, with when, where to and from which batch.",
    ),
    (
        "iot23.html",
        "IoT-23",
        "The flow models trained on KDD Cup 99 on the IoT-23 scenarios of real IoT traffic, "
        "beside forests that also learned from the other scenarios: accuracy, attack recall, "
        "false alarms, detection per IoT-23 label.",
    ),
)
METRICS: Final = "metrics"  # data-source of figures from reports/metrics.json
DETAILS: Final = "details"  # ... from reports/evaluation_details.json
HOSTS: Final = "hosts"  # ... from reports/hosts/hosts.json

FORMATS: Final[Mapping[str, Callable[[Any], str]]] = {
    "pct3": lambda v: f"{100 * v:.3f}%",
    "pct2": lambda v: f"{100 * v:.2f}%",
    "pct1": lambda v: f"{100 * v:.1f}%",
    "f5": lambda v: f"{v:.5f}",
    "f4": lambda v: f"{v:.4f}",
    "f3": lambda v: f"{v:.3f}",
    "g3": lambda v: f"{v:.3g}",
    "int": lambda v: f"{int(v):,}",
}
_GOOD: Final = {"passed", "no drift", "promoted", "scored", "unchanged", "data joined"}
_BAD: Final = {"failed", "rejected", "drift", "FAILED", "started", "crashed"}


@dataclass(frozen=True)
class Layout:
    """Where the site keeps what it copies, relative to its folder."""

    figures: str = "figures"
    validation: str = "validation"
    quarantine: str = "quarantine"
    evidently: str = "evidently"
    hosts: str = "hosts"

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

    def host_file(self, name: str) -> str:
        """A file of the host report (hosts.csv, hosts.json) in the site."""
        return f"{self.hosts}/{name}"

    @staticmethod
    def batch_anchor(batch: str) -> str:
        """The id of a batch's row in the data page's table."""
        return f"batch-{batch}"

    def batch_row(self, batch: str) -> str:
        """A link to a batch's row in the data page."""
        return f"data.html#{quote(self.batch_anchor(batch))}"


@dataclass(frozen=True)
class Link:
    href: str
    label: str
    current: bool = False


@dataclass(frozen=True)
class Page:
    """What the base layout shows around a page's content; no navigation outside the site."""

    title: str
    subtitle: str = ""
    nav: tuple[Link, ...] = ()


def site_page(name: str, title: str, subtitle: str = "") -> Page:
    """A page of the site, with the navigation marking it as current."""
    return Page(title, subtitle, tuple(Link(n, label, n == name) for n, label, _ in PAGES))


@dataclass(frozen=True)
class Figure:
    """A figure as printed, with where it came from (empty `key`: not read from a file)."""

    text: str
    source: str = ""
    key: str = ""
    value: str = ""
    kind: ClassVar[str] = "figure"


@dataclass(frozen=True)
class Interval:
    """A seed study's mean with its 95% interval, each bound a figure of the study file."""

    mean: Figure
    low: Figure
    high: Figure
    kind: ClassVar[str] = "interval"


@dataclass(frozen=True)
class Badge:
    """A verdict and its tone (ok, fail, warn)."""

    text: str
    tone: str


@dataclass(frozen=True)
class Card:
    """A headline figure."""

    label: str
    value: str


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


def figure(data: Any, source: str, key: str, fmt: str) -> Figure:
    """The figure at `key` of `data` (a file's JSON) with its provenance; empty if absent."""
    value = lookup(data, key)
    if value is None:
        return Figure("")
    return Figure(FORMATS[fmt](value), source, key, repr(value))


def interval(study: dict[str, Any], source: str, name: str, fmt: str) -> Interval | None:
    """A seed study's summary of figure `name` ("model.kind.figure"); None if not studied."""
    if lookup(study, f"summary/{name}/mean") is None:
        return None
    base = f"summary/{name}"
    return Interval(
        *(figure(study, source, f"{base}/{part}", fmt) for part in ("mean", "low", "high"))
    )


def badge(verdict: str) -> Badge:
    tone = "ok" if verdict in _GOOD else "fail" if verdict in _BAD else "warn"
    return Badge(verdict, tone)


def cards(items: list[tuple[str, Any]]) -> list[Card]:
    return [Card(label, str(value)) for label, value in items]


def models(names: Iterable[str]) -> list[str]:
    """Model names in the site's order: the ensemble and classifiers, then the detectors."""
    return sorted(names, key=lambda m: (*catalog.NAMES, m).index(m))


def short(value: Any, n: int = 12) -> str:
    return "" if value is None else str(value)[:n]


def when(value: Any) -> str:
    """An ISO time as `YYYY-MM-DD HH:MM` (UTC, as the pipeline records it)."""
    return short(value, 16).replace("T", " ")


def share(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def detail(value: Any) -> str:
    """A decision's detail value in plain words (nested values flattened)."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {detail(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(detail(v) for v in value) or "none"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
