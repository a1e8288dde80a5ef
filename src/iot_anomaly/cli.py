"""The `iot-anomaly` command: one sub-command per pipeline stage (DVC calls these)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from iot_anomaly.config import Params, ParamsError, Paths, load_params

app = typer.Typer(
    help=(
        "Detect attacks in IoT network traffic (KDD Cup 99). The full pipeline runs with "
        "`dvc repro`; each stage is a command here. Settings that change results are in "
        "params.yaml; how work is spread (threads, workers) comes from IOT_ANOMALY_* "
        "environment variables (see the iot_anomaly.runtime module)."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()

ParamsOpt = Annotated[Path, typer.Option("--params", "-p", help="Parameters file.")]
RootOpt = Annotated[Path, typer.Option("--root", help="Project root (where outputs go).")]


@contextmanager
def _steps(title: str) -> Iterator[Callable[[str], None]]:
    """A live progress line for a stage; yields the callback that names the current step."""
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=None),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(title, total=None)
        yield lambda step: progress.update(task, description=f"{title}: {step}")


def _table(title: str, columns: tuple[str, ...], left: int = 1) -> Table:
    """A results table whose first `left` columns are text and the rest figures."""
    table = Table(title=title)
    for i, col in enumerate(columns):
        table.add_column(col, justify="left" if i < left else "right")
    return table


def _fail(err: Exception) -> NoReturn:
    console.print(f"[bold red]error:[/] {err}")
    raise typer.Exit(code=1)


def _load(params: Path) -> Params:
    """The validated params file; a missing file or a bad value ends the command with the
    error (which names the file and the key)."""
    try:
        return load_params(params)
    except (FileNotFoundError, ParamsError) as err:
        _fail(err)


@app.command()
def validate(params: ParamsOpt = Path("params.yaml"), root: RootOpt = Path()) -> None:
    """Parse both raw files (bad lines to quarantine) and run the expectation suites."""
    from iot_anomaly.data.reader import KddFormatError
    from iot_anomaly.data.validation import DataValidationError
    from iot_anomaly.stages import validate as stage

    paths = Paths(root)
    try:
        with _steps("validate") as step:
            results = stage.run(load_params(params), paths, step)
    except (DataValidationError, KddFormatError, FileNotFoundError, ValueError) as err:
        _fail(err)
    table = _table(
        "Validation",
        ("data set", "source", "rows", "quarantined", "expectations", "failed", "result"),
        left=2,
    )
    for r in results:
        table.add_row(
            r.name, r.source, f"{r.rows:,}", f"{r.quarantined:,}", str(len(r.findings)),
            str(len(r.failures)), "[green]passed[/]" if r.success else "[red]failed[/]",
        )  # fmt: skip
    console.print(table)
    for r in results:
        if r.quarantined:
            console.print(
                f"[yellow]{r.quarantined:,} lines quarantined:[/] {paths.quarantine(r.name)}"
            )
    console.print(f"Report: {paths.validation_dir / 'index.html'}")


@app.command()
def preprocess(params: ParamsOpt = Path("params.yaml"), root: RootOpt = Path()) -> None:
    """Build the evaluation protocols' splits and fit the encoders on training rows only."""
    from iot_anomaly.stages import preprocess as stage

    paths = Paths(root)
    try:
        with _steps("preprocess") as step:
            summary = stage.run(load_params(params), paths, step)
    except (FileNotFoundError, ValueError) as err:
        _fail(err)
    table = _table(
        "Protocols", ("protocol", "train", "test", "train normal", "unseen-attack test rows")
    )
    for name, d in summary["protocols"].items():
        table.add_row(
            name, f"{d['train_rows']:,}", f"{d['test_rows']:,}", f"{d['train_normal_rows']:,}",
            f"{d['unseen_attack_rows_in_test']:,}",
        )  # fmt: skip
    console.print(table)
    if "dedup" in summary:
        d = summary["dedup"]
        console.print(
            f"dedup: {d['unique_rows']:,} unique rows of {d['rows']:,} "
            f"({d['duplicates_dropped']:,} exact duplicates dropped)"
        )
    console.print(f"Summary: {paths.splits_report}")


@app.command()
def train(
    model: Annotated[str, typer.Argument(help="ae | gan | cnn_lstm | knn | rf | ensemble")],
    protocol: Annotated[
        str, typer.Option("--protocol", help="one of preprocess.protocols, e.g. corrected_flow")
    ] = "paper",
    params: ParamsOpt = Path("params.yaml"),
    root: RootOpt = Path(),
) -> None:
    """Train one model on one protocol's training split and score its test split."""
    from iot_anomaly.stages import train as stage

    paths = Paths(root)
    console.print(f"[bold]train {model}[/] on protocol [bold]{protocol}[/]")
    try:
        meta = stage.run(load_params(params), paths, model, protocol)
    except (FileNotFoundError, ValueError) as err:
        _fail(err)
    table = _table(f"Trained {model} on {protocol}", ("figure", "value"))
    for key, value in meta.items():
        if key not in ("settings", "model", "protocol"):
            table.add_row(key, f"{value:,}" if isinstance(value, int) else str(value))
    console.print(table)
    from iot_anomaly.models.lightning import training_logs

    folder = paths.model_dir(protocol, model)
    console.print(f"Model: {folder}")
    curves = training_logs(folder) / "metrics.csv"
    if curves.is_file():
        console.print(f"Training curves: {curves}")


@app.command()
def evaluate(params: ParamsOpt = Path("params.yaml"), root: RootOpt = Path()) -> None:
    """Score every model on every protocol; write metrics, plots and the paper comparison."""
    from iot_anomaly.stages import evaluate as stage

    paths = Paths(root)
    try:
        with _steps("evaluate") as step:
            step("metrics, confusion matrices, curves, importances")
            results = stage.run(load_params(params), paths)
    except (FileNotFoundError, ValueError) as err:
        _fail(err)
    table = _table(
        "Evaluation (binary: attack is positive; macro-F1 over 5 categories)",
        (
            "protocol",
            "model",
            "accuracy",
            "precision",
            "recall",
            "F1",
            "macro-F1",
            "ROC-AUC",
            "cost",
        ),
        left=2,
    )
    for protocol, models in results.items():
        for model, r in models.items():
            b = r["binary"]
            macro = r.get("multiclass", {}).get("macro_f1")
            auc = r.get("scores", {}).get("roc_auc")
            cost = r.get("kdd_cost")
            table.add_row(
                protocol, model, f"{b['accuracy']:.4%}", f"{b['precision']:.4f}",
                f"{b['recall']:.4f}", f"{b['f1']:.4f}",
                "" if macro is None else f"{macro:.4f}", "" if auc is None else f"{auc:.4f}",
                "" if cost is None else f"{cost:.4f}",
            )  # fmt: skip
    console.print(table)
    console.print(f"Metrics: {paths.reports / 'metrics.json'}")
    console.print(f"Paper comparison: {paths.reports / 'comparison.md'}")
    console.print("Review site: `iot-anomaly report` builds reports/site/index.html")


@app.command()
def crossdata(params: ParamsOpt = Path("params.yaml"), root: RootOpt = Path()) -> None:
    """Score IoT-23's scenarios with the flow models trained on KDD Cup 99, and with forests
    that also learned from the other scenarios (leave one scenario out)."""
    from iot_anomaly.evaluation.crossdata import report_file
    from iot_anomaly.stages import crossdata as stage

    paths = Paths(root)
    try:
        with _steps("crossdata") as step:
            report = stage.run(_load(params), paths, step=step)
    except (FileNotFoundError, ValueError) as err:
        _fail(err)
    table = _table(
        "IoT-23, every scenario's rows (*_loso: leave one scenario out)",
        ("model", "accuracy", "attack recall", "false alarms"),
    )
    for model, r in report["models"].items():
        o = r["overall"]
        cells = [o["accuracy"], o["attack_recall"], o["false_alarm_rate"]]
        table.add_row(model, *("" if v is None else f"{v:.4f}" for v in cells))
    console.print(table)
    spent = ", ".join(
        f"{k} {v['wall']:.0f} s ({v['cpu']:.0f} CPU s)" for k, v in report["seconds"].items()
    )
    console.print(f"Time: {spent}")
    console.print(f"Report: {report_file(paths.reports)}")


@app.command()
def register(params: ParamsOpt = Path("params.yaml"), root: RootOpt = Path()) -> None:
    """Record the champion (the ensemble trained on the 10% file) in the registry file."""
    from iot_anomaly.registry import register as do_register
    from iot_anomaly.registry import registry_file

    paths = Paths(root)
    try:
        record = do_register(load_params(params), paths)
    except (FileNotFoundError, ValueError) as err:
        _fail(err)
    console.print(
        f"Champion {record['model']} version {record['version']} (data {record['data_version']})"
    )
    console.print(f"Registry: {registry_file(paths)}")


@app.command()
def predict(
    input: Annotated[
        Path,
        typer.Option(
            "--input",
            "-i",
            help="KDD-format file, packet capture, Zeek conn.log, its CSV, ingest output, or "
            "a folder of traffic files.",
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="CSV of predictions.")],
    dask: Annotated[
        str | None,
        typer.Option(
            help="Score a folder of traffic files on Dask, a task per file: 'local' starts a "
            "local cluster (orchestration.dask), else the address of a running scheduler.",
        ),
    ] = None,
    params: ParamsOpt = Path("params.yaml"),
    root: RootOpt = Path(),
) -> None:
    """Score a traffic file with the champion; the label column is optional.

    Writes one row per input line (KDD format) or record (traffic, ingested first; the rows
    carry where each record came from): predicted category, attack yes/no, each model's
    vote or score, and which ensemble layer decided. Bad lines go to
    <output>.quarantine.csv. The input streams through in chunks (params `stream`), so any
    size fits in memory. When the file carries labels, the metrics are printed too.
    """
    settings = _load(params)
    try:
        if dask is not None:
            from iot_anomaly.cluster import score_on_dask

            cluster = settings.orchestration.dask
            with _steps("predict on Dask") as step:
                done = score_on_dask(
                    input,
                    output,
                    settings.promotion.champion_dir,
                    Paths(root),
                    ingest=settings.ingest,
                    stream=settings.stream,
                    address=None if dask == "local" else dask,
                    n_workers=cluster.n_workers,
                    threads_per_worker=cluster.threads_per_worker,
                    progress=lambda done, total: step(f"{done} of {total} parts scored"),
                )
        else:
            from iot_anomaly.stages import predict as stage

            with _rows_progress("predict") as progress:
                done = stage.run(
                    input,
                    output,
                    settings.promotion.champion_dir,
                    Paths(root),
                    ingest=settings.ingest,
                    stream=settings.stream,
                    progress=progress,
                )
    except (FileNotFoundError, ValueError) as err:
        _fail(err)
    if done.ingest is not None and "sources" in done.ingest:
        console.print(_ingest_table(done.ingest))
    n, seconds = done.rows, done.seconds
    console.print(
        f"Scored {n:,} rows in {seconds:.1f} s ({n / max(seconds, 1e-9):,.0f} rows/s) with "
        f"champion {done.version}: {done.attacks:,} attacks"
        + (f" ({done.attacks / n:.1%})" if n else "")
    )
    offenders = done.summary.get("top_offenders", [])
    if offenders:
        console.print(_offenders_table(offenders, done.summary["hosts_with_attacks"]))
    if done.quarantined:
        console.print(f"[yellow]{done.quarantined:,} lines quarantined:[/] {done.quarantine}")
    if done.metrics is not None:
        m = done.metrics
        console.print(
            f"accuracy {m['binary']['accuracy']:.4%}, precision {m['binary']['precision']:.4f}, "
            f"recall {m['binary']['recall']:.4f}, F1 {m['binary']['f1']:.4f} (attack positive); "
            f"5-class macro-F1 {m['multiclass']['macro_f1']:.4f}; KDD cost {m['kdd_cost']:.4f}"
        )
    console.print(f"Predictions: {done.output}")


@contextmanager
def _rows_progress(title: str) -> Iterator[Callable[[int | None, int, int | None], None]]:
    """A live line while a long input is worked through: rows and rows/s (or, with rows
    None, the bytes read), the share of the input read and the time left; yields the
    callback (rows so far, bytes read, bytes in all or None)."""
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=None),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(title, total=None)
        started = time.perf_counter()

        def update(rows: int | None, done: int, total: int | None) -> None:
            if rows is None:
                what = f"{done / 2**20:,.1f} MB read"
            else:
                rate = rows / max(time.perf_counter() - started, 1e-9)
                what = f"{rows:,} rows, {rate:,.0f} rows/s"
            progress.update(task, completed=done, total=total, description=f"{title}: {what}")

        yield update


def _offenders_table(offenders: list[dict[str, Any]], hosts: int) -> Table:
    """The source hosts with the most attack connections, with their categories."""
    table = _table(
        f"Top offenders ({len(offenders)} of {hosts:,} hosts with attacks)",
        ("host", "attacks", "categories", "first seen", "last seen"),
    )
    table.columns[0].min_width = 15  # an address in full: what an operator acts on
    table.columns[2].justify = "left"
    for host in offenders:
        table.add_row(
            host["host"],
            f"{host['attacks']:,}",
            ", ".join(f"{c} {n:,}" for c, n in host["categories"].items()),
            _utc(host["first_seen"]),
            _utc(host["last_seen"]),
        )
    return table


def _utc(ts: float) -> str:
    from iot_anomaly.evaluation.hosts import utc

    return utc(ts)


def _ingest_table(summary: dict[str, Any]) -> Table:
    """Per source: what was read, what became records, what went to quarantine, notes."""
    table = _table("Ingested", ("source", "format", "read", "records", "quarantined", "notes"))
    table.columns[-1].justify = "left"
    for src in summary["sources"]:
        table.add_row(
            Path(src["file"]).name,
            src["format"],
            f"{src['read']:,}",
            f"{src['records']:,}",
            f"{src['quarantined']:,}",
            "; ".join(src["notes"]),
        )
    return table


@app.command()
def ingest(
    sources: Annotated[
        list[Path],
        typer.Argument(help="Packet captures, Zeek conn.log files, their CSVs, or folders."),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="CSV of records.")],
    params: ParamsOpt = Path("params.yaml"),
) -> None:
    """Turn traffic into KDD-style records: one per connection (log line or capture flow),
    with where it came from. Writes OUT and, beside it, NAME.quarantine.csv (what could not
    be trusted, with file, line, field and reason) and NAME.summary.json (per source: read,
    records, quarantined, features measured), NAME being OUT without its suffix. Logs stream
    through in chunks (params `stream`), so any size fits in memory."""
    from iot_anomaly.runtime import steady_memory
    from iot_anomaly.traffic.ingest import write_stream
    from iot_anomaly.traffic.stream import Stream

    settings = _load(params)
    steady_memory()
    try:
        with _rows_progress("ingest") as progress:
            done = Stream(
                sources,
                settings.ingest,
                settings.stream.chunk_rows,
                progress=lambda read, total: progress(None, read, total),
            )
            written = write_stream(done, output)
    except (FileNotFoundError, ValueError) as err:
        _fail(err)
    summary = done.summary
    console.print(_ingest_table(summary))
    console.print(
        f"{summary['read']:,} read = {summary['records']:,} records + "
        f"{summary['quarantined']:,} quarantined; not measured: "
        f"{', '.join(summary['unmeasured']) or 'none'}"
    )
    if summary["skipped"]:
        console.print(f"[yellow]{len(summary['skipped'])} files skipped (not traffic)[/]")
    console.print(f"Records: {written[0]}  quarantine: {written[1]}  summary: {written[2]}")


@app.command()
def study(
    protocol: Annotated[
        str, typer.Option("--protocol", help="one of preprocess.protocols, e.g. corrected_flow")
    ] = "paper",
    vary: Annotated[
        str,
        typer.Option(
            help="models: the models' seed (split fixed) | split: the test split's seed "
            "(paper, dedup; the models keep models.seed)."
        ),
    ] = "models",
    seeds: Annotated[
        str | None,
        typer.Option(help="Comma-separated; default params models.seeds (models.split_seeds)."),
    ] = None,
    params: ParamsOpt = Path("params.yaml"),
    root: RootOpt = Path(),
) -> None:
    """Seed study: retrain every model per seed; mean, 95% interval and McNemar's test."""
    from iot_anomaly.stages import study as stage

    paths = Paths(root)
    settings = _load(params)
    default = settings.models.seeds if vary == "models" else settings.models.split_seeds
    chosen = [int(s) for s in seeds.split(",")] if seeds else list(default)
    with _steps("study") as step:
        report = stage.run(settings, paths, protocol, chosen, step, vary)
    table = _table(
        f"Seed study on {protocol}: mean and 95% interval over {vary} seeds {chosen}",
        ("figure", "mean", "95% interval"),
    )
    for name, ci in report["summary"].items():
        table.add_row(name, f"{ci['mean']:.5f}", f"[{ci['low']:.5f}, {ci['high']:.5f}]")
    console.print(table)
    for seed, test in report["mcnemar"].items():
        console.print(
            f"seed {seed}: ensemble vs {test['against']}: b={test['b']}, c={test['c']}, "
            f"p={test['p_value']:.3g} ({test['method']})"
        )
    console.print(f"Report: {stage.study_file(paths, protocol, vary)}")


@app.command()
def download(
    params: ParamsOpt = Path("params.yaml"),
    dest: Annotated[Path | None, typer.Option(help="Folder to write into.")] = None,
    url: Annotated[
        str | None, typer.Option(help="Base URL (default: params data.source_url).")
    ] = None,
) -> None:
    """Fetch the raw files from the official UCI source, refusing any checksum mismatch.

    Needs the internet. Offline, the same files come from the project's DVC remote:
    `dvc pull data.dvc`. After a download, `dvc add data` records the new version.
    """
    from iot_anomaly.data.download import ChecksumError, download_all

    cfg = _load(params).data
    try:
        with _steps("download") as step:
            step(f"{len(cfg.sha256)} files from {url or cfg.source_url}")
            files = download_all(
                url or cfg.source_url, cfg.sha256, dest or cfg.dir,
                timeout=cfg.download_timeout_s,
            )  # fmt: skip
    except ChecksumError as err:
        _fail(err)
    except OSError as err:
        _fail(OSError(f"download failed: {err}"))
    for f in files:
        console.print(f"[green]verified[/] {f}")


@app.command()
def promote(params: ParamsOpt = Path("params.yaml"), root: RootOpt = Path()) -> None:
    """Challenger vs champion: judge the registered model on the holdout of corrected.gz and
    the held-out IoT-23 scenarios, and promote it only if the rules in params allow (the
    training flow does this itself)."""
    from iot_anomaly.stages import promote as stage

    paths, settings = Paths(root), _load(params)
    try:
        with _steps("promote") as step:
            entry = stage.run(settings, paths, "manual", step)
    except FileNotFoundError as err:
        _fail(err)
    colour = {"promoted": "green", "rejected": "red"}.get(entry["verdict"], "yellow")
    console.print(f"[bold {colour}]{entry['verdict']}[/]: {entry['reason']}")
    log = paths.root / settings.promotion.decision_log
    console.print(f"Decision log: {log.with_suffix('.html')}")


@app.command()
def monitor(
    batches: Annotated[int, typer.Option("--batches", "-n", help="Most batches to take.")] = 1,
    params: ParamsOpt = Path("params.yaml"),
    root: RootOpt = Path(),
) -> None:
    """Process inbox batches: validate, score with the champion, Evidently drift report and
    the drift decision (the monitoring flow does the same and also starts retraining)."""
    from iot_anomaly.stages import monitor as stage

    paths, settings = Paths(root), _load(params)
    table = _table(
        "Monitored batches",
        ("batch", "status", "rows", "quarantined", "drifted features", "attack share",
         "accuracy (interval) vs holdout", "drift"),
    )  # fmt: skip
    done = []
    for _ in range(batches):
        with _steps("monitor") as step:
            outcome = stage.run(settings, paths, step)
        if outcome is None:
            break
        done.append(outcome)
        d = outcome.drift
        table.add_row(
            outcome.batch, outcome.status, f"{outcome.rows:,}", f"{outcome.quarantined:,}",
            f"{d['drifted_columns']} of {d['columns']}" if d else "-",
            f"{outcome.attack_share:.3f}" if outcome.attack_share is not None else "-",
            _quality(d),
            ("[red]fired[/]" if outcome.fired else "[green]no[/]") if d else outcome.reason,
        )  # fmt: skip
    if not done:
        console.print(f"Inbox {paths.root / settings.monitor.inbox} is empty.")
        return
    console.print(table)
    for outcome in done:
        if outcome.fired:
            console.print(
                f"[red]drift in {outcome.batch}:[/] {'; '.join(outcome.drift['reasons'])}; "
                "retrain with the training flow (`python -m flows.training`)"
            )
    console.print(f"Drift reports: {paths.root / settings.monitor.reports_dir}")
    log = paths.root / settings.promotion.decision_log
    console.print(f"Decision log: {log.with_suffix('.html')}")
    console.print("Review site: `iot-anomaly report`, then open reports/site/index.html")


def _quality(drift: dict | None) -> str:
    """A labelled batch's accuracy, its interval and the champion's holdout figure."""
    if not drift or not drift.get("accuracy_interval"):
        return "-"
    low, high = drift["accuracy_interval"]
    return f"{drift['accuracy']:.3f} ({low:.3f}-{high:.3f}) vs {drift['reference_accuracy']:.3f}"


@app.command()
def replay(
    every: Annotated[
        float | None, typer.Option("--every", help="Seconds between batches (params).")
    ] = None,
    rows: Annotated[int | None, typer.Option("--rows", help="Rows per batch (params).")] = None,
    count: Annotated[int | None, typer.Option("--batches", "-n", help="Stop after N.")] = None,
    unseen_share: Annotated[
        float | None,
        typer.Option(help="Share of each batch from attack types absent from training."),
    ] = None,
    labels: Annotated[
        bool, typer.Option(help="Keep the label column (analyst-confirmed traffic).")
    ] = True,
    source: Annotated[
        str | None,
        typer.Option(help="kdd (corrected.gz), iot23 or captures (default: params replay)."),
    ] = None,
    scenario: Annotated[
        list[str] | None,
        typer.Option(help="An IoT-23 scenario to send (repeatable; default: all not held out)."),
    ] = None,
    params: ParamsOpt = Path("params.yaml"),
    root: RootOpt = Path(),
) -> None:
    """Replay traffic into the inbox, batch by batch: corrected.gz outside the evaluation
    holdout (kdd), or real traffic ingested and sent in time order: the IoT-23 scenarios that
    are not held out (iot23), the packet captures (captures)."""
    from iot_anomaly.stages import replay as stage

    settings = _load(params)
    with Progress(
        SpinnerColumn(), TextColumn("[bold]replay"), BarColumn(), TextColumn("{task.description}"),
        TimeElapsedColumn(), console=console,
    ) as progress:  # fmt: skip
        task = progress.add_task("", total=None)

        def advance(done: int, planned: int, file: Path, batch_rows: int) -> None:
            description = f"{file.name} ({batch_rows:,} rows)"
            progress.update(task, completed=done, total=planned, description=description)

        try:
            replayed = stage.run(
                settings, Paths(root), every, rows, count, unseen_share, labels, advance,
                source, scenario,
            )  # fmt: skip
        except (FileNotFoundError, ValueError) as err:
            progress.remove_task(task)  # no bar left on screen above the error
            _fail(err)
    written, size, inbox = replayed.written, replayed.batch_rows, replayed.inbox
    console.print(f"{len(written)} batch(es) of up to {size:,} rows written to {inbox}")
    if written:
        console.print(f"Next: `iot-anomaly monitor -n {len(written)}` scores them")


@app.command()
def report(params: ParamsOpt = Path("params.yaml"), root: RootOpt = Path()) -> None:
    """Build the review site (reports/site/): model quality, data quality, drift over time
    and the decision log, as static pages that open offline."""
    from iot_anomaly.stages import report as stage

    paths, settings = Paths(root), _load(params)
    try:
        with _steps("report") as step:
            summary = stage.run(settings, paths, step)
    except (FileNotFoundError, ValueError) as err:
        _fail(err)
    table = _table("Review site", ("what", "count"))
    table.add_row("protocols evaluated", str(len(summary["protocols"])))
    table.add_row("models evaluated", str(summary["models"]))
    table.add_row("seed studies", ", ".join(summary["seed_studies"]) or "none")
    table.add_row("monitored batches (scored)", f"{summary['batches']} ({summary['scored']})")
    table.add_row("drift fired", str(summary["drift_fired"]))
    table.add_row("Evidently reports linked", str(summary["evidently_reports"]))
    table.add_row("decisions", str(summary["decisions"]))
    table.add_row("champion version", summary["champion"] or "none")
    table.add_row("hosts with attack connections", str(summary["hosts_with_attacks"]))
    console.print(table)
    console.print(f"Open: {summary['site']}")


@app.command()
def hosts(
    predictions: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Predictions of ingested traffic (`iot-anomaly predict` on a capture, Zeek "
            "log or records file); none: every monitored batch of real traffic."
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Folder for hosts.json and hosts.csv."),
    ] = None,
    params: ParamsOpt = Path("params.yaml"),
    root: RootOpt = Path(),
) -> None:
    """Verdicts per device: every source host with attack connections, by category, with
    its connections, first and last seen, top destination ports and hosts, and the files
    (and monitored batches) they came from. Writes hosts.json and hosts.csv."""
    from iot_anomaly.evaluation.hosts import counted, utc
    from iot_anomaly.stages import hosts as stage

    paths, settings = Paths(root), _load(params)
    cfg = settings.report.hosts
    if predictions and output is None:
        _fail(ValueError("give the folder to write the host table to (-o DIR)"))
    try:
        if predictions and output is not None:
            written = stage.from_files(predictions, output, cfg.top_ports, cfg.top_hosts)
        else:
            written = stage.from_monitoring(settings, paths, output)
    except (FileNotFoundError, ValueError) as err:
        _fail(err)
    report = written.report
    table = _table(
        "Hosts with attack connections",
        ("host", "attacks", "by category", "connections", "seen (UTC)", "top ports"),
    )
    for i in (2, 4, 5):
        table.columns[i].justify = "left"
    table.columns[0].no_wrap = table.columns[4].no_wrap = True
    for h in report.hosts[: cfg.listed]:
        categories = ", ".join(f"{c} {n:,}" for c, n in h.by_category.items() if n)
        table.add_row(
            h.host, f"{h.attack_connections:,}", categories, f"{h.connections:,}",
            f"{utc(h.first_seen)}\n{utc(h.last_seen)}", counted(h.top_dst_ports),
        )  # fmt: skip
    console.print(table)
    if report.hosts_with_attacks > cfg.listed:
        console.print(f"{report.hosts_with_attacks - cfg.listed:,} more hosts in {written.csv}")
    console.print(
        f"{report.attack_connections:,} attack connections of {report.connections:,} from "
        f"{report.hosts_with_attacks:,} of {report.hosts_seen:,} source hosts"
    )
    console.print(f"Host table: {written.csv} and {written.json}")


@app.command()
def docs(
    output: Annotated[Path, typer.Option("--output", "-o", help="The page to write.")] = Path(
        "docs/results.md"
    ),
    params: ParamsOpt = Path("params.yaml"),
    root: RootOpt = Path(),
) -> None:
    """Render the documentation's results page (docs/results.md) from the reports: seed-study
    means with their 95% intervals, the paper comparison, one-run figures labelled as such."""
    from iot_anomaly.review.docs import run

    try:
        page = run(load_params(params), Paths(root), output)
    except (FileNotFoundError, ValueError) as err:
        _fail(err)
    console.print(f"Results page: {page}")


if __name__ == "__main__":
    app()
