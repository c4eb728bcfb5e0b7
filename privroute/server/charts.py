"""Server-side SVG charts and HTML tables for the dashboard: no script library, no CDN.

Every text that goes into markup passes through ``html.escape``; what is drawn
is names and counts from audit records (never content).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

__all__ = ["COLORS", "bars", "csv_text", "stacked_timeline", "table"]

COLORS = {"local": "#2b8a3e", "redact": "#e67700", "frontier": "#1971c2", "block": "#c92a2a", "-": "#868e96"}


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.6f}".rstrip("0").rstrip(".") if value else "0"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}:{v}" for k, v in value.items())
    return str(value)


def table(name: str, columns: Sequence[str], rows: Sequence[Mapping[str, Any]], *, csv_href: str | None = None,
          caption: str | None = None, code: Sequence[str] = ()) -> str:
    """An HTML table (``data-table`` = name, for tests and CSS) with its CSV link."""
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            text = escape(_fmt(row.get(c)))
            if c in ("hash", "policy_hash", "ts"):  # long: cut on screen, whole in the tooltip and the CSV
                cells.append(f"<td class='code cut' title='{text}'>{text}</td>")
                continue
            cells.append(f"<td class='code'>{text}</td>" if c in code else
                         f"<td{' class=num' if isinstance(row.get(c), (int, float)) else ''}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    if not rows:
        body.append(f"<tr><td colspan='{len(columns)}' class='empty'>no records</td></tr>")
    link = f" <a class='csv' href='{escape(csv_href)}'>CSV</a>" if csv_href else ""
    title = f"<h3>{escape(caption)}{link}</h3>" if caption else (f"<div>{link}</div>" if link else "")
    return (f"<section class='tbl'>{title}<table data-table='{escape(name)}'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></section>")


def csv_text(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> str:
    """The same table as CSV (lists as ``a;b``, mappings as ``k=v;...``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_cell(row.get(c)) for c in columns])
    return out.getvalue()


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ";".join(str(v) for v in value)
    if isinstance(value, Mapping):
        return ";".join(f"{k}={v}" for k, v in value.items())
    text = str(value)
    # A cell a spreadsheet would run as a formula is quoted as text.
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _is_number(text) else value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def stacked_timeline(points: Sequence[Mapping[str, Any]], *, width: int = 900, height: int = 240) -> str:
    """Calls per time bucket, stacked by action, as an inline SVG with a legend."""
    buckets: dict[str, dict[str, int]] = {}
    for p in points:
        buckets.setdefault(str(p["bucket"]), {})[str(p["action"])] = int(p["calls"])
    if not buckets:
        return "<p class='empty'>no records in this range</p>"
    order = [a for a in COLORS if any(a in b for b in buckets.values())]
    top = max(sum(b.values()) for b in buckets.values()) or 1
    left, plot_h = 48, height - 40
    step = (width - left - 8) / len(buckets)
    bar = max(1.0, step * 0.8)
    parts = [(f"<svg xmlns='http://www.w3.org/2000/svg' role='img' aria-label='decisions over time' "
             f"viewBox='0 0 {width} {height}' width='100%' class='chart' data-chart='timeline'>"),
             f"<line x1='{left}' y1='{plot_h + 8}' x2='{width - 4}' y2='{plot_h + 8}' stroke='#adb5bd'/>",
             f"<text x='{left - 6}' y='16' text-anchor='end' class='axis'>{top:,}</text>",
             f"<text x='{left - 6}' y='{plot_h + 8}' text-anchor='end' class='axis'>0</text>"]
    labels = max(1, len(buckets) // 8)
    for i, (bucket, counts) in enumerate(buckets.items()):
        x, y = left + i * step, plot_h + 8
        for action in order:
            n = counts.get(action, 0)
            if not n:
                continue
            h = plot_h * n / top
            y -= h
            parts.append(f"<rect x='{x:.1f}' y='{y:.1f}' width='{bar:.1f}' height='{h:.1f}' "
                         f"fill='{COLORS[action]}'><title>{escape(bucket)} {escape(action)}: {n:,}</title></rect>")
        if i % labels == 0:
            label = bucket[5:].replace("T", " ") + ("h" if len(bucket) == 13 else "")
            parts.append(f"<text x='{x + bar / 2:.1f}' y='{height - 6}' text-anchor='middle' class='axis'>"
                         f"{escape(label)}</text>")
    parts.append("</svg>")
    legend = "".join(f"<span class='key'><i style='background:{COLORS[a]}'></i>{escape(a)}</span>" for a in order)
    return f"<figure>{''.join(parts)}<figcaption>{legend}</figcaption></figure>"


def bars(name: str, rows: Sequence[Mapping[str, Any]], label: str, value: str, *, width: int = 520) -> str:
    """Horizontal bars (top rules, entity types) as an inline SVG."""
    if not rows:
        return ""
    top = max(int(r[value] or 0) for r in rows) or 1
    row_h, text_w = 20, 190
    height = row_h * len(rows) + 4
    parts = [(f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}' width='100%' "
             f"class='chart' data-chart='{escape(name)}' role='img' aria-label='{escape(name)}'>")]
    for i, r in enumerate(rows):
        n = int(r[value] or 0)
        w = (width - text_w - 60) * n / top
        y = i * row_h + 2
        parts.append(f"<text x='{text_w - 6}' y='{y + 14}' text-anchor='end' class='axis'>"
                     f"{escape(str(r[label]))[:32]}</text>"
                     f"<rect x='{text_w}' y='{y + 3}' width='{max(w, 1):.1f}' height='{row_h - 6}' fill='#1971c2'/>"
                     f"<text x='{text_w + w + 4:.1f}' y='{y + 14}' class='axis'>{n:,}</text>")
    parts.append("</svg>")
    return "".join(parts)
