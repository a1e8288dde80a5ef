"""The KDD Cup 99 record layout: columns, types, categories and the label map.

Every other module takes column names, domains and the label → category map from here,
so that one name means one thing everywhere.
"""

from __future__ import annotations

from typing import Final

LABEL: Final = "label"
CATEGORY: Final = "category"

#: The 41 connection features, in file order.
FEATURES: Final[tuple[str, ...]] = (
    "duration",
    "protocol_type",
    "service",
    "flag",
    "src_bytes",
    "dst_bytes",
    "land",
    "wrong_fragment",
    "urgent",
    "hot",
    "num_failed_logins",
    "logged_in",
    "num_compromised",
    "root_shell",
    "su_attempted",
    "num_root",
    "num_file_creations",
    "num_shells",
    "num_access_files",
    "num_outbound_cmds",
    "is_host_login",
    "is_guest_login",
    "count",
    "srv_count",
    "serror_rate",
    "srv_serror_rate",
    "rerror_rate",
    "srv_rerror_rate",
    "same_srv_rate",
    "diff_srv_rate",
    "srv_diff_host_rate",
    "dst_host_count",
    "dst_host_srv_count",
    "dst_host_same_srv_rate",
    "dst_host_diff_srv_rate",
    "dst_host_same_src_port_rate",
    "dst_host_srv_diff_host_rate",
    "dst_host_serror_rate",
    "dst_host_srv_serror_rate",
    "dst_host_rerror_rate",
    "dst_host_srv_rerror_rate",
)

#: Content features: read from the payload by domain knowledge (KDD Cup 99 task description,
#: columns 10-22). Connection records built from flows (packet captures, Zeek logs) never
#: measure them.
CONTENT_FEATURES: Final[tuple[str, ...]] = FEATURES[FEATURES.index("hot") : FEATURES.index("count")]

#: Basic features that only some flow sources measure (a capture has urgent packets, a Zeek
#: log has neither).
PACKET_FEATURES: Final[tuple[str, ...]] = ("wrong_fragment", "urgent")

#: What every flow source measures: the basic features of a connection but the two above,
#: and the time-based (2 seconds) and host-based traffic features. The `flow` feature set.
FLOW_FEATURES: Final[tuple[str, ...]] = tuple(
    f for f in FEATURES if f not in CONTENT_FEATURES and f not in PACKET_FEATURES
)

#: Features plus the label: the 42 fields of a labelled line.
COLUMNS: Final[tuple[str, ...]] = (*FEATURES, LABEL)

CATEGORICAL: Final[tuple[str, ...]] = ("protocol_type", "service", "flag")

#: 0/1 indicator features.
BINARY: Final[tuple[str, ...]] = ("land", "logged_in", "is_host_login", "is_guest_login")

#: Fractions that must lie in [0, 1].
RATES: Final[tuple[str, ...]] = tuple(f for f in FEATURES if f.endswith("_rate"))

#: Non-negative counts and sizes (every numeric feature that is neither a rate nor a flag).
COUNTS: Final[tuple[str, ...]] = tuple(
    f for f in FEATURES if f not in CATEGORICAL and f not in BINARY and f not in RATES
)

NUMERIC: Final[tuple[str, ...]] = tuple(f for f in FEATURES if f not in CATEGORICAL)

#: Known values of the categorical features over both official files.
PROTOCOLS: Final[tuple[str, ...]] = ("icmp", "tcp", "udp")
FLAGS: Final[tuple[str, ...]] = (
    "OTH", "REJ", "RSTO", "RSTOS0", "RSTR", "S0", "S1", "S2", "S3", "SF", "SH",
)  # fmt: skip
SERVICES: Final[tuple[str, ...]] = (
    "IRC", "X11", "Z39_50", "auth", "bgp", "courier", "csnet_ns", "ctf", "daytime",
    "discard", "domain", "domain_u", "echo", "eco_i", "ecr_i", "efs", "exec", "finger",
    "ftp", "ftp_data", "gopher", "hostnames", "http", "http_443", "icmp", "imap4",
    "iso_tsap", "klogin", "kshell", "ldap", "link", "login", "mtp", "name", "netbios_dgm",
    "netbios_ns", "netbios_ssn", "netstat", "nnsp", "nntp", "ntp_u", "other", "pm_dump",
    "pop_2", "pop_3", "printer", "private", "red_i", "remote_job", "rje", "shell", "smtp",
    "sql_net", "ssh", "sunrpc", "supdup", "systat", "telnet", "tftp_u", "tim_i", "time",
    "urh_i", "urp_i", "uucp", "uucp_path", "vmnet", "whois",
)  # fmt: skip
CATEGORY_VALUES: Final[dict[str, tuple[str, ...]]] = {
    "protocol_type": PROTOCOLS,
    "service": SERVICES,
    "flag": FLAGS,
}

#: Attack categories in the fixed order used for class indices and confusion matrices.
CATEGORIES: Final[tuple[str, ...]] = ("normal", "dos", "probe", "r2l", "u2r")
NORMAL: Final = "normal"

#: Attack names that occur in the 10% training file, by category.
KNOWN_ATTACKS: Final[dict[str, tuple[str, ...]]] = {
    "dos": ("back", "land", "neptune", "pod", "smurf", "teardrop"),
    "probe": ("ipsweep", "nmap", "portsweep", "satan"),
    "r2l": (
        "ftp_write", "guess_passwd", "imap", "multihop", "phf", "spy", "warezclient",
        "warezmaster",
    ),
    "u2r": ("buffer_overflow", "loadmodule", "perl", "rootkit"),
}  # fmt: skip

#: Attack names that occur only in corrected.gz (never seen in training).
UNSEEN_ATTACKS: Final[dict[str, tuple[str, ...]]] = {
    "dos": ("apache2", "mailbomb", "processtable", "udpstorm"),
    "probe": ("mscan", "saint"),
    "r2l": ("named", "sendmail", "snmpgetattack", "snmpguess", "worm", "xlock", "xsnoop"),
    # httptunnel is u2r as the 1999 contest scored it.
    "u2r": ("ps", "sqlattack", "xterm", "httptunnel"),
}


def _label_map() -> dict[str, str]:
    mapping = {NORMAL: NORMAL}
    for table in (KNOWN_ATTACKS, UNSEEN_ATTACKS):
        for category, names in table.items():
            mapping.update(dict.fromkeys(names, category))
    return mapping


#: Attack name (without the trailing dot) → category.
LABEL_TO_CATEGORY: Final[dict[str, str]] = _label_map()
KNOWN_LABELS: Final[frozenset[str]] = frozenset(
    [NORMAL, *(n for names in KNOWN_ATTACKS.values() for n in names)]
)
UNSEEN_LABELS: Final[frozenset[str]] = frozenset(
    n for names in UNSEEN_ATTACKS.values() for n in names
)


def normalise_label(raw: str) -> str:
    """Strip whitespace and the trailing dot that the official files put on every label."""
    label = raw.strip()
    return label[:-1] if label.endswith(".") else label


def category_of(label: str) -> str:
    """Map an attack name (with or without trailing dot) to its category.

    Raises KeyError for a name that is not in the KDD Cup 99 label set.
    """
    return LABEL_TO_CATEGORY[normalise_label(label)]


def category_index(category: str) -> int:
    """Class index of a category in the fixed CATEGORIES order."""
    return CATEGORIES.index(category)
