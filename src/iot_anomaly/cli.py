"""The `iot-anomaly` command: one sub-command per pipeline stage (DVC calls these)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
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
        str, typer.Option("--protocol", help="paper | dedup | corrected")
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
    input: Annotated[Path, typer.Option("--input", "-i", help="KDD-format traffic file.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="CSV of predictions.")],
    params: ParamsOpt = Path("params.yaml"),
    root: RootOpt = Path(),
) -> None:
    """Score a traffic file with the champion; the label column is optional.

    Writes one row per input line: predicted category, attack yes/no, each model's vote or
    score, and which ensemble layer decided. Bad lines go to <output>.quarantine.csv. When
    the file carries labels, the metrics are printed too.
    """
    from iot_anomaly.stages import predict as stage

    try:
        done = stage.run(input, output, load_params(params).promotion.champion_dir, Paths(root))
    except (FileNotFoundError, ValueError) as err:
        _fail(err)
    n, seconds = done.rows, done.seconds
    console.print(
        f"Scored {n:,} rows in {seconds:.1f} s ({n / max(seconds, 1e-9):,.0f} rows/s) with "
        f"champion {done.version}: {done.attacks:,} attacks"
    )
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


@app.command()
def study(
    protocol: Annotated[
        str, typer.Option("--protocol", help="paper | dedup | corrected")
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
    promote it only if the rule in params allows (the training flow does this itself)."""
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
        ("batch", "status", "rows", "quarantined", "drifted features", "attack share", "drift"),
    )
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
    params: ParamsOpt = Path("params.yaml"),
    root: RootOpt = Path(),
) -> None:
    """Replay corrected.gz (outside the evaluation holdout) into the inbox, batch by batch."""
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
                settings, Paths(root), every, rows, count, unseen_share, labels, advance
            )
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
    console.print(table)
    console.print(f"Open: {summary['site']}")


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
