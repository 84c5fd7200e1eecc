"""Charts as plain inline SVG, drawn on the server: no script, no other host, no inline style.

Each chart is an image with a title and a description for screen readers
(role="img", aria-labelledby); the page shows the same numbers in a table
next to it. Colours are SVG presentation attributes, which the CSP allows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup, escape

BAR = "#1f5f8b"
AXIS = "#595959"
TEXT = "#1a1a1a"
GRID = "#d9d9d9"
FONT = 'font-family="system-ui, sans-serif" font-size="13"'
WIDTH = 640


def nice_step(value: float, ticks: int = 4) -> float:
    """A whole, round step (1, 2, 5 times a power of ten) so ``ticks`` steps reach ``value``."""
    if value <= ticks:
        return 1
    raw = value / ticks
    power = 10 ** math.floor(math.log10(raw))
    for step in (1, 2, 5, 10):
        if raw <= step * power:
            return step * power
    return 10 * power  # pragma: no cover


def _number(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.1f}"


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _open(chart_id: str, title: str, desc: str, height: int) -> list[str]:
    return [
        f'<svg class="chart" id="{escape(chart_id)}" role="img" aria-labelledby="{escape(chart_id)}-title '
        f'{escape(chart_id)}-desc" viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-desc">{escape(desc)}</desc>',
    ]


def bar_chart(chart_id: str, title: str, desc: str, items: Sequence[tuple[str, float]]) -> Markup:
    """Horizontal bars, one per (label, value), biggest value sets the scale."""
    label_width, row, top = 210, 26, 8
    plot = WIDTH - label_width - 60
    height = top * 2 + row * max(len(items), 1)
    top_value = max((v for _, v in items), default=0) or 1
    parts = _open(chart_id, title, desc, height)
    if not items:
        parts.append(f'<text x="0" y="{top + 16}" fill="{TEXT}" {FONT}>No leads in this period.</text>')
    for i, (label, value) in enumerate(items):
        y = top + i * row
        length = plot * value / top_value
        parts.append(
            f'<text x="{label_width - 8}" y="{y + 17}" text-anchor="end" fill="{TEXT}" {FONT}>'
            f'{escape(_shorten(str(label), 30))}</text>'
            f'<rect x="{label_width}" y="{y + 4}" width="{length:.1f}" height="{row - 8}" fill="{BAR}"/>'
            f'<text x="{label_width + length + 6:.1f}" y="{y + 17}" fill="{TEXT}" {FONT}>{_number(value)}</text>'
        )
    parts.append(f'<line x1="{label_width}" y1="{top}" x2="{label_width}" y2="{height - top}" stroke="{AXIS}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


def column_chart(chart_id: str, title: str, desc: str, items: Sequence[tuple[str, float]],
                 y_label: str = "") -> Markup:
    """Vertical columns over a labelled axis: a value per period, in order."""
    left, right, top, bottom = 48, 12, 16, 44
    height = 280
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    step = nice_step(max((v for _, v in items), default=0))
    top_value = step * 4
    parts = _open(chart_id, title, desc, height)
    for k in range(5):
        tick = step * k
        y = top + plot_h - plot_h * k / 4
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{WIDTH - right}" y2="{y:.1f}" stroke="{GRID}"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{TEXT}" {FONT}>'
                     f'{_number(tick)}</text>')
    if y_label:
        parts.append(f'<text x="12" y="{top + plot_h / 2:.1f}" text-anchor="middle" fill="{TEXT}" {FONT} '
                     f'transform="rotate(-90 12 {top + plot_h / 2:.1f})">{escape(y_label)}</text>')
    n = max(len(items), 1)
    slot = plot_w / n
    every = max(1, math.ceil(n / 12))  # at most about twelve labels along the bottom
    for i, (label, value) in enumerate(items):
        h = plot_h * value / top_value
        x = left + i * slot
        parts.append(f'<rect x="{x + slot * 0.15:.1f}" y="{top + plot_h - h:.1f}" width="{slot * 0.7:.1f}" '
                     f'height="{h:.1f}" fill="{BAR}"/>')
        if i % every == 0:
            parts.append(f'<text x="{x + slot / 2:.1f}" y="{height - bottom + 18}" text-anchor="middle" '
                         f'fill="{TEXT}" {FONT}>{escape(label)}</text>')
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{WIDTH - right}" y2="{top + plot_h}" '
                 f'stroke="{AXIS}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
