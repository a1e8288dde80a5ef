"""What a file holds, from its first bytes, with the standard library only (so that
`predict` can tell traffic from KDD records before it imports anything heavy)."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Final

CAPTURE: Final = "capture"
CONN_LOG: Final = "zeek conn.log"
ZEEK_CSV: Final = "zeek csv"
RECORDS: Final = "records"
#: File name endings of packet captures: such a file is read as one even when its content
#: says otherwise, so that a damaged capture is an error rather than a skipped file.
CAPTURE_SUFFIXES: Final = (".pcap", ".pcapng", ".cap")
#: pcap magic numbers (micro- and nanosecond, both byte orders) and pcapng's.
PCAP_MAGICS: Final = (
    b"\xd4\xc3\xb2\xa1",
    b"\xa1\xb2\xc3\xd4",
    b"\x4d\x3c\xb2\xa1",
    b"\xa1\xb2\x3c\x4d",
)
PCAPNG_MAGIC: Final = b"\x0a\x0d\x0d\x0a"
#: The first columns of a records file (traffic.records.PROVENANCE).
RECORDS_HEADER: Final = "ts,uid,src_ip,src_port,dst_ip,dst_port,file,line"
_SNIFF_BYTES: Final = 64 * 1024


def capture_kind(head: bytes) -> str | None:
    """'pcap' or 'pcapng' from a file's first bytes, None for anything else."""
    if head[:4] in PCAP_MAGICS:
        return "pcap"
    if head[:4] == PCAPNG_MAGIC:
        return "pcapng"
    return None


def head(path: Path) -> bytes:
    """The first bytes of a file, decompressed when it is gzip (as far as they go)."""
    with path.open("rb") as handle:
        raw = handle.read(_SNIFF_BYTES)
    if raw[:2] == b"\x1f\x8b":
        try:
            return zlib.decompressobj(wbits=31).decompress(raw, _SNIFF_BYTES)
        except zlib.error:
            return b""
    return raw


def traffic_kind(path: Path) -> str | None:
    """CAPTURE, CONN_LOG (a `#separator` line first), ZEEK_CSV (a CSV header naming
    `id.orig_h`), RECORDS (written by `iot-anomaly ingest`), or None: a KDD file, or
    anything else."""
    if not path.is_file():
        return None
    first_bytes = head(path)
    if capture_kind(first_bytes) is not None:
        return CAPTURE
    first = first_bytes.split(b"\n", 1)[0].decode("utf-8", errors="replace").strip()
    if first.startswith("#separator"):
        return CONN_LOG
    if first.startswith(RECORDS_HEADER):
        return RECORDS
    if "id.orig_h" in (name.strip() for name in first.split(",")):
        return ZEEK_CSV
    return None


def is_traffic_file(path: Path) -> bool:
    """Whether `ingest` reads the file: a capture, a Zeek conn.log or its CSV conversion."""
    return traffic_kind(path) in (CAPTURE, CONN_LOG, ZEEK_CSV)
