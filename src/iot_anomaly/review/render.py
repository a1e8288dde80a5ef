"""HTML from the Jinja2 templates in `templates/`: every page the project writes (the review
site, the data-validation report, the decision log) extends one base layout with one inline
stylesheet, so each opens on its own from a file and loads nothing from the network.

Autoescaping is on: values are escaped unless they are `Markup` (the timeline's SVG, drawn by
matplotlib). Undefined names are errors, so a template cannot silently print nothing.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined


@cache
def environment() -> Environment:
    """The templates shipped with the package (package data `review/templates/`)."""
    return Environment(
        loader=PackageLoader("iot_anomaly.review", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(template: str, **context: Any) -> str:
    """One template filled with `context` (plain data: dataclasses, dicts, strings)."""
    return environment().get_template(template).render(**context)


def fragment(macro: str, *args: Any) -> str:
    """One macro of `macros.html` (a cell, a table) called with `args`, as HTML."""
    return str(getattr(environment().get_template("macros.html").module, macro)(*args))
