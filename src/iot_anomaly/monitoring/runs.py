"""Run records: each flow run writes one when it starts and removes it when it ends (either
way, success or failure), so a run that was killed (SIGKILL, a machine that went down) leaves
its record behind. The next run finds it, its process gone, and the decision log says the run
crashed: the log is whole even when Prefect alone saw the end."""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from iot_anomaly.io import write_json
from iot_anomaly.monitoring import decisions


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def open_run(folder: Path, flow: str, run_id: str | None = None, **details: Any) -> Path:
    """Write the record of a starting run (flow, run id, process, host, start time)."""
    run_id = run_id or uuid.uuid4().hex
    record = {
        "flow": flow,
        "run_id": run_id,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started_at": decisions.now(),
        **details,
    }
    return write_json(record, folder / f"{flow}-{run_id}.json")


def close_run(record: Path) -> None:
    """The run ended (either way): its record goes."""
    record.unlink(missing_ok=True)


def crashed(folder: Path) -> list[dict[str, Any]]:
    """Records of runs that never ended: left behind by a process of this host that is gone
    (a record of another host, or of a live process, is a run still going)."""
    if not folder.is_dir():
        return []
    host, found = socket.gethostname(), []
    for path in sorted(folder.glob("*.json")):
        record = json.loads(path.read_text())
        if record.get("host") == host and not _alive(int(record["pid"])):
            found.append(record | {"record": str(path)})
    return found


def log_crashed(folder: Path, log: Path) -> list[dict[str, Any]]:
    """Put every crashed run in the decision log (kind `run`, verdict `crashed`) and drop its
    record, so each is logged once; return the entries."""
    entries = []
    for record in crashed(folder):
        entries.append(
            decisions.record(
                log,
                "run",
                "crashed",
                f"{record['flow']} run {record['run_id']} started at {record['started_at']} "
                f"never ended: its process {record['pid']} is gone (killed or the machine "
                "stopped); whatever it did not finish was not recorded",
                **{k: v for k, v in record.items() if k != "record"},
            )
        )
        Path(record["record"]).unlink(missing_ok=True)
    return entries


@contextmanager
def recorded_run(folder: Path, log: Path, flow: str, run_id: str | None = None,
                 **details: Any) -> Iterator[Path]:  # fmt: skip
    """Log the runs that crashed before this one, then hold this run's record while it runs."""
    log_crashed(folder, log)
    record = open_run(folder, flow, run_id, **details)
    try:
        yield record
    finally:
        close_run(record)
