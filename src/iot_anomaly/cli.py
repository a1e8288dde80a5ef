"""The `iot-anomaly` command: one sub-command per pipeline stage (DVC calls these)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from iot_anomaly.config import Paths, load_params

app = typer.Typer(
    help=(
        "Detect attacks in IoT network traffic (KDD Cup 99). The full pipeline runs with "
        "`dvc repro`; each stage is a command here."
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


def _fail(err: Exception) -> None:
    console.print(f"[bold red]error:[/] {err}")
    raise typer.Exit(code=1)


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
    table = Table(title="Validation")
    for col in ("data set", "source", "rows", "quarantined", "expectations", "failed", "result"):
        table.add_column(col, justify="right" if col not in ("data set", "source") else "left")
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
    table = Table(title="Protocols")
    for col in ("protocol", "train", "test", "train normal", "unseen-attack test rows"):
        table.add_column(col, justify="right" if col != "protocol" else "left")
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

    cfg = load_params(params)["data"]
    try:
        with _steps("download") as step:
            step(f"{len(cfg['sha256'])} files from {url or cfg['source_url']}")
            files = download_all(
                url or cfg["source_url"], cfg["sha256"], dest or Path(cfg["dir"]),
                timeout=float(cfg["download_timeout_s"]),
            )  # fmt: skip
    except ChecksumError as err:
        _fail(err)
    except OSError as err:
        _fail(OSError(f"download failed: {err}"))
    for f in files:
        console.print(f"[green]verified[/] {f}")


if __name__ == "__main__":
    app()
