"""Parse KDD-format CSV files into typed frames; malformed lines go to quarantine.

Accepted input: gzipped or plain text, with or without a header line, with or without the
label column, label with or without the trailing dot. A line that cannot be trusted (wrong
field count, text in a numeric field, negative count, rate outside [0, 1], flag not 0/1,
empty field, unknown label) is never dropped silently: it is returned in the quarantine
frame with its file, line number, field and reason.

`parse_kdd` reads a whole file at once; `iter_kdd` reads it as a stream, a block of lines at
a time, in bounded memory. Both parse with the same code, so the blocks of `iter_kdd` put
together are exactly what `parse_kdd` returns.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import io
import os
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path

import numpy as np
import pandas as pd

from iot_anomaly import schema
from iot_anomaly.io import atomic_write

QUARANTINE_COLUMNS = ("file", "line", "field", "reason", "raw")
_GZIP_MAGIC = b"\x1f\x8b"
_SNIFF_LINES = 1000
_RAW_PREVIEW = 500  # characters of a bad line kept in quarantine
CLOSED_DOMAINS = ("protocol_type", "flag")  # a value outside these is a broken line
_BLOCK_BYTES = 1 << 20  # decompressed bytes read from a stream at a time
#: The characters at which `str.splitlines` ends a line ("\r\n" counts as one break).
_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


class KddFormatError(ValueError):
    """The file as a whole is not KDD-format (bad header, no usable line)."""


@dataclass(frozen=True)
class ParseResult:
    """Typed rows, the quarantined lines, and what was learnt about the file (or, from
    `iter_kdd`, about one block of its lines: rows and quarantine keep the file's line
    numbers, `lines_read` counts the block's data lines)."""

    source: str
    frame: pd.DataFrame
    quarantine: pd.DataFrame
    has_label: bool
    lines_read: int

    @property
    def n_quarantined(self) -> int:
        return len(self.quarantine)


class CorruptFileError(ValueError):
    """A compressed file cannot be decompressed (truncated or damaged)."""


def read_bytes(path: Path) -> bytes:
    """Return the file's bytes, decompressing them when they start with the gzip magic bytes.

    A truncated or damaged gzip file is a CorruptFileError naming the file (gzip raises
    EOFError, which the command-line framework would take for an aborted prompt)."""
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as err:
            raise CorruptFileError(
                f"{path}: gzip data is truncated or damaged ({err}); nothing was read"
            ) from err
    return raw


def read_text(path: Path) -> str:
    """Return the file's text (see `read_bytes`); bytes that are not UTF-8 are replaced."""
    return read_bytes(path).decode("utf-8", errors="replace")


def _detect_layout(path: Path, lines: list[tuple[int, str]]) -> tuple[bool, bool]:
    """Return (has_header, has_label) from the header line or the usual field count."""
    if not lines:
        raise KddFormatError(f"{path}: no data lines")
    first_fields = [f.strip() for f in lines[0][1].split(",")]
    if first_fields[0] == schema.FEATURES[0]:
        if tuple(first_fields) == schema.COLUMNS:
            return True, True
        if tuple(first_fields) == schema.FEATURES:
            return True, False
        raise KddFormatError(
            f"{path}, line {lines[0][0]}: header does not match the KDD Cup 99 columns "
            f"(expected {len(schema.FEATURES)} feature names, optionally followed by "
            f"'{schema.LABEL}')"
        )
    counts = Counter(text.count(",") + 1 for _, text in lines[:_SNIFF_LINES])
    usable = {n: c for n, c in counts.items() if n in (len(schema.FEATURES), len(schema.COLUMNS))}
    if not usable:
        raise KddFormatError(
            f"{path}: no line among the first {_SNIFF_LINES} has {len(schema.FEATURES)} or "
            f"{len(schema.COLUMNS)} fields (found {dict(counts)})"
        )
    return False, max(usable, key=lambda n: (usable[n], n)) == len(schema.COLUMNS)


def _problems(frame: pd.DataFrame, has_label: bool) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """Type the string frame; return it with one (line, field, reason) frame per check."""
    found: list[pd.DataFrame] = []

    def flag(mask: pd.Series, field: str, reason: str) -> None:
        if mask.any():
            bad = frame.index[mask.to_numpy()]
            values = frame.loc[bad, field].astype(str).str.slice(0, 40)
            found.append(
                pd.DataFrame({"line": bad, "field": field, "reason": reason + ": '" + values + "'"})
            )

    typed: dict[str, pd.Series] = {}
    for col in schema.FEATURES:
        column = frame[col]
        if col in schema.CATEGORICAL:
            typed[col] = column.str.strip()
            empty = typed[col] == ""
            flag(empty, col, "empty value")
            if col in CLOSED_DOMAINS:  # protocols and TCP flags are fixed; services are not
                flag(~empty & ~typed[col].isin(schema.CATEGORY_VALUES[col]), col, "unknown value")
            continue
        if pd.api.types.is_numeric_dtype(column):
            values = column  # the C parser read every value of the column as a number
        else:
            empty = column.str.strip() == ""
            flag(empty, col, "empty value")
            values = pd.to_numeric(column, errors="coerce")
            flag(values.isna() & ~empty, col, "text in numeric field")
        if col in schema.RATES:
            flag((values < 0) | (values > 1), col, "rate outside [0, 1]")
            typed[col] = values.astype("float64")
        elif col in schema.BINARY:
            flag(values.notna() & ~values.isin((0, 1)), col, "flag not 0 or 1")
            typed[col] = values
        else:
            flag(values < 0, col, "negative count")
            flag(values.notna() & (values != np.floor(values)), col, "non-integer count")
            typed[col] = values
    if has_label:
        labels = frame[schema.LABEL].map(schema.normalise_label)
        flag(~labels.isin(schema.LABEL_TO_CATEGORY), schema.LABEL, "unknown label")
        typed[schema.LABEL] = labels
    return pd.DataFrame(typed, index=frame.index), found


@dataclass(frozen=True)
class _Layout:
    """What the first lines of a file say about all of them."""

    header_line: int | None  # number of the header line, None when there is none
    has_label: bool


def _sniff(path: Path, lines: Iterable[str]) -> _Layout:
    """The layout of a file from its first lines (line 1 first; blank lines are skipped)."""
    head = list(islice(((n, t) for n, t in enumerate(lines, 1) if t.strip()), _SNIFF_LINES))
    has_header, has_label = _detect_layout(path, head)
    return _Layout(head[0][0] if has_header else None, has_label)


def _parse_lines(path: Path, lines: list[str], first: int, layout: _Layout) -> ParseResult:
    """Parse consecutive lines of a file, `first` being the number of `lines[0]`.

    Traffic repeats itself (three quarters of corrected.gz's lines occur more than once), so
    each distinct line is parsed and checked once and its result repeated for every line
    that has the same text. Blank lines and the header line are skipped; every other line
    becomes a row or a quarantine entry.
    """
    keys, texts = pd.factorize(np.asarray(lines, dtype=object))
    texts = texts.tolist()
    blank = np.fromiter((not text.strip() for text in texts), dtype=bool, count=len(texts))
    numbers = np.flatnonzero(~blank[keys]) + first  # numbers of the non-blank lines
    if layout.header_line is not None:
        numbers = numbers[numbers != layout.header_line]
    has_label = layout.has_label
    names = schema.COLUMNS if has_label else schema.FEATURES
    n_fields = len(names)

    # Work on the distinct texts of the data lines: `used` are their keys, `row_key` says
    # which of them each data line has.
    data_keys = keys[numbers - first]
    present = np.zeros(len(texts), dtype=bool)
    present[data_keys] = True
    used = np.flatnonzero(present)
    row_key = (np.cumsum(present) - 1)[data_keys]
    found_fields = np.fromiter(
        (texts[k].count(",") + 1 for k in used), dtype=np.int64, count=len(used)
    )
    # A NUL byte means a damaged line, whatever the parser would make of it.
    nul = np.fromiter(("\x00" in texts[k] for k in used), dtype=bool, count=len(used))
    good = np.flatnonzero((found_fields == n_fields) & ~nul)
    wrong = np.flatnonzero((found_fields != n_fields) | nul)
    bad_rows = pd.DataFrame(
        {
            "line": wrong,
            "field": "",
            "reason": [
                "NUL byte in line" if damaged else f"expected {n_fields} fields, found {n}"
                for n, damaged in zip(found_fields[wrong], nul[wrong], strict=True)
            ],
        },
        columns=["line", "field", "reason"],
    )

    if len(good):
        strings = pd.read_csv(
            io.StringIO("\n".join(texts[k] for k in used[good])),
            header=None,
            names=list(names),
            # Numeric columns are left to the C parser: a column with any text in it comes
            # back as strings and is then checked value by value.
            dtype={c: str for c in names if c in (*schema.CATEGORICAL, schema.LABEL)},
            na_filter=False,
            quoting=csv.QUOTE_NONE,
            engine="c",
            low_memory=False,  # one type per column for all the lines
        )
    else:
        strings = pd.DataFrame({name: pd.Series(dtype=str) for name in names})
    strings.index = pd.Index(good)  # positions in `used`
    typed, found = _problems(strings, has_label)

    problems = pd.concat([bad_rows, *found], ignore_index=True)
    typed = typed.drop(index=pd.Index(problems["line"].unique()), errors="ignore")
    for col in schema.COUNTS + schema.BINARY:
        typed[col] = typed[col].astype("int64")
    if has_label:
        typed[schema.CATEGORY] = typed[schema.LABEL].map(schema.LABEL_TO_CATEGORY)
    by_text = (
        problems.groupby("line", sort=True)
        .agg(field=("field", "first"), reason=("reason", "; ".join))
        .reindex(np.arange(len(used)))
    )

    # Back from distinct texts to lines.
    position = np.full(len(used), -1)
    position[typed.index.to_numpy()] = np.arange(len(typed))
    row_position = position[row_key]
    kept = row_position >= 0
    frame = typed.take(row_position[kept])
    frame.index = pd.Index(numbers[kept], name="line")

    bad = ~kept
    reasons = by_text.iloc[row_key[bad]]
    quarantine = pd.DataFrame(
        {
            "file": str(path),
            "line": numbers[bad],
            "field": reasons["field"].to_numpy(dtype=object),
            "reason": reasons["reason"].to_numpy(dtype=object),
            # NUL bytes shown escaped, so that the quarantine file stays text.
            "raw": np.array(
                [lines[n - first][:_RAW_PREVIEW].replace("\x00", "\\x00") for n in numbers[bad]],
                dtype=object,
            ),
        },
        columns=list(QUARANTINE_COLUMNS),
    )
    return ParseResult(
        source=str(path),
        frame=frame,
        quarantine=quarantine,
        has_label=has_label,
        lines_read=len(numbers),
    )


def parse_kdd(path: Path | str) -> ParseResult:
    """Parse one KDD-format file, all of it at once; see the module docstring for what is
    accepted, and `iter_kdd` for a file too large to hold in memory."""
    path = Path(path)
    lines = read_text(path).splitlines()
    return _parse_lines(path, lines, 1, _sniff(path, lines))


def _text_blocks(path: Path, raw: io.BufferedReader) -> Iterator[list[str]]:
    """The lines of an open file, a block of bytes at a time, split as `str.splitlines`
    splits the whole text: a line cut by the block's end (or a carriage return that a line
    feed may follow) waits for the next block. Gzip data is decompressed on the way; damaged gzip
    data is a CorruptFileError naming the file."""
    gzipped = raw.peek(len(_GZIP_MAGIC))[: len(_GZIP_MAGIC)] == _GZIP_MAGIC
    opened = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else contextlib.nullcontext(raw)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    carry = ""
    done = 0  # lines passed on so far
    with opened as stream:
        while True:
            try:
                block = stream.read(_BLOCK_BYTES)
            except (EOFError, OSError, zlib.error) as err:
                if not gzipped:
                    raise
                raise CorruptFileError(
                    f"{path}: gzip data is truncated or damaged ({err}); the damage comes "
                    f"after line {done}"
                ) from err
            text = carry + decoder.decode(block, final=not block)
            if not block:
                yield text.splitlines()
                return
            if not text:
                carry = ""
                continue
            lines = text.splitlines()
            if text[-1] == "\r":
                carry = lines.pop() + "\r"
            elif text[-1] not in _LINE_BREAKS:
                carry = lines.pop()
            else:
                carry = ""
            done += len(lines)
            yield lines


def _blocks_of(blocks: Iterable[list[str]], size: int) -> Iterator[list[str]]:
    """The same lines regrouped into lists of `size` lines (the last one may be shorter)."""
    pending: list[str] = []
    for block in blocks:
        pending.extend(block)
        if len(pending) >= size:
            cut = len(pending) - len(pending) % size
            for start in range(0, cut, size):
                yield pending[start : start + size]
            pending = pending[cut:]
    if pending:
        yield pending


def iter_kdd(
    path: Path | str,
    chunk_rows: int,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[ParseResult]:
    """Parse a KDD-format file as a stream, one ParseResult per block of `chunk_rows` lines.

    Only about one block of lines is held at a time. The layout (header, label column) is
    learnt from the file's first lines, as `parse_kdd` learns it, and holds for every block;
    the blocks' frames and quarantines put together equal `parse_kdd(path)`'s. Damaged gzip
    data is a CorruptFileError when the stream reaches it, after the blocks before it have
    been yielded. `progress`, when given, is called before each block is yielded with the
    bytes of the file (compressed, for gzip) consumed so far and the file's size, for an ETA.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    path = Path(path)
    with path.open("rb") as raw, contextlib.closing(_text_blocks(path, raw)) as blocks:
        size = os.fstat(raw.fileno()).st_size
        # Read ahead until the layout can be told from as many lines as parse_kdd uses.
        head: list[str] = []
        non_blank = 0
        for block in blocks:
            head.extend(block)
            non_blank += sum(1 for text in block if text.strip())
            if non_blank >= _SNIFF_LINES:
                break
        layout = _sniff(path, head)
        first = 1
        for lines in _blocks_of(chain([head], blocks), chunk_rows):
            head.clear()  # its lines are in the chunks now
            result = _parse_lines(path, lines, first, layout)
            first += len(lines)
            if progress is not None:
                progress(raw.tell(), size)
            yield result


def write_quarantine(result: ParseResult, path: Path) -> Path:
    """Write the quarantined lines (possibly none, header only) as CSV and return the path."""
    return atomic_write(path, lambda tmp: result.quarantine.to_csv(tmp, index=False))


def to_kdd_lines(frame: pd.DataFrame, label_dot: bool = True) -> list[str]:
    """Render typed rows back to KDD-format lines (the inverse of `parse_kdd`).

    Rates keep two decimals as in the official files; the label, when present, gets its
    trailing dot back unless `label_dot` is False.
    """
    columns = [c for c in schema.COLUMNS if c in frame.columns]
    text = pd.DataFrame(index=frame.index)
    for col in columns:
        if col in schema.RATES:
            text[col] = frame[col].map("{:.2f}".format)
        elif col == schema.LABEL and label_dot:
            text[col] = frame[col].astype(str) + "."
        else:
            text[col] = frame[col].astype(str)
    return text[columns].agg(",".join, axis=1).tolist()
