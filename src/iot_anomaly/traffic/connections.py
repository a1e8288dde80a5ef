"""The connections frame every reader returns and the feature builder reads, and what the
readers share: the quarantine rows of bad lines and the checks of typed fields.

One row per connection, columns exactly `COLUMNS` (docs/traffic.md). A reader returns a
`Read`: the connections it could trust, one quarantine row (columns of
`data.reader.QUARANTINE_COLUMNS`) per unit it could not, and what it learnt of the source.
Units are lines for logs and flows for captures: units read = connections + quarantined.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd

from iot_anomaly.data.reader import QUARANTINE_COLUMNS

TS: Final = "ts"
UID: Final = "uid"
SRC_IP: Final = "src_ip"
SRC_PORT: Final = "src_port"
DST_IP: Final = "dst_ip"
DST_PORT: Final = "dst_port"
PROTO: Final = "proto"
SERVICE: Final = "service"
DURATION: Final = "duration"
ORIG_BYTES: Final = "orig_bytes"
RESP_BYTES: Final = "resp_bytes"
CONN_STATE: Final = "conn_state"
URGENT: Final = "urgent"
WRONG_FRAGMENT: Final = "wrong_fragment"
LABEL: Final = "label"
FILE: Final = "file"
LINE: Final = "line"

#: The connections frame's columns, in order, and their dtypes.
DTYPES: Final[dict[str, str]] = {
    TS: "float64",
    UID: "object",
    SRC_IP: "object",
    SRC_PORT: "int64",
    DST_IP: "object",
    DST_PORT: "int64",
    PROTO: "object",
    SERVICE: "object",
    DURATION: "float64",
    ORIG_BYTES: "int64",
    RESP_BYTES: "int64",
    CONN_STATE: "object",
    URGENT: "float64",
    WRONG_FRAGMENT: "float64",
    LABEL: "object",
    FILE: "object",
    LINE: "int64",
}
COLUMNS: Final[tuple[str, ...]] = tuple(DTYPES)

#: Transport protocols a connection can have (ICMPv6 is `icmp`, as Zeek writes it).
PROTOCOLS: Final[tuple[str, ...]] = ("tcp", "udp", "icmp")

#: Zeek's conn_state values (KDD Cup 99's flags plus RSTRH and SHR).
CONN_STATES: Final[tuple[str, ...]] = (
    "S0", "S1", "SF", "REJ", "S2", "S3", "RSTO", "RSTR", "RSTOS0", "RSTRH", "SH", "SHR", "OTH",
)  # fmt: skip

RAW_PREVIEW: Final = 500  # characters of a bad line kept in quarantine


class TrafficFormatError(ValueError):
    """A source as a whole cannot be read (not the format its name or content says, or a
    needed field is missing). The message names the file and what is wrong."""


@dataclass(frozen=True)
class Read:
    """What a reader made of one source: trusted connections, quarantined units, and facts
    for the summary (format, units read, notes such as a truncated capture)."""

    file: str
    format: str
    connections: pd.DataFrame
    quarantine: pd.DataFrame
    units: int  # lines of data (logs) or flows (captures) read
    notes: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def labelled(self) -> bool:
        return bool((self.connections[LABEL] != "").any())


def empty_connections() -> pd.DataFrame:
    """A connections frame with no rows and the right dtypes."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in DTYPES.items()})


def empty_quarantine() -> pd.DataFrame:
    return pd.DataFrame(
        {c: pd.Series(dtype="int64" if c == "line" else "object") for c in QUARANTINE_COLUMNS}
    )


def quarantine_rows(
    file: str, lines: np.ndarray, fields: Any, reasons: Any, raw: Any
) -> pd.DataFrame:
    """Quarantine rows (file, line, field, reason, raw) for the given lines."""
    if len(lines) == 0:
        return empty_quarantine()
    text = pd.Series(raw, dtype="object").astype(str).str.slice(0, RAW_PREVIEW)
    raws = text.str.replace("\x00", "\\x00", regex=False).to_numpy()  # keep the file text
    return pd.DataFrame(
        {
            "file": file,
            "line": np.asarray(lines, dtype=np.int64),
            "field": fields,
            "reason": reasons,
            "raw": raws,
        },
        columns=list(QUARANTINE_COLUMNS),
    )


class Problems:
    """Collects (row position, field, reason) of bad values, vectorised: each check adds
    every row it fails at once; `by_row` joins the reasons of a row."""

    def __init__(self) -> None:
        self._found: list[pd.DataFrame] = []

    def add(
        self, mask: np.ndarray | pd.Series, field: str, reason: str, values: Any = None
    ) -> None:
        """Flag the rows of `mask` (positions) for `field`; `values`, when given, are quoted
        in the reason (the first 40 characters)."""
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        rows = np.flatnonzero(mask)
        if values is None:
            text: Any = reason
        else:
            shown = pd.Series(values).iloc[rows].astype(str).str.slice(0, 40).to_numpy()
            text = reason + ": '" + pd.Series(shown, dtype="object") + "'"
            text = text.to_numpy()
        self._found.append(pd.DataFrame({"row": rows, "field": field, "reason": text}))

    def by_row(self) -> pd.DataFrame:
        """One row per flagged position (index `row`): the first field and every reason."""
        if not self._found:
            return pd.DataFrame(
                {"field": [], "reason": []}, index=pd.Index([], dtype="int64", name="row")
            )
        found = pd.concat(self._found, ignore_index=True)
        return found.groupby("row", sort=True).agg(
            field=("field", "first"), reason=("reason", "; ".join)
        )


def as_connections(columns: dict[str, Any], n: int) -> pd.DataFrame:
    """A connections frame from column values (scalars are repeated), in column order and
    with the frame's dtypes."""
    frame = pd.DataFrame({c: columns[c] for c in COLUMNS}, index=pd.RangeIndex(n))
    return frame.astype(DTYPES)


def categories(labels: pd.Series, mapping: dict[str, str]) -> pd.Series:
    """The KDD category of each source label (looked up in lower case; NaN when the label
    is not in `mapping`, "" stays unmapped too)."""
    return labels.str.lower().map(mapping)
