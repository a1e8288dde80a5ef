"""Packet captures (pcap, pcapng) into the connections frame, through nfstream (nDPI).

nfstream groups packets into bidirectional flows (its "src" is the sender of a flow's first
packet, taken as the originator) and reports, per direction, bytes and counts of packets
with each TCP flag. From those this module derives Zeek's conn_state (`conn_state`; the
rules and their limits are in docs/traffic.md), takes nDPI's application name as the
service when nDPI detected it from the payload (not guessed from a port or address), the
urgent-flag packets as `urgent`, and the ICMP type and code of a flow's first packet as
its ports (Zeek's convention). nfstream does not report fragments: `wrong_fragment` is NaN.

Before nfstream sees a file, the file is walked once (`scan_frames`): this checks the magic
bytes (a file that is not a capture is an error naming it), counts the frames that carry
no IP packet (nfstream skips them silently) and finds a capture cut short, whose flows up
to the cut are kept with a note in the summary (libpcap reads them without a word).
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from iot_anomaly.traffic import connections as cx
from iot_anomaly.traffic.sniff import PCAPNG_MAGIC, capture_kind

#: IP protocol numbers -> connections' proto (ICMPv6 is icmp, as Zeek writes it).
IP_PROTOCOLS: Final[dict[int, str]] = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp"}
#: nfstream's flow expiry, kept at its defaults: a flow idle this long (s) ends, and one
#: active this long is cut (Zeek's own inactivity timeouts are 5 min for TCP, 1 min UDP).
IDLE_TIMEOUT_S: Final = 120
ACTIVE_TIMEOUT_S: Final = 1800
_PAYLOAD_BYTES: Final = 3  # nfstream accounting_mode: transport payload bytes, as Zeek counts
_ETHERNET, _RAW, _RAW4, _RAW6, _NULL, _LOOP, _SLL, _SLL2 = 1, 101, 228, 229, 0, 108, 113, 276
_IP_ETHERTYPES: Final = (0x0800, 0x86DD)
_VLAN_ETHERTYPES: Final = (0x8100, 0x88A8, 0x9100)


@dataclass(frozen=True)
class FrameScan:
    """What one walk over a capture's records found."""

    kind: str
    frames: int
    non_ip: int | None  # frames carrying no IP packet; None for an unknown link type
    truncated_at: int | None  # byte offset of a record cut short, None when complete


def _is_ip(link: int, frame: bytes) -> bool | None:
    """Whether a frame of link type `link` carries IPv4 or IPv6 (None: unknown link type)."""
    if link == _ETHERNET:
        offset = 12
        while len(frame) >= offset + 2:
            ethertype = int.from_bytes(frame[offset : offset + 2], "big")
            if ethertype not in _VLAN_ETHERTYPES:
                return ethertype in _IP_ETHERTYPES
            offset += 4
        return False
    if link in (_RAW, _RAW4, _RAW6):
        return bool(frame) and frame[0] >> 4 in (4, 6)
    if link in (_NULL, _LOOP):
        family = int.from_bytes(frame[:4], "little") if link == _NULL else 0
        family = family or int.from_bytes(frame[:4], "big")
        return family in (2, 24, 28, 30)
    if link == _SLL:
        return len(frame) >= 16 and int.from_bytes(frame[14:16], "big") in _IP_ETHERTYPES
    if link == _SLL2:
        return len(frame) >= 2 and int.from_bytes(frame[0:2], "big") in _IP_ETHERTYPES
    return None


def scan_frames(path: Path) -> FrameScan:
    """Walk a capture's records: frames, frames without IP, and where it was cut short.
    Raises TrafficFormatError when the file is not a pcap or pcapng capture."""
    with path.open("rb") as handle:
        head = handle.read(4)
        kind = capture_kind(head)
        if kind is None:
            raise cx.TrafficFormatError(
                f"{path}: not a packet capture (first bytes {head.hex() or 'none'}; a pcap "
                "file starts with a1b2c3d4 or d4c3b2a1, a pcapng file with 0a0d0d0a)"
            )
        size = path.stat().st_size
        if size < 28 if kind == "pcapng" else size < 24:
            raise cx.TrafficFormatError(f"{path}: {kind} header cut short ({size} bytes)")
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return _scan_pcap(data) if kind == "pcap" else _scan_pcapng(data)


def _scan_pcap(data: Any) -> FrameScan:
    order = "<" if bytes(data[:4]) in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    link = struct.unpack_from(order + "I", data, 20)[0] & 0x0FFFFFFF
    record = struct.Struct(order + "IIII")
    frames = non_ip = 0
    known = True
    offset, size = 24, len(data)
    while offset < size:
        if offset + 16 > size:
            return FrameScan("pcap", frames, non_ip if known else None, offset)
        _, _, captured, _ = record.unpack_from(data, offset)
        end = offset + 16 + captured
        if end > size:
            return FrameScan("pcap", frames, non_ip if known else None, offset)
        ip = _is_ip(link, data[offset + 16 : min(end, offset + 16 + 64)])
        known = known and ip is not None
        non_ip += ip is False
        frames += 1
        offset = end
    return FrameScan("pcap", frames, non_ip if known else None, None)


def _scan_pcapng(data: Any) -> FrameScan:
    frames = non_ip = 0
    known = True
    links: list[int] = []
    order = "<"
    offset, size = 0, len(data)
    while offset < size:
        if offset + 12 > size:
            return FrameScan("pcapng", frames, non_ip if known else None, offset)
        kind = bytes(data[offset : offset + 4])
        if kind == PCAPNG_MAGIC:  # section header: its byte order, new interfaces
            order = "<" if bytes(data[offset + 8 : offset + 12]) == b"\x4d\x3c\x2b\x1a" else ">"
            links = []
        block, length = struct.unpack_from(order + "II", data, offset)
        if length < 12 or offset + length > size:
            return FrameScan("pcapng", frames, non_ip if known else None, offset)
        if block == 1:  # interface description: its link type
            links.append(struct.unpack_from(order + "H", data, offset + 8)[0])
        elif block in (3, 6):  # simple / enhanced packet block
            if block == 6:
                interface, _, _, captured = struct.unpack_from(order + "IIII", data, offset + 8)
                start = offset + 28
            else:
                interface, captured, start = 0, length - 16, offset + 12
            link = links[interface] if interface < len(links) else -1
            ip = _is_ip(link, data[start : start + min(captured, 64)])
            known = known and ip is not None
            non_ip += ip is False
            frames += 1
        offset += length
    return FrameScan("pcapng", frames, non_ip if known else None, None)


def _icmp_plugin() -> Any:
    """An nfstream plugin that keeps the ICMP type and code of a flow's first packet."""
    from nfstream import NFPlugin

    class IcmpTypeCode(NFPlugin):  # type: ignore[misc]
        def on_init(self, packet: Any, flow: Any) -> None:
            flow.udps.icmp_type = -1
            flow.udps.icmp_code = -1
            if packet.protocol in (1, 58):
                ip = packet.ip_packet
                start = (ip[0] & 0x0F) * 4 if packet.ip_version == 4 else 40
                if len(ip) >= start + 2:
                    flow.udps.icmp_type = ip[start]
                    flow.udps.icmp_code = ip[start + 1]

    return IcmpTypeCode()


def _flows(path: Path) -> pd.DataFrame | None:
    from nfstream import NFStreamer

    streamer = NFStreamer(
        source=str(path),
        statistical_analysis=True,
        accounting_mode=_PAYLOAD_BYTES,
        idle_timeout=IDLE_TIMEOUT_S,
        active_timeout=ACTIVE_TIMEOUT_S,
        udps=_icmp_plugin(),
    )
    try:
        return streamer.to_pandas()
    except ValueError as err:  # libpcap's own complaint (e.g. a damaged header)
        raise cx.TrafficFormatError(f"{path}: libpcap cannot read the capture: {err}") from err


def conn_state(flows: pd.DataFrame, proto: np.ndarray) -> np.ndarray:
    """Zeek's conn_state from per-direction flag counts (src = originator).

    TCP: whether each side sent a SYN, FIN or RST, in Zeek's order of precedence (a reset
    before a close); UDP: SF with packets both ways, else S0; ICMP: OTH, as Zeek writes
    them. Counts carry no order, so a RST sent after a FIN reads as a reset (docs/traffic.md).
    """
    seen = {
        f"{side}_{flag}": flows[f"{direction}_{flag}_packets"].to_numpy() > 0
        for side, direction in (("o", "src2dst"), ("r", "dst2src"))
        for flag in ("syn", "fin", "rst")
    }
    o_syn, r_syn = seen["o_syn"], seen["r_syn"]
    o_fin, r_fin, o_rst, r_rst = seen["o_fin"], seen["r_fin"], seen["o_rst"], seen["r_rst"]
    attempt = o_syn & ~r_syn  # SYN, no SYN-ACK
    answer = ~o_syn & r_syn  # SYN-ACK, no SYN
    both = o_syn & r_syn  # handshake seen
    tcp = np.select(
        [
            ~o_syn & ~r_syn,
            attempt & r_rst,
            attempt & o_rst,
            attempt & o_fin,
            attempt,
            answer & r_rst,
            answer & r_fin,
            answer,
            both & o_rst,
            both & r_rst,
            both & o_fin & r_fin,
            both & o_fin,
            both & r_fin,
        ],
        ["OTH", "REJ", "RSTOS0", "SH", "S0", "RSTRH", "SHR", "OTH", "RSTO", "RSTR", "SF", "S2",
         "S3"],
        default="S1",
    )  # fmt: skip
    replied = flows["dst2src_packets"].to_numpy() > 0
    other = np.where(proto == "udp", np.where(replied, "SF", "S0"), "OTH")
    return np.where(proto == "tcp", tcp, other).astype(object)


def read_capture(path: Path) -> cx.Read:
    """Read a pcap or pcapng capture; one connection per flow, flows of IP protocols other
    than TCP, UDP and ICMP quarantined. Flows are numbered in order of their first packet
    (then addresses), so `line` and the `F<n>` uid are the same on every run."""
    scan = scan_frames(path)
    file = str(path)
    notes: list[str] = []
    if scan.truncated_at is not None:
        notes.append(
            f"capture cut short at byte {scan.truncated_at}: the {scan.frames} complete "
            "frames before it were read, the rest of the file is lost"
        )
    flows = _flows(path) if scan.frames else None
    facts: dict[str, Any] = {
        "frames": scan.frames,
        "non_ip_frames": scan.non_ip,
        "truncated_at_byte": scan.truncated_at,
    }
    if flows is None or flows.empty:
        notes.append(f"no IP flow in the capture ({scan.frames} frames)")
        facts["frames_in_flows"] = 0
        return cx.Read(file, scan.kind, cx.empty_connections(), cx.empty_quarantine(), 0,
                       notes, facts)  # fmt: skip
    flows = flows.sort_values(
        ["bidirectional_first_seen_ms", "src_ip", "src_port", "dst_ip", "dst_port", "protocol"],
        kind="stable",
    ).reset_index(drop=True)
    facts["frames_in_flows"] = int(flows["bidirectional_packets"].sum())
    if scan.non_ip:
        notes.append(f"{scan.non_ip} frames carry no IP packet: not part of any flow")
    n = len(flows)
    number = np.arange(1, n + 1, dtype=np.int64)
    protocol = flows["protocol"].to_numpy()
    proto = pd.Series(protocol).map(IP_PROTOCOLS).to_numpy(dtype=object)
    known = pd.notna(proto)
    proto = np.where(known, proto, "")
    icmp = proto == "icmp"
    service = flows["application_name"].fillna("").astype(str).to_numpy(dtype=object)
    # Like Zeek, name a service only when the payload showed it: nDPI's guesses from the
    # port or the address block (a SYN flood's "AWS_EC2") are not a recognised protocol.
    guessed = flows["application_is_guessed"].to_numpy() != 0
    service = np.where((service == "Unknown") | guessed, "", service)
    columns = {
        cx.TS: flows["bidirectional_first_seen_ms"].to_numpy(np.float64) / 1000.0,
        cx.UID: np.char.add("F", number.astype(str)).astype(object),
        cx.SRC_IP: flows["src_ip"].to_numpy(dtype=object),
        cx.SRC_PORT: np.where(icmp, flows["udps.icmp_type"], flows["src_port"]),
        cx.DST_IP: flows["dst_ip"].to_numpy(dtype=object),
        cx.DST_PORT: np.where(icmp, flows["udps.icmp_code"], flows["dst_port"]),
        cx.PROTO: proto,
        cx.SERVICE: service,
        cx.DURATION: flows["bidirectional_duration_ms"].to_numpy(np.float64) / 1000.0,
        cx.ORIG_BYTES: flows["src2dst_bytes"].to_numpy(np.int64),
        cx.RESP_BYTES: flows["dst2src_bytes"].to_numpy(np.int64),
        cx.CONN_STATE: conn_state(flows, proto),
        cx.URGENT: flows["bidirectional_urg_packets"].to_numpy(np.float64),
        cx.WRONG_FRAGMENT: np.nan,
        cx.LABEL: "",
        cx.FILE: file,
        cx.LINE: number,
    }
    frame = cx.as_connections(columns, n)
    other = ~known
    quarantine = cx.quarantine_rows(
        file,
        number[other],
        "protocol",
        [f"IP protocol {p} is not tcp, udp or icmp" for p in protocol[other]],
        (
            flows.loc[other, ["src_ip", "src_port", "dst_ip", "dst_port", "protocol"]]
            .astype(str)
            .agg(" ".join, axis=1)
            .to_numpy()
            if other.any()
            else []
        ),
    )
    return cx.Read(
        file=file,
        format=scan.kind,
        connections=frame[known].reset_index(drop=True),
        quarantine=quarantine,
        units=n,
        notes=notes,
        facts=facts,
    )
