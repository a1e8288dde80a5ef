"""Parsing real KDD lines: layouts accepted, and bad lines quarantined, never lost."""

import gzip
from pathlib import Path

import pandas as pd
import pytest

from iot_anomaly import schema
from iot_anomaly.data.reader import KddFormatError, parse_kdd, write_quarantine

HEADER = ",".join(schema.COLUMNS)


def _break(line: str, index: int, value: str) -> str:
    fields = line.split(",")
    fields[index] = value
    return ",".join(fields)


def _col(name: str) -> int:
    return schema.COLUMNS.index(name)


def test_ten_broken_lines_are_quarantined_exactly(tmp_path: Path, train_lines: list[str]) -> None:
    lines = list(train_lines[:500])
    breakers = {
        10: lambda s: ",".join(s.split(",")[:-2]),  # too few fields
        20: lambda s: s + ",extra",  # too many fields
        30: lambda s: _break(s, _col("src_bytes"), "abc"),  # text in a numeric field
        40: lambda s: _break(s, _col("count"), "-3"),  # negative count
        50: lambda s: _break(s, _col("serror_rate"), "1.5"),  # rate above 1
        60: lambda s: _break(s, _col("same_srv_rate"), "-0.1"),  # rate below 0
        70: lambda s: _break(s, _col("logged_in"), "2"),  # flag not 0/1
        80: lambda s: _break(s, _col("protocol_type"), ""),  # empty field
        90: lambda s: _break(s, _col("label"), "nonsense."),  # unknown label
        100: lambda s: _break(s, _col("duration"), "1.5"),  # non-integer count
    }
    for index, breaker in breakers.items():
        lines[index] = breaker(lines[index])
    path = tmp_path / "mixed.csv"
    path.write_text("\n".join(lines) + "\n")

    result = parse_kdd(path)

    bad_line_numbers = sorted(i + 1 for i in breakers)  # 1-based file lines
    assert result.n_quarantined == 10
    assert result.quarantine["line"].tolist() == bad_line_numbers
    assert len(result.frame) == 490
    assert set(result.frame.index).isdisjoint(bad_line_numbers)
    assert (result.quarantine["file"] == str(path)).all()
    reasons = dict(zip(result.quarantine["line"], result.quarantine["reason"], strict=True))
    assert reasons[11].startswith("expected 42 fields, found 40")
    assert reasons[21].startswith("expected 42 fields, found 43")
    assert "text in numeric field" in reasons[31]
    assert "negative count" in reasons[41]
    assert "rate outside [0, 1]" in reasons[51] and "rate outside [0, 1]" in reasons[61]
    assert "flag not 0 or 1" in reasons[71]
    assert "empty value" in reasons[81]
    assert "unknown label" in reasons[91]
    assert "non-integer count" in reasons[101]
    fields = dict(zip(result.quarantine["line"], result.quarantine["field"], strict=True))
    assert fields[31] == "src_bytes" and fields[41] == "count" and fields[91] == "label"

    out = write_quarantine(result, tmp_path / "q" / "mixed.csv")
    saved = pd.read_csv(out)
    assert saved["line"].tolist() == bad_line_numbers
    assert saved.loc[saved["line"] == 31, "raw"].item() == lines[30]


def test_gzip_plain_header_and_dotless_labels_agree(tmp_path: Path, train_lines: list[str]) -> None:
    lines = train_lines[:300]
    plain = tmp_path / "plain.csv"
    plain.write_text("\n".join(lines))
    zipped = tmp_path / "zipped.gz"
    zipped.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    headed = tmp_path / "headed.csv"
    headed.write_text(HEADER + "\n" + "\n".join(line.rstrip(".") for line in lines) + "\n")

    base = parse_kdd(plain).frame
    pd.testing.assert_frame_equal(parse_kdd(zipped).frame, base)
    with_header = parse_kdd(headed).frame
    assert with_header.index[0] == 2  # line numbers count the header line
    pd.testing.assert_frame_equal(with_header.reset_index(drop=True), base.reset_index(drop=True))


def test_unlabelled_files_parse_without_label(tmp_path: Path, train_lines: list[str]) -> None:
    lines = [line.rsplit(",", 1)[0] for line in train_lines[:200]]
    path = tmp_path / "nolabel.csv"
    path.write_text("\n".join(lines) + "\n")
    result = parse_kdd(path)
    assert not result.has_label
    assert list(result.frame.columns) == list(schema.FEATURES)
    assert len(result.frame) == 200 and result.n_quarantined == 0

    headed = tmp_path / "nolabel_header.csv"
    headed.write_text(",".join(schema.FEATURES) + "\n" + "\n".join(lines) + "\n")
    assert not parse_kdd(headed).has_label
    # A labelled line in an unlabelled file has the wrong field count.
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("\n".join([*lines, train_lines[0]]) + "\n")
    assert parse_kdd(mixed).quarantine["line"].tolist() == [201]


def test_unseen_service_is_kept(tmp_path: Path, train_lines: list[str]) -> None:
    path = tmp_path / "icmp.csv"
    path.write_text(_break(train_lines[0], _col("service"), "icmp") + "\n")
    assert parse_kdd(path).frame["service"].tolist() == ["icmp"]


def test_unknown_protocol_or_flag_is_quarantined(tmp_path: Path, train_lines: list[str]) -> None:
    path = tmp_path / "domains.csv"
    lines = [
        _break(train_lines[0], _col("protocol_type"), "tcpx"),
        _break(train_lines[1], _col("flag"), "XX"),
        train_lines[2],
    ]
    path.write_text("\n".join(lines) + "\n")
    parsed = parse_kdd(path)
    assert len(parsed.frame) == 1
    assert parsed.quarantine["field"].tolist() == ["protocol_type", "flag"]
    assert parsed.quarantine["reason"].str.startswith("unknown value").all()


def test_whole_file_problems_are_errors(tmp_path: Path) -> None:
    wrong_header = tmp_path / "wrong.csv"
    wrong_header.write_text("duration,protocol,service\n0,tcp,http\n")
    with pytest.raises(KddFormatError, match=r"wrong.csv, line 1: header"):
        parse_kdd(wrong_header)
    empty = tmp_path / "empty.csv"
    empty.write_text("\n\n")
    with pytest.raises(KddFormatError, match="no data lines"):
        parse_kdd(empty)
    junk = tmp_path / "junk.csv"
    junk.write_text("a,b,c\n1,2\n")
    with pytest.raises(KddFormatError, match="41 or 42 fields"):
        parse_kdd(junk)


def test_repeated_lines_keep_their_own_line_numbers(tmp_path: Path, train_lines: list[str]) -> None:
    """Each distinct line is parsed once; every copy still gets its own row or its own
    quarantine entry, blank lines and a repeated header included."""
    good, bad = train_lines[0], _break(train_lines[1], _col("count"), "-3")
    lines = [HEADER, good, bad, "", good, bad, HEADER, "  ", train_lines[2], good]
    path = tmp_path / "repeats.csv"
    path.write_text("\n".join(lines) + "\n")

    result = parse_kdd(path)

    assert result.frame.index.tolist() == [2, 5, 9, 10]
    assert result.frame.loc[2].equals(result.frame.loc[5])
    assert result.frame.loc[10].equals(result.frame.loc[2])
    assert result.quarantine["line"].tolist() == [3, 6, 7]
    assert result.quarantine["raw"].tolist() == [bad, bad, HEADER[:500]]  # raw is cut at 500
    reasons = result.quarantine["reason"].tolist()
    assert reasons[0] == reasons[1] == "negative count: '-3'"
    assert "text in numeric field" in reasons[2]
    assert result.lines_read == 7  # non-blank lines after the header
    expected = parse_kdd(_write(tmp_path / "once.csv", [train_lines[0], train_lines[2]])).frame
    pd.testing.assert_frame_equal(
        result.frame.loc[[2, 9]].reset_index(drop=True), expected.reset_index(drop=True)
    )


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path
