"""HTML fragments for modules outside the review site (the paper comparison's table): text
escaping, and a plain table laid out by the review package's `macros.html` template, so the
markup stays in the templates."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from markupsafe import escape

from iot_anomaly.review.render import fragment


def esc(value: Any) -> str:
    """HTML-escape any value's text."""
    return str(escape(value))


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A table of text and number cells (escaped)."""
    return fragment("table", list(headers), [list(row) for row in rows])
