"""Self-contained HTML pages: inline CSS, no script, nothing loaded from the network.

Reports that people review must open offline from a file, so every page written by the
project goes through `page`.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iot_anomaly.io import write_text

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:72rem;padding:0 1rem;color:#1d2327;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:2rem;
border-bottom:1px solid #dcdcde;padding-bottom:.2rem}
.sub{color:#50575e;margin-top:0}
table{border-collapse:collapse;width:100%;margin:.6rem 0;font-size:.9rem}
th,td{border:1px solid #dcdcde;padding:.3rem .5rem;text-align:left;vertical-align:top;
overflow-wrap:anywhere}
th{background:#f6f7f7;overflow-wrap:normal}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.ok{color:#00702a;font-weight:600}.fail{color:#b32d2e;font-weight:600}
.warn{color:#8a5a00;font-weight:600}
.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{border:1px solid #dcdcde;
border-radius:6px;padding:.6rem 1rem;min-width:9rem}.card b{display:block;font-size:1.3rem}
code{background:#f6f7f7;padding:0 .2rem;border-radius:3px}
details{margin:.6rem 0}summary{cursor:pointer;font-weight:600}
nav.site{display:flex;gap:1.2rem;flex-wrap:wrap;border-bottom:1px solid #dcdcde;
padding-bottom:.5rem;margin-bottom:1rem}nav.site a{text-decoration:none;color:#2271b1}
nav.site a[aria-current]{font-weight:700;color:#1d2327}
a{color:#2271b1}.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(20rem,1fr));
gap:1rem}figure{margin:.6rem 0}figure img{max-width:100%;height:auto;border:1px solid #dcdcde}
figcaption{color:#50575e;font-size:.85rem}.note{color:#50575e;font-size:.9rem}
.badge{display:inline-block;white-space:nowrap;padding:0 .4rem;border-radius:3px;font-size:.85rem;
background:#f0f0f1}.badge.ok{background:#e6f4ea}.badge.fail{background:#fcf0f1}
.badge.warn{background:#fcf9e8}table.heat td{text-align:right;white-space:nowrap}
table.heat caption{font-weight:600;text-align:left}
"""


def esc(value: Any) -> str:
    """HTML-escape any value's text."""
    return html.escape(str(value), quote=True)


def page(title: str, body: str, subtitle: str = "", nav: str = "") -> str:
    """A complete HTML document with the project's inline style; `nav` (HTML) goes above
    the title, for pages that belong to a site."""
    sub = f'<p class="sub">{esc(subtitle)}</p>' if subtitle else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'  # no favicon request (a 404 in the console)
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{nav}<h1>{esc(title)}</h1>{sub}{body}</body></html>\n"
    )


@dataclass(frozen=True)
class Cell:
    """A table cell the caller built: its HTML, extra attributes (such as the data-key that
    says which figure of which file it shows) and whether it is a number."""

    html: str
    attrs: Mapping[str, str] = field(default_factory=dict)
    numeric: bool = True

    def render(self) -> str:
        classes = ' class="num"' if self.numeric else ""
        extra = "".join(f' {k}="{esc(v)}"' for k, v in self.attrs.items())
        return f"<td{classes}{extra}>{self.html}</td>"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], raw: bool = False) -> str:
    """An HTML table; cells are escaped unless `raw` (for cells the caller built as HTML)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for cell in row:
            if isinstance(cell, Cell):
                cells.append(cell.render())
                continue
            numeric = isinstance(cell, int | float) and not isinstance(cell, bool)
            text = str(cell) if raw else esc(cell)
            cells.append(f'<td class="num">{text}</td>' if numeric else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def cards(items: Iterable[tuple[str, Any]]) -> str:
    """A row of headline figures."""
    inner = "".join(f'<div class="card">{esc(k)}<b>{esc(v)}</b></div>' for k, v in items)
    return f'<div class="cards">{inner}</div>'


def write_page(path: Path, title: str, body: str, subtitle: str = "") -> Path:
    return write_text(page(title, body, subtitle), path)
