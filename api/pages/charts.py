"""Bar charts as inline SVG, drawn on the server: no chart library, no script in the browser.

Each chart is an `<svg role="img">` with a title and a description naming every value, so a
screen reader gets the same facts as the eye; pages also print the numbers as a table. Invariant:
every value is drawn from zero, so bar lengths compare honestly; text is escaped. A grouped chart
names its series in a legend inside the picture, and its colours differ from white and from each
other by at least 3:1 (WCAG 1.4.11), so the bars are told apart without relying on hue alone.
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
class Series:
    """One series of a grouped chart: its name (in the legend) and one value per group."""

    name: str
    values: tuple[int, ...]


SERIES_COLOURS = ("#00118f", "#d35400")
"""Dark blue (14.2:1 on white) and dark orange (4.2:1 on white); 3.4:1 against each other."""


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


def grouped_bar_chart(
    labels: Sequence[str], series: Sequence[Series], *, title: str, unit: str, chart_id: str
) -> Markup:
    """Return an accessible SVG chart with one group of bars per label, one bar per series.

    Raises ValueError for negative values, more series than SERIES_COLOURS, or a series whose
    number of values differs from the number of labels.
    """
    if len(series) > len(SERIES_COLOURS):
        raise ValueError(f"grouped_bar_chart draws at most {len(SERIES_COLOURS)} series")
    if any(len(item.values) != len(labels) for item in series):
        raise ValueError("every series needs exactly one value per label")
    if any(value < 0 for item in series for value in item.values):
        raise ValueError(
            "grouped_bar_chart draws values from zero: negative values are not allowed"
        )
    top = max((value for item in series for value in item.values), default=0) or 1
    plot_width = WIDTH - MARGIN_LEFT - 8
    plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM - 16  # room for the legend
    plot_top = MARGIN_TOP + 16
    slot = plot_width / max(len(labels), 1)
    bar_width = slot * 0.8 / max(len(series), 1)
    description = "。".join(
        f"{label}: " + "、".join(f"{item.name} {item.values[index]:,}{unit}" for item in series)
        for index, label in enumerate(labels)
    )
    identifier = escape(chart_id)
    parts = [
        f'<svg class="chart" id="{identifier}" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'aria-labelledby="{identifier}-title {identifier}-desc">',
        f'<title id="{identifier}-title">{escape(title)}</title>',
        f'<desc id="{identifier}-desc">{escape(description)}</desc>',
        f'<line class="axis" x1="{MARGIN_LEFT}" y1="{HEIGHT - MARGIN_BOTTOM}" '
        f'x2="{WIDTH - 8}" y2="{HEIGHT - MARGIN_BOTTOM}"/>',
        f'<text x="{MARGIN_LEFT - 6}" y="{plot_top + 4}" text-anchor="end">{top:,}</text>',
        f'<text x="{MARGIN_LEFT - 6}" y="{HEIGHT - MARGIN_BOTTOM}" text-anchor="end">0</text>',
    ]
    for number, (item, colour) in enumerate(zip(series, SERIES_COLOURS, strict=False)):
        x = MARGIN_LEFT + number * 160
        parts.append(
            f'<rect class="legend" x="{x}" y="{MARGIN_TOP - 10}" width="12" height="12" '
            f'fill="{colour}"/>'
            f'<text x="{x + 16}" y="{MARGIN_TOP}">{escape(item.name)}</text>'
        )
    for index, label in enumerate(labels):
        left = MARGIN_LEFT + index * slot + slot * 0.1
        for number, (item, colour) in enumerate(zip(series, SERIES_COLOURS, strict=False)):
            height = plot_height * item.values[index] / top
            parts.append(
                f'<rect class="series-{number}" x="{left + number * bar_width:.1f}" '
                f'y="{HEIGHT - MARGIN_BOTTOM - height:.1f}" width="{bar_width * 0.9:.1f}" '
                f'height="{height:.1f}" fill="{colour}"/>'
            )
        parts.append(
            f'<text x="{left + slot * 0.4:.1f}" y="{HEIGHT - MARGIN_BOTTOM + 16}" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above
