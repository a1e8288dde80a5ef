"""`iot-anomaly predict`: score a traffic file with the champion (the promoted one, or the
registered model before the first promotion). Writes one row per input line and the bad
lines to a quarantine file beside the output; figures against the labels when the file has
them.

The input is a KDD-format file, or traffic (a packet capture, a Zeek conn.log, its CSV
conversion, or records written by `iot-anomaly ingest`), told apart by content. Traffic is
ingested in this process (traffic.ingest) and its predictions carry the provenance columns
(where each record came from); the ingestion summary is written beside them. A champion
that reads a feature the input did not measure (a content feature, from flows) is an error
saying which, never a guess.

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
from typing import TYPE_CHECKING, Any

from iot_anomaly.config import Paths, serving_paths
from iot_anomaly.models.runner import start_networks
from iot_anomaly.runtime import Runtime
from iot_anomaly.traffic.sniff import CAPTURE, RECORDS, traffic_kind

#: A folder as input: the traffic files inside it, ingested together.
FOLDER = "folder"

if TYPE_CHECKING:
    import pandas as pd

    from iot_anomaly.models.runner import Networks
    from iot_anomaly.params import IngestParams
    from iot_anomaly.serving import Champion
    from iot_anomaly.traffic.ingest import Ingested


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
    ingest: dict[str, Any] | None = None  # traffic input: the ingestion summary


def quarantine_file(output: Path) -> Path:
    """Where the bad lines of a run go: <output>.quarantine.csv beside the predictions."""
    return output.with_name(output.stem + ".quarantine.csv")


def run(
    input: Path,
    output: Path,
    champion_dir: Path,
    paths: Paths,
    settings: Runtime | None = None,
    ingest: IngestParams | None = None,
) -> Prediction:
    """Score `input` with the model in use (the champion store `champion_dir`, or the model
    `paths` registered) and write the predictions to `output`. `settings` (how the work is
    spread) defaults to the environment's; `ingest` (params group `ingest`) is needed for
    traffic input. Raises FileNotFoundError without a registered model or input file,
    ValueError for a file that is neither KDD format nor readable traffic, or for traffic
    whose records lack a feature the champion reads."""
    started = time.perf_counter()
    paths = serving_paths(champion_dir, paths)
    settings = settings or Runtime.from_env()
    if not input.exists():
        raise FileNotFoundError(f"{input}: no such file or folder")
    kind = FOLDER if input.is_dir() else traffic_kind(input)
    if kind is not None:
        if ingest is None:
            raise ValueError(f"{input} is traffic ({kind}): reading it needs the ingest params")
        networks = start_networks(paths, settings)
        return _run_traffic(input, output, kind, paths, settings, networks, ingest, started)
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


def _load_traffic(input: Path, kind: str, ingest: IngestParams) -> Ingested:
    """Ingest a traffic file, or read a records file `iot-anomaly ingest` wrote."""
    from iot_anomaly.traffic import ingest as traffic
    from iot_anomaly.traffic.connections import empty_quarantine

    if kind != RECORDS:
        return traffic.ingest([input], ingest)
    records = traffic.read_records(input)
    summary = traffic.read_records_summary(input) or {"records": len(records)}
    return traffic.Ingested(records, empty_quarantine(), summary)


def unmeasured(champion: Champion, records: pd.DataFrame) -> dict[str, int]:
    """The features the champion reads that some records lack (NaN: the source did not
    measure them), with how many records lack each."""
    missing = records.reindex(columns=champion.features).isna().sum()
    return {str(f): int(n) for f, n in missing.items() if n}


def _unmeasured_message(
    input: Path, record: dict[str, Any], lacking: dict[str, int], n: int
) -> str:
    if set(lacking.values()) == {n}:
        what = f"{', '.join(lacking)} (none of its {n:,} records has them)"
    else:
        what = ", ".join(f"{f} ({k:,} of {n:,} records lack it)" for f, k in lacking.items())
    return (
        f"{input}: the champion (version {record['version']}, protocol {record['protocol']}) "
        f"reads {len(lacking)} features this input does not measure: {what}. Traffic "
        "sources measure the flow features only; serve a flow model (a protocol of feature "
        "set `flow`) to score them."
    )


def _run_traffic(
    input: Path,
    output: Path,
    kind: str,
    paths: Paths,
    settings: Runtime,
    networks: Networks,
    ingest: IngestParams,
    started: float,
) -> Prediction:
    """`run` for traffic: ingest (a log in a thread while scikit-learn imports; a capture
    before, as nfstream forks), check the champion's features were measured, score, write
    predictions with provenance, the quarantine and the ingestion summary."""
    try:
        at_once = kind in (CAPTURE, FOLDER)
        if at_once:  # nfstream forks its meter processes: not while another thread imports
            ingested = _load_traffic(input, kind, ingest)
        with ThreadPoolExecutor(max_workers=1) as reading:
            loading = None if at_once else reading.submit(_load_traffic, input, kind, ingest)
            from iot_anomaly.serving import Champion, labelled_metrics

            gc.freeze()
            champion = Champion.load(paths, settings, networks)
            if loading is not None:
                ingested = loading.result()
        lacking = unmeasured(champion, ingested.records)
        if lacking:
            raise ValueError(
                _unmeasured_message(input, champion.record, lacking, len(ingested.records))
            )
        scored = champion.score(ingested.records)
    finally:
        networks.close()
    import pandas as pd

    from iot_anomaly.io import atomic_write, write_json
    from iot_anomaly.traffic import ingest as traffic
    from iot_anomaly.traffic.records import PROVENANCE

    records = ingested.records
    table = pd.concat(
        [records[list(PROVENANCE)].reset_index(drop=True), scored.frame().reset_index(drop=True)],
        axis=1,
    )
    atomic_write(output, lambda tmp: table.to_csv(tmp, index=False))
    quarantine = quarantine_file(output)
    atomic_write(quarantine, lambda tmp: ingested.quarantine.to_csv(tmp, index=False))
    write_json(ingested.summary, traffic.summary_path(output))
    seconds = time.perf_counter() - started
    metrics = (
        labelled_metrics(records, scored.frame(["category", "attack"]))
        if ingested.labelled and len(scored)
        else None
    )
    return Prediction(
        rows=len(scored),
        attacks=int(table["attack"].sum()) if len(table) else 0,
        seconds=seconds,
        version=champion.record["version"],
        output=output,
        quarantine=quarantine,
        quarantined=len(ingested.quarantine),
        metrics=metrics,
        ingest=ingested.summary,
    )
