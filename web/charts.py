"""Charts drawn on the server as SVG: no script, nothing fetched, prints as it shows (strict CSP friendly)."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

MAX_LABELS = 16  # beyond this many columns, label one in ten
MAX_LABEL_CHARS = 26
CHART_WIDTH = 760  # viewBox units; the SVG scales to its card, so text keeps one size across charts


def _num(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def column_chart(labels: Sequence[str], series: Sequence[tuple[str, Sequence[int]]], *, title: str,
                 height: int = 220) -> Markup:
    """Grouped columns (one group per label, one column per series), with a legend and y-axis maximum."""
    width = CHART_WIDTH
    top, bottom, left = 24, 34, 36
    plot_h = height - top - bottom
    peak = max([1, *(v for _name, values in series for v in values)])
    group_w = (width - left - 8) / max(1, len(labels))
    bar_w = max(2.0, group_w * 0.8 / max(1, len(series)))
    classes = ["bar", "bar alt", "bar bad"]
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>",
             f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{width - 4}" y2="{top + plot_h}"/>',
             f'<text x="{left - 4}" y="{top + 4}" text-anchor="end">{peak}</text>',
             f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end">0</text>']
    for i, label in enumerate(labels):
        x0 = left + i * group_w + group_w * 0.1
        for j, (_name, values) in enumerate(series):
            v = values[i]
            h = plot_h * v / peak
            parts.append(f'<rect class="{classes[j % 3]}" x="{_num(x0 + j * bar_w)}" y="{_num(top + plot_h - h)}" '
                         f'width="{_num(bar_w - 1)}" height="{_num(h)}"><title>{escape(label)}: {v}</title></rect>')
        if len(labels) <= MAX_LABELS or i % max(1, len(labels) // 10) == 0:
            parts.append(f'<text x="{_num(x0 + group_w * 0.4)}" y="{height - bottom + 14}" '
                         f'text-anchor="middle">{escape(label)}</text>')
    for j, (name, _values) in enumerate(series):
        x = left + j * 170
        parts.append(f'<rect class="{classes[j % 3]}" x="{x}" y="4" width="10" height="10"/>'
                     f'<text x="{x + 14}" y="13">{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped


def bar_chart(rows: Sequence[tuple[str, float]], *, title: str, unit: str = "", maximum: float | None = None,
              bad_below: float | None = None) -> Markup:
    """Horizontal bars, one per row (label, value); bars under ``bad_below`` are drawn in red."""
    rows = list(rows)[:12]
    label_w, width, row_h = 170, 420, 22
    height = 10 + row_h * max(1, len(rows))
    peak = maximum or max([1.0, *(v for _l, v in rows)])
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>"]
    for i, (label, value) in enumerate(rows):
        y = 5 + i * row_h
        w = (width - label_w - 60) * value / peak
        cls = "bar bad" if bad_below is not None and value < bad_below else "bar"
        short = label if len(label) <= MAX_LABEL_CHARS else label[:MAX_LABEL_CHARS - 1] + "…"
        parts.append(f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{escape(short)}</text>'
                     f'<rect class="{cls}" x="{label_w}" y="{y + 3}" width="{_num(w)}" height="{row_h - 7}">'
                     f"<title>{escape(label)}: {_num(value)}{escape(unit)}</title></rect>"
                     f'<text x="{_num(label_w + w + 4)}" y="{y + 14}">{_num(value)}{escape(unit)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped
