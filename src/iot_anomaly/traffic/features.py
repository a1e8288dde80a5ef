"""KDD Cup 99 records from connections: the basic features of each connection and the
traffic features over the connections before it, vectorised (docs/traffic-features.md).

The 10% file's conventions are followed where the file shows them: UDP and ICMP records
always have flag SF; a SYN error is a flag in `SYN_ERRORS` and a REJ error one in
`REJ_ERRORS` (the file's own rates say so: a record alone in its window has serror_rate 1
exactly for those flags); `count` and `srv_count` are capped at `count_cap`, the dst_host
counts at `host_count_cap`; rates have two decimals.

Windows are computed per source file in time order (ties by line): a record's time-based
features cover the connections of its file that started within the past `time_window_s`
seconds (t - window < start <= t) up to and including itself, its host-based features the
last `host_window` connections of its file up to and including itself. Records come out in
that order: files in the order they first appear, each in time order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from iot_anomaly import schema
from iot_anomaly.params import IngestParams
from iot_anomaly.traffic import connections as cx
from iot_anomaly.traffic import services
from iot_anomaly.traffic.records import PROVENANCE

#: Flags that count as SYN errors (serror rates) and as REJ errors (rerror rates).
SYN_ERRORS: Final[tuple[str, ...]] = ("S0", "S1", "S2", "S3", "SH")
REJ_ERRORS: Final[tuple[str, ...]] = ("REJ", "RSTO", "RSTR", "RSTOS0")
#: The flag of every UDP and ICMP record, and of a TCP state KDD has no flag for (Zeek's
#: RSTRH and SHR: the originator's SYN was never seen, which is what OTH means).
STATELESS_FLAG: Final = "SF"
UNKNOWN_STATE_FLAG: Final = "OTH"
RATE_DECIMALS: Final = 2
MAX_PORT: Final = 65535

_EMPTY: Final[dict[str, str]] = {
    **{c: cx.DTYPES[c] for c in PROVENANCE},
    **dict.fromkeys(schema.CATEGORICAL, "object"),
}
NEEDED: Final[tuple[str, ...]] = tuple(c for c in cx.COLUMNS if c != cx.LABEL)


def to_records(connections: pd.DataFrame, settings: IngestParams) -> pd.DataFrame:
    """KDD-style records of connections: the provenance columns, the 41 features (content
    features NaN, packet features as measured) and `label` when any connection has one.

    Raises ValueError naming the file, line and field of the first connection whose protocol
    or responder port cannot be a connection's.
    """
    missing = [c for c in NEEDED if c not in connections.columns]
    if missing:
        raise ValueError(f"connections frame lacks the columns {missing}")
    frame, file_code = _in_time_order(connections)
    is_proto = _check(frame)
    if frame.empty:
        columns = [*PROVENANCE, *schema.FEATURES]
        return pd.DataFrame({c: pd.Series(dtype=_EMPTY.get(c, "float64")) for c in columns})
    basic = basic_features(frame, is_proto)
    traffic = traffic_features(frame, basic, settings, file_code)
    basic_columns = basic.features
    columns: dict[str, object] = {c: frame[c].to_numpy() for c in PROVENANCE}
    for feature in schema.FEATURES:
        if feature in basic_columns:
            columns[feature] = basic_columns[feature]
        elif feature in traffic:
            columns[feature] = traffic[feature]
        else:
            columns[feature] = np.full(len(frame), np.nan)
    if cx.LABEL in frame.columns:
        labels = frame[cx.LABEL].to_numpy()
        if (labels != "").any():
            columns[schema.LABEL] = labels
    # copy=False: one block per column, no consolidation (which would copy every column).
    return pd.DataFrame(columns, index=pd.RangeIndex(len(frame)), copy=False)


def _in_time_order(connections: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Files in order of first appearance, each by start time, ties by line; and the file
    of each row in that order (0 for the first file, 1 for the next, ...)."""
    file_code, _ = pd.factorize(connections[cx.FILE], sort=False)
    line = connections[cx.LINE].to_numpy()
    order = np.lexsort((line, connections[cx.TS].to_numpy(dtype=float), file_code))
    # A copy in any case: the records share their columns with this frame, not the caller's.
    ordered = connections.take(order)
    ordered.index = pd.RangeIndex(len(ordered))
    return ordered, file_code[order].astype(np.int64)


def _fail(frame: pd.DataFrame, bad: np.ndarray, field: str, reason: str) -> None:
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        value = frame[field].iloc[row]
        raise ValueError(
            f"{frame[cx.FILE].iloc[row]}, line {frame[cx.LINE].iloc[row]}, field {field}: "
            f"{reason} ({value!r}); {int(bad.sum())} such connections"
        )


def _check(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Fail on a value no connection can have; return each protocol's rows (a mask)."""
    codes, names = pd.factorize(frame[cx.PROTO], use_na_sentinel=False)
    known = np.array([name in cx.PROTOCOLS for name in names], dtype=bool)
    _fail(frame, ~known[codes] if len(names) else known, cx.PROTO, "unknown protocol")
    index = {name: i for i, name in enumerate(names)}
    is_proto = {p: codes == index.get(p, -1) for p in cx.PROTOCOLS}
    _fail(frame, ~np.isfinite(frame[cx.TS].to_numpy(dtype=float)), cx.TS, "no start time")
    port = frame[cx.DST_PORT].to_numpy()
    _fail(frame, ~is_proto["icmp"] & ((port < 0) | (port > MAX_PORT)), cx.DST_PORT, "bad port")
    return is_proto


@dataclass(frozen=True)
class Basic:
    """The basic features by name, and what the traffic features need of them as numbers."""

    features: dict[str, np.ndarray]
    service: np.ndarray  # service codes: indices into schema.SERVICES
    serror: np.ndarray  # 1 where the flag is a SYN error, else 0
    rerror: np.ndarray  # 1 where the flag is a REJ error, else 0


def basic_features(frame: pd.DataFrame, is_proto: dict[str, np.ndarray]) -> Basic:
    """duration .. urgent of each connection (columns 1-9 of a KDD record); `is_proto`
    marks each protocol's rows."""
    names = frame[cx.SERVICE].to_numpy()  # NaN, like "", has no KDD name
    codes = services.service_codes(
        is_proto,
        names,
        frame[cx.SRC_PORT].to_numpy(),
        frame[cx.DST_PORT].to_numpy(),
        frame[cx.DST_IP].to_numpy(),
    )
    land = (frame[cx.SRC_IP].to_numpy() == frame[cx.DST_IP].to_numpy()) & (
        frame[cx.SRC_PORT].to_numpy() == frame[cx.DST_PORT].to_numpy()
    )
    flag, serror, rerror = flags(is_proto["tcp"], frame[cx.CONN_STATE].to_numpy())
    features = {
        # KDD's duration is the "length (number of seconds)": whole seconds, as in the files.
        "duration": np.floor(frame[cx.DURATION].to_numpy(dtype=float)).astype(np.int64),
        "protocol_type": frame[cx.PROTO].to_numpy(),
        "service": np.asarray(schema.SERVICES, dtype=object)[codes],
        "flag": flag,
        "src_bytes": frame[cx.ORIG_BYTES].to_numpy(dtype=np.int64),
        "dst_bytes": frame[cx.RESP_BYTES].to_numpy(dtype=np.int64),
        "land": land.astype(np.int64),
        "wrong_fragment": frame[cx.WRONG_FRAGMENT].to_numpy(dtype=float),
        "urgent": frame[cx.URGENT].to_numpy(dtype=float),
    }
    return Basic(features, codes.astype(np.int64), serror, rerror)


def flags(tcp: np.ndarray, conn_state: np.ndarray) -> tuple[np.ndarray, ...]:
    """KDD flags: for TCP (the rows `tcp` marks), Zeek's conn_state when KDD has that flag,
    else OTH; SF for UDP and ICMP. Also 0/1 arrays: SYN errors and REJ errors."""
    codes, states = pd.factorize(conn_state, use_na_sentinel=False)
    names = np.array([s if s in schema.FLAGS else UNKNOWN_STATE_FLAG for s in states], dtype=object)
    out = names[codes]
    out[~tcp] = STATELESS_FLAG
    errors = [np.isin(names, kinds)[codes] & tcp for kinds in (SYN_ERRORS, REJ_ERRORS)]
    return out, *(e.astype(np.int64) for e in errors)


@dataclass(frozen=True)
class Groups:
    """Rows (positions 0..n-1, in window order) grouped by an id and sorted once, with the
    running sums of the counted indicators, so that each window query is one searchsorted."""

    order: np.ndarray  # positions sorted by (group, position)
    base: np.ndarray  # dense group * (n + 1) of each sorted row
    key: np.ndarray  # base + position: strictly increasing
    running: tuple[np.ndarray, ...]  # per indicator: 0, then its cumulative sum in that order

    @classmethod
    def of(cls, ids: np.ndarray, indicators: tuple[np.ndarray, ...] = ()) -> Groups:
        n = len(ids)
        order = np.argsort(ids, kind="stable")
        ranked = ids[order]
        group = np.zeros(n, dtype=np.int64)
        if n:
            np.cumsum(ranked[1:] != ranked[:-1], out=group[1:])
        base = group * (n + 1)
        running = []
        for indicator in indicators:
            total = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(indicator[order], out=total[1:])
            running.append(total)
        return cls(order, base, base + order, tuple(running))

    def window(self, lower: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """For each row i: the number of rows j of its group with lower[i] <= j <= i, and
        the sum of each indicator over those rows. `lower` must be >= 0."""
        n = len(self.order)
        left = np.searchsorted(self.key, self.base + lower[self.order], side="left")
        counts = np.empty(n, dtype=np.int64)
        counts[self.order] = np.arange(1, n + 1) - left
        sums = []
        for running in self.running:
            total = np.empty(n, dtype=np.int64)
            total[self.order] = running[1:] - running[left]
            sums.append(total)
        return counts, sums


def time_window_starts(ts: np.ndarray, file_code: np.ndarray, seconds: float) -> np.ndarray:
    """For each row (rows in file, time order): the first row of its file that started less
    than `seconds` before it."""
    starts = np.empty(len(ts), dtype=np.int64)
    bounds = np.flatnonzero(np.diff(file_code)) + 1
    for begin, end in zip(
        np.concatenate(([0], bounds)), np.concatenate((bounds, [len(ts)])), strict=True
    ):
        part = ts[begin:end]
        starts[begin:end] = begin + np.searchsorted(part, part - seconds, side="right")
    return starts


def rate(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    """part / whole rounded half up to two decimals: floor(100 part / whole + 1/2) / 100.
    Exact: 100 part / whole is either a multiple of 1/2 (exact in float64) or at least
    1 / (2 whole) away from one, far more than float64's rounding error."""
    scale = 10**RATE_DECIMALS
    out = (part * scale) / whole  # one rounding: exact when a multiple of 1/2
    out += 0.5
    np.floor(out, out=out)
    out /= scale
    return out


def traffic_features(
    frame: pd.DataFrame,
    basic: Basic,
    settings: IngestParams,
    file_code: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The 9 time-based and 10 host-based features (columns 23-41 of a KDD record) of rows
    in file, time order (`file_code`: the file of each row as a number, when known). Hosts
    are destination addresses, services the KDD services."""
    n = len(frame)
    if file_code is None:
        file_code = pd.factorize(frame[cx.FILE], sort=False)[0].astype(np.int64)
    host, hosts = pd.factorize(frame[cx.DST_IP])
    service = basic.service
    src_port, src_ports = pd.factorize(frame[cx.SRC_PORT])
    errors = (basic.serror, basic.rerror)
    # Group ids: every group lies within one file, so no window reaches into another file.
    file_host = file_code * max(len(hosts), 1) + host
    by_host = Groups.of(file_host, errors)
    by_service = Groups.of(file_code * len(schema.SERVICES) + service, errors)
    by_host_service = Groups.of(file_host * len(schema.SERVICES) + service)
    by_host_port = Groups.of(file_host * max(len(src_ports), 1) + src_port)

    out: dict[str, np.ndarray] = {}
    ts = frame[cx.TS].to_numpy(dtype=float)
    recent = time_window_starts(ts, file_code, settings.time_window_s)
    count, (ser, rer) = by_host.window(recent)
    srv, (srv_ser, srv_rer) = by_service.window(recent)
    same, _ = by_host_service.window(recent)
    out["count"] = np.minimum(count, settings.count_cap)
    out["srv_count"] = np.minimum(srv, settings.count_cap)
    out["serror_rate"] = rate(ser, count)
    out["srv_serror_rate"] = rate(srv_ser, srv)
    out["rerror_rate"] = rate(rer, count)
    out["srv_rerror_rate"] = rate(srv_rer, srv)
    out["same_srv_rate"] = rate(same, count)
    out["diff_srv_rate"] = rate(count - same, count)
    out["srv_diff_host_rate"] = rate(srv - same, srv)

    last = np.maximum(np.arange(n, dtype=np.int64) - settings.host_window + 1, 0)
    h_count, (h_ser, h_rer) = by_host.window(last)
    h_srv, (h_srv_ser, h_srv_rer) = by_service.window(last)
    h_same, _ = by_host_service.window(last)
    h_port, _ = by_host_port.window(last)
    out["dst_host_count"] = np.minimum(h_count, settings.host_count_cap)
    out["dst_host_srv_count"] = np.minimum(h_srv, settings.host_count_cap)
    out["dst_host_same_srv_rate"] = rate(h_same, h_count)
    out["dst_host_diff_srv_rate"] = rate(h_count - h_same, h_count)
    out["dst_host_same_src_port_rate"] = rate(h_port, h_count)
    out["dst_host_srv_diff_host_rate"] = rate(h_srv - h_same, h_srv)
    out["dst_host_serror_rate"] = rate(h_ser, h_count)
    out["dst_host_srv_serror_rate"] = rate(h_srv_ser, h_srv)
    out["dst_host_rerror_rate"] = rate(h_rer, h_count)
    out["dst_host_srv_rerror_rate"] = rate(h_srv_rer, h_srv)
    return out
