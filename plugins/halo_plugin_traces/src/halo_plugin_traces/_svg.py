"""Small inline SVG bar charts (no libraries, no network)."""

from __future__ import annotations

import html
from typing import Callable, Sequence

__all__ = ["bar_chart"]

PALETTE = ("#4f6bed", "#2aa198", "#e8871e", "#b05fd8", "#d6455d", "#3c9d4e", "#8a6d3b", "#5c7080")


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** len(str(int(value))) / 10 if value >= 1 else 1.0
    for step in (1, 2, 2.5, 5, 10):
        top = step * magnitude
        if top >= value:
            return top
    return value


def bar_chart(title: str, labels: Sequence[str], values: Sequence[float | None], *,
              fmt: Callable[[float], str] = lambda v: f"{v:g}", max_value: float | None = None,
              width: int = 360, bar_height: int = 26) -> str:
    """A horizontal bar chart: one bar per label, value printed at the bar's end."""
    label_w, pad, top = 150, 10, 34
    height = top + len(labels) * (bar_height + 8) + 24
    numeric = [v for v in values if v is not None]
    vmax = max_value if max_value is not None else _nice_max(max(numeric, default=0.0))
    plot_w = width - label_w - pad - 48
    out = [f'<svg class="chart" role="img" aria-label="{html.escape(title)}" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
           f'<text x="{pad}" y="20" class="chart-title">{html.escape(title)}</text>']
    for i in range(6):  # light grid: five intervals of a "nice" maximum give round ticks
        x = label_w + plot_w * i / 5
        out.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{height - 20}" class="grid"/>')
        out.append(f'<text x="{x:.1f}" y="{height - 6}" class="axis" text-anchor="middle">'
                   f'{html.escape(fmt(vmax * i / 5))}</text>')
    for i, (label, value) in enumerate(zip(labels, values)):
        y = top + i * (bar_height + 8)
        short = label if len(label) <= 22 else label[:21] + "…"
        out.append(f'<text x="{label_w - 8}" y="{y + bar_height * 0.68:.1f}" class="label" text-anchor="end">'
                   f'<title>{html.escape(label)}</title>{html.escape(short)}</text>')
        if value is None:
            out.append(f'<text x="{label_w + 4}" y="{y + bar_height * 0.68:.1f}" class="value muted">n/a</text>')
            continue
        w = 0.0 if vmax <= 0 else max(0.0, min(1.0, value / vmax)) * plot_w
        colour = PALETTE[i % len(PALETTE)]
        out.append(f'<rect x="{label_w}" y="{y}" width="{max(w, 1.5):.1f}" height="{bar_height}" rx="4" '
                   f'fill="{colour}"><title>{html.escape(label)}: {html.escape(fmt(value))}</title></rect>')
        out.append(f'<text x="{label_w + w + 6:.1f}" y="{y + bar_height * 0.68:.1f}" class="value">'
                   f'{html.escape(fmt(value))}</text>')
    out.append("</svg>")
    return "".join(out)
