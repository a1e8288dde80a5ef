"""Bad input, file by file: each is a clear error naming the file, or is read with what
cannot be trusted in quarantine; either way the counts add up."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from typer.testing import CliRunner

from iot_anomaly.cli import app
from iot_anomaly.data.reader import CorruptFileError, parse_kdd, read_text
from iot_anomaly.traffic.connections import TrafficFormatError
from iot_anomaly.traffic.ingest import ingest
from tests.code.test_traffic_readers import (
    ZEEK_FIELDS,
    F,
    arp_frame,
    conn_log,
    ip4,
    ip6,
    sample_frames,
    tcp,
    write_pcap,
    zeek_csv,
    zeek_row,
)

KDD_LINE = (
    "0,tcp,http,SF,181,5450,"
    + ",".join(["0"] * 16)
    + ",8,8"
    + ",0.00" * 4
    + ",1.00,0.00,0.00,9,9,1.00,0.00,0.11,0.00,0.00,0.00,0.00,0.00,normal."
)


def adds_up(summary: dict) -> None:
    for source in summary["sources"]:
        assert source["read"] == source["records"] + source["quarantined"], source
    assert summary["read"] == summary["records"] + summary["quarantined"]


def test_kdd_line_is_well_formed() -> None:
    assert len(KDD_LINE.split(",")) == 42


def test_truncated_gzip_is_an_error_naming_the_file(tmp_path: Path) -> None:
    whole = gzip.compress(("\n".join([KDD_LINE] * 2000) + "\n").encode())
    path = tmp_path / "cut.gz"
    path.write_bytes(whole[: len(whole) // 2])
    # gzip raises EOFError, which the command line took for an aborted prompt ("Aborted.").
    with pytest.raises(CorruptFileError, match=r"cut\.gz: gzip data is truncated or damaged"):
        read_text(path)
    with pytest.raises(ValueError, match=r"cut\.gz"):
        parse_kdd(path)
    log = tmp_path / "conn.log.gz"
    full = gzip.compress(conn_log([zeek_row(uid=f"C{i}") for i in range(500)]).encode())
    log.write_bytes(full[: len(full) // 2])
    with pytest.raises(CorruptFileError, match=r"conn\.log\.gz"):
        ingest([log], _settings())


def test_gzipped_conn_log_is_read(tmp_path: Path, params) -> None:
    log = tmp_path / "conn.log.gz"
    log.write_bytes(gzip.compress(conn_log([zeek_row(), zeek_row(uid="C2")]).encode()))
    done = ingest([log], params.ingest)
    assert len(done.records) == 2
    adds_up(done.summary)


def test_nul_byte_in_a_kdd_line_is_quarantined_with_its_line(tmp_path: Path) -> None:
    lines = [KDD_LINE] * 5
    lines[2] = KDD_LINE[:10] + "\x00" + KDD_LINE[10:]  # parsed as a good line before
    lines[3] = KDD_LINE[:12] + "\x00"
    path = tmp_path / "nul.csv"
    path.write_text("\n".join(lines) + "\n")
    result = parse_kdd(path)
    assert result.frame.index.tolist() == [1, 2, 5]
    assert result.quarantine["line"].tolist() == [3, 4]
    assert (result.quarantine["reason"] == "NUL byte in line").all()
    assert "\\x00" in result.quarantine["raw"].iloc[0]
    assert result.lines_read == len(result.frame) + len(result.quarantine)


def test_nul_byte_in_a_conn_log_line_is_quarantined(tmp_path: Path, params) -> None:
    path = tmp_path / "nul.conn.log"
    rows = [zeek_row(uid=f"C{i}") for i in range(4)]
    rows[1]["history"] = "Sh\x00AD"
    path.write_text(conn_log(rows))
    done = ingest([path], params.ingest)
    assert done.quarantine[["line", "reason"]].values.tolist() == [[10, "NUL byte in line"]]
    assert len(done.records) == 3
    adds_up(done.summary)


def test_file_named_pcap_that_is_not_one(tmp_path: Path, params) -> None:
    path = tmp_path / "holiday.pcap"
    path.write_text("these are not packets\n")
    with pytest.raises(TrafficFormatError, match=r"holiday\.pcap: not a packet capture"):
        ingest([path], params.ingest)
    result = CliRunner().invoke(app, ["ingest", str(path), "-o", str(tmp_path / "out.csv")])
    assert result.exit_code == 1
    output = " ".join(result.output.split())  # the console wraps long lines
    assert "holiday.pcap: not a packet capture" in output
    # In a folder it is not skipped either: its name says capture.
    with pytest.raises(TrafficFormatError, match=r"holiday\.pcap"):
        ingest([tmp_path], params.ingest)


def test_capture_header_cut_short(tmp_path: Path, params) -> None:
    whole = write_pcap(tmp_path / "x.pcap", sample_frames()).read_bytes()
    path = tmp_path / "stub.pcap"
    path.write_bytes(whole[:10])
    with pytest.raises(TrafficFormatError, match=r"stub\.pcap: pcap header cut short"):
        ingest([path], params.ingest)


def test_truncated_capture_keeps_the_flows_before_the_cut(tmp_path: Path, params) -> None:
    whole = write_pcap(tmp_path / "whole.pcap", sample_frames()).read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(whole[: len(whole) - 30])  # the last record is incomplete
    done = ingest([cut], params.ingest)
    source = done.summary["sources"][0]
    assert source["truncated_at_byte"] is not None and source["frames"] == 15
    assert any("cut short" in note for note in source["notes"])
    # Five connections; the IGMP flow (the last frame, quarantined when whole) is lost.
    assert len(done.records) == 5 and len(done.quarantine) == 0
    adds_up(done.summary)


def test_empty_capture_gives_no_records_and_says_so(tmp_path: Path, params) -> None:
    empty = write_pcap(tmp_path / "empty.pcap", [])
    done = ingest([empty], params.ingest)
    assert len(done.records) == 0 and len(done.quarantine) == 0
    assert done.summary["sources"][0]["notes"] == ["no IP flow in the capture (0 frames)"]
    adds_up(done.summary)
    result = CliRunner().invoke(app, ["ingest", str(empty), "-o", str(tmp_path / "o.csv")])
    assert result.exit_code == 0, result.output
    assert "no IP flow" in " ".join(result.output.split())


def test_non_ip_frames_are_counted_not_lost(tmp_path: Path, params) -> None:
    only_arp = write_pcap(tmp_path / "arp.pcap", [arp_frame()] * 3)
    done = ingest([only_arp], params.ingest)
    source = done.summary["sources"][0]
    assert (source["frames"], source["non_ip_frames"], source["records"]) == (3, 3, 0)
    adds_up(done.summary)


def test_ipv6_traffic_becomes_records(tmp_path: Path, params) -> None:
    a, b = "2001:db8::10", "2001:db8::20"
    frames = [
        ip6(a, b, 6, tcp(50000, 443, F.TH_SYN)),
        ip6(b, a, 6, tcp(443, 50000, F.TH_SYN | F.TH_ACK)),
        ip6(a, b, 6, tcp(50000, 443, F.TH_RST)),
        ip6(a, b, 58, bytes([128, 0, 0, 0, 0, 1, 0, 1])),  # ICMPv6 echo request
        ip4("10.0.0.1", "10.0.0.2", 6, tcp(1, 2, F.TH_SYN)),
    ]
    done = ingest([write_pcap(tmp_path / "v6.pcap", frames)], params.ingest)
    records = done.records.set_index("dst_port")
    assert records.loc[443, "src_ip"] == a and records.loc[443, "flag"] == "RSTO"
    icmp6 = done.records[done.records["protocol_type"] == "icmp"].iloc[0]
    assert (icmp6["src_port"], icmp6["dst_port"]) == (128, 0)  # ICMPv6 type and code
    assert len(done.records) == 3
    adds_up(done.summary)


def test_conn_log_with_missing_or_reordered_fields(tmp_path: Path, params) -> None:
    reordered = tmp_path / "reordered.log"
    fields = ["uid", *reversed(ZEEK_FIELDS[2:]), "ts"]
    reordered.write_text(conn_log([zeek_row(), zeek_row(uid="C2")], fields=fields))
    done = ingest([reordered], params.ingest)
    assert done.records["dst_port"].tolist() == [80, 80] and len(done.records) == 2
    missing = tmp_path / "missing.log"
    missing.write_text(conn_log([zeek_row()], fields=[f for f in ZEEK_FIELDS if f != "proto"]))
    with pytest.raises(TrafficFormatError, match=r"missing\.log: #fields lacks .*proto"):
        ingest([missing], params.ingest)


def test_csv_without_the_needed_columns(tmp_path: Path, params) -> None:
    fields = [f for f in ZEEK_FIELDS if f not in ("duration", "id.resp_h")]
    path = tmp_path / "flows.csv"
    path.write_text(zeek_csv([zeek_row()], fields=fields))
    with pytest.raises(TrafficFormatError, match=r"flows\.csv: the header .*id\.resp_h, duration"):
        ingest([path], params.ingest)


def test_a_kdd_file_is_not_traffic(tmp_path: Path, params) -> None:
    path = tmp_path / "kdd.csv"
    path.write_text(KDD_LINE + "\n")
    with pytest.raises(TrafficFormatError, match=r"kdd\.csv: not traffic"):
        ingest([path], params.ingest)
    with pytest.raises(TrafficFormatError, match="no traffic file"):
        ingest([tmp_path], params.ingest)


def _settings():
    from iot_anomaly.config import load_params

    return load_params(Path(__file__).resolve().parents[2] / "params.yaml").ingest
