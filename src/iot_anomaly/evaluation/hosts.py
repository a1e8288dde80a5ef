"""Verdicts per device: the champion's predictions on ingested traffic (one row per
connection, with its provenance columns) grouped by the connection's source host, as the
table an operator acts on: which device sent attack connections, of which categories, when,
to which ports and hosts, and in which files and batches they are.

Only hosts with at least one attack connection are rows of the table; every other host is
counted (`HostReport.hosts_seen`) but not listed. "Attack" is the champion's verdict (its
`attack` column); the categories are its predicted categories.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import pandas as pd

from iot_anomaly import schema
from iot_anomaly.traffic.connections import DST_IP, DST_PORT, FILE, SRC_IP, TS

ATTACK: Final = "attack"
"""The champion's verdict column (serving.Champion's output): attack or not."""
BATCH: Final = "batch"
"""Optional column: the monitored batch a connection came from."""
#: The columns a predictions frame must carry: those of the provenance columns
#: (traffic.records.PROVENANCE) the table uses, and the champion's verdict.
REQUIRED: Final = (TS, SRC_IP, DST_IP, DST_PORT, FILE, schema.CATEGORY, ATTACK)
#: Attack categories counted per host, in the project's order.
ATTACK_CATEGORIES: Final = tuple(c for c in schema.CATEGORIES if c != schema.NORMAL)
#: The columns of the flat table (hosts.csv), in order.
COLUMNS: Final = (
    "host",
    "attack_connections",
    *ATTACK_CATEGORIES,
    "connections",
    "first_seen",
    "last_seen",
    "first_attack",
    "last_attack",
    "top_dst_ports",
    "top_dst_hosts",
    "files",
    "batches",
    "first_seen_ts",
    "last_seen_ts",
    "first_attack_ts",
    "last_attack_ts",
)


@dataclass(frozen=True)
class Host:
    """One source host with attack connections. Times are epoch seconds (the `ts` of the
    connections); ports, destination hosts, files and batches are those of its attack
    connections, the busiest first (ties in name order)."""

    host: str
    attack_connections: int
    by_category: dict[str, int]
    connections: int
    first_seen: float | None
    last_seen: float | None
    first_attack: float | None
    last_attack: float | None
    top_dst_ports: list[tuple[int, int]]
    top_dst_hosts: list[tuple[str, int]]
    files: list[str]
    batches: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class HostReport:
    """The host table with the totals it was built from."""

    connections: int
    attack_connections: int
    hosts_seen: int
    hosts: list[Host]
    files: list[str]
    batches: list[str]
    top_ports: int
    top_hosts: int

    @property
    def hosts_with_attacks(self) -> int:
        return len(self.hosts)


def check_columns(frame: pd.DataFrame, source: str) -> None:
    """Raise ValueError naming `source` and the columns it lacks."""
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{source}: not predictions of ingested traffic: no column {', '.join(missing)} "
            f"(needs the provenance and verdict columns {', '.join(REQUIRED)})"
        )


def utc(ts: float | None) -> str:
    """Epoch seconds as `YYYY-MM-DD HH:MM:SS` UTC ("" when unknown)."""
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _time(value: Any) -> float | None:
    return None if pd.isna(value) else float(value)


def _top(frame: pd.DataFrame, column: str, n: int) -> dict[str, list[tuple[Any, int]]]:
    """Per source host, its `n` most frequent values of `column` with their counts."""
    counts = frame.groupby([SRC_IP, column], sort=False).size().rename("n").reset_index()
    counts = counts.sort_values([SRC_IP, "n", column], ascending=[True, False, True])
    counts = counts.groupby(SRC_IP, sort=False).head(n)
    return {
        host: list(zip(group[column].tolist(), group["n"].astype(int).tolist(), strict=True))
        for host, group in counts.groupby(SRC_IP, sort=False)
    }


def _in_order(values: pd.Series) -> list[str]:
    """Distinct values in order of first appearance."""
    return [str(v) for v in dict.fromkeys(values.tolist())]


def host_report(predictions: pd.DataFrame, top_ports: int, top_hosts: int) -> HostReport:
    """The per-host table of `predictions` (columns `REQUIRED`, optionally `BATCH`), sorted
    by attack connections (most first, then by host); `top_ports` and `top_hosts`: how many
    destination ports and hosts to list per host."""
    check_columns(predictions, "predictions")
    frame = predictions.assign(
        **{
            SRC_IP: predictions[SRC_IP].astype(str),
            DST_IP: predictions[DST_IP].astype(str),
            ATTACK: predictions[ATTACK].astype(bool),
        }
    )
    seen = frame.groupby(SRC_IP, sort=False).agg(
        connections=(TS, "size"), first=(TS, "min"), last=(TS, "max")
    )
    attacks = frame[frame[ATTACK]]
    hosts: list[Host] = []
    if not attacks.empty:
        by_category = pd.crosstab(attacks[SRC_IP], attacks[schema.CATEGORY])
        when = attacks.groupby(SRC_IP, sort=False)[TS].agg(["min", "max"])
        ports = _top(attacks, DST_PORT, top_ports)
        peers = _top(attacks, DST_IP, top_hosts)
        grouped = attacks.groupby(SRC_IP, sort=False)
        files = grouped[FILE].agg(lambda s: sorted({str(v) for v in s}))
        batches = grouped[BATCH].agg(_in_order) if BATCH in frame.columns else None
        for host, row in by_category.iterrows():
            hosts.append(
                Host(
                    host=str(host),
                    attack_connections=int(row.sum()),
                    by_category={c: int(row.get(c, 0)) for c in ATTACK_CATEGORIES},
                    connections=int(seen.at[host, "connections"]),
                    first_seen=_time(seen.at[host, "first"]),
                    last_seen=_time(seen.at[host, "last"]),
                    first_attack=_time(when.at[host, "min"]),
                    last_attack=_time(when.at[host, "max"]),
                    top_dst_ports=[(int(p), n) for p, n in ports[host]],
                    top_dst_hosts=[(str(h), n) for h, n in peers[host]],
                    files=files[host],
                    batches=[] if batches is None else batches[host],
                )
            )
    hosts.sort(key=lambda h: (-h.attack_connections, h.host))
    return HostReport(
        connections=len(frame),
        attack_connections=int(frame[ATTACK].sum()),
        hosts_seen=len(seen),
        hosts=hosts,
        files=sorted({str(v) for v in frame[FILE]}),
        batches=_in_order(frame[BATCH]) if BATCH in frame.columns else [],
        top_ports=top_ports,
        top_hosts=top_hosts,
    )


def counted(items: list[tuple[Any, int]]) -> str:
    """`[(23, 120), (2323, 4)]` as `23 (120); 2323 (4)`."""
    return "; ".join(f"{value} ({n})" for value, n in items)


def host_record(host: Host) -> dict[str, Any]:
    """One host as JSON: times both as epoch seconds (`*_ts`) and as UTC text."""
    return {
        "host": host.host,
        "attack_connections": host.attack_connections,
        "by_category": host.by_category,
        "connections": host.connections,
        "first_seen": utc(host.first_seen),
        "last_seen": utc(host.last_seen),
        "first_attack": utc(host.first_attack),
        "last_attack": utc(host.last_attack),
        "first_seen_ts": host.first_seen,
        "last_seen_ts": host.last_seen,
        "first_attack_ts": host.first_attack,
        "last_attack_ts": host.last_attack,
        "top_dst_ports": [{"port": p, "connections": n} for p, n in host.top_dst_ports],
        "top_dst_hosts": [{"host": h, "connections": n} for h, n in host.top_dst_hosts],
        "files": host.files,
        "batches": host.batches,
    }


def report_record(report: HostReport) -> dict[str, Any]:
    """The whole report as JSON (hosts.json)."""
    return {
        "connections": report.connections,
        "attack_connections": report.attack_connections,
        "hosts_seen": report.hosts_seen,
        "hosts_with_attacks": report.hosts_with_attacks,
        "top_ports": report.top_ports,
        "top_hosts": report.top_hosts,
        "files": report.files,
        "batches": report.batches,
        "hosts": [host_record(h) for h in report.hosts],
    }


def host_frame(report: HostReport) -> pd.DataFrame:
    """The table as one row per host (hosts.csv): lists joined with "; "."""
    rows = []
    for h in report.hosts:
        record = host_record(h)
        rows.append(
            {
                **{k: v for k, v in record.items() if k in COLUMNS},
                **h.by_category,
                "top_dst_ports": counted(h.top_dst_ports),
                "top_dst_hosts": counted(h.top_dst_hosts),
                "files": "; ".join(h.files),
                "batches": "; ".join(h.batches),
            }
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))
