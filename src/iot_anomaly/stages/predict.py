"""`iot-anomaly predict`: score a traffic file with the champion (the promoted one, or the
registered model before the first promotion). Writes one row per input line and the bad
lines to a quarantine file beside the output; figures against the labels when the file has
them.

Start-up is a large share of a short run, so the order of work matters: the networks' helper
process is forked first (it imports PyTorch while this process goes on), the file is parsed
in a thread while scikit-learn is imported, and pandas and scikit-learn are imported only
after the fork (see models/runner.py).
"""

from __future__ import annotations

import gc
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iot_anomaly.config import Paths, serving_paths
from iot_anomaly.models.runner import start_networks
from iot_anomaly.runtime import Runtime


@dataclass(frozen=True)
class Prediction:
    """What one `predict` run did, for the command to print."""

    rows: int
    attacks: int
    seconds: float
    version: str
    output: Path
    quarantine: Path
    quarantined: int
    metrics: dict[str, Any] | None  # against the file's labels; None without labels or rows


def quarantine_file(output: Path) -> Path:
    """Where the bad lines of a run go: <output>.quarantine.csv beside the predictions."""
    return output.with_name(output.stem + ".quarantine.csv")


def run(
    input: Path,
    output: Path,
    champion_dir: Path,
    paths: Paths,
    settings: Runtime | None = None,
) -> Prediction:
    """Score `input` with the model in use (the champion store `champion_dir`, or the model
    `paths` registered) and write the predictions to `output`. `settings` (how the work is
    spread) defaults to the environment's. Raises FileNotFoundError without a registered
    model or input file, KddFormatError (a ValueError) for a file that is not KDD format."""
    started = time.perf_counter()
    paths = serving_paths(champion_dir, paths)
    settings = settings or Runtime.from_env()
    networks = start_networks(paths, settings)  # first thing: the helper imports PyTorch
    try:
        from iot_anomaly.data.reader import parse_kdd, write_quarantine

        with ThreadPoolExecutor(max_workers=1) as reading:
            # Parsing (gzip, pandas' tokenizer) partly runs while scikit-learn imports.
            parsing = reading.submit(parse_kdd, input)
            from iot_anomaly.serving import Champion, labelled_metrics

            # Everything imported so far lives until exit: keep the collector off it, which
            # saves its passes over millions of objects, at exit most of all.
            gc.freeze()
            champion = Champion.load(paths, settings, networks)
            parsed = parsing.result()
        scored = champion.score(parsed.frame)
    finally:
        networks.close()
    scored.write_csv(output)
    quarantine = quarantine_file(output)
    write_quarantine(parsed, quarantine)
    seconds = time.perf_counter() - started  # the scoring run; the figures below are extra
    metrics = (
        labelled_metrics(parsed.frame, scored.frame(["category", "attack"]))
        if parsed.has_label and len(scored)
        else None
    )
    return Prediction(
        rows=len(scored),
        attacks=int(scored.distinct["attack"].to_numpy()[scored.codes].sum()),
        seconds=seconds,
        version=champion.record["version"],
        output=output,
        quarantine=quarantine,
        quarantined=parsed.n_quarantined,
        metrics=metrics,
    )
