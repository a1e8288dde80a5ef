"""KDD-style records built from connections: where each came from (the provenance
columns), the 41 features, and the source's label and category when it has them."""

from __future__ import annotations

from typing import Final

from iot_anomaly import schema
from iot_anomaly.traffic import connections as cx

#: Columns that say where a record came from; predictions carry them.
PROVENANCE: Final[tuple[str, ...]] = (
    cx.TS,
    cx.UID,
    cx.SRC_IP,
    cx.SRC_PORT,
    cx.DST_IP,
    cx.DST_PORT,
    cx.FILE,
    cx.LINE,
)

#: Every column of a records file, in order (label and category only when labelled).
COLUMNS: Final[tuple[str, ...]] = (*PROVENANCE, *schema.FEATURES, schema.LABEL, schema.CATEGORY)

#: Provenance dtypes when a records file is read back.
PROVENANCE_DTYPES: Final[dict[str, str]] = {c: cx.DTYPES[c] for c in PROVENANCE}
