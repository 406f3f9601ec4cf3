"""Bar charts as inline SVG, drawn on the server: no chart library, no script in the browser.

Each chart is an `<svg role="img">` with a title and a description naming every value, so a
screen reader gets the same facts as the eye; pages also print the numbers as a table. Invariant:
every value is drawn from zero, so bar lengths compare honestly; text is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

WIDTH = 640
HEIGHT = 240
MARGIN_LEFT = 64
MARGIN_BOTTOM = 40
MARGIN_TOP = 16


@dataclass(frozen=True)
class Bar:
    """One bar: its label on the axis and its value."""

    label: str
    value: int


def bar_chart(bars: Sequence[Bar], *, title: str, unit: str, chart_id: str) -> Markup:
    """Return an accessible SVG bar chart of `bars` (values must be 0 or more)."""
    if any(bar.value < 0 for bar in bars):
        raise ValueError("bar_chart draws values from zero: negative values are not allowed")
    top = max((bar.value for bar in bars), default=0) or 1
    plot_width = WIDTH - MARGIN_LEFT - 8
    plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    slot = plot_width / max(len(bars), 1)
    description = "、".join(f"{bar.label}: {bar.value:,}{unit}" for bar in bars)
    parts = [
        f'<svg class="chart" id="{escape(chart_id)}" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-desc">{escape(description)}</desc>',
        f'<line class="axis" x1="{MARGIN_LEFT}" y1="{HEIGHT - MARGIN_BOTTOM}" '
        f'x2="{WIDTH - 8}" y2="{HEIGHT - MARGIN_BOTTOM}"/>',
        f'<text x="{MARGIN_LEFT - 6}" y="{MARGIN_TOP + 4}" text-anchor="end">{top:,}</text>',
        f'<text x="{MARGIN_LEFT - 6}" y="{HEIGHT - MARGIN_BOTTOM}" text-anchor="end">0</text>',
    ]
    for index, bar in enumerate(bars):
        height = plot_height * bar.value / top
        x = MARGIN_LEFT + index * slot + slot * 0.15
        y = HEIGHT - MARGIN_BOTTOM - height
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{height:.1f}"/>'
        )
        parts.append(
            f'<text x="{x + slot * 0.35:.1f}" y="{HEIGHT - MARGIN_BOTTOM + 16}" '
            f'text-anchor="middle">{escape(bar.label)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above
