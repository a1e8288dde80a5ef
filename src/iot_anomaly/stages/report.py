"""Stage `report`: the review site under `reports/site/` (params `report.site_dir`), and the
host report of the monitored real traffic it shows (`report.hosts.dir`).

Pages come from `iot_anomaly.review.site` (Jinja2 templates); the figures, validation pages,
quarantine files and Evidently reports they link to are copied into the site, so the folder
is complete on its own and opens from a file. The site is built beside the old one and
swapped in at the end, so a failed build leaves the last good site in place.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from iot_anomaly.config import Params, Paths
from iot_anomaly.evaluation import crossdata
from iot_anomaly.monitoring import decisions
from iot_anomaly.review import site
from iot_anomaly.review.inputs import SiteInputs, gather
from iot_anomaly.review.parts import PAGES, Layout
from iot_anomaly.stages import hosts as host_report

#: Figures of reports/figures/ that the pages show (the confusion matrices are tables).
FIGURE_PREFIXES = ("roc_pr_", "importance_")
#: Browsers ask a web server for /favicon.ico on every page without an icon of its own (the
#: Evidently reports); the site ships one, so that request is not a 404 in the console.
FAVICON = "favicon.ico"


def write_favicon(path: Path) -> Path:
    """A 32 x 32 PNG icon (browsers accept PNG bytes under the .ico name)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1, 1), dpi=32, facecolor="#2271b1")
    FigureCanvasAgg(fig)
    fig.text(0.5, 0.45, "!", color="white", fontsize=22, weight="bold", ha="center", va="center")
    fig.savefig(path, format="png", dpi=32, facecolor=fig.get_facecolor())
    return path


def site_dir(params: Params, paths: Paths) -> Path:
    return paths.root / params.report.site_dir


def render(inputs: SiteInputs, params: Params) -> dict[str, str]:
    """Every page of the site: file name → HTML."""
    cfg = params.report
    return site.pages(
        inputs,
        decisions.KINDS,
        max_failures=cfg.max_failures,
        timeline_width=cfg.timeline.width,
        timeline_height=cfg.timeline.height,
        seed=params.models.seed,
        host_rows=cfg.hosts.listed,
    )


def copies(inputs: SiteInputs) -> dict[str, Path]:
    """Files the pages link to: path in the site → source file."""
    layout = Layout()
    found: dict[str, Path] = {
        layout.figure(name): path
        for name, path in inputs.figures.items()
        if name.startswith(FIGURE_PREFIXES)
    }
    if inputs.validation_html:
        found[layout.training_validation()] = inputs.validation_html
    for b in inputs.batches:
        if b.validation_html:
            found[layout.batch_validation(b.name)] = b.validation_html
        if b.quarantine_csv and int(b.status.get("quarantined", 0)):
            found[layout.batch_quarantine(b.name)] = b.quarantine_csv
        if b.drift_html:
            found[layout.drift_report(b.name)] = b.drift_html
    for name, path in inputs.host_files.items():
        found[layout.host_file(name)] = path
    return found


def run(
    params: Params, paths: Paths, progress: Callable[[str], None] = lambda _: None
) -> dict[str, Any]:
    """Build the host report and the site; return where they are and what they hold."""
    progress("verdicts per host of the monitored real traffic")
    hosts = host_report.from_monitoring(params, paths)
    progress("reading metrics, validation results and the monitoring state")
    inputs = gather(params, paths)
    target = site_dir(params, paths)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        progress("writing pages")
        for name, html in render(inputs, params).items():
            (staging / name).write_text(html, encoding="utf-8")
        write_favicon(staging / FAVICON)
        files = copies(inputs)
        progress(f"copying {len(files)} linked files")
        for relative, source in files.items():
            (staging / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, staging / relative)
        staging.chmod(0o755)
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            target.rename(old)
        staging.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    scored = [b for b in inputs.batches if b.status["status"] == "scored"]
    protocols = {p: m for p, m in inputs.metrics.items() if p != crossdata.METRICS_KEY}
    return {
        "site": str(target / "index.html"),
        "pages": [name for name, _, _ in PAGES],
        "protocols": list(protocols),
        "models": sum(len(m) for m in protocols.values()),
        "batches": len(inputs.batches),
        "scored": len(scored),
        "drift_fired": sum(bool((b.status.get("drift") or {}).get("fired")) for b in scored),
        "evidently_reports": sum(1 for b in inputs.batches if b.drift_html),
        "decisions": len(inputs.decisions),
        "seed_studies": list(inputs.seed_studies),
        "champion": (inputs.champion or inputs.registered or {}).get("version"),
        "hosts": str(hosts.json),
        "hosts_with_attacks": hosts.report.hosts_with_attacks,
    }
