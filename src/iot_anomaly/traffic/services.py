"""KDD Cup 99 service names for real connections: one map, used by the feature builder.

A connection's service is looked up in this order (docs/traffic-features.md):

1. ICMP: by ICMP type (and code), `ICMP` for IPv4 and `ICMP6` for ICMPv6; any other type is
   `other` (the 10% file's ICMP records have only the six names below).
2. TCP and UDP: the name the source gave (Zeek's `service`, nDPI's application name), if
   `NAMES` (or `TCP_NAMES` / `UDP_NAMES`) has it.
3. Else the responder port, if `TCP_PORTS` / `UDP_PORTS` has it.
4. Else `private` for a port below 1024 and `other` for the rest (`UNNAMED_BELOW`): in the
   10% file, the neptune SYN floods, which hit every low port about 100 times, have about
   100 records for each named service, 101,317 `private` records and only 91 `other`, so
   KDD's `private` is the unnamed ports below 1024.

Every name here is one of schema.SERVICES (checked when the module is imported).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import numpy as np
import pandas as pd

from iot_anomaly import schema

PRIVATE: Final = "private"
OTHER: Final = "other"
#: Unnamed ports below this are `private`, the others `other`.
UNNAMED_BELOW: Final = 1024

#: Source service names (Zeek's, nDPI's application names; lower case, the part before the
#: first `.` of an nDPI name such as `TLS.Google`) that mean one KDD service on TCP and UDP.
NAMES: Final[dict[str, str]] = {
    "http": "http",
    "https": "http_443",
    "ssl": "http_443",
    "tls": "http_443",
    "ftp": "ftp",
    "ftp_control": "ftp",
    "ftp-data": "ftp_data",
    "ftp_data": "ftp_data",
    "ssh": "ssh",
    "telnet": "telnet",
    "smtp": "smtp",
    "pop3": "pop_3",
    "imap": "imap4",
    "irc": "IRC",
    "bgp": "bgp",
    "ldap": "ldap",
    "nntp": "nntp",
    "whois-das": "whois",
    "whois": "whois",
    "gopher": "gopher",
    "x11": "X11",
    "finger": "finger",
}
#: Names whose KDD service depends on the transport (KDD has `domain` on TCP and `domain_u`
#: on UDP; NTP and TFTP are UDP only in KDD).
TCP_NAMES: Final[dict[str, str]] = {"dns": "domain"}
UDP_NAMES: Final[dict[str, str]] = {"dns": "domain_u", "ntp": "ntp_u", "tftp": "tftp_u"}

#: Responder port -> KDD service on TCP (IANA's well-known ports under KDD's names).
TCP_PORTS: Final[dict[int, str]] = {
    5: "rje",
    7: "echo",
    9: "discard",
    11: "systat",
    13: "daytime",
    15: "netstat",
    20: "ftp_data",
    21: "ftp",
    22: "ssh",
    23: "telnet",
    25: "smtp",
    37: "time",
    42: "name",
    43: "whois",
    53: "domain",
    57: "mtp",
    70: "gopher",
    71: "remote_job",
    79: "finger",
    80: "http",
    84: "ctf",
    95: "supdup",
    101: "hostnames",
    102: "iso_tsap",
    105: "csnet_ns",
    109: "pop_2",
    110: "pop_3",
    111: "sunrpc",
    113: "auth",
    117: "uucp_path",
    119: "nntp",
    137: "netbios_ns",
    138: "netbios_dgm",
    139: "netbios_ssn",
    143: "imap4",
    150: "sql_net",
    175: "vmnet",
    179: "bgp",
    194: "IRC",
    210: "Z39_50",
    245: "link",
    389: "ldap",
    433: "nnsp",
    443: "http_443",
    512: "exec",
    513: "login",
    514: "shell",
    515: "printer",
    520: "efs",
    530: "courier",
    540: "uucp",
    543: "klogin",
    544: "kshell",
    6667: "IRC",
    **{port: "X11" for port in range(6000, 6064)},
}
#: Responder port -> KDD service on UDP: the 10% file's UDP records have only these three
#: names besides `private` and `other`.
UDP_PORTS: Final[dict[int, str]] = {53: "domain_u", 69: "tftp_u", 123: "ntp_u"}

#: ICMP (IPv4) type -> service; type 3 (destination unreachable) is `urp_i` with code 3 (port
#: unreachable) and `urh_i` with any other code.
ICMP: Final[dict[int, str]] = {
    0: "ecr_i",
    8: "eco_i",
    5: "red_i",
    13: "tim_i",
    14: "tim_i",
}
ICMP_UNREACHABLE: Final = 3
ICMP_PORT_UNREACHABLE: Final = 3
#: ICMPv6 type -> service; type 1 (destination unreachable) is `urp_i` with code 4 (port
#: unreachable) and `urh_i` with any other code.
ICMP6: Final[dict[int, str]] = {128: "eco_i", 129: "ecr_i", 137: "red_i"}
ICMP6_UNREACHABLE: Final = 1
ICMP6_PORT_UNREACHABLE: Final = 4

#: Index of each KDD service name in schema.SERVICES (services are handled as these codes).
CODE: Final[dict[str, int]] = {name: i for i, name in enumerate(schema.SERVICES)}
NO_CODE: Final = -1
PORTS: Final = 65536


def _check() -> None:
    tables = [NAMES, TCP_NAMES, UDP_NAMES, TCP_PORTS, UDP_PORTS, ICMP, ICMP6]
    used = {name for table in tables for name in table.values()}
    used |= {PRIVATE, OTHER, "urp_i", "urh_i"}
    unknown = sorted(used - set(schema.SERVICES))
    if unknown:
        raise ValueError(f"service names not in schema.SERVICES: {unknown}")


_check()


def by_name(name: str, proto: str) -> str | None:
    """The KDD service a source's service name means on `proto`, or None if it has none.

    Zeek may list several services (`ssl,http`): the first one with a KDD name counts.
    """
    for part in name.lower().split(","):
        key = part.strip().split(".", 1)[0]
        table = TCP_NAMES if proto == "tcp" else UDP_NAMES if proto == "udp" else {}
        found = table.get(key) or NAMES.get(key)
        if found:
            return found
    return None


def port_codes(table: dict[int, str]) -> np.ndarray:
    """A lookup array: responder port -> service code, with the unnamed-port fallback."""
    codes = np.full(PORTS, CODE[OTHER], dtype=np.int16)
    codes[:UNNAMED_BELOW] = CODE[PRIVATE]
    for port, name in table.items():
        codes[port] = CODE[name]
    return codes


TCP_PORT_CODES: Final = port_codes(TCP_PORTS)
UDP_PORT_CODES: Final = port_codes(UDP_PORTS)


def icmp_codes(icmp_type: np.ndarray, icmp_code: np.ndarray, v6: np.ndarray) -> np.ndarray:
    """Service codes of ICMP connections from their type, code and IP version."""
    out = np.full(len(icmp_type), CODE[OTHER], dtype=np.int16)
    for table, unreachable, port_unreachable, in_family in (
        (ICMP, ICMP_UNREACHABLE, ICMP_PORT_UNREACHABLE, ~v6),
        (ICMP6, ICMP6_UNREACHABLE, ICMP6_PORT_UNREACHABLE, v6),
    ):
        for kind, name in table.items():
            out[in_family & (icmp_type == kind)] = CODE[name]
        unreach = in_family & (icmp_type == unreachable)
        out[unreach] = CODE["urh_i"]
        out[unreach & (icmp_code == port_unreachable)] = CODE["urp_i"]
    return out


def service_codes(
    is_proto: Mapping[str, np.ndarray],
    name: np.ndarray,
    src_port: np.ndarray,
    dst_port: np.ndarray,
    dst_ip: np.ndarray,
) -> np.ndarray:
    """Service codes (indices into schema.SERVICES) of connections.

    `is_proto` marks the rows of each protocol (tcp, udp, icmp: boolean masks), `name` holds
    the source's service names ("" when unknown), the
    ports are responder ports in 0..65535 (ICMP: type in `src_port`, code in `dst_port`);
    an ICMP connection whose `dst_ip` has a `:` is ICMPv6. Names are looked up once per
    distinct name.
    """
    out = np.full(len(name), NO_CODE, dtype=np.int16)
    for kind, port_table in (("tcp", TCP_PORT_CODES), ("udp", UDP_PORT_CODES)):
        rows = np.flatnonzero(is_proto[kind])
        if len(rows) == 0:
            continue
        codes = port_table[dst_port[rows]]
        names = name[rows]
        named = np.flatnonzero(names != "")
        if len(named):
            inverse, distinct = pd.factorize(names[named], use_na_sentinel=False)
            lookup = np.array(
                [CODE.get(by_name(str(d), kind) or "", NO_CODE) for d in distinct], dtype=np.int16
            )
            found = lookup[inverse]
            hit = found != NO_CODE
            codes[named[hit]] = found[hit]
        out[rows] = codes
    rows = np.flatnonzero(is_proto["icmp"])
    if len(rows):
        v6 = pd.Series(dst_ip[rows], dtype="object").str.contains(":", regex=False)
        out[rows] = icmp_codes(src_port[rows], dst_port[rows], v6.to_numpy(dtype=bool))
    return out
