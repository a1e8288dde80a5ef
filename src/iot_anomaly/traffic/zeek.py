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

import gzip
import io
import re
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as pacsv

from iot_anomaly.data.reader import CorruptFileError, read_bytes
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


@dataclass(frozen=True)
class Layout:
    """What a log's header says: its format, field separator and names, the values that
    mean unset, whether IoT-23's three-space join is used, and how many lines the header
    takes (line numbers up to `header_lines` are never data)."""

    format: str
    separator: str
    names: list[str]
    unset: set[str]
    header_lines: int
    joined: bool = False

    @property
    def labelled(self) -> bool:
        """Whether the log has a label field (its values may still all be unset)."""
        return any(f in self.names for f in LABEL_FIELDS)


#: Lines read to find a header: Zeek's `#` lines, or a CSV's leading blank lines and header.
_HEAD_LINES: Final = 66
_READ_BYTES: Final = 1 << 20


def conn_log_layout(path: Path, raw: bytes) -> Layout:
    """The layout of a Zeek conn.log from its first bytes (at least its header lines)."""
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
    return Layout("zeek conn.log", separator, names, unset, len(header), joined)


def csv_layout(path: Path, raw: bytes) -> Layout:
    """The layout of a CSV conversion of a conn.log from its first bytes (its header row)."""
    blank = len(_head_lines(raw, b"\n"))  # leading empty lines
    header = raw[blank:].split(b"\n", 1)[0].decode("utf-8", errors="replace")
    if not header.strip():
        raise cx.TrafficFormatError(f"{path}: empty file, no header row")
    names = [n.strip() for n in header.split(",")]
    _missing(path, names, f"the header (line {blank + 1})")
    return Layout("zeek csv", ",", names, {"", "-"}, blank + 1)


def read_conn_log(path: Path, labels: Mapping[str, str] | None = None) -> cx.Read:
    """Read a Zeek conn.log (TSV with `#` header lines), labelled as IoT-23 publishes it or
    not. `labels` (lower-case label -> category), when given, quarantines unknown labels."""
    raw = _source(path)
    return parse_block(path, conn_log_layout(path, raw), raw, 1, labels)


def read_zeek_csv(path: Path, labels: Mapping[str, str] | None = None) -> cx.Read:
    """Read a CSV conversion of a conn.log with a header row (IoT-23's *-labeled.csv: an
    empty field or `-` is unset)."""
    raw = _source(path)
    return parse_block(path, csv_layout(path, raw), raw, 1, labels)


def read_layout(path: Path, kind: str) -> Layout:
    """The layout of a conn.log (`kind` "zeek conn.log") or its CSV conversion, read from
    the file's first lines only."""
    head = next(blocks(path, _HEAD_LINES), (1, b"", 0))[1]
    return conn_log_layout(path, head) if kind == "zeek conn.log" else csv_layout(path, head)


def blocks(path: Path, lines: int) -> Iterator[tuple[int, bytes, int]]:
    """The file (gzip or plain) as blocks of `lines` whole lines (the last may be shorter
    or lack its line end), CRLF made LF: (number of the block's first line, its bytes, the
    bytes of the file read so far). Raises CorruptFileError naming the file when its gzip
    data is damaged."""
    if lines < 1:
        raise ValueError(f"blocks of {lines} lines: need at least 1")
    with path.open("rb") as handle:
        gzipped = handle.read(2) == b"\x1f\x8b"
    pending = b""
    first = 1
    try:
        with path.open("rb") as disk, gzip.GzipFile(fileobj=disk) if gzipped else disk as handle:
            while True:
                piece = handle.read(_READ_BYTES)
                pending += piece
                ends = np.flatnonzero(np.frombuffer(pending, np.uint8) == ord("\n"))
                while len(ends) >= lines or (not piece and pending):
                    cut = int(ends[lines - 1]) + 1 if len(ends) >= lines else len(pending)
                    block, pending = pending[:cut], pending[cut:]
                    text = block.replace(b"\r\n", b"\n") if b"\r" in block else block
                    yield first, text, disk.tell()
                    first += lines
                    ends = ends[lines:] - cut
                if not piece:
                    return
    except (EOFError, OSError, zlib.error) as err:
        raise CorruptFileError(
            f"{path}: gzip data is truncated or damaged ({err}); nothing was read"
        ) from err


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


def parse_block(
    path: Path,
    layout: Layout,
    raw: bytes,
    first_line: int,
    labels: Mapping[str, str] | None,
) -> cx.Read:
    """Type the data lines (not header, not `#`, not blank) of a block of a Zeek log whose
    first line is line `first_line` of the file (a whole file: 1).

    Fast path: a clean body (no NUL byte, comment or blank line inside) goes to Arrow's
    parser whole. Otherwise, or when Arrow finds a wrong field count or bad UTF-8, the
    lines are checked one by one and only the good ones are parsed."""
    file = str(path)
    separator, names, unset, joined = layout.separator, layout.names, layout.unset, layout.joined
    wanted = [*NEEDED, *(f for f in LABEL_FIELDS if f in names)]
    sep = separator.encode()
    skip = max(layout.header_lines - first_line + 1, 0)
    offset, body = _body(raw, skip)
    body_line = first_line + raw.count(b"\n", 0, offset)
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
        numbers = np.arange(body_line, body_line + table.num_rows, dtype=np.int64)
        good = np.ones(len(numbers), dtype=bool)
        early = cx.empty_quarantine()
        lines: list[str] | None = None
    else:
        lines, numbers, good, early = _check_lines(
            file, raw, first_line, skip, separator, names, joined
        )
        kept = [lines[n - first_line] for n in numbers[good]]
        text = "\n".join(kept)
        if joined:
            text = text.replace(_IOT23_JOIN, separator)
        table = (
            _arrow_strings(text.encode(), separator, names, wanted)
            if kept
            else pa.table({f: pa.array([], pa.string()) for f in wanted})
        )
    units = len(numbers)
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
        [lines[n - first_line] for n in bad_numbers] if lines is not None else [],
    )
    quarantine = pd.concat([early, late], ignore_index=True).sort_values("line", kind="stable")
    return cx.Read(
        file=file,
        format=layout.format,
        connections=connections,
        quarantine=quarantine.reset_index(drop=True),
        units=units,
    )


def _check_lines(
    file: str,
    raw: bytes,
    first_line: int,
    skip: int,
    separator: str,
    names: list[str],
    joined: bool,
) -> tuple[list[str], np.ndarray, np.ndarray, pd.DataFrame]:
    """Line by line: the block's lines, the numbers of its data lines (the first line being
    `first_line`), which of them are good (no NUL byte, the right field count) and the
    quarantine rows of the others."""
    lines = raw.decode("utf-8", errors="replace").split("\n")
    is_data = np.fromiter(
        (bool(t) and t[0] != "#" and not t.isspace() for t in lines), bool, count=len(lines)
    )
    is_data[:skip] = False
    numbers = np.flatnonzero(is_data) + first_line
    data = [lines[n - first_line] for n in numbers]
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
        [lines[n - first_line] for n in numbers[wrong]],
    )
    return lines, numbers, good, early


def _number(
    column: np.ndarray, field: str, problems: cx.Problems, unset: set[str]
) -> tuple[np.ndarray, np.ndarray]:
    """A numeric column (float64) and its unset mask; text in it is flagged. A value is
    read as Arrow reads it on the fast path (so that it does not depend on the other values
    of its block: "nan" is unset there), and else as pandas reads it (" 12" is 12)."""
    if column.dtype.kind == "f":
        return column, np.isnan(column)
    text = pd.Series(column, dtype="object")
    is_unset = (text.isna() | text.isin(unset)).to_numpy()
    values = pd.to_numeric(text.where(~is_unset), errors="coerce").to_numpy(np.float64)
    arrow, cast = _cast_floats(np.where(is_unset, "0", column).astype(object))
    values = np.where(cast, arrow, values)
    is_unset |= cast & np.isnan(arrow)
    problems.add(np.isnan(values) & ~is_unset, field, "text in numeric field", text)
    return values, is_unset


def _cast_floats(text: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Arrow's float64 of each value and whether Arrow could read it, by halves: one cast
    for a clean part, so a few bad values cost a few casts each."""
    values = np.full(len(text), np.nan)
    cast = np.zeros(len(text), dtype=bool)
    parts = [(0, len(text))]
    while parts:
        begin, end = parts.pop()
        if begin == end:
            continue
        try:
            part = pa.array(text[begin:end], pa.string()).cast(pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            if end - begin > 1:
                middle = (begin + end) // 2
                parts += [(begin, middle), (middle, end)]
            continue
        values[begin:end] = part.to_numpy(zero_copy_only=False)
        cast[begin:end] = True
    return values, cast


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
