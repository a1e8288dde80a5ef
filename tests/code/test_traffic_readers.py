"""Traffic readers: Zeek conn.log (native TSV, IoT-23's labelled layout), its CSV
conversion and packet captures (tiny ones written here with dpkt), into the connections
frame; what cannot be trusted goes to quarantine and the counts add up."""

from __future__ import annotations

import socket
from pathlib import Path

import dpkt
import numpy as np
import pandas as pd
import pytest

from iot_anomaly import schema
from iot_anomaly.data.reader import QUARANTINE_COLUMNS
from iot_anomaly.traffic import connections as cx
from iot_anomaly.traffic import sniff
from iot_anomaly.traffic.ingest import expand, ingest, read_records, write_ingested
from iot_anomaly.traffic.pcap import conn_state, read_capture, scan_frames
from iot_anomaly.traffic.zeek import read_conn_log, read_zeek_csv

LABELS = {"benign": "normal", "c&c": "r2l", "ddos": "dos", "partofahorizontalportscan": "probe"}

ZEEK_FIELDS = [
    "ts",
    "uid",
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    "proto",
    "service",
    "duration",
    "orig_bytes",
    "resp_bytes",
    "conn_state",
    "local_orig",
    "local_resp",
    "missed_bytes",
    "history",
    "orig_pkts",
    "orig_ip_bytes",
    "resp_pkts",
    "resp_ip_bytes",
    "tunnel_parents",
]
ZEEK_TYPES = [
    "time",
    "string",
    "addr",
    "port",
    "addr",
    "port",
    "enum",
    "string",
    "interval",
    "count",
    "count",
    "string",
    "bool",
    "bool",
    "count",
    "string",
    "count",
    "count",
    "count",
    "count",
    "set[string]",
]


def zeek_row(**values: str) -> dict[str, str]:
    """One conn.log row (Zeek's text), a benign TCP connection unless told otherwise."""
    row = dict(
        zip(
            ZEEK_FIELDS,
            [
                "1547150789.067208",
                "CzsY0D4B96NTr8m7ld",
                "192.168.1.199",
                "59222",
                "46.101.251.172",
                "80",
                "tcp",
                "http",
                "1.686784",
                "149",
                "171750",
                "SF",
                "-",
                "-",
                "0",
                "ShADadttfF",
                "122",
                "7741",
                "122",
                "178102",
                "(empty)",
            ],
            strict=True,
        )
    )
    row.update({"label": "Benign", "detailed-label": "-"})
    row.update(values)
    return row


def conn_log(
    rows: list[dict[str, str]], fields: list[str] | None = None, labelled: bool = True
) -> str:
    """A conn.log as Zeek writes it; labelled: IoT-23's layout, where the last three fields
    (tunnel_parents, label, detailed-label) share one tab field, joined by three spaces."""
    fields = list(fields or ZEEK_FIELDS)
    types = dict(zip(ZEEK_FIELDS, ZEEK_TYPES, strict=True))
    names, kinds = list(fields), [types.get(f, "string") for f in fields]
    if labelled:
        names[-1] = "   ".join([names[-1], "label", "detailed-label"])
        kinds[-1] = "   ".join([kinds[-1], "string", "string"])
    head = [
        "#separator \\x09",
        "#set_separator\t,",
        "#empty_field\t(empty)",
        "#unset_field\t-",
        "#path\tconn",
        "#open\t2019-01-10-20-06-29",
        "#fields\t" + "\t".join(names),
        "#types\t" + "\t".join(kinds),
    ]
    body = []
    for row in rows:
        values = [row[f] for f in fields]
        if labelled:
            values[-1] = "   ".join([values[-1], row["label"], row["detailed-label"]])
        body.append("\t".join(values))
    return "\n".join([*head, *body, "#close\t2019-01-10-20-16-29"]) + "\n"


def zeek_csv(rows: list[dict[str, str]], fields: list[str] | None = None) -> str:
    """IoT-23's CSV conversion: header row, `-` unset became an empty field."""
    fields = list(fields or [*ZEEK_FIELDS, "label", "detailed-label"])
    lines = [",".join(fields)]
    for row in rows:
        lines.append(
            ",".join("" if row[f] == "-" and f != "detailed-label" else row[f] for f in fields)
        )
    return "\n".join(lines) + "\n"


# --- packet captures --------------------------------------------------------------------

MAC_A, MAC_B = b"\x02\x00\x00\x00\x00\x01", b"\x02\x00\x00\x00\x00\x02"
F = dpkt.tcp


def ip4(src: str, dst: str, proto: int, payload: bytes) -> bytes:
    packet = dpkt.ip.IP(
        src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=proto, ttl=64, data=payload
    )
    packet.len = 20 + len(payload)
    return bytes(dpkt.ethernet.Ethernet(src=MAC_A, dst=MAC_B, type=0x0800, data=bytes(packet)))


def ip6(src: str, dst: str, proto: int, payload: bytes) -> bytes:
    packet = dpkt.ip6.IP6(
        src=socket.inet_pton(socket.AF_INET6, src),
        dst=socket.inet_pton(socket.AF_INET6, dst),
        nxt=proto,
        hlim=64,
        data=payload,
    )
    packet.plen = len(payload)
    return bytes(dpkt.ethernet.Ethernet(src=MAC_A, dst=MAC_B, type=0x86DD, data=bytes(packet)))


def tcp(sport: int, dport: int, flags: int, data: bytes = b"", seq: int = 1) -> bytes:
    return bytes(dpkt.tcp.TCP(sport=sport, dport=dport, flags=flags, seq=seq, data=data))


def udp(sport: int, dport: int, data: bytes) -> bytes:
    return bytes(dpkt.udp.UDP(sport=sport, dport=dport, ulen=8 + len(data), data=data))


def icmp(kind: int, code: int) -> bytes:
    return bytes(dpkt.icmp.ICMP(type=kind, code=code, data=b"\x00\x01\x00\x01ping"))


def arp_frame() -> bytes:
    return bytes(dpkt.ethernet.Ethernet(src=MAC_A, dst=b"\xff" * 6, type=0x0806, data=b"\0" * 28))


REQUEST = b"GET / HTTP/1.1\r\nHost: example.org\r\n\r\n"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


def sample_frames() -> list[bytes]:
    """Frames of: a full HTTP connection with an urgent packet (SF), a SYN with no answer
    (S0), a SYN answered by a RST (REJ), an ICMP echo and reply, a UDP packet over IPv6, an
    ARP frame (not IP) and an IGMP packet (an IP protocol that is not tcp/udp/icmp)."""
    a, b, c = "10.0.0.1", "10.0.0.2", "10.0.0.3"
    return [
        ip4(a, b, 6, tcp(40000, 80, F.TH_SYN)),
        ip4(b, a, 6, tcp(80, 40000, F.TH_SYN | F.TH_ACK)),
        ip4(a, b, 6, tcp(40000, 80, F.TH_ACK)),
        ip4(a, b, 6, tcp(40000, 80, F.TH_PUSH | F.TH_ACK | F.TH_URG, REQUEST)),
        ip4(b, a, 6, tcp(80, 40000, F.TH_PUSH | F.TH_ACK, RESPONSE)),
        ip4(a, b, 6, tcp(40000, 80, F.TH_FIN | F.TH_ACK)),
        ip4(b, a, 6, tcp(80, 40000, F.TH_FIN | F.TH_ACK)),
        ip4(a, b, 6, tcp(40000, 80, F.TH_ACK)),
        ip4(a, c, 6, tcp(40001, 23, F.TH_SYN)),
        ip4(a, b, 6, tcp(40002, 25, F.TH_SYN)),
        ip4(b, a, 6, tcp(25, 40002, F.TH_RST | F.TH_ACK)),
        ip4(a, c, 1, icmp(8, 0)),
        ip4(c, a, 1, icmp(0, 0)),
        ip6("2001:db8::1", "2001:db8::2", 17, udp(5000, 53, b"\x12\x34" + b"\0" * 10)),
        arp_frame(),
        ip4(a, "224.0.0.1", 2, b"\x11\x64\xee\x9b\x00\x00\x00\x00"),
    ]


def write_pcap(path: Path, frames: list[bytes], start: float = 1_600_000_000.0) -> Path:
    with path.open("wb") as handle:
        writer = dpkt.pcap.Writer(handle)
        for i, frame in enumerate(frames):
            writer.writepkt(frame, ts=start + 0.01 * i)
    return path


def write_pcapng(path: Path, frames: list[bytes], start: float = 1_600_000_000.0) -> Path:
    with path.open("wb") as handle:
        writer = dpkt.pcapng.Writer(handle)
        for i, frame in enumerate(frames):
            writer.writepkt(frame, ts=start + 0.01 * i)
    return path


def counts_add_up(read: cx.Read) -> None:
    assert read.units == len(read.connections) + len(read.quarantine)


# --- tests: Zeek ------------------------------------------------------------------------


def test_conn_log_iot23_layout_is_read_by_field_name(tmp_path: Path) -> None:
    rows = [
        zeek_row(),
        zeek_row(label="Malicious", **{"detailed-label": "C&C"}, duration="-", orig_bytes="-"),
        zeek_row(proto="icmp", service="-", **{"id.orig_p": "8", "id.resp_p": "0"}),
    ]
    path = tmp_path / "conn.log.labeled"
    path.write_text(conn_log(rows))
    read = read_conn_log(path, LABELS)
    frame = read.connections
    assert tuple(frame.columns) == cx.COLUMNS
    assert frame.dtypes.astype(str).to_dict() == cx.DTYPES
    assert frame["line"].tolist() == [9, 10, 11]  # 8 header lines first
    assert frame["label"].tolist() == ["Benign", "C&C", "Benign"]  # detailed label wins
    assert frame.loc[1, "duration"] == 0.0 and frame.loc[1, "orig_bytes"] == 0  # unset -> 0
    assert frame.loc[2, ["src_port", "dst_port"]].tolist() == [8, 0]  # ICMP type and code
    assert frame.loc[2, "service"] == "" and frame.loc[0, "service"] == "http"
    assert frame["urgent"].isna().all() and frame["wrong_fragment"].isna().all()
    assert frame.loc[0, "resp_bytes"] == 171750 and frame.loc[0, "ts"] == 1547150789.067208
    assert read.quarantine.empty and read.units == 3


def test_conn_log_without_labels_and_reordered_fields(tmp_path: Path) -> None:
    fields = list(reversed(ZEEK_FIELDS))  # reordered: found by name
    path = tmp_path / "conn.log"
    path.write_text(conn_log([zeek_row(), zeek_row(uid="C2")], fields=fields, labelled=False))
    read = read_conn_log(path, LABELS)
    assert read.connections["uid"].tolist() == ["CzsY0D4B96NTr8m7ld", "C2"]
    assert (read.connections["label"] == "").all()
    assert read.connections.loc[0, "dst_port"] == 80


def test_conn_log_missing_fields_is_an_error_naming_them(tmp_path: Path) -> None:
    fields = [f for f in ZEEK_FIELDS if f not in ("conn_state", "orig_bytes")]
    path = tmp_path / "short.log"
    path.write_text(conn_log([zeek_row()], fields=fields, labelled=False))
    with pytest.raises(cx.TrafficFormatError, match=r"short\.log.*orig_bytes, conn_state"):
        read_conn_log(path)
    no_fields = tmp_path / "nofields.log"
    no_fields.write_text("#separator \\x09\n#path\tconn\n1\t2\n")
    with pytest.raises(cx.TrafficFormatError, match=r"nofields\.log: no #fields"):
        read_conn_log(no_fields)


def test_bad_conn_log_lines_are_quarantined_with_line_field_reason(tmp_path: Path) -> None:
    rows = [
        zeek_row(),
        zeek_row(orig_bytes="12x"),  # text in a numeric field
        zeek_row(resp_bytes="-5"),  # negative bytes
        zeek_row(proto="sctp"),  # unknown proto
        zeek_row(uid="C\x00bad"),  # NUL byte
        zeek_row(label="Malicious", **{"detailed-label": "Spam"}),  # label not in the map
        zeek_row(conn_state="XX"),
        zeek_row(**{"id.resp_p": "70000"}),
        zeek_row(),
    ]
    text = conn_log(rows)
    lines = text.split("\n")
    lines.insert(10, "1547150789.1\tCshort\t1.2.3.4")  # wrong field count (line 11)
    path = tmp_path / "bad.conn.log"
    path.write_text("\n".join(lines))
    read = read_conn_log(path, LABELS)
    counts_add_up(read)
    q = read.quarantine.set_index("line")
    assert tuple(read.quarantine.columns) == QUARANTINE_COLUMNS
    assert (read.quarantine["file"] == str(path)).all()
    assert read.connections["line"].tolist() == [9, 18]
    assert (
        q.loc[10, "field"] == "orig_bytes" and "text in numeric field: '12x'" in q.loc[10, "reason"]
    )
    assert q.loc[11, "reason"].startswith("expected 23 fields, found 3")
    assert q.loc[12, "field"] == "resp_bytes" and "negative bytes" in q.loc[12, "reason"]
    assert q.loc[13, "field"] == "proto" and "unknown proto: 'sctp'" in q.loc[13, "reason"]
    assert q.loc[14, "reason"] == "NUL byte in line" and "\\x00" in q.loc[14, "raw"]
    assert q.loc[15, "field"] == "label" and "'Spam'" in q.loc[15, "reason"]
    assert q.loc[16, "field"] == "conn_state"
    assert "port outside 0-65535" in q.loc[17, "reason"]
    assert q.loc[10, "raw"].startswith("1547150789.067208\tCzsY0D4B96NTr8m7ld")


def test_zeek_csv_reads_like_the_log(tmp_path: Path) -> None:
    rows = [zeek_row(), zeek_row(label="Malicious", **{"detailed-label": "DDoS"}, service="-")]
    log, csv = tmp_path / "a.conn.log.labeled", tmp_path / "a-labeled.csv"
    log.write_text(conn_log(rows))
    csv.write_text(zeek_csv(rows))
    from_log, from_csv = read_conn_log(log, LABELS), read_zeek_csv(csv, LABELS)
    columns = [c for c in cx.COLUMNS if c not in ("file", "line")]
    pd.testing.assert_frame_equal(from_log.connections[columns], from_csv.connections[columns])
    assert from_csv.connections["line"].tolist() == [2, 3]


def test_zeek_csv_missing_columns_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("ts,uid,id.orig_h,id.resp_h,proto\n1,C1,1.1.1.1,2.2.2.2,tcp\n")
    with pytest.raises(cx.TrafficFormatError, match=r"x\.csv.*id\.orig_p, id\.resp_p, service"):
        read_zeek_csv(path)


def test_large_conn_log_reads_in_seconds(tmp_path: Path) -> None:
    """Vectorised: 200k lines well under the time a per-line loop would take."""
    import time

    path = tmp_path / "big.log"
    path.write_text(conn_log([zeek_row(uid=f"C{i}") for i in range(1000)]))
    text = path.read_text().split("\n")
    body = [t for t in text if t and not t.startswith("#")]
    path.write_text("\n".join([*text[:8], *(body * 200)]) + "\n")
    started = time.perf_counter()
    read = read_conn_log(path, LABELS)
    assert len(read.connections) == 200_000
    assert time.perf_counter() - started < 10


# --- tests: captures --------------------------------------------------------------------


def test_capture_flows_become_connections(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "sample.pcap", sample_frames())
    read = read_capture(path)
    counts_add_up(read)
    frame = read.connections.set_index("dst_port")
    assert tuple(read.connections.columns) == cx.COLUMNS
    assert read.connections["uid"].str.fullmatch(r"F\d+").all()
    http = frame.loc[80]
    assert http["proto"] == "tcp" and http["conn_state"] == "SF" and http["service"] == "HTTP"
    assert http["orig_bytes"] == len(REQUEST) and http["resp_bytes"] == len(RESPONSE)
    assert http["urgent"] == 1 and np.isnan(http["wrong_fragment"])
    assert frame.loc[23, "conn_state"] == "S0"
    assert frame.loc[25, "conn_state"] == "REJ"
    ping = read.connections[read.connections["proto"] == "icmp"].iloc[0]
    assert (ping["src_port"], ping["dst_port"], ping["conn_state"]) == (8, 0, "OTH")
    v6 = read.connections[read.connections["src_ip"] == "2001:db8::1"].iloc[0]
    assert (v6["proto"], v6["dst_port"], v6["conn_state"]) == ("udp", 53, "S0")
    # IGMP is an IP flow but no connection: quarantined with its reason.
    assert read.quarantine["reason"].tolist() == ["IP protocol 2 is not tcp, udp or icmp"]
    assert read.facts["non_ip_frames"] == 1 and read.facts["frames"] == 16
    assert any("1 frames carry no IP packet" in n for n in read.notes)
    # Numbered in order of first packet: the same on every run.
    assert read_capture(path).connections.equals(read.connections)


def test_pcapng_reads_like_pcap(tmp_path: Path) -> None:
    frames = sample_frames()
    one = read_capture(write_pcap(tmp_path / "a.pcap", frames))
    other = read_capture(write_pcapng(tmp_path / "a.pcapng", frames))
    assert other.format == "pcapng" and one.format == "pcap"
    columns = [c for c in cx.COLUMNS if c != "file"]
    pd.testing.assert_frame_equal(one.connections[columns], other.connections[columns])
    assert scan_frames(tmp_path / "a.pcapng").non_ip == 1


def test_conn_state_rules() -> None:
    """Each Zeek state from per-direction SYN/FIN/RST counts (docs/traffic.md)."""
    cases = {  # (o_syn, o_fin, o_rst, r_syn, r_fin, r_rst): state
        (1, 0, 0, 0, 0, 0): "S0",
        (1, 0, 0, 1, 0, 0): "S1",
        (1, 1, 0, 1, 1, 0): "SF",
        (1, 0, 0, 0, 0, 1): "REJ",
        (1, 1, 0, 1, 0, 0): "S2",
        (1, 0, 0, 1, 1, 0): "S3",
        (1, 0, 1, 1, 0, 0): "RSTO",
        (1, 0, 0, 1, 0, 1): "RSTR",
        (1, 0, 1, 0, 0, 0): "RSTOS0",
        (0, 0, 0, 1, 0, 1): "RSTRH",
        (1, 1, 0, 0, 0, 0): "SH",
        (0, 0, 0, 1, 1, 0): "SHR",
        (0, 0, 0, 0, 0, 0): "OTH",
        (1, 1, 1, 1, 1, 0): "RSTO",  # a reset outranks a close: counts carry no order
    }
    names = [f"{d}_{f}_packets" for d in ("src2dst", "dst2src") for f in ("syn", "fin", "rst")]
    flows = pd.DataFrame(list(cases), columns=names)
    flows["dst2src_packets"] = 1
    states = conn_state(flows, np.array(["tcp"] * len(flows)))
    assert dict(zip(cases, states, strict=True)) == cases
    assert set(cases.values()) == set(cx.CONN_STATES)
    other = pd.DataFrame([[0] * 6 + [0], [0] * 6 + [3]], columns=[*names, "dst2src_packets"])
    assert conn_state(other, np.array(["udp", "udp"])).tolist() == ["S0", "SF"]
    assert conn_state(other, np.array(["icmp", "icmp"])).tolist() == ["OTH", "OTH"]


# --- tests: detection and ingest --------------------------------------------------------


def test_sources_are_recognised_by_content(tmp_path: Path) -> None:
    pcap = write_pcap(tmp_path / "capture.bin", sample_frames())
    log = tmp_path / "conn.txt"
    log.write_text(conn_log([zeek_row()]))
    csv = tmp_path / "flows.txt"
    csv.write_text(zeek_csv([zeek_row()]))
    kdd = tmp_path / "kdd.csv"
    kdd.write_text("0,tcp,http,SF," + ",".join(["0"] * 37) + ",normal.\n")
    assert sniff.traffic_kind(pcap) == sniff.CAPTURE
    assert sniff.traffic_kind(log) == sniff.CONN_LOG
    assert sniff.traffic_kind(csv) == sniff.ZEEK_CSV
    assert sniff.traffic_kind(kdd) is None and not sniff.is_traffic_file(kdd)
    files, skipped = expand([tmp_path])
    assert files == sorted([pcap, log, csv]) and skipped == [kdd]
    assert expand([pcap, log, pcap]) == ([pcap, log], [])  # a file named twice is read once


def test_ingest_counts_add_up_and_records_round_trip(tmp_path: Path, params) -> None:
    rows = [zeek_row(uid=f"C{i}", ts=f"{1547150789 + i}.5") for i in range(5)]
    rows.append(zeek_row(uid="Cbad", orig_bytes="oops"))
    rows.append(zeek_row(uid="Cunknown", label="Malicious", **{"detailed-label": "Spam"}))
    rows.append(zeek_row(uid="Ccc", label="Malicious", **{"detailed-label": "C&C"}))
    log = tmp_path / "in" / "a.conn.log.labeled"
    log.parent.mkdir()
    log.write_text(conn_log(rows))
    write_pcap(tmp_path / "in" / "b.pcap", sample_frames())
    (tmp_path / "in" / "README.md").write_text("not traffic\n")
    done = ingest([tmp_path / "in"], params.ingest)
    summary = done.summary
    for source in summary["sources"]:
        assert source["read"] == source["records"] + source["quarantined"]
    assert summary["read"] == summary["records"] + summary["quarantined"]
    assert summary["records"] == len(done.records) and summary["quarantined"] == len(
        done.quarantine
    )
    assert summary["skipped"] == [str(tmp_path / "in" / "README.md")]
    by_file = {Path(s["file"]).name: s for s in summary["sources"]}
    assert by_file["a.conn.log.labeled"]["quarantined"] == 2
    assert "urgent" in by_file["b.pcap"]["measured"]
    assert "urgent" in by_file["a.conn.log.labeled"]["unmeasured"]
    assert set(schema.CONTENT_FEATURES) <= set(summary["unmeasured"])
    logged = done.records[done.records["file"] == str(log)]
    assert logged.set_index("uid")["category"].to_dict()["Ccc"] == "r2l"
    assert (logged["category"].drop(logged.index[logged["uid"] == "Ccc"]) == "normal").all()
    assert (done.records.loc[done.records["file"] != str(log), "category"] == "").all()

    out = tmp_path / "out" / "records.csv"
    written = write_ingested(done, out)
    assert [p.name for p in written] == [
        "records.csv",
        "records.quarantine.csv",
        "records.summary.json",
    ]
    back = read_records(out)
    assert sniff.traffic_kind(out) == sniff.RECORDS
    pd.testing.assert_frame_equal(
        back[list(schema.FLOW_FEATURES)],
        done.records[list(schema.FLOW_FEATURES)],
        check_dtype=False,
    )
    assert back[list(schema.CONTENT_FEATURES)].isna().all().all()
    assert back["uid"].tolist() == done.records["uid"].tolist()
    assert pd.read_csv(written[1])["line"].notna().all()
