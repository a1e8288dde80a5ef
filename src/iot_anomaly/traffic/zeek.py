"""Zeek conn.log files (native TSV) and their CSV conversions (IoT-23's *-labeled.csv)
into the connections frame.

Columns are found by name (the `#fields` line, or the CSV header), so reordered or extra
fields are fine; a missing needed field is an error naming the file and the fields. A line
that cannot be trusted (NUL bytes, wrong field count, text in a numeric field, negative
bytes, unknown proto or conn_state, a label not in the labels map) goes to quarantine with
its line number, field and reason. Everything is vectorised: one pass of Arrow's parser
over the good lines (the whole file when it is clean), then column-wise checks.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as pacsv

from iot_anomaly.data.reader import read_bytes
from iot_anomaly.traffic import connections as cx

#: The Zeek fields a connection needs, and the connections column each becomes.
NEEDED: Final[dict[str, str]] = {
    "ts": cx.TS,
    "uid": cx.UID,
    "id.orig_h": cx.SRC_IP,
    "id.orig_p": cx.SRC_PORT,
    "id.resp_h": cx.DST_IP,
    "id.resp_p": cx.DST_PORT,
    "proto": cx.PROTO,
    "service": cx.SERVICE,
    "duration": cx.DURATION,
    "orig_bytes": cx.ORIG_BYTES,
    "resp_bytes": cx.RESP_BYTES,
    "conn_state": cx.CONN_STATE,
}
#: IoT-23's label fields (optional): the detailed label when set, else the label.
LABEL_FIELDS: Final[tuple[str, str]] = ("label", "detailed-label")
_NUMERIC: Final = ("ts", "id.orig_p", "id.resp_p", "duration", "orig_bytes", "resp_bytes")
#: IoT-23's published conn.log.labeled joins its last three fields with three spaces.
_IOT23_JOIN: Final = "   "
_MAX_PORT: Final = 65535


def _source(path: Path) -> bytes:
    """The file's bytes (gzip or plain), CRLF line ends made LF."""
    raw = read_bytes(path)
    return raw.replace(b"\r\n", b"\n") if b"\r" in raw else raw


def _head_lines(raw: bytes, prefix: bytes, limit: int = 64) -> list[str]:
    """The leading lines of `raw` that start with `prefix` (at most `limit`)."""
    lines: list[str] = []
    start = 0
    while len(lines) < limit and raw.startswith(prefix, start):
        end = raw.find(b"\n", start)
        end = len(raw) if end < 0 else end
        lines.append(raw[start:end].decode("utf-8", errors="replace"))
        start = end + 1
    return lines


def _missing(path: Path, names: list[str], where: str) -> None:
    missing = [f for f in NEEDED if f not in names]
    if missing:
        raise cx.TrafficFormatError(
            f"{path}: {where} lacks the needed field(s) {', '.join(missing)} "
            f"(found: {', '.join(names) or 'none'})"
        )


def _unescape(value: str) -> str:
    """Zeek writes the separator escaped (`\\x09`)."""
    return re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), value)


def read_conn_log(path: Path, labels: Mapping[str, str] | None = None) -> cx.Read:
    """Read a Zeek conn.log (TSV with `#` header lines), labelled as IoT-23 publishes it or
    not. `labels` (lower-case label -> category), when given, quarantines unknown labels."""
    raw = _source(path)
    header = _head_lines(raw, b"#")
    meta: dict[str, str] = {}
    separator = "\t"
    for text in header:
        if text.startswith("#separator"):
            separator = _unescape(text[len("#separator") :].strip()) or "\t"
            continue
        key, _, value = text[1:].partition(separator)
        meta.setdefault(key, value)
    if "fields" not in meta:
        raise cx.TrafficFormatError(f"{path}: no #fields line: not a Zeek log")
    names = meta["fields"].split(separator)
    joined = _IOT23_JOIN in names[-1]
    if joined:
        names = [*names[:-1], *names[-1].split(_IOT23_JOIN)]
    _missing(path, names, "#fields")
    unset = {meta.get("unset_field", "-"), meta.get("empty_field", "(empty)"), ""}
    return _parse(path, "zeek conn.log", raw, len(header), separator, names, unset, labels, joined)


def read_zeek_csv(path: Path, labels: Mapping[str, str] | None = None) -> cx.Read:
    """Read a CSV conversion of a conn.log with a header row (IoT-23's *-labeled.csv: an
    empty field or `-` is unset)."""
    raw = _source(path)
    blank = len(_head_lines(raw, b"\n"))  # leading empty lines
    header = raw[blank:].split(b"\n", 1)[0].decode("utf-8", errors="replace")
    if not header.strip():
        raise cx.TrafficFormatError(f"{path}: empty file, no header row")
    names = [n.strip() for n in header.split(",")]
    _missing(path, names, f"the header (line {blank + 1})")
    return _parse(path, "zeek csv", raw, blank + 1, ",", names, {"", "-"}, labels)


def _body(raw: bytes, skip: int) -> tuple[int, bytes]:
    """The bytes after the first `skip` lines, without trailing `#` lines (Zeek's
    `#close`) and blank lines, and the number of bytes skipped."""
    offset = 0
    for _ in range(skip):
        end = raw.find(b"\n", offset)
        offset = len(raw) if end < 0 else end + 1
    body = raw[offset:].rstrip(b"\n")
    while body:
        cut = body.rfind(b"\n") + 1
        if not body.startswith(b"#", cut):
            break
        body = body[:cut].rstrip(b"\n")
    return offset, body


def _arrow_strings(body: bytes, separator: str, names: list[str], wanted: list[str]) -> pa.Table:
    """Parse `body` (every line a data line) with Arrow's multi-threaded reader, every
    wanted column as text. Raises pa.ArrowInvalid on a wrong field count or bad UTF-8."""
    return pacsv.read_csv(
        io.BytesIO(body),
        read_options=pacsv.ReadOptions(column_names=names),
        parse_options=pacsv.ParseOptions(
            delimiter=separator, quote_char=False, ignore_empty_lines=False
        ),
        convert_options=pacsv.ConvertOptions(
            include_columns=wanted,
            column_types=dict.fromkeys(wanted, pa.string()),
            strings_can_be_null=False,
        ),
    )


def _frame(table: pa.Table, unset: set[str]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Text columns as Python strings; numeric columns as float64 (NaN when unset) when
    every value is a number, else as text for `_number` to check value by value. And, per
    text column, which values are unset (a label also when `-`), computed by Arrow."""
    columns: dict[str, np.ndarray] = {}
    blank: dict[str, np.ndarray] = {}
    nothing = pa.array(sorted(unset), pa.string())
    for name in table.column_names:
        column = table[name]
        if name in _NUMERIC:
            column = pc.if_else(
                pc.is_in(column, value_set=nothing), pa.scalar(None, pa.string()), column
            )
            try:
                columns[name] = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
                continue
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                pass
        else:
            values = pa.array(sorted({*unset, "-"}) if name in LABEL_FIELDS else nothing)
            blank[name] = pc.is_in(column, value_set=values).to_numpy(zero_copy_only=False)
            for field, known in (("proto", cx.PROTOCOLS), ("conn_state", cx.CONN_STATES)):
                if name == field:
                    blank[f"{name} known"] = pc.is_in(column, value_set=pa.array(known)).to_numpy(
                        zero_copy_only=False
                    )
        columns[name] = _text(column)
    return columns, blank


def _text(column: pa.ChunkedArray) -> np.ndarray:
    """A text column as an object array. Columns with few distinct values (proto,
    conn_state, service, labels) become one string object per value, repeated: far
    cheaper than a Python string per row."""
    encoded = pc.dictionary_encode(column).combine_chunks()
    values = encoded.dictionary.to_numpy(zero_copy_only=False)
    if len(values) > len(encoded) // 4:
        return column.to_numpy(zero_copy_only=False)
    return values[encoded.indices.to_numpy(zero_copy_only=False)]


def _parse(
    path: Path,
    fmt: str,
    raw: bytes,
    skip: int,
    separator: str,
    names: list[str],
    unset: set[str],
    labels: Mapping[str, str] | None,
    joined: bool = False,
) -> cx.Read:
    """Type the data lines (after `skip` header lines; not `#`, not blank) of a Zeek log.

    Fast path: a clean body (no NUL byte, comment or blank line inside) goes to Arrow's
    parser whole. Otherwise, or when Arrow finds a wrong field count or bad UTF-8, the
    lines are checked one by one and only the good ones are parsed."""
    file = str(path)
    wanted = [*NEEDED, *(f for f in LABEL_FIELDS if f in names)]
    sep = separator.encode()
    offset, body = _body(raw, skip)
    first_line = raw.count(b"\n", 0, offset) + 1
    table = None
    clean = not body.startswith(b"#") and not any(
        bad in body for bad in (b"\x00", b"\r", b"\n#", b"\n\n")
    )
    if body and clean:
        try:
            table = _arrow_strings(
                body.replace(_IOT23_JOIN.encode(), sep) if joined else body,
                separator,
                names,
                wanted,
            )
        except pa.ArrowInvalid:
            table = None
        if table is not None and table.num_rows != body.count(b"\n") + 1:
            table = None
    if table is not None:
        numbers = np.arange(first_line, first_line + table.num_rows, dtype=np.int64)
        good = np.ones(len(numbers), dtype=bool)
        early = cx.empty_quarantine()
        units = len(numbers)
        lines: list[str] | None = None
    else:
        lines, numbers, good, early = _check_lines(file, raw, skip, separator, names, joined)
        units = len(numbers)
        kept = [lines[n - 1] for n in numbers[good]]
        text = "\n".join(kept)
        if joined:
            text = text.replace(_IOT23_JOIN, separator)
        table = (
            _arrow_strings(text.encode(), separator, names, wanted)
            if kept
            else pa.table({f: pa.array([], pa.string()) for f in wanted})
        )
    strings, blank = _frame(table, unset)
    columns, rows, bad = _typed(strings, blank, unset, labels, file)
    kept_numbers = numbers[good]
    columns[cx.LINE] = kept_numbers[rows]
    # copy=False: one block per column; consolidating them would copy every column.
    connections = pd.DataFrame(
        {c: columns[c] for c in cx.COLUMNS}, index=pd.RangeIndex(len(rows)), copy=False
    )
    bad_numbers = kept_numbers[bad.index.to_numpy()]
    if len(bad_numbers) and lines is None:
        lines = raw.decode("utf-8", errors="replace").split("\n")
    late = cx.quarantine_rows(
        file,
        bad_numbers,
        bad["field"].to_numpy(),
        bad["reason"].to_numpy(),
        [lines[n - 1] for n in bad_numbers] if lines is not None else [],
    )
    quarantine = pd.concat([early, late], ignore_index=True).sort_values("line", kind="stable")
    return cx.Read(
        file=file,
        format=fmt,
        connections=connections,
        quarantine=quarantine.reset_index(drop=True),
        units=units,
    )


def _check_lines(
    file: str, raw: bytes, skip: int, separator: str, names: list[str], joined: bool
) -> tuple[list[str], np.ndarray, np.ndarray, pd.DataFrame]:
    """Line by line: the file's lines, the numbers of its data lines, which of them are
    good (no NUL byte, the right field count) and the quarantine rows of the others."""
    lines = raw.decode("utf-8", errors="replace").split("\n")
    is_data = np.fromiter(
        (bool(t) and t[0] != "#" and not t.isspace() for t in lines), bool, count=len(lines)
    )
    is_data[:skip] = False
    numbers = np.flatnonzero(is_data) + 1
    data = [lines[n - 1] for n in numbers]
    if joined:  # IoT-23's quirk: the last three fields share one tab field
        data = [t.replace(_IOT23_JOIN, separator) for t in data]
    # A NUL byte means a damaged line; a lone CR would end a row in the parser.
    nul = np.fromiter(("\x00" in t or "\r" in t for t in data), bool, count=len(data))
    found = np.fromiter((t.count(separator) + 1 for t in data), np.int64, count=len(data))
    n_fields = len(names)
    good = ~nul & (found == n_fields)
    wrong = np.flatnonzero(~good)
    early = cx.quarantine_rows(
        file,
        numbers[wrong],
        "",
        [
            ("NUL byte in line" if "\x00" in data[i] else "CR byte in line")
            if nul[i]
            else f"expected {n_fields} fields, found {found[i]}"
            for i in wrong
        ],
        [lines[n - 1] for n in numbers[wrong]],
    )
    return lines, numbers, good, early


def _number(
    column: np.ndarray, field: str, problems: cx.Problems, unset: set[str]
) -> tuple[np.ndarray, np.ndarray]:
    """A numeric column (float64) and its unset mask; text in it is flagged."""
    if column.dtype.kind == "f":
        return column, np.isnan(column)
    text = pd.Series(column, dtype="object")
    is_unset = (text.isna() | text.isin(unset)).to_numpy()
    values = pd.to_numeric(text.where(~is_unset), errors="coerce").to_numpy(np.float64)
    problems.add(np.isnan(values) & ~is_unset, field, "text in numeric field", text)
    return values, is_unset


def _typed(
    strings: dict[str, np.ndarray],
    blank: dict[str, np.ndarray],
    unset: set[str],
    labels: Mapping[str, str] | None,
    file: str,
) -> tuple[dict[str, np.ndarray], np.ndarray, pd.DataFrame]:
    """The connections columns (but `line`) of the rows that pass every check, those rows'
    positions, and the problems of the others (`Problems.by_row`)."""
    problems = cx.Problems()
    n = len(strings["ts"])
    out: dict[str, np.ndarray] = {}
    for field in _NUMERIC:
        values, is_unset = _number(strings[field], field, problems, unset)
        with np.errstate(invalid="ignore"):
            finite = ~np.isnan(values)
            if field in ("ts", "id.orig_p", "id.resp_p"):
                problems.add(is_unset, field, "unset value")
            if field in ("id.orig_p", "id.resp_p"):
                outside = finite & ((values < 0) | (values > _MAX_PORT))
                problems.add(outside, field, "port outside 0-65535", strings[field])
            else:
                reason = "negative bytes" if field.endswith("bytes") else "negative value"
                problems.add(finite & (values < 0), field, reason, strings[field])
            if field not in ("ts", "duration"):
                fraction = finite & (values != np.floor(values))
                problems.add(fraction, field, "not an integer", strings[field])
        out[NEEDED[field]] = np.where(finite, values, 0.0)
    for field in ("id.orig_h", "id.resp_h"):
        problems.add(blank[field], field, "unset value")
    problems.add(~blank["proto known"], "proto", "unknown proto", strings["proto"])
    problems.add(
        ~blank["conn_state known"], "conn_state", "unknown conn_state", strings["conn_state"]
    )
    for field in ("uid", "id.orig_h", "id.resp_h", "proto", "conn_state"):
        out[NEEDED[field]] = strings[field]
    out[cx.SERVICE] = np.where(blank["service"], "", strings["service"]).astype(object)
    label = np.full(n, "", dtype=object)
    for field in LABEL_FIELDS:  # the detailed label wins when set
        if field in strings:
            label = np.where(blank[field], label, strings[field])
    if labels is not None:
        codes, names = pd.factorize(label)
        known = np.array([name == "" or name.lower() in labels for name in names], dtype=bool)
        unknown = ~known[codes] if len(names) else np.zeros(n, dtype=bool)
        problems.add(unknown, "label", "label not in params ingest.labels", label)
    out[cx.LABEL] = label.astype(object)
    bad = problems.by_row()
    keep = np.ones(n, dtype=bool)
    keep[bad.index.to_numpy()] = False
    rows = np.flatnonzero(keep)
    columns: dict[str, np.ndarray] = {
        c: (out[c] if len(rows) == n else out[c][rows]).astype(t, copy=False)
        for c, t in cx.DTYPES.items()
        if c in out
    }
    columns[cx.URGENT] = np.full(len(rows), np.nan)
    columns[cx.WRONG_FRAGMENT] = np.full(len(rows), np.nan)
    columns[cx.FILE] = np.full(len(rows), file, dtype=object)
    return columns, rows, bad
