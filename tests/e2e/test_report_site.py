"""The review site: built from the small trained project with monitored batches (one
labelled with bad lines, one corrupt, one unlabelled), checked in headless Chromium (every
link resolves, no console error, no request leaves the machine, a screenshot per page)
and figure by figure against the metrics files. The same checks run on the project's own
site when `iot-anomaly report` has built it."""

from __future__ import annotations

import functools
import json
import math
import shutil
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urldefrag, urlparse

import pytest

from iot_anomaly.config import Paths, load_params
from iot_anomaly.evaluation.crossdata import METRICS_KEY as IOT23
from iot_anomaly.review.parts import PAGES, lookup
from iot_anomaly.stages import monitor, promote, report
from tests.browser import Chromium, Visit, require_chromium
from tests.helpers import registered_copy

pytestmark = pytest.mark.slow

#: Figures on the site and the file each must match (data-source → file under reports/).
SOURCES = {"metrics": "metrics.json", "details": "evaluation_details.json"}
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"


@pytest.fixture(scope="module")
def built(trained, tmp_path_factory, train_lines, test_lines) -> tuple[dict, Paths, Path]:
    """A copy of the trained project, three monitored batches, one promotion check, and
    the site built from all of it."""
    params, paths = registered_copy(trained[1], tmp_path_factory.mktemp("site") / "project")
    root = paths.root
    for study in paths.reports.glob("seed_study_*.json"):  # another test's study: not this site's
        study.unlink()
    inbox = root / params.monitor.inbox
    inbox.mkdir(parents=True)
    labelled = train_lines[::4][:600]
    labelled[5] = ",".join(labelled[5].split(",")[:-3])  # too few fields: quarantined
    (inbox / "b1-labelled.csv").write_text("\n".join(labelled) + "\n")
    (inbox / "b2-corrupt.csv").write_bytes(b"\x00\x01 not a kdd file\n" * 20)
    unlabelled = [",".join(line.split(",")[:41]) for line in test_lines[1::3][:600]]
    (inbox / "b3-unlabelled.csv").write_text("\n".join(unlabelled) + "\n")
    outcomes = [monitor.run(params, paths) for _ in range(3)]
    assert [o.status for o in outcomes if o] == ["scored", "rejected", "scored"]
    promote.run(params, paths, "test")  # the champion's own version: "unchanged"
    summary = report.run(params, paths)
    assert summary["batches"] == 3 and summary["evidently_reports"] == 2
    return params, paths, report.site_dir(params, paths)


def _project_site(root: Path) -> tuple[dict, Path]:
    params = load_params(root / "params.yaml")
    site = root / params.report.site_dir
    if not (site / "index.html").is_file():
        pytest.skip(f"{site}/index.html not built here: run `iot-anomaly report` (dvc repro)")
    return params, site


# --- figures against the metrics files -------------------------------------------------


class _Figures(HTMLParser):
    """Every element carrying data-source/data-key, with its text."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[dict[str, Any]] = []
        self._open: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if "data-key" in values:
            self._open.append({"tag": tag, **values, "text": ""})

    def handle_data(self, data: str) -> None:
        for item in self._open:
            item["text"] += data

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1]["tag"] == tag:
            self.found.append(self._open.pop())


def _printed(text: str) -> tuple[float, float]:
    """The number a cell prints and half a unit of its last printed digit."""
    text = text.strip().replace(",", "")
    scale = 1.0
    if text.endswith("%"):
        text, scale = text[:-1], 0.01
    decimals = len(text.split(".")[1]) if "." in text else 0
    if "e" in text.lower():  # 3 significant digits, e.g. 3.1e-09
        mantissa, exponent = text.lower().split("e")
        decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
        return float(text), 0.5 * 10 ** (int(exponent) - decimals)
    return float(text) * scale, 0.5 * 10**-decimals * scale


def check_figures(site: Path, reports: Path) -> dict[str, int]:
    """Compare every keyed figure of every page with its file; return counts per source."""
    data = {s: json.loads((reports / f).read_text()) for s, f in SOURCES.items()}
    for study in reports.glob("seed_study_*.json"):  # seed intervals, where a study ran
        data[study.stem] = json.loads(study.read_text())
    counts = dict.fromkeys(data, 0)
    for name, _, _ in PAGES:
        parser = _Figures()
        parser.feed((site / name).read_text(encoding="utf-8"))
        for item in parser.found:
            source = item.get("data-source")
            if source not in data:
                continue
            expected = lookup(data[source], item["data-key"])
            assert expected is not None, f"{name}: {item['data-key']} is not in {source}"
            assert float(item["data-value"]) == pytest.approx(expected, rel=1e-12, abs=0), item
            shown, half_unit = _printed(item["text"])
            assert math.isclose(shown, expected, abs_tol=half_unit * 1.0001 + 1e-15), (
                f"{name}: {item['data-key']} prints {item['text']!r}, {source} has {expected}"
            )
            counts[source] += 1
    return counts


def _keys(site: Path) -> set[str]:
    keys = set()
    for name, _, _ in PAGES:
        parser = _Figures()
        parser.feed((site / name).read_text(encoding="utf-8"))
        keys |= {i["data-key"] for i in parser.found if i.get("data-source") == "metrics"}
    return keys


def _assert_coverage(site: Path, metrics: dict[str, Any]) -> None:
    """Every model's headline figures, per-category rates and confusion matrix are shown."""
    keys = _keys(site)
    for protocol, models in metrics.items():
        if protocol == IOT23:  # the crossdata stage's figures: the IoT-23 page
            for model in models["models"]:
                for key in ("accuracy", "false_alarm_rate"):
                    assert f"{IOT23}/models/{model}/overall/{key}" in keys
            continue
        for model, figures in models.items():
            for key in ("binary/accuracy", "binary/precision", "binary/recall", "binary/f1"):
                assert f"{protocol}/{model}/{key}" in keys
            for category, rate in figures["flagged_as_attack_by_category"].items():
                if rate is not None:  # None: no row of that category in the test split
                    assert f"{protocol}/{model}/flagged_as_attack_by_category/{category}" in keys
            if "multiclass" in figures:
                assert f"{protocol}/{model}/multiclass/macro_f1" in keys
                assert f"{protocol}/{model}/kdd_cost" in keys
                assert all(
                    f"{protocol}/{model}/multiclass/confusion_matrix/{i}/{j}" in keys
                    for i in range(5)
                    for j in range(5)
                )
            if "scores" in figures:
                assert f"{protocol}/{model}/scores/roc_auc" in keys


def test_every_figure_matches_the_metrics_files(built) -> None:
    _, paths, site = built
    counts = check_figures(site, paths.reports)
    assert counts["metrics"] > 200 and counts["details"] > 10, counts
    _assert_coverage(site, json.loads((paths.reports / "metrics.json").read_text()))


def test_a_wrong_figure_is_caught(built, tmp_path) -> None:
    _, paths, site = built
    copy = tmp_path / "site"
    shutil.copytree(site, copy)
    reports = tmp_path / "reports"
    shutil.copytree(paths.reports, reports, ignore=shutil.ignore_patterns("site", "drift"))
    metrics = json.loads((reports / "metrics.json").read_text())
    metrics["paper"]["ensemble"]["binary"]["accuracy"] -= 0.01
    (reports / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(AssertionError, match="binary/accuracy"):
        check_figures(copy, reports)


def test_the_project_site_matches_the_project_metrics(root) -> None:
    _, site = _project_site(root)
    counts = check_figures(site, root / "reports")
    assert counts["metrics"] > 0
    _assert_coverage(site, json.loads((root / "reports" / "metrics.json").read_text()))


# --- pages, timeline, workspace --------------------------------------------------------


def timeline_links(page: str) -> list[str]:
    """Where the points of the drift page's chart (matplotlib's inline SVG) link to."""
    svg = ET.fromstring(page[page.index("<svg") : page.index("</svg>") + len("</svg>")])
    return [a.attrib[XLINK_HREF] for a in svg.iter("{http://www.w3.org/2000/svg}a")]


def test_the_timeline_links_every_batch_and_marks_the_decisions(built) -> None:
    _, _, site = built
    drift = (site / "drift.html").read_text()
    links = timeline_links(drift)
    # rejected: marked, no report; its point opens its row on the data page
    assert set(links) == {
        "evidently/b1-labelled.html",
        "data.html#batch-b2-corrupt",
        "evidently/b3-unlabelled.html",
    }
    for batch in ("b1-labelled", "b3-unlabelled"):
        assert (site / "evidently" / f"{batch}.html").is_file()
    assert links.count("data.html#batch-b2-corrupt") == 1
    assert not (site / "evidently" / "b2-corrupt.html").exists()
    assert drift.count('<g id="event-') >= 2  # the champion adopted, the promotion check
    assert (site / "quarantine" / "b1-labelled.csv").is_file()
    data = (site / "data.html").read_text()
    assert "b2-corrupt" in data and "rejected" in data and '<tr id="batch-b2-corrupt">' in data
    decisions = (site / "decisions.html").read_text()
    assert "unchanged" in decisions and "no champion yet" in decisions
    model = (site / "model.html").read_text()
    assert "No seed study has been run" in model  # no seed study in the small project
    assert "one run, seed " in model and "one run, seed " in (site / "index.html").read_text()


def test_the_evidently_workspace_holds_the_same_runs(built) -> None:
    from evidently.ui.workspace import Workspace

    params, paths, _ = built
    ws = Workspace(str(paths.root / params.monitor.workspace))
    project = ws.search_project(params.monitor.project)[0]
    names = sorted(ws.get_run(project.id, run).name for run in ws.list_runs(project.id))
    assert names == ["b1-labelled", "b3-unlabelled"]


# --- in the browser --------------------------------------------------------------------


@pytest.fixture
def serve() -> Iterator[Any]:
    """Serve a folder on the loopback; yields a function folder → base URL."""
    servers = []

    def start(folder: Path) -> str:
        handler = functools.partial(_QuietHandler, directory=str(folder))
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output clean."""


def _clean(visit: Visit) -> None:
    assert visit.error is None, f"{visit.url}: {visit.error}"
    assert not visit.console_errors, f"{visit.url}: console errors {visit.console_errors}"
    assert not visit.remote_requests, f"{visit.url}: non-local requests {visit.remote_requests}"
    assert not visit.failed, f"{visit.url}: failed loads {visit.failed}"
    assert not visit.broken_images, f"{visit.url}: broken images {visit.broken_images}"


def _target(url: str, base: str, site: Path) -> Path | None:
    """The file in the site a link points to (None for a link outside the site)."""
    path = urldefrag(url).url
    if not path.startswith(base):
        return None
    relative = unquote(path[len(base) :]) or "index.html"
    return site / relative


def check_site(browser: Chromium, site: Path, base: str, screenshots: Path | None) -> list[str]:
    """Open every page the site links to, starting at the index; check each link of each
    page resolves, nothing errs in the console, nothing is fetched from another machine.
    Returns the pages visited."""
    todo, seen = [base + "index.html"], []
    index_links: list[str] = []
    while todo:
        url = todo.pop(0)
        if url in seen:
            continue
        seen.append(url)
        visit = browser.visit(url)
        _clean(visit)
        assert visit.title or "/evidently/" in url, f"{url}: no title"  # Evidently sets none
        if url == base + "index.html":
            index_links = visit.links
        page = _target(url, base, site)
        assert page is not None
        if screenshots is not None and page.suffix == ".html":
            name = str(page.relative_to(site).with_suffix("")).replace("/", "__")
            assert browser.screenshot(screenshots / f"{name}.png").stat().st_size > 1000
        if "/evidently/" in url:
            continue  # Evidently's own page: loads nothing remote, but credits plotly.com
        for link in visit.links:
            assert urlparse(link).scheme in ("file", "http"), f"{url}: links to {link}"
            target = _target(link, base, site)
            assert target is not None, f"{url}: links outside the site: {link}"
            assert target.is_file(), f"{url}: broken link {link}"
            fragment = urldefrag(link).fragment
            if fragment and target == page:
                assert browser.has_element(fragment), f"{url}: no element #{fragment}"
            if target.suffix == ".html" and urldefrag(link).url not in seen + todo:
                todo.append(urldefrag(link).url)
    pages = {name for name, _, _ in PAGES}
    linked = {Path(urlparse(u).path).name for u in index_links}
    assert pages - {"index.html"} <= linked, f"the index does not link {pages - linked}"
    return seen


def test_the_site_in_a_browser_over_the_loopback_and_from_files(built, root, serve) -> None:
    chromium = require_chromium()
    params, _, site = built
    shots = root / params.report.screenshots_dir / "test-site"
    with Chromium(chromium) as browser:
        seen = check_site(browser, site, serve(site), shots)
        assert len(seen) >= len(PAGES) + 2  # the pages, validation and Evidently reports
        assert any("/evidently/" in u for u in seen)
        from_files = check_site(browser, site, site.as_uri() + "/", None)
        assert len(from_files) == len(seen)
    assert {p.stem for p in shots.glob("*.png")} >= {n.removesuffix(".html") for n, _, _ in PAGES}


def test_the_project_site_in_a_browser(root, serve) -> None:
    params, site = _project_site(root)
    chromium = require_chromium()
    with Chromium(chromium) as browser:
        check_site(browser, site, serve(site), root / params.report.screenshots_dir)
