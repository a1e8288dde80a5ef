"""The decision log: every monitoring and retraining decision (drift or not, retrain or not,
promoted or not) with its reason, as JSON lines plus an HTML page people read beside them
(the review site's decision template, refreshed after every decision)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from iot_anomaly.io import write_text
from iot_anomaly.review import decisions as decision_page

#: What a decision is about, in the order a batch meets them; `run`: a flow run that crashed.
KINDS = ("batch", "drift", "retrain", "promotion", "training", "run")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def record(log: Path, kind: str, verdict: str, reason: str, **details: Any) -> dict[str, Any]:
    """Append one decision to the log (one JSON line, flushed to disk) and refresh its page."""
    if kind not in KINDS:
        raise ValueError(f"unknown decision kind {kind!r}; expected one of {KINDS}")
    entry = {"time": now(), "kind": kind, "verdict": verdict, "reason": reason, **details}
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, default=str) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    write_text(render_html(read(log)), log.with_suffix(".html"))
    return entry


def read(log: Path) -> list[dict[str, Any]]:
    """Every decision so far, oldest first (none if the log does not exist yet)."""
    if not log.is_file():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line]


def render_html(entries: list[dict[str, Any]]) -> str:
    """The log as a page of its own, newest first: the review site's decision page without
    the site around it."""
    return decision_page.standalone_html(entries, KINDS)
