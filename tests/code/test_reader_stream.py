"""Streaming reads of KDD files: the blocks of `iter_kdd` put together are `parse_kdd`'s
result, whatever the block size, in bounded memory."""

import gzip
import sys
import tracemalloc
from pathlib import Path

import pandas as pd
import pytest

from iot_anomaly import schema
from iot_anomaly.data import reader
from iot_anomaly.data.reader import CorruptFileError, KddFormatError, iter_kdd, parse_kdd

HEADER = ",".join(schema.COLUMNS)
WHOLE = sys.maxsize  # one block for the whole file


def _break(line: str, column: str, value: str) -> str:
    fields = line.split(",")
    fields[schema.COLUMNS.index(column)] = value
    return ",".join(fields)


def _crafted(lines: list[str]) -> bytes:
    """Real lines behind a blank line and a header, with every kind of bad line spread
    through them, some lines ended by CRLF, a lone CR, a form feed, and bytes that are not
    UTF-8."""
    body = list(lines)
    bad = {
        3: "",  # blank
        5: body[5][:20] + "\x00" + body[5][20:],  # NUL byte
        8: ",".join(body[8].split(",")[:-3]),  # too few fields
        13: body[13] + ",extra",  # too many fields
        21: _break(body[21], "serror_rate", "abc"),  # text in a rate
        34: _break(body[34], "src_bytes", "12x"),  # text in a count
        55: _break(body[55], "label", "nonsense."),  # unknown label
        89: HEADER,  # a header line that is not the first line
        144: "   ",  # blank but for spaces
        150: _break(body[150], "service", "caf\u00e9"),  # a service never seen, not ASCII
    }
    for index, text in bad.items():
        body[index] = text
    for index in range(7, len(body), 97):
        body[index] = body[index] + "\r"  # CRLF once the "\n" below is added
    text = "\n".join(["", HEADER, *body]) + "\n"
    text = text.replace(body[60] + "\n", body[60] + "\r", 1)  # a lone CR ends a line
    text = text.replace(body[61] + "\n", body[61] + "\x0c", 1)  # so does a form feed
    data = text.encode()
    return data.replace(b"\xc3\xa9", b"\xc3\xa9\xff", 1)  # a byte that is not UTF-8


def _write(folder: Path, data: bytes, zipped: bool) -> Path:
    path = folder / ("crafted.gz" if zipped else "crafted.csv")
    path.write_bytes(gzip.compress(data) if zipped else data)
    return path


def _assert_same(path: Path, chunk_rows: int) -> list[reader.ParseResult]:
    """Parse `path` whole and in blocks; check that the blocks add up to the whole."""
    whole = parse_kdd(path)
    calls: list[tuple[int, int]] = []
    parts = list(iter_kdd(path, chunk_rows, progress=lambda done, size: calls.append((done, size))))
    assert parts, "no block was yielded"
    assert {p.has_label for p in parts} == {whole.has_label}
    pd.testing.assert_frame_equal(
        pd.concat([p.frame for p in parts]), whole.frame, check_exact=True
    )
    pd.testing.assert_frame_equal(
        pd.concat([p.quarantine for p in parts], ignore_index=True),
        whole.quarantine,
        check_exact=True,
    )
    assert sum(p.lines_read for p in parts) == whole.lines_read
    for part in parts:
        assert part.lines_read == len(part.frame) + part.n_quarantined
        assert part.frame.index.name == "line"
    # One progress call per block, never going back, ending at the whole file.
    size = path.stat().st_size
    assert len(calls) == len(parts)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert {total for _, total in calls} == {size}
    assert calls[-1][0] == size
    return parts


@pytest.mark.parametrize("zipped", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize(
    ("chunk_rows", "n_lines"), [(1, 300), (7, 1000), (1000, 3000), (WHOLE, 3000)]
)
def test_blocks_add_up_to_the_whole_file(
    tmp_path: Path, train_lines: list[str], chunk_rows: int, n_lines: int, zipped: bool
) -> None:
    path = _write(tmp_path, _crafted(train_lines[:n_lines]), zipped)
    parts = _assert_same(path, chunk_rows)

    # Every crafted line lands where it should (numbers count the blank line and the header).
    quarantine = pd.concat([p.quarantine for p in parts], ignore_index=True)
    assert quarantine["line"].tolist() == [n + 3 for n in (5, 8, 13, 21, 34, 55, 89)]
    expected = [
        "NUL byte in line",
        "expected 42 fields, found 39",
        "expected 42 fields, found 43",
        "text in numeric field: 'abc'",
        "text in numeric field: '12x'",
        "unknown label: 'nonsense.'",
        "text in numeric field: 'duration'",
    ]
    for reason, start in zip(quarantine["reason"], expected, strict=True):
        assert reason.startswith(start), (reason, start)
    frame = pd.concat([p.frame for p in parts])
    assert frame.loc[153, "service"] == "caf\u00e9\ufffd"
    # The CR and the form feed take the place of a "\n": the file has a blank line, the
    # header and the body's lines, two of them blank.
    assert len(frame) + len(quarantine) == n_lines - 2
    assert len(parts) == (1 if chunk_rows == WHOLE else -(-(n_lines + 2) // chunk_rows))


def test_unlabelled_file_without_header_in_crlf(tmp_path: Path, train_lines: list[str]) -> None:
    lines = [line.rsplit(",", 1)[0] for line in train_lines[:1200]]
    lines[1100] = train_lines[1100]  # a labelled line: one field too many
    path = tmp_path / "nolabel.gz"
    path.write_bytes(gzip.compress(("\r\n".join(lines) + "\r\n").encode()))
    for chunk_rows in (13, 1000):
        parts = _assert_same(path, chunk_rows)
        assert not any(p.has_label for p in parts)
    assert parse_kdd(path).quarantine["line"].tolist() == [1101]


@pytest.mark.parametrize("block_bytes", [1, 2, 3, 61])
def test_lines_cut_by_the_byte_blocks_are_whole_again(
    tmp_path: Path, train_lines: list[str], block_bytes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line, a CRLF or a multi-byte character cut by the end of a block of bytes is put
    together again."""
    data = _crafted(train_lines[:200])
    monkeypatch.setattr(reader, "_BLOCK_BYTES", block_bytes)
    for zipped in (False, True):
        _assert_same(_write(tmp_path, data, zipped), 50)


def test_line_breaks_are_those_of_splitlines() -> None:
    breaks = {chr(c) for c in range(sys.maxunicode + 1) if len(f"a{chr(c)}b".splitlines()) == 2}
    assert breaks == reader._LINE_BREAKS


def test_damaged_gzip_is_an_error_naming_the_file_when_reached(
    tmp_path: Path, train_lines: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = gzip.compress(("\n".join(train_lines[:4000]) + "\n").encode())
    path = tmp_path / "cut.gz"
    path.write_bytes(whole[: len(whole) // 2])
    message = r"cut\.gz: gzip data is truncated or damaged"
    with pytest.raises(CorruptFileError, match=message):
        list(iter_kdd(path, 100))
    # Read in small blocks, the blocks before the damage come out first.
    monkeypatch.setattr(reader, "_BLOCK_BYTES", 4096)
    parts = []
    with pytest.raises(CorruptFileError, match=message):
        for part in iter_kdd(path, 100):
            parts.append(part)
    assert len(parts) >= 10
    assert pd.concat([p.frame for p in parts]).index.tolist() == list(
        range(1, 100 * len(parts) + 1)
    )


def test_empty_and_header_only_files_behave_as_when_read_whole(tmp_path: Path) -> None:
    for name, text in (("empty.csv", ""), ("blank.csv", "\n \n\n")):
        path = tmp_path / name
        path.write_text(text)
        for read in (parse_kdd, lambda p: list(iter_kdd(p, 3))):
            with pytest.raises(KddFormatError, match="no data lines"):
                read(path)
    headed = tmp_path / "header.csv"
    headed.write_text("\n" + HEADER + "\n\n")
    parts = _assert_same(headed, 1)
    assert len(parts) == 3 and sum(p.lines_read for p in parts) == 0
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("duration,protocol,service\n0,tcp,http\n")
    with pytest.raises(KddFormatError, match=r"wrong.csv, line 1: header"):
        next(iter_kdd(wrong, 1))


def test_chunk_rows_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="chunk_rows"):
        next(iter_kdd(tmp_path / "any.csv", 0))


def _peak(run) -> int:
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_streaming_holds_about_one_block(test_path: Path) -> None:
    def stream() -> None:
        rows = 0
        for part in iter_kdd(test_path, 10_000):
            rows += part.lines_read
        assert rows == 311_029

    streamed = _peak(stream)
    whole = _peak(lambda: parse_kdd(test_path))
    assert streamed < whole / 4, (streamed, whole)
