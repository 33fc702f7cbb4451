"""The HTML page's parts: sections, tables, embedded figures, its style and sorting script."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go

from t2tsearch.report.assets import PLOTLY_JS


@dataclass
class Section:
    """One titled part of a page; `body` is HTML."""

    title: str
    body: str  # HTML


def figure_html(fig: go.Figure | None, name: str) -> str:
    if fig is None:
        return ""
    div = fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"fig-{name}",
                      config={"responsive": True, "displaylogo": False})
    return f"<div class='figure' data-figure='{name}'>{div}</div>"


def table_html(head: Sequence[str], rows: Sequence[Sequence[Any]], table_id: str,
               sortable: bool = False) -> str:
    cls = " class='sortable'" if sortable else ""
    out = [f"<table id='{table_id}'{cls}><thead><tr>"]
    out += [f"<th>{html.escape(str(h))}</th>" for h in head]
    out.append("</tr></thead><tbody>")
    for row in rows:
        cells = []
        for value in row:
            number = isinstance(value, int) and not isinstance(value, bool)
            shown = f"{value:,}" if number else value
            # Sort on the raw number, show it with separators.
            key = f" data-sort='{value}'" if isinstance(value, (int, float)) else ""
            cells.append(f"<td{key}>{html.escape(str(shown))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


STYLE = """
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1200px; padding: 1em 2em;
       color: #222; }
h1 { margin-bottom: 0.2em; } .subtitle { color: #555; margin-top: 0; }
.partial { background: #fff3cd; border: 2px solid #e0a800; padding: 0.7em 1em; margin: 1em 0;
           font-weight: bold; }
.verdict { font-size: 1.15em; background: #eef5ff; border-left: 5px solid #1f77b4;
           padding: 0.7em 1em; }
.caution { background: #fdf0e6; border-left: 5px solid #ff7f0e; padding: 0.5em 1em; }
.note { color: #555; font-size: 0.92em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } table.sortable th { cursor: pointer; user-select: none; }
table.sortable th:after { content: " \\2195"; color: #aaa; }
.figure { margin: 1em 0; } pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; }
"""


# Sort a table by the clicked column: numbers by data-sort, text by its content.
SORT_SCRIPT = """
document.querySelectorAll('table.sortable th').forEach(function (th, index) {
  th.addEventListener('click', function () {
    var table = th.closest('table'), body = table.tBodies[0];
    var ascending = th.dataset.order !== 'asc';
    table.querySelectorAll('th').forEach(function (h) { delete h.dataset.order; });
    th.dataset.order = ascending ? 'asc' : 'desc';
    var key = function (row) {
      var cell = row.cells[index];
      return cell.dataset.sort !== undefined ? parseFloat(cell.dataset.sort) : cell.textContent;
    };
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      var order = (typeof x === 'number' && typeof y === 'number') ? x - y
                  : String(x).localeCompare(String(y));
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
"""


def page_html(title: str, subtitle: str, banner: str, sections: Sequence[Section]) -> str:
    body = "".join(f"<section><h2>{html.escape(s.title)}</h2>{s.body}</section>" for s in sections)
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style>"
            f"<script src='{PLOTLY_JS}'></script></head><body>"
            f"<h1>{html.escape(title)}</h1><p class='subtitle'>{subtitle}</p>{banner}{body}"
            f"<script>{SORT_SCRIPT}</script></body></html>\n")
