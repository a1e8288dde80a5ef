"""KDD-style records from connections (traffic/features.py, traffic/services.py): hand-built
connections with known answers, and the vectorised traffic features against a plain
per-record loop on random connections."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from iot_anomaly import schema
from iot_anomaly.params import IngestParams
from iot_anomaly.traffic import connections as cx
from iot_anomaly.traffic import services
from iot_anomaly.traffic.features import REJ_ERRORS, SYN_ERRORS, rate, to_records
from iot_anomaly.traffic.records import PROVENANCE

SETTINGS = IngestParams(
    time_window_s=2.0,
    host_window=255,
    count_cap=511,
    host_count_cap=255,
    labels={"benign": "normal"},
)
TRAFFIC = schema.FEATURES[schema.FEATURES.index("count") :]


def conn(ts: float, **values: object) -> dict[str, object]:
    """One connection: tcp from 10.0.0.1:40000 to 10.0.0.2:80, state SF, unless given."""
    row: dict[str, object] = {
        cx.TS: ts,
        cx.UID: "C",
        cx.SRC_IP: "10.0.0.1",
        cx.SRC_PORT: 40000,
        cx.DST_IP: "10.0.0.2",
        cx.DST_PORT: 80,
        cx.PROTO: "tcp",
        cx.SERVICE: "",
        cx.DURATION: 0.5,
        cx.ORIG_BYTES: 10,
        cx.RESP_BYTES: 20,
        cx.CONN_STATE: "SF",
        cx.URGENT: np.nan,
        cx.WRONG_FRAGMENT: np.nan,
        cx.LABEL: "",
        cx.FILE: "a.log",
        cx.LINE: 0,
    }
    return row | values


def frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    """A connections frame; lines not given are 1, 2, ... in list order."""
    for i, row in enumerate(rows, start=1):
        if row[cx.LINE] == 0:
            row[cx.LINE] = i
    return pd.DataFrame(rows, columns=list(cx.COLUMNS)).astype(cx.DTYPES)


def records(rows: list[dict[str, object]], **settings: object) -> pd.DataFrame:
    return to_records(frame(rows), SETTINGS.model_copy(update=settings))


def test_columns_are_provenance_and_the_41_features_plus_label_when_labelled() -> None:
    out = records([conn(0.0), conn(1.0)])
    assert list(out.columns) == [*PROVENANCE, *schema.FEATURES]
    labelled = records([conn(0.0, label="Benign"), conn(1.0)])
    assert list(labelled.columns) == [*PROVENANCE, *schema.FEATURES, schema.LABEL]
    assert labelled[schema.LABEL].tolist() == ["Benign", ""]
    assert out[list(schema.CONTENT_FEATURES)].isna().all().all()
    empty = to_records(frame([]), SETTINGS)
    assert empty.empty and list(empty.columns) == [*PROVENANCE, *schema.FEATURES]


def test_basic_features_come_from_the_connection() -> None:
    row = conn(5.0, duration=1.25, orig_bytes=300, resp_bytes=7, urgent=2.0, wrong_fragment=1.0)
    out = records([row, conn(6.0)]).iloc[0]
    assert (out["duration"], out["src_bytes"], out["dst_bytes"]) == (1, 300, 7)  # whole seconds
    assert (out["protocol_type"], out["service"], out["flag"]) == ("tcp", "http", "SF")
    assert (out["urgent"], out["wrong_fragment"]) == (2.0, 1.0)
    unmeasured = records([conn(5.0)]).iloc[0]
    assert np.isnan(unmeasured["urgent"]) and np.isnan(unmeasured["wrong_fragment"])


def test_land_is_the_same_address_and_port_at_both_ends() -> None:
    out = records(
        [
            conn(0.0, src_ip="10.0.0.2", src_port=80),
            conn(0.1, src_ip="10.0.0.2", src_port=81),
            conn(0.2, src_port=80),
        ]
    )
    assert out["land"].tolist() == [1, 0, 0]


def test_udp_and_icmp_are_sf_whatever_the_state_and_unknown_tcp_states_are_oth() -> None:
    out = records(
        [
            conn(0.0, proto="udp", conn_state="S0", dst_port=53),
            conn(0.1, proto="icmp", conn_state="OTH", src_port=8, dst_port=0),
            conn(0.2, conn_state="RSTRH"),
            conn(0.3, conn_state="SHR"),
            conn(0.4, conn_state="S1"),
            conn(0.5, conn_state="RSTOS0"),
        ]
    )
    assert out["flag"].tolist() == ["SF", "SF", "OTH", "OTH", "S1", "RSTOS0"]


@pytest.mark.parametrize(
    ("proto", "name", "src_port", "dst_port", "dst_ip", "expected"),
    [
        ("tcp", "http", 1, 8080, "h", "http"),  # the name wins over the port
        ("tcp", "", 1, 80, "h", "http"),
        ("tcp", "", 1, 443, "h", "http_443"),
        ("tcp", "ssl", 1, 8443, "h", "http_443"),
        ("tcp", "TLS.Google", 1, 9000, "h", "http_443"),  # nDPI master.application
        ("tcp", "ssl,http", 1, 9000, "h", "http_443"),  # Zeek's list: the first named
        ("tcp", "dns", 1, 5353, "h", "domain"),
        ("udp", "dns", 1, 5353, "h", "domain_u"),
        ("udp", "", 1, 53, "h", "domain_u"),
        ("tcp", "", 1, 53, "h", "domain"),
        ("udp", "", 1, 123, "h", "ntp_u"),
        ("tcp", "", 1, 20, "h", "ftp_data"),
        ("tcp", "", 1, 6010, "h", "X11"),
        ("tcp", "MQTT", 1, 1883, "h", "other"),  # no KDD name: by port
        ("tcp", "Modbus", 1, 502, "h", "private"),
        ("udp", "dhcp", 1, 67, "h", "private"),
        ("tcp", "", 1, 600, "h", "private"),
        ("tcp", "", 1, 1023, "h", "private"),
        ("tcp", "", 1, 1024, "h", "other"),
        ("udp", "", 1, 137, "h", "private"),  # KDD's netbios names are TCP only
        ("icmp", "", 8, 0, "h", "eco_i"),
        ("icmp", "", 0, 0, "h", "ecr_i"),
        ("icmp", "", 3, 3, "h", "urp_i"),
        ("icmp", "", 3, 1, "h", "urh_i"),
        ("icmp", "", 13, 0, "h", "tim_i"),
        ("icmp", "", 14, 0, "h", "tim_i"),
        ("icmp", "", 5, 1, "h", "red_i"),
        ("icmp", "", 11, 0, "h", "other"),
        ("icmp", "", 128, 0, "fe80::1", "eco_i"),
        ("icmp", "", 129, 0, "fe80::1", "ecr_i"),
        ("icmp", "", 1, 4, "fe80::1", "urp_i"),
        ("icmp", "", 1, 3, "fe80::1", "urh_i"),
        ("icmp", "", 135, 136, "fe80::1", "other"),
        ("icmp", "", 8, 0, "fe80::1", "other"),  # type 8 is not echo in ICMPv6
    ],
)
def test_service_map(
    proto: str, name: str, src_port: int, dst_port: int, dst_ip: str, expected: str
) -> None:
    row = conn(0.0, proto=proto, service=name, src_port=src_port, dst_port=dst_port)
    row[cx.DST_IP] = dst_ip
    assert records([row]).loc[0, "service"] == expected


def test_every_mapped_service_is_a_kdd_service() -> None:
    assert set(services.TCP_PORTS.values()) <= set(schema.SERVICES)
    assert services.by_name("FTP_DATA", "tcp") == "ftp_data"
    assert services.by_name("ntp", "tcp") is None and services.by_name("ntp", "udp") == "ntp_u"
    assert services.by_name("", "tcp") is None


def test_three_connections_to_one_host_within_two_seconds() -> None:
    out = records([conn(10.0), conn(10.5), conn(11.9)])
    assert out["count"].tolist() == [1, 2, 3]
    assert out["srv_count"].tolist() == [1, 2, 3]
    assert out["same_srv_rate"].tolist() == [1.0, 1.0, 1.0]
    assert out["diff_srv_rate"].tolist() == [0.0, 0.0, 0.0]


def test_the_window_border_lies_exactly_two_seconds_back() -> None:
    out = records([conn(100.0), conn(102.0)])
    assert out["count"].tolist() == [1, 1]  # started exactly 2 s before: outside
    out = records([conn(100.0), conn(101.999)])
    assert out["count"].tolist() == [1, 2]
    tied = records([conn(100.0), conn(100.0)])  # same start: the earlier line counts
    assert tied["count"].tolist() == [1, 2]


def test_a_syn_flood_has_serror_rate_one() -> None:
    flood = [conn(i * 0.01, conn_state="S0", src_port=1000 + i) for i in range(50)]
    out = records(flood).iloc[-1]
    assert out["count"] == 50 and out["dst_host_count"] == 50
    for name in ("serror_rate", "srv_serror_rate", "dst_host_serror_rate"):
        assert out[name] == 1.0, name
    assert out["dst_host_srv_serror_rate"] == 1.0
    assert out["rerror_rate"] == 0.0 and out["dst_host_rerror_rate"] == 0.0
    assert out["dst_host_same_src_port_rate"] == 0.02  # 1 of 50
    assert out["flag"] == "S0"


@pytest.mark.parametrize("state", ["S0", "S1", "S2", "S3", "SH"])
def test_syn_errors(state: str) -> None:
    out = records([conn(0.0, conn_state=state)]).iloc[0]
    assert (out["serror_rate"], out["rerror_rate"]) == (1.0, 0.0)
    assert state in SYN_ERRORS


@pytest.mark.parametrize("state", ["REJ", "RSTO", "RSTR", "RSTOS0"])
def test_rej_errors(state: str) -> None:
    out = records([conn(0.0, conn_state=state)]).iloc[0]
    assert (out["serror_rate"], out["rerror_rate"]) == (0.0, 1.0)
    assert (out["dst_host_serror_rate"], out["dst_host_srv_rerror_rate"]) == (0.0, 1.0)
    assert state in REJ_ERRORS


def test_rates_among_host_and_among_service() -> None:
    out = records(
        [
            conn(0.0, dst_port=80, conn_state="REJ"),
            conn(0.1, dst_port=25),
            conn(0.2, dst_ip="10.0.0.3", dst_port=80),
        ]
    )
    second, third = out.iloc[1], out.iloc[2]
    assert (second["count"], second["srv_count"], second["service"]) == (2, 1, "smtp")
    assert (second["same_srv_rate"], second["diff_srv_rate"]) == (0.5, 0.5)
    assert second["rerror_rate"] == 0.5 and second["srv_rerror_rate"] == 0.0
    assert (third["count"], third["srv_count"]) == (1, 2)
    assert third["srv_diff_host_rate"] == 0.5 and third["srv_rerror_rate"] == 0.5
    assert third["dst_host_srv_count"] == 2 and third["dst_host_srv_diff_host_rate"] == 0.5


def test_rates_have_two_decimals_rounded_half_up() -> None:
    out = records([conn(0.0, conn_state="S0"), conn(0.1), conn(0.2)]).iloc[-1]
    assert out["serror_rate"] == 0.33
    assert rate(np.array([1, 2, 1, 0, 7]), np.array([8, 3, 200, 5, 7])).tolist() == [
        0.13, 0.67, 0.01, 0.0, 1.0
    ]  # fmt: skip


def test_rates_are_exact_for_every_share_of_a_window_up_to_300() -> None:
    whole = np.repeat(np.arange(1, 301), np.arange(2, 302))
    part = np.concatenate([np.arange(w + 1) for w in range(1, 301)])
    exact = [math.floor(Fraction(int(p), int(w)) * 100 + Fraction(1, 2)) / 100
             for p, w in zip(part, whole, strict=True)]  # fmt: skip
    assert rate(part, whole).tolist() == exact


def test_counts_are_capped() -> None:
    rows = [conn(i * 0.001, src_port=i) for i in range(600)]
    out = records(rows, host_window=300).iloc[-1]
    assert (out["count"], out["srv_count"]) == (511, 511)
    assert (out["dst_host_count"], out["dst_host_srv_count"]) == (255, 255)
    assert out["serror_rate"] == 0.0 and out["same_srv_rate"] == 1.0


def test_host_window_holds_the_last_connections_of_the_file() -> None:
    hosts = ["A", "B", "A", "B", "A"]
    out = records([conn(i * 10.0, dst_ip=h) for i, h in enumerate(hosts)], host_window=3)
    # Position 3 sees positions 1-3 (B, A, B); position 4 sees 2-4 (A, B, A).
    assert out["dst_host_count"].tolist() == [1, 1, 2, 2, 2]
    assert out["dst_host_srv_count"].tolist() == [1, 2, 3, 3, 3]
    assert out["count"].tolist() == [1, 1, 1, 1, 1]  # 10 s apart: alone in 2 s


def test_windows_never_span_files_and_output_is_in_time_order() -> None:
    rows = [
        conn(5.0, file="b.log", line=1),
        conn(1.0, file="a.log", line=2),
        conn(1.0, file="a.log", line=1),
        conn(4.9, file="b.log", line=2),
        conn(1.5, file="b.log", line=3),
    ]
    out = records(rows)
    assert list(zip(out["file"], out["line"], strict=True)) == [
        ("b.log", 3),
        ("b.log", 2),
        ("b.log", 1),
        ("a.log", 1),
        ("a.log", 2),
    ]
    assert out["count"].tolist() == [1, 1, 2, 1, 2]
    assert out["dst_host_count"].tolist() == [1, 2, 3, 1, 2]


def test_the_connections_frame_is_left_as_it_was() -> None:
    given = frame([conn(3.0, line=1), conn(1.0, line=2, conn_state="SHR", proto="udp")])
    before = given.copy()
    out = to_records(given, SETTINGS)
    out.loc[0, "src_ip"] = "changed"
    pd.testing.assert_frame_equal(given, before)


def test_a_bad_protocol_names_file_line_and_field() -> None:
    with pytest.raises(ValueError, match=r"a\.log, line 2, field proto: unknown protocol"):
        records([conn(0.0), conn(1.0, proto="sctp")])
    with pytest.raises(ValueError, match=r"line 1, field dst_port: bad port"):
        records([conn(0.0, dst_port=70000)])
    with pytest.raises(ValueError, match="lacks the columns"):
        to_records(frame([conn(0.0)]).drop(columns=[cx.CONN_STATE]), SETTINGS)


# --- the vectorised features against a plain loop ------------------------------------------


def reference(out: pd.DataFrame, settings: IngestParams) -> pd.DataFrame:
    """The 19 traffic features of records already in window order (file, time, line),
    computed one record at a time from their definitions."""
    rows = out.to_dict("records")
    result = []
    for i, row in enumerate(rows):
        file_rows = [(j, r) for j, r in enumerate(rows[: i + 1]) if r["file"] == row["file"]]
        recent = [r for _, r in file_rows if r["ts"] > row["ts"] - settings.time_window_s]
        last = [r for j, r in file_rows if j > i - settings.host_window]
        feats = {}
        for prefix, window, cap in (
            ("", recent, settings.count_cap),
            ("dst_host_", last, settings.host_count_cap),
        ):
            host = [r for r in window if r["dst_ip"] == row["dst_ip"]]
            srv = [r for r in window if r["service"] == row["service"]]
            same = [r for r in host if r["service"] == row["service"]]

            def share(part: list, whole: list) -> float:
                """The exact share, rounded half up to two decimals."""
                return math.floor(Fraction(len(part), len(whole)) * 100 + Fraction(1, 2)) / 100

            def syn(rs: list) -> list:
                return [r for r in rs if r["flag"] in SYN_ERRORS]

            def rej(rs: list) -> list:
                return [r for r in rs if r["flag"] in REJ_ERRORS]

            other_hosts = [r for r in srv if r["dst_ip"] != row["dst_ip"]]
            if prefix == "":
                feats |= {
                    "count": min(len(host), cap),
                    "srv_count": min(len(srv), cap),
                    "serror_rate": share(syn(host), host),
                    "srv_serror_rate": share(syn(srv), srv),
                    "rerror_rate": share(rej(host), host),
                    "srv_rerror_rate": share(rej(srv), srv),
                    "same_srv_rate": share(same, host),
                    "diff_srv_rate": share([r for r in host if r not in same], host),
                    "srv_diff_host_rate": share(other_hosts, srv),
                }
            else:
                port = [r for r in host if r["src_port"] == row["src_port"]]
                feats |= {
                    "dst_host_count": min(len(host), cap),
                    "dst_host_srv_count": min(len(srv), cap),
                    "dst_host_same_srv_rate": share(same, host),
                    "dst_host_diff_srv_rate": share([r for r in host if r not in same], host),
                    "dst_host_same_src_port_rate": share(port, host),
                    "dst_host_srv_diff_host_rate": share(other_hosts, srv),
                    "dst_host_serror_rate": share(syn(host), host),
                    "dst_host_srv_serror_rate": share(syn(srv), srv),
                    "dst_host_rerror_rate": share(rej(host), host),
                    "dst_host_srv_rerror_rate": share(rej(srv), srv),
                }
        result.append(feats)
    return pd.DataFrame(result, columns=list(TRAFFIC))


def random_connections(seed: int, n: int = 200) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        proto = str(rng.choice(["tcp", "tcp", "udp", "icmp"]))
        rows.append(
            conn(
                float(rng.integers(0, 60)) / 4,  # quarter seconds: ties and exact borders
                proto=proto,
                src_ip=str(rng.choice(["s1", "s2"])),
                src_port=int(rng.choice([1000, 1001, 3])),
                dst_ip=str(rng.choice(["h1", "h2", "h3", "h4"])),
                dst_port=int(rng.choice([80, 25, 53, 3, 5000])),
                service=str(rng.choice(["", "", "dns", "http"])),
                conn_state=str(rng.choice(cx.CONN_STATES)),
                file=str(rng.choice(["a.log", "b.log"])),
                line=i + 1,
            )
        )
    rng.shuffle(rows)
    return rows


@pytest.mark.parametrize(
    ("seed", "window", "host_window", "cap", "host_cap"),
    [(1, 2.0, 255, 511, 255), (2, 2.0, 7, 6, 5), (3, 0.5, 20, 511, 12), (4, 3.75, 1, 2, 1)],
)
def test_vectorised_features_match_a_plain_loop(
    seed: int, window: float, host_window: int, cap: int, host_cap: int
) -> None:
    settings = SETTINGS.model_copy(
        update={
            "time_window_s": window,
            "host_window": host_window,
            "count_cap": cap,
            "host_count_cap": host_cap,
        }
    )
    rows = random_connections(seed)
    out = to_records(frame(rows), settings)
    rank = {f: k for k, f in enumerate(dict.fromkeys(r[cx.FILE] for r in rows))}
    in_order = sorted((rank[r[cx.FILE]], r[cx.TS], r[cx.LINE]) for r in rows)
    assert list(zip(out["file"].map(rank), out["ts"], out["line"], strict=True)) == in_order
    expected = reference(out, settings)
    pd.testing.assert_frame_equal(
        out[list(TRAFFIC)].reset_index(drop=True), expected, check_dtype=False
    )
